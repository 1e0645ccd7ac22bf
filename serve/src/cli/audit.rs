//! `riskloop audit replay [--from DATE] [--to DATE]`: every stored decision in the range decided
//! again with its own model bundle and stored policy text; any difference is reported and the
//! command fails. `riskloop audit verify`: every hash chain walked (`store::chain`); the first
//! broken link of each is reported and the command fails.

use std::io::Write;

use chrono::{NaiveDate, TimeZone, Utc};
use clap::Subcommand;

use super::shared::open_store;
use crate::lifecycle::replay::{Artefacts, redecide};
use crate::settings::Settings;
use crate::store::{DecisionFilter, id_lower_bound};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Decide stored decisions again with their stored model and policy; report differences.
    Replay {
        /// First day (UTC, YYYY-MM-DD) of decisions to replay; default: the first decision.
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day (UTC, YYYY-MM-DD), included; default: the latest decision.
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// Walk the hash chains over decisions and every other record; report broken links.
    Verify {
        /// Also write the report as JSON to this file (its chain heads can be kept elsewhere
        /// and compared with a later run's: a truncated chain shows as a shorter one).
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
}

/// Decisions read per page.
const PAGE: u32 = 1000;
/// Differences listed in full; the rest are counted.
const LISTED: usize = 20;

pub async fn run(
    settings: &Settings,
    command: &AuditCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        AuditCommand::Replay { from, to } => replay(settings, *from, *to, out).await,
        AuditCommand::Verify { json } => verify(settings, json.as_deref(), out).await,
    }
}

async fn verify(
    settings: &Settings,
    json: Option<&std::path::Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let started = std::time::Instant::now();
    let spinner = super::progress::spinner();
    spinner.set_message("walking the decision chains");
    let report = store
        .verify_chains(&|n| spinner.set_message(format!("{n} decisions checked")))
        .await;
    spinner.finish_and_clear();
    store.close().await;
    let report = report?;
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    writeln!(
        out,
        "{} decision link(s) in {} chain(s), {} ledger link(s) checked in {:.1} s",
        report.decisions_linked,
        report.chains.len(),
        report.ledger_links,
        started.elapsed().as_secs_f64()
    )?;
    for c in report.chains.iter().take(LISTED) {
        writeln!(
            out,
            "  chain {}: {} link(s), head {}",
            c.chain, c.length, c.head
        )?;
    }
    if report.chains.len() > LISTED {
        let more = report.chains.len() - LISTED;
        writeln!(
            out,
            "  … and {more} more chain(s) (every head is in --json's report)"
        )?;
    }
    if report.decisions_before_chaining + report.records_before_ledger > 0 {
        writeln!(
            out,
            "  stored before chaining began (no links): {} decision(s), {} other record(s)",
            report.decisions_before_chaining, report.records_before_ledger
        )?;
    }
    for b in &report.broken {
        writeln!(
            out,
            "  BROKEN {} link {} ({}): {}",
            b.chain, b.seq, b.row, b.problem
        )?;
    }
    anyhow::ensure!(
        report.intact(),
        "{} broken link(s): the records were changed outside riskloop",
        report.broken.len()
    );
    writeln!(out, "every chain is intact")?;
    Ok(())
}

async fn replay(
    settings: &Settings,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let day = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"));
    let store = open_store(settings).await?;
    let mut filter = DecisionFilter {
        from_id: from.map(|d| id_lower_bound(day(d))),
        to_id: to.map(|d| id_lower_bound(day(d) + chrono::Duration::days(1))),
        limit: PAGE,
        ..DecisionFilter::default()
    };
    let mut artefacts = Artefacts::default();
    let (mut replayed, mut identical) = (0usize, 0usize);
    let mut problems: Vec<String> = Vec::new();
    loop {
        let page = store.list_decisions(&filter).await?;
        let Some(last) = page.last() else { break };
        filter.before = Some(last.record.id.clone());
        for d in &page {
            replayed += 1;
            match redecide(&store, &mut artefacts, d).await {
                Ok(differences) if differences.is_empty() => identical += 1,
                Ok(differences) => problems.push(format!(
                    "{}: differs: {}",
                    d.record.id,
                    differences.join("; ")
                )),
                Err(err) => problems.push(format!("{}: not replayed: {err}", d.record.id)),
            }
        }
        if replayed % 10_000 < page.len() {
            writeln!(out, "      {replayed} decisions replayed…")?;
        }
    }
    store.close().await;
    writeln!(
        out,
        "{replayed} decision(s) replayed with their stored model and policy: {identical} identical, {} not",
        problems.len()
    )?;
    for p in problems.iter().take(LISTED) {
        writeln!(out, "  {p}")?;
    }
    if problems.len() > LISTED {
        writeln!(out, "  … and {} more", problems.len() - LISTED)?;
    }
    anyhow::ensure!(
        problems.is_empty(),
        "{} of {replayed} decision(s) did not replay identically",
        problems.len()
    );
    Ok(())
}
