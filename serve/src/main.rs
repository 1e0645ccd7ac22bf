//! The `riskloop` binary: parse the command line, set up logging, hand over to the library.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use riskloop_serve::cli::Cli;
use riskloop_serve::telemetry;

// Decisions are allocated on the HTTP workers and freed on the writer's thread: glibc's malloc
// serialises that on its arena locks, mimalloc does not. Its `override` feature (serve/Cargo.toml)
// also routes C's malloc to it, so SQLite's allocations on the writer's path are cheaper too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long work still running on the blocking pool when the command is done may take to
/// finish: a retrain the server or the demo started is then abandoned, not waited for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    telemetry::init(std::io::stderr, std::io::stderr().is_terminal());
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: starting the async runtime: {err}"
            );
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli.run());
    // A server stopped by a signal has answered what it accepted and committed every decision
    // by now, and a retrain cycle has recorded its job as interrupted. What may still run is
    // that cycle's training, on the blocking pool: dropping it is safe (a bundle appears by one
    // rename at its end), and waiting for it held a stopped server for as long as it took.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The cause chain on one line, without a backtrace: this is for the person at the
            // terminal. A cause that its error's message already ends with is said once.
            let mut line = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !line.ends_with(&text) {
                    line.push_str(": ");
                    line.push_str(&text);
                }
            }
            let _ = writeln!(std::io::stderr(), "error: {line}");
            ExitCode::FAILURE
        }
    }
}
