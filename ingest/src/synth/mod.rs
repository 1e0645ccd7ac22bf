//! Synthetic loan book: realistic, messy applications with a known true probability of default.
//!
//! Every row is one application drawn from a fixed generative story, so a model trained on the
//! book can be judged against the truth ([`true_logit`], carried as the `true_pd` column) and not
//! only against noisy outcomes. The raw text is deliberately untidy the way real extracts are:
//! currency strings with stray spaces, missing-value tokens, two-digit years, postal codes with
//! leading zeros, booleans in four spellings, rare categories, a running-loan status that the
//! spec must exclude, and two leakage columns that are known only after the outcome.
//!
//! The generator is deterministic: one `ChaCha8Rng` seeded from [`SynthOptions::seed`] drives
//! everything, so the same options give byte-identical files. Each row consumes the same number
//! of random draws whatever its outcome, so switching drift on changes outcomes (and the leakage
//! columns) but not the applicants themselves.
//!
//! `applicant_age` is a protected attribute: it shapes the population (older applicants earn a
//! little more and have longer credit histories) but has no direct effect on the true PD.

mod render; // raw text as real extracts write it: currency strings, NA tokens, odd spellings
mod sample; // the seeded random draws: applicants and their outcomes
#[cfg(test)]
mod tests;
mod truth; // the generative story: applicant fields and the true log-odds of default

use std::fs::File;
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::{CsvWriter, DataFrame, ParquetWriter, SerWriter};

use crate::IngestError;
use render::Builders;
use sample::{Sampler, Tables, draw_applicant, draw_outcome};
use truth::sigmoid;
pub use truth::{Applicant, HomeOwnership, INTERCEPT, Purpose, true_logit};

/// The generated columns, in order. All are text (nulls allowed) except `true_pd` (Float64).
pub const COLUMNS: [&str; 19] = [
    "application_id",
    "application_date",
    "annual_income",
    "loan_amount",
    "term",
    "interest_rate",
    "employment_length",
    "purpose",
    "home_ownership",
    "region",
    "earliest_credit_line",
    "delinquencies_2y",
    "revolving_utilisation",
    "income_verified",
    "applicant_age",
    "loan_status",
    "recoveries",
    "total_received",
    "true_pd",
];

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthOptions {
    pub rows: usize,
    pub seed: u64,
    /// First possible application date (at least 1966-01-01).
    pub start: NaiveDate,
    /// Last possible application date (at most 2030-12-31, so that every earliest credit line
    /// falls in 1965..=2029 and reads back unambiguously with a two-digit-year pivot of 30).
    pub end: NaiveDate,
    /// Applications on or after this date follow a shifted relationship (see [`true_logit`]).
    pub drift_after: Option<NaiveDate>,
    /// An era artefact: applications on or after this date write `home_ownership` in a new
    /// system's codes (`M`, `R`, `O`, `X`, `N` for `MORTGAGE`, `RENT`, `OWN`, `OTHER`,
    /// `NONE`). The meaning and the risk are unchanged; only the spelling moves with the era,
    /// as codes do when a bank changes systems. A spec's `map` reads both as one.
    pub recode_after: Option<NaiveDate>,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            rows: 10_000,
            seed: 7,
            start: NaiveDate::from_ymd_opt(2019, 1, 1).expect("valid date"),
            end: NaiveDate::from_ymd_opt(2024, 12, 31).expect("valid date"),
            drift_after: None,
            recode_after: None,
        }
    }
}

/// Generates the loan book described in the module docs, columns as in [`COLUMNS`].
pub fn generate(opts: &SynthOptions) -> Result<DataFrame, IngestError> {
    check(opts)?;
    let mut rng = Sampler::new(opts.seed);
    let tables = Tables::draw(&mut rng);
    let mut out = Builders::new(opts.rows, opts.recode_after);
    for row in 0..opts.rows {
        let applicant = draw_applicant(&mut rng, opts, &tables);
        let pd = sigmoid(true_logit(&applicant));
        let outcome = draw_outcome(&mut rng, &applicant, pd);
        out.push(&mut rng, row, &applicant, &outcome, pd);
    }
    out.finish()
}

/// Writes the book as CSV or Parquet, chosen by the file extension (`.csv`, `.parquet`).
pub fn write(df: &mut DataFrame, path: &Path) -> Result<(), IngestError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let csv = match ext.as_deref() {
        Some("csv") => true,
        Some("parquet") => false,
        _ => {
            return Err(IngestError::Input(format!(
                "{}: a loan book is written as .csv or .parquet; this extension is neither",
                path.display()
            )));
        }
    };
    let file = File::create(path).map_err(IngestError::io(path))?;
    let context = format!("writing {}", path.display());
    if csv {
        CsvWriter::new(file)
            .finish(df)
            .map_err(IngestError::polars(context))?;
    } else {
        ParquetWriter::new(file)
            .finish(df)
            .map_err(IngestError::polars(context))?;
    }
    Ok(())
}

fn check(opts: &SynthOptions) -> Result<(), IngestError> {
    let earliest = NaiveDate::from_ymd_opt(1966, 1, 1).expect("valid date");
    let latest = NaiveDate::from_ymd_opt(2030, 12, 31).expect("valid date");
    if opts.start > opts.end {
        return Err(IngestError::Input(format!(
            "synthetic book: start {} is after end {}",
            opts.start, opts.end
        )));
    }
    if opts.start < earliest || opts.end > latest {
        return Err(IngestError::Input(format!(
            "synthetic book: application dates must lie in {earliest}..={latest} so that earliest \
             credit lines (written with two-digit years) fall in 1965..=2029"
        )));
    }
    Ok(())
}
