//! The `riskloop` binary: parse the command line, set up logging, hand over to the library.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use riskloop_serve::cli::Cli;
use riskloop_serve::telemetry;

// Decisions are allocated on the HTTP workers and freed on the writer's thread: glibc's malloc
// serialises that on its arena locks, mimalloc does not. Its `override` feature (serve/Cargo.toml)
// also routes C's malloc to it, so SQLite's allocations on the writer's path are cheaper too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init(std::io::stderr, std::io::stderr().is_terminal());
    match Cli::parse().run().await {
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
