//! `riskloop synth`: write a synthetic loan book.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use riskloop_ingest::synth::{self, SynthOptions};

use super::progress::spinner;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of applications.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Output file; `.csv` or `.parquet`.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Applications from this date (YYYY-MM-DD) on follow a shifted risk relationship.
    #[arg(long, value_name = "DATE")]
    pub drift_after: Option<chrono::NaiveDate>,
    /// Applications from this date (YYYY-MM-DD) on write `home_ownership` in a new system's
    /// codes (M, R, O, X, N): an era artefact a spec's `map` must undo.
    #[arg(long, value_name = "DATE")]
    pub recode_after: Option<chrono::NaiveDate>,
}

pub fn run(args: &SynthArgs, out: &mut impl Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.rows > 0, "--rows must be at least 1");
    let options = SynthOptions {
        rows: args.rows,
        seed: args.seed,
        drift_after: args.drift_after,
        recode_after: args.recode_after,
        ..SynthOptions::default()
    };
    let started = Instant::now();
    let bar = spinner();
    bar.set_message(format!("generating {} applications", args.rows));
    let generated = synth::generate(&options);
    let written = generated.and_then(|mut frame| {
        bar.set_message(format!("writing {}", args.out.display()));
        synth::write(&mut frame, &args.out)
    });
    bar.finish_and_clear();
    written?;
    writeln!(
        out,
        "Wrote {} synthetic applications to {} in {:.1}s (seed {}).",
        args.rows,
        args.out.display(),
        started.elapsed().as_secs_f64(),
        args.seed
    )?;
    Ok(())
}
