//! Parsed columns: raw text turned into numbers or interned categories, one column per feature.
//!
//! Parsing happens once per value; fitting, the quality report and the transform all read these.

use chrono::NaiveDate;
use polars::prelude::{InitHashMaps, PlHashMap, StringChunked};

use crate::parse::{RawFormat, Value, is_na};

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

    /// Parses one batch of raw text; `dates` are the rows' application dates (or empty).
    pub fn push(&mut self, raw: &StringChunked, na_values: &[String], dates: &[Option<NaiveDate>]) {
        for (i, cell) in raw.iter().enumerate() {
            let value = match cell {
                None => Value::Missing,
                Some(s) if is_na(s, na_values) => Value::Missing,
                Some(s) => match self.format.parse(s, dates.get(i).copied().flatten()) {
                    Ok(v) => v,
                    Err(_) => {
                        self.failures += 1;
                        if self.failure_examples.len() < 5 {
                            self.failure_examples.push(s.to_owned());
                        }
                        Value::Missing
                    }
                },
            };
            match value {
                Value::Missing if self.is_text() => self.codes.push(MISSING_CODE),
                Value::Missing => self.numbers.push(None),
                Value::Number(x) => self.numbers.push(Some(x)),
                Value::Text(t) => {
                    let code = match self.lookup.get(t) {
                        Some(&c) => c,
                        None => {
                            let c = self.dict.len() as u32;
                            self.dict.push(t.to_owned());
                            self.lookup.insert(t.to_owned(), c);
                            c
                        }
                    };
                    self.codes.push(code);
                }
            }
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
