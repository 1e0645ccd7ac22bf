//! The ingest run: read raw files as the spec says, split, fit the pipeline on train, write the
//! dataset folder (`train|valid|test.parquet`, `pipeline.json`, `quality.json`, `spec.toml`).

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

use crate::IngestError;
use crate::parse::RawFormat;
use crate::pipeline::FeaturePipeline;
use crate::quality::{self, QualityReport, SplitSummary, TargetSummary};
use crate::read::{self, Parsed, Request};
use crate::spec::{DatasetSpec, MissingPolicy, OtherTarget, SplitMethod};
use crate::split::{self, Splits};
use crate::table::{MISSING_CODE, ParsedColumn};

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
///
/// A book of at most `[read] fit_rows` rows is read once and held. A larger one is read twice:
/// the first pass keeps every row's label, date and split key but the features only of a
/// uniform sample of `fit_rows` rows, on which the pipeline is fitted and the quality report
/// computed; the second pass encodes and writes the rows batch by batch. Memory is then bounded
/// by the sample, not the book.
pub fn ingest(
    spec: &DatasetSpec,
    inputs: &[PathBuf],
    out_dir: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Ingested, IngestError> {
    let context = format!("reading {}", read::describe(inputs));
    progress(&context);
    let request = request_of(spec);
    let lf = read::scan(inputs, &spec.read)?;
    let sample = Sample::of(&lf, spec, &context)?;
    if let Some(sample) = &sample {
        progress(&format!(
            "reading {} rows, holding a sample of about {} (fit_rows)",
            sample.rows, spec.read.fit_rows
        ));
    }
    let book = read_book(lf, &request, spec, sample.as_ref(), &context)?;
    if book.rows == 0 {
        return Err(IngestError::Input(format!(
            "{} holds no rows",
            read::describe(inputs)
        )));
    }

    progress(&format!(
        "splitting {} rows ({:?})",
        book.rows, spec.split.method
    ));
    let (labels, mut target) = label_rows(spec, &book.target)?;
    let usable = usable_rows(spec, &book, &labels, &mut target);
    check_dates(spec, &book)?;
    let splits = split_rows(spec, &book, &usable, &labels)?;
    target.rows_outside_split = usable.len() - splits.len();
    drop(usable);
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

    // The fit and the report see the rows held: all of them, or the sample.
    let held = Held::of(&book, &labels, &splits);
    let totals = quality::Totals {
        rows_read: book.rows,
        rows_used: splits.len(),
        sampled_rows: book.sample.as_ref().map(Vec::len),
    };
    // The quality report needs only the parsed values and the splits: compute it while the
    // pipeline is fitted and the splits are written.
    let report = || {
        quality::report(quality::Input {
            spec,
            parsed: &book.held,
            labels: &held.labels,
            splits: &held.splits,
            target,
            totals,
        })
    };
    let write = || -> Result<FeaturePipeline, IngestError> {
        let pipeline = fit(spec, &book.held, &held.splits.train, progress)?;
        progress(&format!(
            "writing {} and computing the quality report",
            out_dir.display()
        ));
        std::fs::create_dir_all(out_dir).map_err(IngestError::io(out_dir))?;
        match &book.sample {
            None => write_held(spec, &book.held, &pipeline, &labels, &splits, out_dir)?,
            Some(_) => {
                progress(&format!(
                    "writing {}: a second pass over the {} rows",
                    out_dir.display(),
                    book.rows
                ));
                let lf = read::scan(inputs, &spec.read)?;
                write_streamed(
                    spec, lf, &request, &pipeline, &labels, &splits, book.rows, out_dir, &context,
                )?;
            }
        }
        pipeline.save(&out_dir.join("pipeline.json"))?;
        let spec_path = out_dir.join("spec.toml");
        let spec_text =
            toml::to_string_pretty(spec).map_err(|e| IngestError::Spec(e.to_string()))?;
        std::fs::write(&spec_path, spec_text).map_err(IngestError::io(&spec_path))?;
        Ok(pipeline)
    };
    let (fitted, quality) = rayon::join(write, report);
    let pipeline = fitted?;
    quality.save(&out_dir.join("quality.json"))?;
    Ok(Ingested {
        pipeline,
        quality,
        out_dir: out_dir.to_owned(),
    })
}

/// What to parse: every feature's raw columns, then the text columns in a fixed order.
fn request_of(spec: &DatasetSpec) -> Request {
    // text[0] is the target; then the id, the kept columns, the time and, last, the split
    // column: dataset_frame and the book rely on these places.
    let mut text = vec![spec.target.column.clone()];
    text.extend(spec.id_column.iter().cloned());
    text.extend(spec.keep.iter().cloned());
    if let Some(time) = &spec.time {
        text.push(time.column.clone());
    }
    text.extend(spec.split_column().map(str::to_owned));
    Request {
        features: spec
            .features
            .iter()
            .map(|f| {
                let sources = f.sources().into_iter().map(str::to_owned).collect();
                (sources, RawFormat::of(f, &spec.read))
            })
            .collect(),
        text,
        time: spec.time.clone(),
        na_values: spec.read.na_values.clone(),
        two_digit_year_pivot: spec.read.two_digit_year_pivot,
    }
}

/// Which rows the first pass holds whole, when the book has more than `fit_rows`: each row
/// by a hash of its position and the split's seed, so a rerun holds the same rows.
#[derive(Debug)]
struct Sample {
    rows: usize,
    below: u64,
    seed: u64,
}

impl Sample {
    fn of(lf: &LazyFrame, spec: &DatasetSpec, context: &str) -> Result<Option<Self>, IngestError> {
        let cap = spec.read.fit_rows;
        if cap == 0 {
            return Ok(None);
        }
        let rows = lf
            .clone()
            .select([len().cast(DataType::UInt64)])
            .collect()
            .and_then(|counted| Ok(counted.column("len")?.u64()?.get(0)))
            .map_err(IngestError::polars(context))?
            .unwrap_or(0) as usize;
        Ok((rows > cap).then(|| Self {
            rows,
            below: (cap as f64 / rows as f64 * u64::MAX as f64) as u64,
            seed: spec.split.seed,
        }))
    }

    fn holds(&self, row: usize) -> bool {
        // SplitMix64: a well-mixed hash of the position.
        let mut z = (row as u64 ^ self.seed.rotate_left(32)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) < self.below
    }
}

/// The first pass over the input.
struct Book {
    rows: usize,
    /// The target as read, every row.
    target: ParsedColumn,
    /// The split column as read, every row (when the split reads one).
    split_values: Option<ParsedColumn>,
    /// Application dates, every row (when the spec has a time column).
    dates: Vec<Option<NaiveDate>>,
    /// Per row: 0, or 1 + the first `reject` feature (in spec order) that is missing.
    rejected: Vec<u16>,
    /// The rows `held` holds, ascending; None when it holds every row.
    sample: Option<Vec<usize>>,
    /// Every requested column of the held rows; parse failures counted over every row.
    held: Parsed,
}

fn read_book(
    lf: LazyFrame,
    request: &Request,
    spec: &DatasetSpec,
    sample: Option<&Sample>,
    context: &str,
) -> Result<Book, IngestError> {
    let rejecting: Vec<usize> = spec
        .features
        .iter()
        .enumerate()
        .filter(|(_, f)| f.missing == MissingPolicy::Reject)
        .map(|(i, _)| i)
        .collect();
    let split_at = spec.split_column().map(|_| request.text.len() - 1);
    let mut book = Book {
        rows: 0,
        target: ParsedColumn::Text {
            dict: Vec::new(),
            codes: Vec::new(),
        },
        split_values: split_at.map(|_| ParsedColumn::Text {
            dict: Vec::new(),
            codes: Vec::new(),
        }),
        dates: Vec::new(),
        rejected: Vec::new(),
        sample: sample.map(|_| Vec::new()),
        held: Parsed::empty(request),
    };
    let (mut target_lookup, mut split_lookup) = (PlHashMap::new(), PlHashMap::new());
    read::for_each_batch(lf, request, context, |batch| {
        let offset = book.rows;
        book.target
            .append(intern(&batch.text[0]), &mut target_lookup);
        if let (Some(values), Some(at)) = (&mut book.split_values, split_at) {
            values.append(intern(&batch.text[at]), &mut split_lookup);
        }
        book.dates.extend_from_slice(&batch.dates);
        book.rejected.extend((0..batch.rows).map(|r| {
            rejecting
                .iter()
                .position(|&i| batch.features[i].is_missing(r))
                .map_or(0, |k| k as u16 + 1)
        }));
        book.rows += batch.rows;
        match (sample, &mut book.sample) {
            (Some(sample), Some(held)) => {
                let rows: Vec<usize> = (0..batch.rows)
                    .filter(|&r| sample.holds(offset + r))
                    .collect();
                held.extend(rows.iter().map(|&r| offset + r));
                book.held.append(batch, Some(&rows))
            }
            _ => book.held.append(batch, None),
        }
    })?;
    book.held.rechunk();
    Ok(book)
}

/// Raw text interned as it is: the target and split columns, read by their own rules.
fn intern(values: &StringChunked) -> ParsedColumn {
    let mut lookup: PlHashMap<&str, u32> = PlHashMap::new();
    let mut dict = Vec::new();
    let codes = values
        .iter()
        .map(|v| match v {
            None => MISSING_CODE,
            Some(v) => *lookup.entry(v).or_insert_with(|| {
                dict.push(v.to_owned());
                dict.len() as u32 - 1
            }),
        })
        .collect();
    ParsedColumn::Text { dict, codes }
}

/// The held rows' labels and splits, as positions among the held rows.
struct Held<'a> {
    labels: Cow<'a, [u8]>,
    splits: Cow<'a, Splits>,
}

impl<'a> Held<'a> {
    fn of(book: &Book, labels: &'a [u8], splits: &'a Splits) -> Self {
        let Some(sample) = &book.sample else {
            return Self {
                labels: Cow::Borrowed(labels),
                splits: Cow::Borrowed(splits),
            };
        };
        // Both ascending: walk them together.
        let positions = |rows: &[usize]| {
            let mut out = Vec::new();
            let mut at = 0;
            for &r in rows {
                while at < sample.len() && sample[at] < r {
                    at += 1;
                }
                if at < sample.len() && sample[at] == r {
                    out.push(at);
                }
            }
            out
        };
        Self {
            labels: Cow::Owned(sample.iter().map(|&r| labels[r]).collect()),
            splits: Cow::Owned(Splits {
                train: positions(&splits.train),
                valid: positions(&splits.valid),
                test: positions(&splits.test),
            }),
        }
    }
}

/// Fits the pipeline on the training rows held.
fn fit(
    spec: &DatasetSpec,
    held: &Parsed,
    train: &[usize],
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<FeaturePipeline, IngestError> {
    progress(&format!(
        "fitting the feature pipeline on {} training rows",
        train.len()
    ));
    let train_columns: Vec<ParsedColumn> = model_columns(spec, held)
        .iter()
        .map(|c| c.take(train))
        .collect();
    FeaturePipeline::fit(spec, &train_columns)
}

/// The parsed columns the model reads: every feature but the protected attributes.
fn model_columns<'a>(spec: &DatasetSpec, parsed: &'a Parsed) -> Vec<&'a ParsedColumn> {
    spec.features
        .iter()
        .zip(&parsed.features)
        .filter(|(f, _)| !f.protected)
        .map(|(_, c)| c)
        .collect()
}

/// Writes the splits from the rows held (every row of the book).
fn write_held(
    spec: &DatasetSpec,
    parsed: &Parsed,
    pipeline: &FeaturePipeline,
    labels: &[u8],
    splits: &Splits,
    out_dir: &Path,
) -> Result<(), IngestError> {
    for (name, rows) in [
        ("train", &splits.train),
        ("valid", &splits.valid),
        ("test", &splits.test),
    ] {
        let mut frame = dataset_frame(spec, parsed, pipeline, labels, 0, rows)?;
        write_parquet(&mut frame, &out_dir.join(format!("{name}.parquet")))?;
    }
    Ok(())
}

/// Rows per Parquet row group when writing batch by batch.
const ROW_GROUP: usize = 256 * 1024;

/// One split's file, written a row group at a time.
struct SplitFile {
    path: PathBuf,
    writer: Option<polars::io::parquet::write::BatchedWriter<File>>,
    pending: Option<DataFrame>,
}

impl SplitFile {
    fn push(&mut self, frame: DataFrame) -> Result<(), IngestError> {
        match &mut self.pending {
            None => self.pending = Some(frame),
            Some(pending) => {
                pending
                    .vstack_mut_owned(frame)
                    .map_err(IngestError::polars("collecting rows"))?;
            }
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.height() >= ROW_GROUP)
        {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IngestError> {
        let Some(mut frame) = self.pending.take() else {
            return Ok(());
        };
        let context = || format!("writing {}", self.path.display());
        frame.rechunk_mut_par();
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(IngestError::io(&self.path))?;
            self.writer = Some(
                parquet_writer(file)
                    .batched(frame.schema())
                    .map_err(IngestError::polars(context()))?,
            );
        }
        let writer = self.writer.as_mut().expect("opened above");
        writer
            .write_batch(&frame)
            .map_err(IngestError::polars(context()))
    }

    fn finish(mut self) -> Result<(), IngestError> {
        self.flush()?;
        if let Some(writer) = self.writer.take() {
            writer.finish().map_err(IngestError::polars(format!(
                "writing {}",
                self.path.display()
            )))?;
        }
        Ok(())
    }
}

/// The second pass: reads the input again and writes each batch's rows to their split.
#[allow(clippy::too_many_arguments)]
fn write_streamed(
    spec: &DatasetSpec,
    lf: LazyFrame,
    request: &Request,
    pipeline: &FeaturePipeline,
    labels: &[u8],
    splits: &Splits,
    rows: usize,
    out_dir: &Path,
    context: &str,
) -> Result<(), IngestError> {
    const NONE: u8 = u8::MAX;
    let mut which = vec![NONE; rows];
    for (s, rows) in [&splits.train, &splits.valid, &splits.test]
        .into_iter()
        .enumerate()
    {
        for &r in rows {
            which[r] = s as u8;
        }
    }
    let mut files: Vec<SplitFile> = ["train", "valid", "test"]
        .iter()
        .map(|name| SplitFile {
            path: out_dir.join(format!("{name}.parquet")),
            writer: None,
            pending: None,
        })
        .collect();
    let mut seen = 0;
    read::for_each_batch(lf, request, context, |batch| {
        let offset = seen;
        seen += batch.rows;
        if seen > rows {
            return Err(IngestError::Input(format!(
                "{context}: the input grew between the two passes ({rows} rows at first)"
            )));
        }
        for (s, file) in files.iter_mut().enumerate() {
            let local: Vec<usize> = (0..batch.rows)
                .filter(|&r| which[offset + r] == s as u8)
                .collect();
            if !local.is_empty() {
                file.push(dataset_frame(
                    spec, &batch, pipeline, labels, offset, &local,
                )?)?;
            }
        }
        Ok(())
    })?;
    if seen != rows {
        return Err(IngestError::Input(format!(
            "{context}: the input changed between the two passes ({rows} rows, then {seen})"
        )));
    }
    files.into_iter().try_for_each(SplitFile::finish)
}

/// A split by dates needs dates: when none parsed, say so (and show some that failed) rather
/// than let the split come out empty.
fn check_dates(spec: &DatasetSpec, book: &Book) -> Result<(), IngestError> {
    let (Some(time), true) = (&spec.time, spec.splits_by_time()) else {
        return Ok(());
    };
    if book.dates.iter().any(Option::is_some) {
        return Ok(());
    }
    let parsed = &book.held;
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
    book: &Book,
    usable: &[usize],
    labels: &[u8],
) -> Result<Splits, IngestError> {
    // The split column as read: its distinct values and each row's code among them.
    let split_values = || match &book.split_values {
        Some(ParsedColumn::Text { dict, codes }) => (dict, codes),
        _ => unreachable!("the split column was read as text"),
    };
    Ok(match spec.split.method {
        SplitMethod::Stratified => split::stratified(usable, labels, &spec.split),
        SplitMethod::Time => split::by_time(usable, &book.dates, &spec.split),
        SplitMethod::Cutoff => {
            let cuts = split::Cutoffs::of(spec).map_err(IngestError::Spec)?;
            let keys: Vec<Option<f64>> = if spec.splits_by_time() {
                book.dates.iter().map(|d| d.map(split::date_key)).collect()
            } else {
                let column = spec.split_column().unwrap_or_default();
                let (dict, codes) = split_values();
                let mut failed = Vec::new();
                let by_code: Vec<Option<f64>> = dict
                    .iter()
                    .map(|v| match split::Cutoffs::key(spec, v) {
                        Ok(k) => k,
                        Err(e) => {
                            if failed.len() < 3 {
                                failed.push(e);
                            }
                            None
                        }
                    })
                    .collect();
                let missing = split::Cutoffs::key(spec, "").ok().flatten();
                if !failed.is_empty() {
                    tracing::warn!(column, examples = ?failed, "split values that are not numbers are in no split");
                }
                codes
                    .iter()
                    .map(|&c| by_code.get(c as usize).copied().unwrap_or(missing))
                    .collect()
            };
            split::by_cutoff(usable, &keys, &cuts)
        }
        SplitMethod::Column => {
            let (dict, codes) = split_values();
            let values: Vec<Option<&str>> = codes
                .iter()
                .map(|&c| dict.get(c as usize).map(String::as_str))
                .collect();
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
    raw: &ParsedColumn,
) -> Result<(Vec<u8>, TargetSummary), IngestError> {
    let ParsedColumn::Text { dict, codes } = raw else {
        unreachable!("the target was read as text")
    };
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
    // Each distinct value is read once; a missing value reads as "".
    let label_of = |value: &str| {
        let value = value.trim();
        if spec.target.bad.iter().any(|b| b == value) {
            1
        } else if spec.target.good.iter().any(|g| g == value) {
            0
        } else {
            u8::MAX
        }
    };
    let by_code: Vec<u8> = dict.iter().map(|v| label_of(v)).collect();
    let missing = label_of("");
    let mut labels = Vec::with_capacity(codes.len());
    let mut other = vec![0usize; dict.len() + 1];
    for (row, &code) in codes.iter().enumerate() {
        let (label, slot) = match by_code.get(code as usize) {
            Some(&l) => (l, code as usize),
            None => (missing, dict.len()),
        };
        match label {
            1 => target.bad += 1,
            0 => target.good += 1,
            _ if spec.target.other == OtherTarget::Error => {
                let value = dict.get(slot).map_or("", |v| v.trim());
                return Err(IngestError::Input(format!(
                    "row {}: target `{}` is {value:?}, which the spec lists as neither bad nor good",
                    row + 1,
                    spec.target.column
                )));
            }
            _ => other[slot] += 1,
        }
        labels.push(label);
    }
    for (slot, n) in other.into_iter().enumerate().filter(|(_, n)| *n > 0) {
        let value = dict.get(slot).map_or("", |v| v.trim());
        match target.other.iter_mut().find(|(v, _)| v == value) {
            Some((_, m)) => *m += n,
            None => target.other.push((value.to_owned(), n)),
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
    book: &Book,
    labels: &[u8],
    target: &mut TargetSummary,
) -> Vec<usize> {
    let rejecting: Vec<&str> = spec
        .features
        .iter()
        .filter(|f| f.missing == MissingPolicy::Reject)
        .map(|f| f.name.as_str())
        .collect();
    let mut rejected = vec![0usize; rejecting.len()];
    let needs_date = spec.splits_by_time();
    let mut usable = Vec::with_capacity(book.rows);
    for (row, &label) in labels.iter().enumerate() {
        if label == u8::MAX {
            continue;
        }
        if let Some(k) = book.rejected[row].checked_sub(1) {
            rejected[usize::from(k)] += 1;
            continue;
        }
        if needs_date && book.dates[row].is_none() {
            target.rows_without_time += 1;
            continue;
        }
        usable.push(row);
    }
    target.rejected_missing = rejecting
        .iter()
        .zip(rejected)
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| ((*name).to_owned(), n))
        .collect();
    usable
}

/// The model-ready frame of some rows: one f32 column per pipeline slot, the label, the source
/// row, the id and time as read, protected attributes and kept columns (never model inputs).
/// `rows` index `parsed`, whose first row is the book's row `offset`.
fn dataset_frame(
    spec: &DatasetSpec,
    parsed: &Parsed,
    pipeline: &FeaturePipeline,
    labels: &[u8],
    offset: usize,
    rows: &[usize],
) -> Result<DataFrame, IngestError> {
    let taken: Vec<ParsedColumn> = model_columns(spec, parsed)
        .iter()
        .map(|c| c.take(rows))
        .collect();
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
            .map(|&r| i32::from(labels[offset + r]))
            .collect::<Vec<i32>>(),
    ));
    columns.push(Column::new(
        SOURCE_ROW.into(),
        rows.iter()
            .map(|&r| (offset + r) as u64)
            .collect::<Vec<u64>>(),
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

fn parquet_writer(file: File) -> ParquetWriter<File> {
    // LZ4: faster to write than Snappy or zstd here (measured in bench/HISTORY.md), for a larger
    // file. No column statistics: the dataset is read whole, never filtered by row group.
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Lz4Raw)
        .with_statistics(StatisticsOptions::empty())
}

fn write_parquet(frame: &mut DataFrame, path: &Path) -> Result<(), IngestError> {
    let file = File::create(path).map_err(IngestError::io(path))?;
    parquet_writer(file)
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
