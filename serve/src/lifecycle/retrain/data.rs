//! A retrain's training data: the stored decisions whose outcome has matured, turned back into
//! the raw columns the champion's dataset spec reads (from the applications as the bank sent
//! them), written as one CSV file, optionally after rows of the original training files. The
//! spec is the champion's, with one change: the split is out of time on the decision's time,
//! so the most recent labelled decisions are the test split every model is judged on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use polars::prelude::*;
use riskloop_ingest::spec::{DatasetSpec, Split, SplitMethod};
use serde::Serialize;

use super::{RetrainError, RetrainSettings};
use crate::store::{OutcomeKind, Store};

/// The column holding each labelled decision's place in decision order (1, 2, …; 0 for rows
/// of the original files, which always train). An ordinal rather than a time: a group commit
/// stores many decisions in the same millisecond, and the split must still cut at its shares.
pub const ORDER: &str = "riskloop_decision_order";
const PAGE: u32 = 5000;

/// Where the data came from, for the model events and the job's result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Lineage {
    pub first_decision: Option<String>,
    pub last_decision: Option<String>,
    pub first_decided_at: Option<DateTime<Utc>>,
    pub last_decided_at: Option<DateTime<Utc>>,
    /// Decisions with a matured outcome, and how many of them defaulted.
    pub labelled: usize,
    pub bad: usize,
    /// Decisions with an outcome whose performance window has not passed yet: left out.
    pub immature: usize,
    /// Decisions before the configured time window: left out.
    pub outside_window: usize,
    /// Rows of the original training files added to the training split.
    pub file_rows: usize,
    /// Declined applications given an inferred outcome (reject inference by parceling), and
    /// how many of them were inferred bad; training rows only.
    pub inferred: usize,
    pub inferred_bad: usize,
    /// The places in decision order ([`ORDER`]) from which rows validate and test.
    pub valid_from: usize,
    pub test_from: usize,
}

/// What [`export`] wrote.
#[derive(Debug)]
pub struct Export {
    pub file: PathBuf,
    /// The champion's spec, split in decision order on [`ORDER`].
    pub spec: DatasetSpec,
    pub lineage: Lineage,
    /// The test split's decisions (id, 1 if it defaulted), oldest first: the holdout both
    /// models are judged on.
    pub holdout: Vec<(String, u8)>,
}

/// The raw columns `spec` reads, in a stable order.
fn columns(spec: &DatasetSpec) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let sources = spec.features.iter().flat_map(|f| f.sources());
    let extra = spec.time.iter().map(|t| t.column.as_str());
    for c in sources.chain(extra).chain(spec.id_column.as_deref()) {
        if seen.insert(c.to_owned()) {
            out.push(c.to_owned());
        }
    }
    out
}

/// A stored application's value of `column` as a raw file would hold it.
fn raw_text(value: Option<&serde_json::Value>, decimal: char) -> String {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if decimal != '.' => {
            n.to_string().replace('.', &decimal.to_string())
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

/// Writes the decisions of `store` (and `settings.include_files`) as `dir/decisions.csv`.
pub async fn export(
    store: &Store,
    champion_spec: &DatasetSpec,
    settings: &RetrainSettings,
    dir: &Path,
) -> Result<Export, RetrainError> {
    let spec = champion_spec;
    let columns = columns(spec);
    if columns
        .iter()
        .any(|c| c == &spec.target.column || c == ORDER)
    {
        return Err(RetrainError::Data(format!(
            "the spec reads `{}` as a feature: it cannot also be the target",
            spec.target.column
        )));
    }
    let (Some(bad), Some(good)) = (spec.target.bad.first(), spec.target.good.first()) else {
        return Err(RetrainError::Data(
            "the champion's spec names no bad or no good target value".into(),
        ));
    };
    std::fs::create_dir_all(dir).map_err(|e| RetrainError::io(dir, &e))?;
    let file = dir.join("decisions.csv");
    let mut writer = csv::Writer::from_path(&file).map_err(|e| RetrainError::io(&file, &e))?;
    let mut header = columns.clone();
    header.push(spec.target.column.clone());
    header.push(ORDER.to_owned());
    writer
        .write_record(&header)
        .map_err(|e| RetrainError::io(&file, &e))?;

    let mut lineage = Lineage {
        file_rows: copy_files(spec, &settings.include_files, &columns, &mut writer)?,
        ..Lineage::default()
    };

    let now = Utc::now();
    let window = TimeDelta::seconds((settings.performance_window_days * 86_400.0) as i64);
    let since = settings
        .window_days
        .map(|d| now - TimeDelta::seconds((d * 86_400.0) as i64));
    let mut labelled: Vec<(String, u8)> = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.labelled_decisions(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.id);
        for d in page {
            if since.is_some_and(|s| d.created_at < s) {
                lineage.outside_window += 1;
                continue;
            }
            // A default counts at once. A repaid loan counts once the window has passed since
            // the decision: until then a loan reported as repaid (or refinanced) may come back.
            let is_bad = d.outcome == OutcomeKind::Default;
            if !is_bad && now - d.created_at < window {
                lineage.immature += 1;
                continue;
            }
            let mut record = raw_record(spec, &columns, &d.id, &d.input, d.created_at);
            record.push(if is_bad { bad.clone() } else { good.clone() });
            record.push((labelled.len() + 1).to_string());
            writer
                .write_record(&record)
                .map_err(|e| RetrainError::io(&file, &e))?;
            lineage.first_decision.get_or_insert_with(|| d.id.clone());
            lineage.first_decided_at.get_or_insert(d.created_at);
            lineage.last_decision = Some(d.id.clone());
            lineage.last_decided_at = Some(d.created_at);
            lineage.bad += usize::from(is_bad);
            labelled.push((d.id, u8::from(is_bad)));
        }
    }
    // Ids are time-ordered, so `labelled` is in decision order already; place k is index k-1.
    let n = labelled.len();
    let place = |share: f64| ((n as f64 * (1.0 - share)) as usize).clamp(1, n - 1) + 1;
    if let Some(factor) = settings.reject_inference.filter(|_| n >= 2) {
        let target = [good.as_str(), bad.as_str()];
        // Inferred rows train and validate, in the shares labelled ones do, so that early
        // stopping and calibration see the declined population too (validated on approved
        // loans alone, a model learns their risk level and gives it to everyone); the test
        // split, which is the holdout that judges, keeps real outcomes only.
        let parceling = Parceling {
            factor,
            matured_before: now - window,
            valid_place: place(settings.holdout_share + settings.valid_share),
            valid_share: settings.valid_share / (1.0 - settings.holdout_share).max(1e-9),
        };
        let inferred = infer_rejects(store, spec, &columns, parceling, target, &mut writer).await?;
        (lineage.inferred, lineage.inferred_bad) = inferred;
    }
    writer.flush().map_err(|e| RetrainError::io(&file, &e))?;
    lineage.labelled = labelled.len();
    if labelled.len() < settings.min_labelled.max(10) {
        return Err(RetrainError::NotEnoughData(format!(
            "{} decisions have a matured outcome ({} more wait for their {}-day performance \
             window); a retrain needs at least {} (retrain.min_labelled)",
            labelled.len(),
            lineage.immature,
            settings.performance_window_days,
            settings.min_labelled
        )));
    }
    lineage.test_from = place(settings.holdout_share);
    lineage.valid_from =
        place(settings.holdout_share + settings.valid_share).min(lineage.test_from);
    let holdout = labelled.split_off(lineage.test_from - 1);
    let mut spec = spec.clone();
    spec.description = format!("{} — retrained on stored decisions", spec.description);
    spec.keep.clear();
    spec.drops.clear();
    spec.read.delimiter = ',';
    spec.split = Split {
        method: SplitMethod::Cutoff,
        column: Some(ORDER.to_owned()),
        valid_from: Some(lineage.valid_from.to_string()),
        test_from: Some(lineage.test_from.to_string()),
        ..Split::default()
    };
    Ok(Export {
        file,
        spec,
        lineage,
        holdout,
    })
}

/// A stored application as a raw file's row of `columns`. A time or id column the application
/// does not carry is the decision's own.
fn raw_record(
    spec: &DatasetSpec,
    columns: &[String],
    id: &str,
    input: &str,
    decided_at: DateTime<Utc>,
) -> Vec<String> {
    let input: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(input).unwrap_or_default();
    columns
        .iter()
        .map(|c| match input.get(c) {
            Some(value) => raw_text(Some(value), spec.read.decimal),
            None => match &spec.time {
                Some(t) if &t.column == c => decided_at.format(&t.format).to_string(),
                _ if spec.id_column.as_ref() == Some(c) => id.to_owned(),
                _ => String::new(),
            },
        })
        .collect()
}

/// How declines become rows: the parceling factor, the newest decision old enough to count,
/// and where inferred rows validate (the first place of the validation split, and the share of
/// rows that go there).
#[derive(Clone, Copy, Debug)]
struct Parceling {
    factor: f64,
    matured_before: DateTime<Utc>,
    valid_place: usize,
    valid_share: f64,
}

/// Reject inference by parceling: every declined application old enough to have matured, had
/// it been approved, becomes a training row, bad with probability `factor` × the PD its model
/// gave (capped at 1). Without it, a retrain learns only from the applications its champion let
/// through, and knows nothing of the ones beyond its cutoff. Returns how many rows were
/// written, and how many bad.
///
/// The labels are drawn by systematic sampling within bands of that probability, not by a coin
/// per row: each band gets its expected number of bads to within one, so the inferred default
/// rate by risk level is exact and a retrain does not swing with the luck of the draw (coins
/// per row moved the retrained model's bias on the declined by up to 0.05 between runs).
async fn infer_rejects(
    store: &Store,
    spec: &DatasetSpec,
    columns: &[String],
    parceling: Parceling,
    [good, bad]: [&str; 2],
    writer: &mut csv::Writer<std::fs::File>,
) -> Result<(usize, usize), RetrainError> {
    const BANDS: usize = 50;
    // Every matured decline, keyed by its application's content: the same applications must give
    // the same training file (rows and labels) whatever random ids they were given, since
    // training visits rows in file order (shuffled by a fixed seed).
    let mut inferred: Vec<(String, f64, Vec<String>)> = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.unlabelled_declines(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.id);
        for d in page
            .into_iter()
            .filter(|d| d.created_at <= parceling.matured_before)
        {
            let p = (parceling.factor * d.probability).clamp(0.0, 1.0);
            let record = raw_record(spec, columns, &d.id, &d.input, d.created_at);
            inferred.push((crate::digest::sha256_hex(d.input.as_bytes()), p, record));
        }
    }
    inferred.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // Half a bad carried in each band: rounding to the nearest count, not always down.
    let mut carried = [0.5f64; BANDS];
    let mut bads = 0;
    for (i, (_, p, mut record)) in inferred.iter().cloned().enumerate() {
        let band = ((p * BANDS as f64) as usize).min(BANDS - 1);
        let before = carried[band];
        carried[band] += p;
        let is_bad = carried[band].floor() > before.floor();
        record.push(if is_bad { bad } else { good }.to_owned());
        // Every 1/share-th row validates (at the validation split's first place); the others
        // train (place 0).
        let share = parceling.valid_share;
        let validates = ((i + 1) as f64 * share).floor() > (i as f64 * share).floor();
        record.push(if validates {
            parceling.valid_place.to_string()
        } else {
            "0".to_owned()
        });
        writer
            .write_record(&record)
            .map_err(|e| RetrainError::Data(format!("writing the training data: {e}")))?;
        bads += usize::from(is_bad);
    }
    let rows = inferred.len();
    Ok((rows, bads))
}

/// Appends the rows of the original training files, read with the spec's options, as
/// training rows (decision time 0). Their target column is copied as it is.
fn copy_files(
    spec: &DatasetSpec,
    files: &[PathBuf],
    columns: &[String],
    writer: &mut csv::Writer<std::fs::File>,
) -> Result<usize, RetrainError> {
    if files.is_empty() {
        return Ok(0);
    }
    let data = |e: PolarsError| RetrainError::Data(format!("reading the original files: {e}"));
    let frame = riskloop_ingest::read::scan(files, &spec.read)?;
    let names = frame.clone().collect_schema().map_err(data)?;
    let mut wanted: Vec<Expr> = Vec::new();
    let names_out: Vec<&String> = columns
        .iter()
        .chain(std::iter::once(&spec.target.column))
        .collect();
    for c in names_out.iter().copied() {
        wanted.push(if names.contains(c) {
            col(c.as_str()).cast(DataType::String)
        } else {
            lit(NULL).cast(DataType::String).alias(c.as_str())
        });
    }
    let df = frame.select(wanted).collect().map_err(data)?;
    let texts: Vec<&StringChunked> = names_out
        .iter()
        .map(|c| df.column(c.as_str()).and_then(Column::str))
        .collect::<Result<_, _>>()
        .map_err(data)?;
    for i in 0..df.height() {
        let mut record: Vec<&str> = texts.iter().map(|t| t.get(i).unwrap_or("")).collect();
        record.push("0");
        writer
            .write_record(&record)
            .map_err(|e| RetrainError::Data(format!("writing the training data: {e}")))?;
    }
    Ok(df.height())
}
