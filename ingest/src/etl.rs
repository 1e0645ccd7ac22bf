//! The ingest run: read raw files as the spec says, split, fit the pipeline on train, write the
//! dataset folder (`train|valid|test.parquet`, `pipeline.json`, `quality.json`, `spec.toml`).

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::IngestError;
use crate::parse::RawFormat;
use crate::pipeline::FeaturePipeline;
use crate::quality::{self, QualityReport, SplitSummary, TargetSummary};
use crate::read::{self, Parsed, Request};
use crate::spec::{DatasetSpec, MissingPolicy, OtherTarget, SplitMethod};
use crate::split::{self, Splits};
use crate::table::ParsedColumn;

/// Name of the label column in the dataset files: 1 = bad, 0 = good.
pub const TARGET: &str = "target";
/// Position of the row in the raw input, for tracing a dataset row back to its source.
pub const SOURCE_ROW: &str = "source_row";

/// What an ingest produced, for the summary the CLI prints.
#[derive(Debug)]
pub struct Ingested {
    pub pipeline: FeaturePipeline,
    pub quality: QualityReport,
    pub out_dir: PathBuf,
}

/// Runs the whole ingest. `progress` hears about each step as it starts.
pub fn ingest(
    spec: &DatasetSpec,
    inputs: &[PathBuf],
    out_dir: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Ingested, IngestError> {
    progress(&format!("reading {}", read::describe(inputs)));
    let lf = read::scan(inputs, &spec.read)?;
    let mut text_columns = vec![spec.target.column.clone()];
    text_columns.extend(spec.id_column.iter().cloned());
    text_columns.extend(spec.keep.iter().cloned());
    if let Some(time) = &spec.time {
        text_columns.push(time.column.clone());
    }
    // Last, so that dataset_frame's text columns keep their places.
    text_columns.extend(spec.split_column().map(str::to_owned));
    let request = Request {
        features: spec
            .features
            .iter()
            .map(|f| {
                let sources = f.sources().into_iter().map(str::to_owned).collect();
                (sources, RawFormat::of(f, &spec.read))
            })
            .collect(),
        text: text_columns,
        time: spec.time.clone(),
        na_values: spec.read.na_values.clone(),
        two_digit_year_pivot: spec.read.two_digit_year_pivot,
    };
    let parsed = read::parse_stream(lf, &request, &format!("reading {}", read::describe(inputs)))?;
    if parsed.rows == 0 {
        return Err(IngestError::Input(format!(
            "{} holds no rows",
            read::describe(inputs)
        )));
    }

    progress(&format!(
        "splitting {} rows ({:?})",
        parsed.rows, spec.split.method
    ));
    let (labels, mut target) = label_rows(spec, &parsed)?;
    let usable = usable_rows(spec, &parsed, &labels, &mut target);
    check_dates(spec, &parsed)?;
    let splits = split_rows(spec, &parsed, &usable, &labels)?;
    target.rows_outside_split = usable.len() - splits.len();
    for (name, rows) in [
        ("training", &splits.train),
        ("validation", &splits.valid),
        ("test", &splits.test),
    ] {
        if rows.is_empty() {
            return Err(IngestError::Input(format!(
                "the {name} split is empty: {}",
                describe_split(spec)
            )));
        }
    }
    if !splits.train.iter().any(|&r| labels[r] == 1) {
        return Err(IngestError::Input(
            "the training split has no bad rows: nothing to learn from".into(),
        ));
    }
    target.splits = [
        ("train", &splits.train),
        ("valid", &splits.valid),
        ("test", &splits.test),
    ]
    .into_iter()
    .map(|(name, rows)| SplitSummary {
        name,
        rows: rows.len(),
        bad_rate: rows.iter().filter(|&&r| labels[r] == 1).count() as f64
            / rows.len().max(1) as f64,
    })
    .collect();

    // The quality report needs only the parsed values and the splits: compute it while the
    // pipeline is fitted and the splits are written.
    let report = || {
        quality::report(quality::Input {
            spec,
            parsed: &parsed,
            labels: &labels,
            splits: &splits,
            target,
        })
    };
    let (fitted, quality) = rayon::join(
        || fit_and_write(spec, &parsed, &labels, &splits, out_dir, progress),
        report,
    );
    let pipeline = fitted?;
    quality.save(&out_dir.join("quality.json"))?;
    Ok(Ingested {
        pipeline,
        quality,
        out_dir: out_dir.to_owned(),
    })
}

/// Fits the pipeline on the training rows and writes the dataset folder but `quality.json`.
fn fit_and_write(
    spec: &DatasetSpec,
    parsed: &Parsed,
    labels: &[u8],
    splits: &Splits,
    out_dir: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<FeaturePipeline, IngestError> {
    progress(&format!(
        "fitting the feature pipeline on {} training rows",
        splits.train.len()
    ));
    let model_columns: Vec<&ParsedColumn> = spec
        .features
        .iter()
        .zip(&parsed.features)
        .filter(|(f, _)| !f.protected)
        .map(|(_, c)| c)
        .collect();
    let train_columns: Vec<ParsedColumn> = model_columns
        .iter()
        .map(|c| c.take(&splits.train))
        .collect();
    let pipeline = FeaturePipeline::fit(spec, &train_columns)?;
    drop(train_columns);

    progress(&format!(
        "writing {} and computing the quality report",
        out_dir.display()
    ));
    std::fs::create_dir_all(out_dir).map_err(IngestError::io(out_dir))?;
    for (name, rows) in [
        ("train", &splits.train),
        ("valid", &splits.valid),
        ("test", &splits.test),
    ] {
        let mut frame = dataset_frame(spec, parsed, &pipeline, &model_columns, labels, rows)?;
        write_parquet(&mut frame, &out_dir.join(format!("{name}.parquet")))?;
    }
    pipeline.save(&out_dir.join("pipeline.json"))?;
    let spec_path = out_dir.join("spec.toml");
    let spec_text = toml::to_string_pretty(spec).map_err(|e| IngestError::Spec(e.to_string()))?;
    std::fs::write(&spec_path, spec_text).map_err(IngestError::io(&spec_path))?;
    Ok(pipeline)
}

/// A split by dates needs dates: when none parsed, say so (and show some that failed) rather
/// than let the split come out empty.
fn check_dates(spec: &DatasetSpec, parsed: &Parsed) -> Result<(), IngestError> {
    let (Some(time), true) = (&spec.time, spec.splits_by_time()) else {
        return Ok(());
    };
    if parsed.dates.iter().any(Option::is_some) {
        return Ok(());
    }
    let examples = if parsed.date_failure_examples.is_empty() {
        "every value is missing".to_owned()
    } else {
        format!(
            "{} value(s) did not parse, e.g. {}",
            parsed.date_failures,
            parsed
                .date_failure_examples
                .iter()
                .map(|e| format!("{e:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(IngestError::Input(format!(
        "no date in `{}` parsed with the format {:?}: {examples}. Fix `[time] format`, or recode \
         odd values with `[time] map`",
        time.column, time.format
    )))
}

/// Row indices of each split, as the spec's method says.
fn split_rows(
    spec: &DatasetSpec,
    parsed: &Parsed,
    usable: &[usize],
    labels: &[u8],
) -> Result<Splits, IngestError> {
    // The split column, if any, is the last text column read.
    let split_values = || parsed.text.last().expect("the split column was read");
    Ok(match spec.split.method {
        SplitMethod::Stratified => split::stratified(usable, labels, &spec.split),
        SplitMethod::Time => split::by_time(usable, &parsed.dates, &spec.split),
        SplitMethod::Cutoff => {
            let cuts = split::Cutoffs::of(spec).map_err(IngestError::Spec)?;
            let keys: Vec<Option<f64>> = if spec.splits_by_time() {
                parsed
                    .dates
                    .iter()
                    .map(|d| d.map(split::date_key))
                    .collect()
            } else {
                let column = spec.split_column().unwrap_or_default();
                let mut failed = Vec::new();
                let keys = split_values()
                    .iter()
                    .map(|v| match split::Cutoffs::key(spec, v.unwrap_or("")) {
                        Ok(k) => k,
                        Err(e) => {
                            if failed.len() < 3 {
                                failed.push(e);
                            }
                            None
                        }
                    })
                    .collect();
                if !failed.is_empty() {
                    tracing::warn!(column, examples = ?failed, "split values that are not numbers are in no split");
                }
                keys
            };
            split::by_cutoff(usable, &keys, &cuts)
        }
        SplitMethod::Column => {
            let values: Vec<Option<&str>> = split_values().iter().collect();
            split::by_values(usable, &values, &spec.split)
        }
    })
}

fn describe_split(spec: &DatasetSpec) -> String {
    let s = &spec.split;
    let column = s
        .column
        .clone()
        .or_else(|| spec.time.as_ref().map(|t| t.column.clone()))
        .unwrap_or_default();
    match s.method {
        SplitMethod::Cutoff => format!(
            "no row of `{column}` falls in it with train_from = {:?}, valid_from = {:?}, test_from = {:?}",
            s.train_from, s.valid_from, s.test_from
        ),
        SplitMethod::Column => format!(
            "no row of `{column}` holds its values (train {:?}, valid {:?}, test {:?})",
            s.train_values, s.valid_values, s.test_values
        ),
        _ => "too few usable rows for the split's shares".into(),
    }
}

/// 1 for bad, 0 for good, per row; counts the rest by raw value (or fails, per the spec).
fn label_rows(
    spec: &DatasetSpec,
    parsed: &Parsed,
) -> Result<(Vec<u8>, TargetSummary), IngestError> {
    let raw = &parsed.text[0];
    let mut labels = vec![u8::MAX; parsed.rows];
    let mut target = TargetSummary {
        column: spec.target.column.clone(),
        bad: 0,
        good: 0,
        other: Vec::new(),
        rejected_missing: Vec::new(),
        rows_without_time: 0,
        rows_outside_split: 0,
        splits: Vec::new(),
    };
    for (row, value) in raw.iter().enumerate() {
        let value = value.map(str::trim).unwrap_or("");
        if spec.target.bad.iter().any(|b| b == value) {
            labels[row] = 1;
            target.bad += 1;
        } else if spec.target.good.iter().any(|g| g == value) {
            labels[row] = 0;
            target.good += 1;
        } else if spec.target.other == OtherTarget::Error {
            return Err(IngestError::Input(format!(
                "row {}: target `{}` is {value:?}, which the spec lists as neither bad nor good",
                row + 1,
                spec.target.column
            )));
        } else {
            match target.other.iter_mut().find(|(v, _)| v == value) {
                Some((_, n)) => *n += 1,
                None => target.other.push((value.to_owned(), 1)),
            }
        }
    }
    target
        .other
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok((labels, target))
}

/// Rows with a label, every `reject` feature present and, for time splits, a date.
fn usable_rows(
    spec: &DatasetSpec,
    parsed: &Parsed,
    labels: &[u8],
    target: &mut TargetSummary,
) -> Vec<usize> {
    let rejecting: Vec<(usize, &str)> = spec
        .features
        .iter()
        .enumerate()
        .filter(|(_, f)| f.missing == MissingPolicy::Reject)
        .map(|(i, f)| (i, f.name.as_str()))
        .collect();
    let mut rejected = vec![0usize; rejecting.len()];
    let needs_date = spec.splits_by_time();
    let mut usable = Vec::with_capacity(parsed.rows);
    'rows: for (row, &label) in labels.iter().enumerate() {
        if label == u8::MAX {
            continue;
        }
        for (k, (i, _)) in rejecting.iter().enumerate() {
            if parsed.features[*i].is_missing(row) {
                rejected[k] += 1;
                continue 'rows;
            }
        }
        if needs_date && parsed.dates[row].is_none() {
            target.rows_without_time += 1;
            continue;
        }
        usable.push(row);
    }
    target.rejected_missing = rejecting
        .iter()
        .zip(rejected)
        .filter(|(_, n)| *n > 0)
        .map(|((_, name), n)| ((*name).to_owned(), n))
        .collect();
    usable
}

/// The model-ready frame of some rows: one f32 column per pipeline slot, the label, the source
/// row, the id and time as read, protected attributes and kept columns (never model inputs).
fn dataset_frame(
    spec: &DatasetSpec,
    parsed: &Parsed,
    pipeline: &FeaturePipeline,
    model_columns: &[&ParsedColumn],
    labels: &[u8],
    rows: &[usize],
) -> Result<DataFrame, IngestError> {
    let taken: Vec<ParsedColumn> = model_columns.iter().map(|c| c.take(rows)).collect();
    let encoded = pipeline.transform(&taken);
    let mut columns: Vec<Column> = pipeline
        .slots
        .iter()
        .zip(encoded)
        .map(|(slot, values)| Column::new(slot.name.as_str().into(), values))
        .collect();
    columns.push(Column::new(
        TARGET.into(),
        rows.iter()
            .map(|&r| i32::from(labels[r]))
            .collect::<Vec<i32>>(),
    ));
    columns.push(Column::new(
        SOURCE_ROW.into(),
        rows.iter().map(|&r| r as u64).collect::<Vec<u64>>(),
    ));
    // text[0] is the target; then the id, the kept columns and the time, as requested.
    let mut text_names: Vec<&str> = spec.id_column.iter().map(String::as_str).collect();
    text_names.extend(spec.keep.iter().map(String::as_str));
    text_names.extend(spec.time.iter().map(|t| t.column.as_str()));
    let indices = IdxCa::from_vec("rows".into(), rows.iter().map(|&r| r as IdxSize).collect());
    for (name, values) in text_names.iter().zip(&parsed.text[1..]) {
        let taken = values
            .take(&indices)
            .map_err(IngestError::polars("selecting rows"))?;
        columns.push(taken.into_series().with_name((*name).into()).into_column());
    }
    for (f, column) in spec
        .features
        .iter()
        .zip(&parsed.features)
        .filter(|(f, _)| f.protected)
    {
        let name = format!("protected__{}", f.name);
        columns.push(match column.take(rows) {
            ParsedColumn::Number(v) => Column::new(name.into(), v),
            ParsedColumn::Text { dict, codes } => Column::new(
                name.into(),
                codes
                    .iter()
                    .map(|&c| dict.get(c as usize).map(String::as_str))
                    .collect::<Vec<Option<&str>>>(),
            ),
        });
    }
    DataFrame::new(rows.len(), columns).map_err(IngestError::polars("assembling the dataset"))
}

fn write_parquet(frame: &mut DataFrame, path: &Path) -> Result<(), IngestError> {
    let file = File::create(path).map_err(IngestError::io(path))?;
    // LZ4: faster to write than Snappy or zstd here (measured in bench/HISTORY.md), for a larger
    // file. No column statistics: the dataset is read whole, never filtered by row group.
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Lz4Raw)
        .with_statistics(StatisticsOptions::empty())
        .finish(frame)
        .map_err(IngestError::polars(format!("writing {}", path.display())))?;
    Ok(())
}

/// Reads one split of a dataset folder.
pub fn read_split(dir: &Path, name: &str) -> Result<DataFrame, IngestError> {
    let path = dir.join(format!("{name}.parquet"));
    let file = File::open(&path).map_err(IngestError::io(&path))?;
    ParquetReader::new(file)
        .finish()
        .map_err(IngestError::polars(format!("reading {}", path.display())))
}

impl Splits {
    pub fn len(&self) -> usize {
        self.train.len() + self.valid.len() + self.test.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
