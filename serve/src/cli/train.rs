//! `riskloop train`: dataset folder → model bundle, with per-epoch progress and a metrics table.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;

use riskloop_train::config::TrainConfig;
use riskloop_train::metrics::Metrics;
use riskloop_train::run::{self, Progress, TrainRequest};

use super::progress::spinner;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset folder written by `riskloop ingest`.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Folder that receives the bundle `<dataset>-<timestamp>/`.
    #[arg(long, value_name = "DIR", default_value = "models")]
    pub out: PathBuf,
    /// `cpu`, or `cuda` in a build with `--features cuda` on a machine with an NVIDIA GPU.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// `auto` (logistic, additive and GA2M in turn, a more complex one kept only when
    /// significantly better on validation, or out of fold on a small dataset), `logistic`,
    /// `additive` or `ga2m`.
    #[arg(long)]
    pub model: Option<String>,
    /// Seed for initialisation and shuffling (overrides the config file).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Training configuration (TOML, the keys of `train.toml`); defaults apply to keys it
    /// leaves out. Not the service configuration: training opens no database.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: &TrainArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::default(),
    };
    if let Some(model) = &args.model {
        config.model = model.parse()?;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let request = TrainRequest {
        data: &args.data,
        out: &args.out,
        device: args.device.parse()?,
        config,
        parent_version: None,
    };
    let bar = spinner();
    let result = run::train(&request, &mut |p| match p {
        Progress::Step(step) => {
            tracing::info!("{step}");
            bar.set_message(step.to_owned());
        }
        Progress::Epoch(kind, e) => {
            let line = format!(
                "{kind:?} epoch {}/{}: loss {:.4}, valid AUC {:.4} (best epoch {}), {:.0} samples/s",
                e.epoch, e.max_epochs, e.loss, e.valid_auc, e.best_epoch, e.samples_per_second
            );
            tracing::info!("{line}");
            bar.set_message(line);
        }
    });
    bar.finish_and_clear();
    let trained = result?;
    let m = &trained.manifest;
    writeln!(
        out,
        "Trained the {} on {} in {:.1}s ({} epochs, best {}; {:.0} samples/s on the {}).",
        m.model,
        m.dataset.name,
        m.run.seconds,
        m.run.epochs_run,
        m.run.best_epoch,
        m.run.samples_per_second,
        m.device
    )?;
    if let Some(r) = &m.run.refine {
        let basis = match &r.cross_validated {
            Some(cv) => format!(
                "chosen out of fold ({} folds of the {} train and valid rows, AUC {:.4})",
                cv.folds, cv.rows, cv.auc
            ),
            None => "chosen on validation".to_owned(),
        };
        writeln!(
            out,
            "Refined on the full training split: L2 {} kept, {basis}; {} L-BFGS steps, valid AUC {:.4} → {:.4}.",
            r.l2, r.iterations, r.valid_auc_start, r.valid_auc
        )?;
    }
    if let Some(p) = &m.run.purified {
        writeln!(
            out,
            "Purified the pair tables and refitted the main terms around them ({} L-BFGS steps): valid AUC {:.4} → {:.4}.",
            p.iterations, p.valid_auc_before, p.valid_auc
        )?;
    }
    for p in &m.run.pruned {
        writeln!(
            out,
            "Dropped `{}`: its contribution varies by {:.4} logit (sd) over the training rows, below {}.",
            p.feature, p.contribution_sd, p.threshold
        )?;
    }
    for gate in &m.gates {
        writeln!(out, "Gate: {gate}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<13} {:>7} {:>17} {:>7} {:>7} {:>7} {:>8}",
        "", "AUC", "95% CI", "Gini", "KS", "Brier", "log loss"
    )?;
    for (name, x) in [
        ("float valid", &m.metrics.float_valid),
        ("float test", &m.metrics.float_test),
        ("int8 valid", &m.metrics.int8_valid),
        ("int8 test", &m.metrics.int8_test),
    ] {
        metrics_line(out, name, x)?;
    }
    if m.candidates.len() > 1 {
        writeln!(out)?;
        let basis = match m.candidates.iter().find_map(|c| c.cross_validated.as_ref()) {
            Some(cv) => format!(
                "out of fold ({} folds of the {} train and valid rows)",
                cv.folds, cv.rows
            ),
            None => "on validation".to_owned(),
        };
        writeln!(
            out,
            "Candidates (the simpler kept unless the other is significantly better {basis}):"
        )?;
        for c in &m.candidates {
            let cv = c
                .cross_validated
                .as_ref()
                .map(|cv| format!("out-of-fold AUC {:.4}   ", cv.auc))
                .unwrap_or_default();
            writeln!(
                out,
                "  {:<27} {cv}valid AUC {:.4}   test AUC {:.4} [{:.4}, {:.4}]",
                c.model, c.valid_auc, c.test_auc, c.test_auc_ci[0], c.test_auc_ci[1]
            )?;
        }
    }
    let q = &m.quantization;
    writeln!(out)?;
    writeln!(
        out,
        "int8 vs float (test): AUC drop {:.5} (limit {}), max |Δp| {:.5}, same top-{} reasons {:.1}%, {} vs {} bytes.",
        q.auc_drop,
        q.max_auc_drop,
        q.max_abs_probability_delta,
        m.training.reasons,
        100.0 * q.reason_set_agreement,
        q.int8_bytes,
        q.float_bytes
    )?;
    writeln!(
        out,
        "Contributions + base = Burn logit within {:.2e} on every validation row.",
        m.run.max_contribution_error
    )?;
    writeln!(out, "Wrote {} (report.html inside).", trained.dir.display())?;
    Ok(())
}

fn metrics_line(out: &mut impl Write, name: &str, m: &Metrics) -> std::io::Result<()> {
    writeln!(
        out,
        "{name:<13} {:>7.4} [{:.4}, {:.4}] {:>7.4} {:>7.4} {:>7.4} {:>8.4}",
        m.auc, m.auc_ci[0], m.auc_ci[1], m.gini, m.ks, m.brier, m.log_loss
    )
}
