//! `riskloop score`: batch-score raw application files offline with a bundle's int8 model, through
//! the same pipeline and scorer the server uses.

use std::io::Write;
use std::time::Instant;

use riskloop_train::bundle::Bundle;
use riskloop_train::inference::score_files;

use super::ingest::expand;
use super::progress::spinner;
use crate::cli::ScoreArgs;

pub fn run(args: &ScoreArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let bundle = Bundle::load(&args.model)?;
    let inputs = expand(&args.input)?;
    let started = Instant::now();
    let bar = spinner();
    bar.set_message(format!("scoring with model {}", bundle.version()));
    let result = score_files(&bundle, &inputs, &args.out);
    bar.finish_and_clear();
    let scored = result?;
    writeln!(
        out,
        "Scored {} application(s) with model {} in {:.2}s; wrote {}.",
        scored.rows,
        bundle.version(),
        started.elapsed().as_secs_f64(),
        scored.out.display()
    )?;
    Ok(())
}
