//! Reading raw files: a Polars lazy scan (CSV or Parquet, files or globs), streamed in batches
//! through the shared parsers, so raw text is never held whole in memory.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use rayon::prelude::*;

use crate::IngestError;
use crate::parse::RawFormat;
use crate::spec::{ReadOptions, TimeColumn};
use crate::table::{ColumnParser, ParsedColumn};

const BATCH_ROWS: usize = 64 * 1024;

/// Opens the inputs lazily: every CSV column as text (parsing is ours), Parquet as stored.
pub fn scan(inputs: &[PathBuf], read: &ReadOptions) -> Result<LazyFrame, IngestError> {
    let Some(first) = inputs.first() else {
        return Err(IngestError::Input("no input files given".into()));
    };
    let parquet = is_parquet(first);
    if let Some(other) = inputs.iter().find(|p| is_parquet(p) != parquet) {
        return Err(IngestError::Input(format!(
            "{} and {} differ in format: give CSV files or Parquet files, not both",
            first.display(),
            other.display()
        )));
    }
    let paths: Vec<PlRefPath> = inputs
        .iter()
        .map(|p| PlRefPath::new(p.to_string_lossy().as_ref()))
        .collect();
    let sources = ScanSources::Paths(paths.into());
    let context = format!("reading {}", describe(inputs));
    if parquet {
        LazyFrame::scan_parquet_sources(sources, ScanArgsParquet::default())
            .map_err(IngestError::polars(context))
    } else {
        LazyCsvReader::new_with_sources(sources)
            .with_has_header(true)
            .with_separator(read.delimiter as u8)
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(false)
            .finish()
            .map_err(IngestError::polars(context))
    }
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

pub fn describe(inputs: &[PathBuf]) -> String {
    inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to read from the stream: columns to parse as features and columns to keep as text.
#[derive(Debug, Default)]
pub struct Request {
    /// Each feature's raw columns (one, or a derived feature's operands) and how to read them.
    pub features: Vec<(Vec<String>, RawFormat)>,
    pub text: Vec<String>,
    pub time: Option<TimeColumn>,
    pub na_values: Vec<String>,
    pub two_digit_year_pivot: u32,
}

/// The parsed stream, columns in the order they were requested.
#[derive(Debug)]
pub struct Parsed {
    pub rows: usize,
    pub features: Vec<ParsedColumn>,
    pub failures: Vec<usize>,
    pub failure_examples: Vec<Vec<String>>,
    /// Requested text columns as read, one chunked array each.
    pub text: Vec<StringChunked>,
    pub dates: Vec<Option<NaiveDate>>,
    pub date_failures: usize,
    /// First few application dates that did not parse, for the error that says so.
    pub date_failure_examples: Vec<String>,
    /// Each feature's code by category, for appending batches.
    lookups: Vec<PlHashMap<String, u32>>,
}

/// How a batch's columns map onto the requested ones.
struct Layout {
    /// Each selected column, once, in the order the batch holds them.
    selected: Vec<String>,
    feature_at: Vec<Vec<usize>>,
    text_at: Vec<usize>,
    time_at: Option<usize>,
}

impl Layout {
    /// Checks that every requested column exists and fixes each one's place in a batch.
    fn of(lf: &mut LazyFrame, request: &Request, context: &str) -> Result<Self, IngestError> {
        let schema = lf.collect_schema().map_err(IngestError::polars(context))?;
        let mut wanted: Vec<&str> = request
            .features
            .iter()
            .flat_map(|(c, _)| c.iter().map(String::as_str))
            .collect();
        wanted.extend(request.text.iter().map(String::as_str));
        wanted.extend(request.time.iter().map(|t| t.column.as_str()));
        let mut missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|c| schema.get(c).is_none())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            return Err(IngestError::Input(format!(
                "{context}: column(s) not found: {}",
                missing.join(", ")
            )));
        }
        let mut selected: Vec<String> = Vec::new();
        for c in wanted {
            if !selected.iter().any(|s| s == c) {
                selected.push(c.to_owned());
            }
        }
        let position = |name: &str| {
            selected
                .iter()
                .position(|c| c == name)
                .expect("requested column")
        };
        Ok(Self {
            feature_at: request
                .features
                .iter()
                .map(|(c, _)| c.iter().map(|c| position(c)).collect())
                .collect(),
            text_at: request.text.iter().map(|c| position(c)).collect(),
            time_at: request.time.as_ref().map(|t| position(&t.column)),
            selected,
        })
    }

    /// Parses one batch of raw text into every requested column.
    fn parse(&self, batch: &DataFrame, request: &Request) -> PolarsResult<Parsed> {
        let columns: Vec<StringChunked> = batch
            .columns()
            .iter()
            .map(|c| c.as_materialized_series().str().cloned())
            .collect::<PolarsResult<_>>()?;
        let (na_values, pivot) = (&request.na_values, request.two_digit_year_pivot);
        let mut date_failures = 0;
        let mut date_failure_examples = Vec::new();
        let dates: Vec<Option<NaiveDate>> = match (&request.time, self.time_at) {
            (Some(time), Some(at)) => columns[at]
                .iter()
                .map(|cell| {
                    let raw = cell?;
                    time.parse(raw, na_values, pivot).unwrap_or_else(|_| {
                        date_failures += 1;
                        if date_failure_examples.len() < 5 {
                            date_failure_examples.push(raw.to_owned());
                        }
                        None
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        // Columns parse independently: spread them over the cores while Polars reads ahead.
        let parsers: Vec<ColumnParser> = request
            .features
            .par_iter()
            .zip(self.feature_at.par_iter())
            .map(|((_, format), at)| {
                let mut parser = ColumnParser::new(format.clone());
                let raw: Vec<&StringChunked> = at.iter().map(|&i| &columns[i]).collect();
                parser.push(&raw, na_values, &dates);
                parser
            })
            .collect();
        Ok(Parsed {
            rows: batch.height(),
            failures: parsers.iter().map(|p| p.failures).collect(),
            failure_examples: parsers.iter().map(|p| p.failure_examples.clone()).collect(),
            features: parsers.into_iter().map(ColumnParser::finish).collect(),
            text: self.text_at.iter().map(|&at| columns[at].clone()).collect(),
            dates,
            date_failures,
            date_failure_examples,
            lookups: Vec::new(),
        })
    }
}

/// Streams the frame in batches of about 64k rows, in order, each parsed and handed to
/// `consume`; Polars reads the next batches while one is parsed. An error from `consume`
/// stops the read and is returned.
pub fn for_each_batch(
    lf: LazyFrame,
    request: &Request,
    context: &str,
    mut consume: impl FnMut(Parsed) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    enum Message {
        Batch(DataFrame),
        Done(PolarsResult<()>),
    }
    let mut lf = lf;
    let layout = Layout::of(&mut lf, request, context)?;
    let selected: Vec<Expr> = layout
        .selected
        .iter()
        .map(|c| col(c.as_str()).cast(DataType::String))
        .collect();
    // A short queue bounds what is held: the reader waits while the consumer is behind.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Message>(2);
    let batches = sender.clone();
    // The consumer gone (it failed) stops the read.
    let callback =
        PlanCallback::new(move |batch: DataFrame| Ok(batches.send(Message::Batch(batch)).is_err()));
    let plan = lf
        .select(selected)
        .sink_batches(callback, true, NonZeroUsize::new(BATCH_ROWS));
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let done = plan
                .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
                .map(drop);
            let _ = sender.send(Message::Done(done));
        });
        for message in receiver {
            match message {
                Message::Batch(batch) => layout
                    .parse(&batch, request)
                    .map_err(IngestError::polars(context))
                    .and_then(&mut consume)?,
                Message::Done(done) => return done.map_err(IngestError::polars(context)),
            }
        }
        Err(IngestError::Input(format!(
            "{context}: the reader stopped without a word"
        )))
    })
}

/// Checks that the columns exist, then streams the frame through the parsers into one
/// [`Parsed`] holding every row.
pub fn parse_stream(
    lf: LazyFrame,
    request: &Request,
    context: &str,
) -> Result<Parsed, IngestError> {
    let mut whole: Option<Parsed> = None;
    for_each_batch(lf, request, context, |batch| {
        match &mut whole {
            None => whole = Some(batch),
            Some(whole) => whole.append(batch, None)?,
        }
        Ok(())
    })?;
    let mut whole = whole.unwrap_or_else(|| Parsed::empty(request));
    whole.rechunk();
    Ok(whole)
}

impl Parsed {
    /// No rows, with the requested columns.
    pub fn empty(request: &Request) -> Self {
        Self {
            rows: 0,
            features: request
                .features
                .iter()
                .map(|(_, f)| ColumnParser::new(f.clone()).finish())
                .collect(),
            failures: vec![0; request.features.len()],
            failure_examples: vec![Vec::new(); request.features.len()],
            text: request
                .text
                .iter()
                .map(|c| StringChunked::full_null(c.as_str().into(), 0))
                .collect(),
            dates: Vec::new(),
            date_failures: 0,
            date_failure_examples: Vec::new(),
            lookups: Vec::new(),
        }
    }

    /// One chunk per text column, for fast row access.
    pub fn rechunk(&mut self) {
        for column in &mut self.text {
            *column = column.rechunk().into_owned();
        }
    }

    /// Adds a later batch's rows (or only `rows` of it, ascending). Parse failures count every
    /// row of the batch, kept or not: they describe the input.
    pub fn append(&mut self, batch: Parsed, rows: Option<&[usize]>) -> Result<(), IngestError> {
        for (failures, n) in self.failures.iter_mut().zip(&batch.failures) {
            *failures += n;
        }
        for (examples, more) in self.failure_examples.iter_mut().zip(batch.failure_examples) {
            let room = 5usize.saturating_sub(examples.len());
            examples.extend(more.into_iter().take(room));
        }
        self.date_failures += batch.date_failures;
        let room = 5usize.saturating_sub(self.date_failure_examples.len());
        self.date_failure_examples
            .extend(batch.date_failure_examples.into_iter().take(room));
        self.lookups
            .resize_with(self.features.len(), PlHashMap::new);
        for ((column, lookup), more) in self
            .features
            .iter_mut()
            .zip(&mut self.lookups)
            .zip(batch.features)
        {
            match rows {
                None => column.append(more, lookup),
                Some(rows) => column.append(more.take(rows), lookup),
            }
        }
        for (column, more) in self.text.iter_mut().zip(batch.text) {
            // Copied out rather than taken: a taken view would keep the batch's buffers alive.
            let more = match rows {
                None => more,
                Some(rows) => rows
                    .iter()
                    .map(|&r| more.get(r))
                    .collect::<StringChunked>()
                    .with_name(more.name().clone()),
            };
            column
                .append(&more)
                .map_err(IngestError::polars("appending rows"))?;
        }
        match rows {
            None => self.dates.extend(batch.dates),
            Some(rows) if !batch.dates.is_empty() => {
                self.dates.extend(rows.iter().map(|&r| batch.dates[r]));
            }
            Some(_) => {}
        }
        self.rows += rows.map_or(batch.rows, <[usize]>::len);
        Ok(())
    }
}
