//! `riskloop outcomes import FILE`: what became of past decisions, from a CSV or Parquet file of
//! any size. Rows are read in batches (never the whole file at once), checked exactly as
//! `POST /v1/outcomes` checks them, and stored a batch per transaction; a repeated report is
//! not stored twice, so a file can be imported again safely. Every row is accounted for:
//! stored, a repeat, or rejected with its reason in a rejects file. The run is a `jobs` row
//! whose detail records how far it got, so an interrupted import of the same file resumes there.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::shared::open_store;
use crate::lifecycle::outcomes::{self, OutcomeError, Reported};
use crate::settings::Settings;
use crate::store::{JobStatus, Store};

mod rows; // the file, read a batch of rows at a time

use rows::{COLUMNS, Rows};

pub const JOB_KIND: &str = "outcomes_import";

#[derive(Debug, Subcommand)]
pub enum OutcomesCommand {
    /// Import outcomes from a CSV or Parquet file with the columns `decision_id` or
    /// `application_id`, `outcome` (default | repaid) and `observed_at` (RFC 3339).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: `.csv`, or `.parquet`. (Its own id: `file` is the configuration's.)
    #[arg(id = "outcomes_file", value_name = "FILE")]
    pub file: PathBuf,
    /// Rows per transaction.
    #[arg(long, default_value_t = 2000)]
    pub batch_size: usize,
    /// Where rejected rows are written with their reasons; default `<file>.rejected.csv`.
    #[arg(long, value_name = "FILE")]
    pub rejected: Option<PathBuf>,
    /// Start from the first row even if an earlier import of this file stopped partway.
    #[arg(long)]
    pub restart: bool,
}

/// What an import did, row by row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Rows read (including those skipped on resume).
    pub rows_done: u64,
    pub stored: u64,
    pub repeated: u64,
    pub rejected: u64,
}

pub async fn run(
    settings: &Settings,
    command: &OutcomesCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let OutcomesCommand::Import(args) = command;
    let store = open_store(settings).await?;
    let counts = import(&store, args, out).await;
    store.close().await;
    let counts = counts?;
    if counts.rejected > 0 {
        anyhow::bail!(
            "{} row(s) were rejected; they are listed with their reasons in {}",
            counts.rejected,
            rejects_path(args).display()
        );
    }
    Ok(())
}

fn rejects_path(args: &ImportArgs) -> PathBuf {
    args.rejected.clone().unwrap_or_else(|| {
        let mut name = args.file.as_os_str().to_owned();
        name.push(".rejected.csv");
        PathBuf::from(name)
    })
}

/// Imports `args.file`; the counts of this run and any resumed one together.
pub async fn import(
    store: &Store,
    args: &ImportArgs,
    out: &mut impl Write,
) -> anyhow::Result<Counts> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    let sha256 = riskloop_train::bundle::sha256_file(&args.file)?;
    let mut rows = Rows::open(&args.file)?;
    let resume = if args.restart {
        Counts::default()
    } else {
        resume_point(store, &sha256).await?
    };
    let mut counts = resume;
    let detail = |c: &Counts| {
        serde_json::json!({
            "file": args.file.display().to_string(), "sha256": sha256, "counts": c,
            "rejected_file": rejects_path(args).display().to_string(),
        })
    };
    let job = store.enqueue_job(JOB_KIND, &detail(&counts)).await?;
    store.claim_job(job).await?;
    if resume.rows_done > 0 {
        writeln!(
            out,
            "Resuming the import of {} at row {} (an earlier import of this file stopped there; \
             --restart starts over).",
            args.file.display(),
            resume.rows_done + 1
        )?;
        rows.skip(resume.rows_done)?;
    }
    let result = copy(store, args, &mut rows, &mut counts, |c| {
        let d = detail(c);
        async move { store.update_job_detail(job, &d).await }
    })
    .await;
    match &result {
        Ok(()) => store.finish_job(job, Ok(&detail(&counts))).await?,
        Err(e) => store.finish_job(job, Err(&format!("{e:#}"))).await?,
    }
    result?;
    writeln!(
        out,
        "Imported {}: {} row(s), {} stored, {} already stored (repeats), {} rejected (job {job}).",
        args.file.display(),
        counts.rows_done,
        counts.stored,
        counts.repeated,
        counts.rejected
    )?;
    Ok(counts)
}

/// Where an earlier, unfinished import of the same file (by content) stopped.
async fn resume_point(store: &Store, sha256: &str) -> anyhow::Result<Counts> {
    for job in store.list_jobs(Some(JOB_KIND), 100).await? {
        if job.detail["sha256"] != sha256 {
            continue;
        }
        if job.status == JobStatus::Succeeded {
            return Ok(Counts::default());
        }
        if let Ok(counts) = serde_json::from_value::<Counts>(job.detail["counts"].clone()) {
            return Ok(counts);
        }
    }
    Ok(Counts::default())
}

async fn copy<F, Fut>(
    store: &Store,
    args: &ImportArgs,
    rows: &mut Rows,
    counts: &mut Counts,
    mut checkpoint: F,
) -> anyhow::Result<()>
where
    F: FnMut(&Counts) -> Fut,
    Fut: std::future::Future<Output = crate::store::Result<()>>,
{
    let bar = progress(rows.total());
    bar.set_position(counts.rows_done);
    let mut rejects: Option<csv::Writer<std::fs::File>> = None;
    loop {
        let batch = rows.next_batch(args.batch_size)?;
        if batch.is_empty() {
            break;
        }
        let mut accepted = Vec::with_capacity(batch.len());
        for (row, reported) in &batch {
            match outcomes::check(store, reported).await {
                Ok(outcome) => accepted.push(outcome),
                Err(OutcomeError::Store(e)) => return Err(e.into()),
                Err(refused) => {
                    let writer = match &mut rejects {
                        Some(w) => w,
                        None => rejects.insert(open_rejects(&rejects_path(args))?),
                    };
                    write_reject(writer, *row, reported, &refused.to_string())?;
                    counts.rejected += 1;
                }
            }
        }
        if let Some(w) = &mut rejects {
            w.flush()?;
        }
        let stored = store.insert_outcomes(&accepted).await?;
        let repeated = stored.iter().filter(|s| s.repeated).count() as u64;
        counts.repeated += repeated;
        counts.stored += stored.len() as u64 - repeated;
        counts.rows_done += batch.len() as u64;
        checkpoint(counts).await?;
        bar.set_position(counts.rows_done);
    }
    bar.finish_and_clear();
    Ok(())
}

fn progress(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    let template = "[{elapsed_precise}] {bar:40} {pos}/{len} rows ({per_sec}, {eta} left)";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn open_rejects(path: &Path) -> anyhow::Result<csv::Writer<std::fs::File>> {
    let mut writer = csv::Writer::from_path(path)
        .map_err(|e| anyhow::anyhow!("cannot write rejects to {}: {e}", path.display()))?;
    let mut header = vec!["row"];
    header.extend(COLUMNS);
    header.push("reason");
    writer.write_record(&header)?;
    Ok(writer)
}

fn write_reject(
    writer: &mut csv::Writer<std::fs::File>,
    row: u64,
    r: &Reported,
    reason: &str,
) -> anyhow::Result<()> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    writer.write_record([
        row.to_string(),
        text(&r.decision_id),
        text(&r.application_id),
        text(&r.outcome),
        text(&r.observed_at),
        reason.to_owned(),
    ])?;
    Ok(())
}
