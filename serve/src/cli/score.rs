//! `riskloop score`: batch-score raw application files offline with a bundle's int8 model, through
//! the same pipeline and scorer the server uses.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use riskloop_train::bundle::Bundle;
use riskloop_train::inference::score_files;

use super::ingest::expand;
use super::progress::spinner;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Model bundle folder.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Raw CSV or Parquet files, read as the bundle's dataset spec says.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// Output Parquet file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

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
