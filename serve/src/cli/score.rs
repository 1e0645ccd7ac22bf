//! `riskloop score`: batch-score raw application files offline with a bundle's int8 model, through
//! the same pipeline and scorer the server uses; with `--policy`, decide them through the
//! decision core as the server would (`decide`).

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
    /// Also decide each application with this policy (TOML), row by row through the decision
    /// core: the file then holds `decision`, the policy's reasons, and `refused` for a row the
    /// server would refuse (422), naming the field.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

pub fn run(args: &ScoreArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let inputs = expand(&args.input)?;
    if let Some(policy) = &args.policy {
        let model = crate::decision::ServedModel::load(&args.model)?;
        let policy = crate::decision::policy::Policy::load(policy)?;
        let started = Instant::now();
        let bar = spinner();
        bar.set_message(format!(
            "deciding with model {} and policy {}",
            model.version(),
            policy.version
        ));
        let result = super::decide::decide_files(&model, &policy, &inputs, &args.out);
        bar.finish_and_clear();
        let decided = result?;
        writeln!(
            out,
            "Decided {} application(s) ({} refused) with model {} and policy {} in {:.2}s; wrote {}.",
            decided.rows,
            decided.refused,
            model.version(),
            policy.version,
            started.elapsed().as_secs_f64(),
            decided.out.display()
        )?;
        return Ok(());
    }
    let bundle = Bundle::load(&args.model)?;
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
