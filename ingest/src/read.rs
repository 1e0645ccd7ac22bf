//! Reading raw files: a Polars lazy scan (CSV or Parquet, files or globs), streamed in batches
//! through the shared parsers, so raw text is never held whole in memory.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
}

struct State {
    parsers: Vec<ColumnParser>,
    text: Vec<StringChunked>,
    dates: Vec<Option<NaiveDate>>,
    date_failures: usize,
    date_failure_examples: Vec<String>,
    rows: usize,
}

/// Checks that the columns exist, then streams the frame through the parsers.
pub fn parse_stream(
    lf: LazyFrame,
    request: &Request,
    context: &str,
) -> Result<Parsed, IngestError> {
    let mut lf = lf;
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
    let mut unique: Vec<&str> = Vec::new();
    for c in wanted {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    let position = |name: &str| {
        unique
            .iter()
            .position(|c| *c == name)
            .expect("requested column")
    };
    let feature_at: Vec<Vec<usize>> = request
        .features
        .iter()
        .map(|(c, _)| c.iter().map(|c| position(c)).collect())
        .collect();
    let text_at: Vec<usize> = request.text.iter().map(|c| position(c)).collect();
    let time_at = request
        .time
        .as_ref()
        .map(|t| (position(&t.column), t.clone()));

    let state = Arc::new(Mutex::new(State {
        parsers: request
            .features
            .iter()
            .map(|(_, f)| ColumnParser::new(f.clone()))
            .collect(),
        text: request
            .text
            .iter()
            .map(|c| StringChunked::full_null(c.as_str().into(), 0))
            .collect(),
        dates: Vec::new(),
        date_failures: 0,
        date_failure_examples: Vec::new(),
        rows: 0,
    }));
    let na_values = request.na_values.clone();
    let pivot = request.two_digit_year_pivot;
    let sink_state = Arc::clone(&state);
    let callback = PlanCallback::new(move |batch: DataFrame| {
        let columns: Vec<StringChunked> = batch
            .columns()
            .iter()
            .map(|c| c.as_materialized_series().str().cloned())
            .collect::<PolarsResult<_>>()?;
        let mut state = sink_state.lock().expect("parser state");
        let dates: Vec<Option<NaiveDate>> = match &time_at {
            Some((at, time)) => columns[*at]
                .iter()
                .map(
                    |cell| match cell.map(|s| (s, time.parse(s, &na_values, pivot))) {
                        None => None,
                        Some((_, Ok(d))) => d,
                        Some((s, Err(_))) => {
                            state.date_failures += 1;
                            if state.date_failure_examples.len() < 5 {
                                state.date_failure_examples.push(s.to_owned());
                            }
                            None
                        }
                    },
                )
                .collect(),
            None => Vec::new(),
        };
        // Columns parse independently: spread them over the cores while Polars reads ahead.
        state
            .parsers
            .par_iter_mut()
            .zip(feature_at.par_iter())
            .for_each(|(parser, at)| {
                let raw: Vec<&StringChunked> = at.iter().map(|&i| &columns[i]).collect();
                parser.push(&raw, &na_values, &dates);
            });
        for (out, &at) in state.text.iter_mut().zip(&text_at) {
            out.append(&columns[at])?;
        }
        state.dates.extend(dates);
        state.rows += batch.height();
        Ok(false)
    });
    let selected: Vec<Expr> = unique
        .iter()
        .map(|c| col(*c).cast(DataType::String))
        .collect();
    lf.select(selected)
        .sink_batches(callback, true, NonZeroUsize::new(BATCH_ROWS))
        .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
        .map_err(IngestError::polars(context))?;
    // The plan that held the callback is gone, but take the state rather than rely on that.
    let state = std::mem::replace(
        &mut *state.lock().expect("parser state"),
        State {
            parsers: Vec::new(),
            text: Vec::new(),
            dates: Vec::new(),
            date_failures: 0,
            date_failure_examples: Vec::new(),
            rows: 0,
        },
    );
    let failures = state.parsers.iter().map(|p| p.failures).collect();
    let failure_examples = state
        .parsers
        .iter()
        .map(|p| p.failure_examples.clone())
        .collect();
    let text = state
        .text
        .into_iter()
        .map(|t| t.rechunk().into_owned())
        .collect();
    Ok(Parsed {
        rows: state.rows,
        features: state
            .parsers
            .into_iter()
            .map(ColumnParser::finish)
            .collect(),
        failures,
        failure_examples,
        text,
        dates: state.dates,
        date_failures: state.date_failures,
        date_failure_examples: state.date_failure_examples,
    })
}
