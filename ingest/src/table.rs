//! Parsed columns: raw text turned into numbers or interned categories, one column per feature.
//!
//! Parsing happens once per value; fitting, the quality report and the transform all read these.

use chrono::NaiveDate;
use polars::prelude::{InitHashMaps, PlHashMap, StringChunked};

use crate::derive::Arg;
use crate::parse::{RawFormat, Value};

/// Code of a missing category in [`ParsedColumn::Text`].
pub const MISSING_CODE: u32 = u32::MAX;

#[derive(Clone, Debug, PartialEq)]
pub enum ParsedColumn {
    Number(Vec<Option<f64>>),
    /// Interned text: `codes[i]` indexes `dict`, or is [`MISSING_CODE`].
    Text {
        dict: Vec<String>,
        codes: Vec<u32>,
    },
}

impl ParsedColumn {
    pub fn len(&self) -> usize {
        match self {
            Self::Number(v) => v.len(),
            Self::Text { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            Self::Number(v) => v[row].is_none(),
            Self::Text { codes, .. } => codes[row] == MISSING_CODE,
        }
    }

    /// Adds a later batch's values of the same column, its categories coded as this column's.
    /// `lookup` is this column's code by level, kept between calls (brought up to date here).
    pub fn append(&mut self, more: Self, lookup: &mut PlHashMap<String, u32>) {
        match (self, more) {
            (Self::Number(v), Self::Number(more)) => v.extend(more),
            (
                Self::Text { dict, codes },
                Self::Text {
                    dict: new,
                    codes: more,
                },
            ) => {
                for (c, level) in dict.iter().enumerate().skip(lookup.len()) {
                    lookup.insert(level.clone(), c as u32);
                }
                let recode: Vec<u32> = new
                    .into_iter()
                    .map(|level| match lookup.get(&level) {
                        Some(&c) => c,
                        None => {
                            let c = dict.len() as u32;
                            dict.push(level.clone());
                            lookup.insert(level, c);
                            c
                        }
                    })
                    .collect();
                codes.extend(more.into_iter().map(|c| {
                    if c == MISSING_CODE {
                        c
                    } else {
                        recode[c as usize]
                    }
                }));
            }
            _ => unreachable!("a column parses as one kind in every batch"),
        }
    }

    /// Keeps only the given rows, in that order.
    pub fn take(&self, rows: &[usize]) -> Self {
        match self {
            Self::Number(v) => Self::Number(rows.iter().map(|&r| v[r]).collect()),
            Self::Text { dict, codes } => Self::Text {
                dict: dict.clone(),
                codes: rows.iter().map(|&r| codes[r]).collect(),
            },
        }
    }
}

/// A column being parsed batch by batch.
#[derive(Debug)]
pub struct ColumnParser {
    format: RawFormat,
    numbers: Vec<Option<f64>>,
    codes: Vec<u32>,
    dict: Vec<String>,
    lookup: PlHashMap<String, u32>,
    /// Values present but unreadable: reported, then treated as missing.
    pub failures: usize,
    /// First few unreadable values, for the report.
    pub failure_examples: Vec<String>,
}

impl ColumnParser {
    pub fn new(format: RawFormat) -> Self {
        Self {
            format,
            numbers: Vec::new(),
            codes: Vec::new(),
            dict: Vec::new(),
            lookup: PlHashMap::new(),
            failures: 0,
            failure_examples: Vec::new(),
        }
    }

    /// Parses one batch of raw text: one column, or a derived feature's operand columns.
    /// `dates` are the rows' application dates (or empty).
    pub fn push(
        &mut self,
        raw: &[&StringChunked],
        na_values: &[String],
        dates: &[Option<NaiveDate>],
    ) {
        let Self {
            format,
            numbers,
            codes,
            dict,
            lookup,
            failures,
            failure_examples,
        } = self;
        let text = format.kind == crate::spec::FeatureKind::Categorical;
        let mut keep = |value: Result<Value<'_>, String>, shown: &dyn Fn() -> String| {
            let value = value.unwrap_or_else(|_| {
                *failures += 1;
                if failure_examples.len() < 5 {
                    failure_examples.push(shown());
                }
                Value::Missing
            });
            match value {
                Value::Missing if text => codes.push(MISSING_CODE),
                Value::Missing => numbers.push(None),
                Value::Number(x) => numbers.push(Some(x)),
                Value::Text(t) => {
                    let code = match lookup.get(t) {
                        Some(&c) => c,
                        None => {
                            let c = dict.len() as u32;
                            dict.push(t.to_owned());
                            lookup.insert(t.to_owned(), c);
                            c
                        }
                    };
                    codes.push(code);
                }
            }
        };
        let format = &*format;
        if let Some(expression) = &format.derive {
            let operand = expression.operand();
            let columns: Vec<Vec<Option<&str>>> = raw.iter().map(|c| c.iter().collect()).collect();
            let rows = columns.first().map_or(0, Vec::len);
            let mut args = Vec::with_capacity(columns.len());
            for i in 0..rows {
                args.clear();
                let read = columns.iter().try_for_each(|column| {
                    let arg = match column[i] {
                        None => Arg::Missing,
                        Some(s) => format.operand(s, na_values, operand)?,
                    };
                    args.push(arg);
                    Ok::<(), String>(())
                });
                let value = read.and_then(|()| format.derived(&args));
                keep(value, &|| {
                    columns
                        .iter()
                        .map(|c| c[i].unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(" | ")
                });
            }
            return;
        }
        for (i, cell) in raw[0].iter().enumerate() {
            let value = match cell {
                None => Ok(Value::Missing),
                Some(s) => {
                    let s = format.mapped(s).unwrap_or(s);
                    format.read(s, na_values, dates.get(i).copied().flatten())
                }
            };
            keep(value, &|| cell.unwrap_or("").to_owned());
        }
    }

    fn is_text(&self) -> bool {
        self.format.kind == crate::spec::FeatureKind::Categorical
    }

    pub fn finish(self) -> ParsedColumn {
        if self.is_text() {
            ParsedColumn::Text {
                dict: self.dict,
                codes: self.codes,
            }
        } else {
            ParsedColumn::Number(self.numbers)
        }
    }
}
