//! Raw text as real extracts write it: currency strings, NA tokens, odd spellings.

use std::fmt::Write as _;

use chrono::Datelike;
use polars::prelude::{Column, DataFrame, IntoColumn, IntoSeries, StringChunkedBuilder};

use super::COLUMNS;
use super::sample::{Outcome, Sampler};
use super::truth::Applicant;
use crate::IngestError;

pub(super) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub(super) const INCOME_NA: [&str; 3] = ["", "N/A", "NA"];
pub(super) const BOOLEANS: [[&str; 2]; 4] =
    [["N", "Y"], ["no", "yes"], ["false", "true"], ["0", "1"]];

/// Appends `n` with thousands separators.
pub(super) fn push_grouped(out: &mut String, n: u64) {
    if n >= 1000 {
        push_grouped(out, n / 1000);
        write!(out, ",{:03}", n % 1000).expect("writing to a String");
    } else {
        write!(out, "{n}").expect("writing to a String");
    }
}

/// Appends `$1,234.56` (or `$1,235` without cents).
pub(super) fn push_money(out: &mut String, dollars: f64, cents: bool) {
    out.push('$');
    if cents {
        let c = (dollars * 100.0).round().max(0.0) as u64;
        push_grouped(out, c / 100);
        write!(out, ".{:02}", c % 100).expect("writing to a String");
    } else {
        push_grouped(out, dollars.round().max(0.0) as u64);
    }
}

/// One string builder per text column; every value is formatted into a reused buffer.
pub(super) struct Builders {
    text: Vec<StringChunkedBuilder>,
    true_pd: Vec<f64>,
    buf: String,
    /// From this application date on, home ownership is written in the new codes.
    recode_after: Option<chrono::NaiveDate>,
}

impl Builders {
    pub(super) fn new(rows: usize, recode_after: Option<chrono::NaiveDate>) -> Self {
        let text = COLUMNS[..COLUMNS.len() - 1]
            .iter()
            .map(|&name| StringChunkedBuilder::new(name.into(), rows))
            .collect();
        Self {
            text,
            true_pd: Vec::with_capacity(rows),
            buf: String::with_capacity(32),
            recode_after,
        }
    }

    pub(super) fn put(&mut self, column: usize, fill: impl FnOnce(&mut String)) {
        self.buf.clear();
        fill(&mut self.buf);
        self.text[column].append_value(self.buf.as_str());
    }

    pub(super) fn put_str(&mut self, column: usize, value: &str) {
        self.text[column].append_value(value);
    }

    /// Writes one row; the draws here only pick how values are spelled, never what they are.
    pub(super) fn push(
        &mut self,
        rng: &mut Sampler,
        row: usize,
        a: &Applicant,
        outcome: &Outcome,
        pd: f64,
    ) {
        let w = "writing to a String";
        self.put(0, |s| write!(s, "A{:07}", row + 1).expect(w));
        let d = a.application_date;
        self.put(1, |s| {
            write!(s, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()).expect(w);
        });

        let (u_missing, u_style) = (rng.uniform(), rng.uniform());
        if u_missing < 0.03 {
            self.put_str(2, INCOME_NA[((u_missing / 0.01) as usize).min(2)]);
        } else {
            let income = a.annual_income;
            self.put(2, |s| match u_style {
                x if x < 0.80 => push_money(s, income, true),
                x if x < 0.86 => {
                    push_money(s, income, true);
                    s.push(' ');
                }
                x if x < 0.90 => {
                    s.push(' ');
                    push_money(s, income, true);
                }
                x if x < 0.95 => push_money(s, income, false),
                _ => write!(s, "{}", income.round() as u64).expect(w),
            });
        }
        self.put(3, |s| push_money(s, a.loan_amount, false));
        self.put(4, |s| write!(s, "{}", a.term_months).expect(w));
        self.put(5, |s| write!(s, "{:.2}%", a.interest_rate).expect(w));
        if rng.uniform() < 0.05 {
            self.put_str(6, "n/a");
        } else {
            self.put(6, |s| write!(s, "{}", a.employment_years).expect(w));
        }
        self.put_str(7, a.purpose.as_str());
        let home = match self.recode_after {
            Some(from) if a.application_date >= from => a.home_ownership.recoded(),
            _ => a.home_ownership.as_str(),
        };
        self.put_str(8, home);
        self.put(9, |s| write!(s, "{:03}", a.region).expect(w));
        let e = a.earliest_credit_line;
        self.put(10, |s| {
            write!(s, "{}-{:02}", MONTHS[e.month0() as usize], e.year() % 100).expect(w);
        });
        self.put(11, |s| write!(s, "{}", a.delinquencies_2y).expect(w));
        if rng.uniform() < 0.02 {
            self.put_str(12, "");
        } else {
            self.put(12, |s| {
                write!(s, "{:.1}%", a.revolving_utilisation).expect(w);
            });
        }
        let spelling = BOOLEANS[rng.below(4) as usize];
        self.put_str(13, spelling[usize::from(a.income_verified)]);
        self.put(14, |s| write!(s, "{}", a.applicant_age).expect(w));
        self.put_str(15, outcome.status.as_str());
        match outcome.recoveries {
            Some(r) => self.put(16, |s| push_money(s, r, true)),
            None => self.text[16].append_null(),
        }
        self.put(17, |s| push_money(s, outcome.total_received, true));
        self.true_pd.push(pd);
    }

    pub(super) fn finish(self) -> Result<DataFrame, IngestError> {
        let rows = self.true_pd.len();
        let mut columns: Vec<Column> = self
            .text
            .into_iter()
            .map(|b| b.finish().into_series().into_column())
            .collect();
        columns.push(Column::new("true_pd".into(), self.true_pd));
        DataFrame::new(rows, columns)
            .map_err(IngestError::polars("building the synthetic loan book"))
    }
}
