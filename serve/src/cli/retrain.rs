//! `riskloop retrain`: one retrain cycle, for cron or a Kubernetes CronJob. Exits non-zero when
//! the cycle could not run (another holds the lease, too little data, a gate stopped training);
//! a challenger that was judged and not promoted is a normal outcome, and says why.

use std::io::Write;

use super::progress::spinner;
use super::shared::open_store;
use crate::lifecycle::retrain::{self, Cycle};
use crate::settings::Settings;

pub async fn run(settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let policy = retrain::policy(&settings.policy_path())?;
    let cycle = Cycle {
        store: &store,
        settings: &settings.retrain,
        models_dir: settings.models_dir(),
        work_dir: settings.data_dir.join("retrain"),
        policy: &policy,
        slot: None,
        actor: format!("cli@{}", hostname()),
        stop: Some(stop_on_ctrl_c()),
    };
    let bar = spinner();
    let shown = bar.clone();
    let result = retrain::run(&cycle, &move |step| {
        tracing::info!("{step}");
        shown.set_message(step.to_owned());
    })
    .await;
    bar.finish_and_clear();
    store.close().await;
    let report = result?;
    let l = &report.lineage;
    writeln!(
        out,
        "Retrain job {}: {} labelled decisions ({} defaults; {} still in their performance \
         window) from {} to {}, {} rows of original files.",
        report.job,
        l.labelled,
        l.bad,
        l.immature,
        l.first_decided_at.map_or("-".into(), |t| t.to_rfc3339()),
        l.last_decided_at.map_or("-".into(), |t| t.to_rfc3339()),
        l.file_rows
    )?;
    let e = &report.evaluation;
    if let Some(comparison) = report.comparison() {
        writeln!(
            out,
            "Champion {}, challenger {}: {comparison}.",
            report.champion, report.challenger
        )?;
    }
    if report.promoted {
        writeln!(out, "Promoted {} to champion.", report.challenger)?;
    } else {
        writeln!(
            out,
            "Not promoted: {}. {} stays champion; {} is registered and can be promoted by hand.",
            e.refusals.join("; "),
            report.champion,
            report.challenger
        )?;
    }
    Ok(())
}

/// This machine's name, to tell who ran a cycle.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

/// True once Ctrl-C is pressed: the cycle then records its job as interrupted and gives the
/// lease back before the command exits.
fn stop_on_ctrl_c() -> tokio::sync::watch::Receiver<bool> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.send_replace(true);
        }
    });
    stopping
}
