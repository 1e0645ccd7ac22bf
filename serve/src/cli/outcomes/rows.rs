//! An outcomes file read a batch of rows at a time: CSV through a streaming reader, Parquet
//! through Polars slices (row groups outside a slice are not read). Every value arrives as
//! text, as the API receives it; a Parquet timestamp becomes RFC 3339 in UTC.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, Utc};
use polars::prelude::*;

use crate::lifecycle::outcomes::Reported;

/// The columns an outcomes file may have, in the order rejects are written.
pub(super) const COLUMNS: [&str; 4] = ["decision_id", "application_id", "outcome", "observed_at"];

pub(super) enum Rows {
    Csv {
        reader: csv::Reader<File>,
        /// Where each of [`COLUMNS`] is in a record.
        at: [Option<usize>; 4],
        next_row: u64,
    },
    Parquet {
        frame: LazyFrame,
        next_row: u64,
        rows: u64,
    },
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Csv { next_row, .. } => write!(f, "Rows::Csv(at row {next_row})"),
            Self::Parquet { next_row, rows, .. } => {
                write!(f, "Rows::Parquet(at row {next_row} of {rows})")
            }
        }
    }
}

fn positions(header: &[String], file: &Path) -> anyhow::Result<[Option<usize>; 4]> {
    if let Some(unknown) = header.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        anyhow::bail!(
            "{}: unknown column `{unknown}` (an outcomes file has {})",
            file.display(),
            COLUMNS.join(", ")
        );
    }
    let at = COLUMNS.map(|c| header.iter().position(|h| h == c));
    for required in [2, 3] {
        if at[required].is_none() {
            anyhow::bail!("{}: no column `{}`", file.display(), COLUMNS[required]);
        }
    }
    if at[0].is_none() && at[1].is_none() {
        anyhow::bail!(
            "{}: no column `decision_id` or `application_id` to name the decisions",
            file.display()
        );
    }
    Ok(at)
}

impl Rows {
    pub(super) fn open(file: &Path) -> anyhow::Result<Self> {
        let parquet = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"));
        if parquet {
            let frame = riskloop_ingest::read::scan(&[file.to_path_buf()], &Default::default())?;
            let schema = frame.clone().collect_schema()?;
            let header: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
            positions(&header, file)?;
            let rows = frame.clone().select([len()]).collect()?;
            let rows = rows.column("len")?.u32()?.get(0).unwrap_or(0);
            return Ok(Self::Parquet {
                frame,
                next_row: 0,
                rows: u64::from(rows),
            });
        }
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_path(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let header: Vec<String> = reader
            .headers()?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        let at = positions(&header, file)?;
        Ok(Self::Csv {
            reader,
            at,
            next_row: 0,
        })
    }

    /// How much there is to read, for the progress bar: rows (Parquet) — a CSV's count is not
    /// known without reading it, so its progress counts rows without a total.
    pub(super) fn total(&self) -> Option<u64> {
        match self {
            Self::Csv { .. } => None,
            Self::Parquet { rows, .. } => Some(*rows),
        }
    }

    /// Passes over the first `n` rows (an earlier run stored them).
    pub(super) fn skip(&mut self, n: u64) -> anyhow::Result<()> {
        match self {
            Self::Csv {
                reader, next_row, ..
            } => {
                let mut record = csv::StringRecord::new();
                while *next_row < n && reader.read_record(&mut record)? {
                    *next_row += 1;
                }
            }
            Self::Parquet { next_row, .. } => *next_row = n,
        }
        Ok(())
    }

    /// The next rows, each with its number (1 for the first row after the header); empty at
    /// the end.
    pub(super) fn next_batch(&mut self, size: usize) -> anyhow::Result<Vec<(u64, Reported)>> {
        match self {
            Self::Csv {
                reader,
                at,
                next_row,
                ..
            } => {
                let mut batch = Vec::with_capacity(size);
                let mut record = csv::StringRecord::new();
                while batch.len() < size && reader.read_record(&mut record)? {
                    *next_row += 1;
                    let get = |i: usize| {
                        at[i]
                            .and_then(|p| record.get(p))
                            .map(str::trim)
                            .filter(|v| !v.is_empty())
                            .map(str::to_owned)
                    };
                    batch.push((*next_row, reported(get)));
                }
                Ok(batch)
            }
            Self::Parquet {
                frame,
                next_row,
                rows,
            } => {
                if *next_row >= *rows {
                    return Ok(Vec::new());
                }
                let df = frame
                    .clone()
                    .slice(*next_row as i64, size as IdxSize)
                    .collect()?;
                let columns: Vec<Option<Vec<Option<String>>>> = COLUMNS
                    .iter()
                    .map(|c| df.column(c).ok().map(texts).transpose())
                    .collect::<anyhow::Result<_>>()?;
                let mut batch = Vec::with_capacity(df.height());
                for i in 0..df.height() {
                    *next_row += 1;
                    let get = |c: usize| columns[c].as_ref().and_then(|v| v[i].clone());
                    batch.push((*next_row, reported(get)));
                }
                Ok(batch)
            }
        }
    }
}

fn reported(get: impl Fn(usize) -> Option<String>) -> Reported {
    Reported {
        decision_id: get(0),
        application_id: get(1),
        outcome: get(2),
        observed_at: get(3),
    }
}

/// A Parquet column's values as text; timestamps and dates as RFC 3339 in UTC.
fn texts(column: &Column) -> anyhow::Result<Vec<Option<String>>> {
    let micros = match column.dtype() {
        DataType::Datetime(unit, _) => {
            let per_micro = match unit {
                TimeUnit::Nanoseconds => 1_000,
                TimeUnit::Microseconds => 1,
                TimeUnit::Milliseconds => -1_000,
            };
            let raw = column.cast(&DataType::Int64)?;
            Some(
                raw.i64()?
                    .iter()
                    .map(|v| {
                        v.map(|v| {
                            if per_micro > 0 {
                                v / per_micro
                            } else {
                                v * -per_micro
                            }
                        })
                    })
                    .collect::<Vec<_>>(),
            )
        }
        DataType::Date => {
            let raw = column.cast(&DataType::Int32)?;
            Some(
                raw.i32()?
                    .iter()
                    .map(|d| d.map(|d| i64::from(d) * 86_400_000_000))
                    .collect(),
            )
        }
        _ => None,
    };
    if let Some(micros) = micros {
        return Ok(micros
            .into_iter()
            .map(|m| {
                m.and_then(DateTime::<Utc>::from_timestamp_micros)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            })
            .collect());
    }
    let text = column.cast(&DataType::String)?;
    Ok(text
        .str()?
        .iter()
        .map(|v| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        })
        .collect())
}
