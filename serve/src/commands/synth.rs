//! `riskloop synth`: write a synthetic loan book.

use std::io::Write;
use std::time::Instant;

use riskloop_ingest::synth::{self, SynthOptions};

use super::progress::spinner;
use crate::cli::SynthArgs;

pub fn run(args: &SynthArgs, out: &mut impl Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.rows > 0, "--rows must be at least 1");
    let options = SynthOptions {
        rows: args.rows,
        seed: args.seed,
        drift_after: args.drift_after,
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
