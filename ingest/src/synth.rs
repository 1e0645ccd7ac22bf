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

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use polars::prelude::{
    Column, CsvWriter, DataFrame, IntoColumn, IntoSeries, ParquetWriter, SerWriter,
    StringChunkedBuilder,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::IngestError;

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
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            rows: 10_000,
            seed: 7,
            start: NaiveDate::from_ymd_opt(2019, 1, 1).expect("valid date"),
            end: NaiveDate::from_ymd_opt(2024, 12, 31).expect("valid date"),
            drift_after: None,
        }
    }
}

/// Loan purpose, with its share of applications and its effect on the true log-odds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    DebtConsolidation,
    CreditCard,
    HomeImprovement,
    Other,
    MajorPurchase,
    Car,
    SmallBusiness,
    Medical,
    Moving,
    Vacation,
    House,
    Wedding,
    RenewableEnergy,
    Educational,
}

impl Purpose {
    pub const ALL: [Self; 14] = [
        Self::DebtConsolidation,
        Self::CreditCard,
        Self::HomeImprovement,
        Self::Other,
        Self::MajorPurchase,
        Self::Car,
        Self::SmallBusiness,
        Self::Medical,
        Self::Moving,
        Self::Vacation,
        Self::House,
        Self::Wedding,
        Self::RenewableEnergy,
        Self::Educational,
    ];

    /// The raw value written to the `purpose` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DebtConsolidation => "debt_consolidation",
            Self::CreditCard => "credit_card",
            Self::HomeImprovement => "home_improvement",
            Self::Other => "other",
            Self::MajorPurchase => "major_purchase",
            Self::Car => "car",
            Self::SmallBusiness => "small_business",
            Self::Medical => "medical",
            Self::Moving => "moving",
            Self::Vacation => "vacation",
            Self::House => "house",
            Self::Wedding => "wedding",
            Self::RenewableEnergy => "renewable_energy",
            Self::Educational => "educational",
        }
    }

    /// Share of applications (the weights sum to 1; the last three are below 0.1%).
    pub fn share(self) -> f64 {
        match self {
            Self::DebtConsolidation => 0.4813,
            Self::CreditCard => 0.2100,
            Self::HomeImprovement => 0.0700,
            Self::Other => 0.0600,
            Self::MajorPurchase => 0.0400,
            Self::Car => 0.0300,
            Self::SmallBusiness => 0.0250,
            Self::Medical => 0.0250,
            Self::Moving => 0.0250,
            Self::Vacation => 0.0200,
            Self::House => 0.0120,
            Self::Wedding => 0.0008,
            Self::RenewableEnergy => 0.0004,
            Self::Educational => 0.0005,
        }
    }

    /// Additive effect on the true log-odds of default.
    pub fn effect(self) -> f64 {
        match self {
            Self::DebtConsolidation => 0.10,
            Self::CreditCard => -0.05,
            Self::HomeImprovement => -0.10,
            Self::Other => 0.20,
            Self::MajorPurchase => 0.00,
            Self::Car => -0.15,
            Self::SmallBusiness => 0.55,
            Self::Medical => 0.25,
            Self::Moving => 0.30,
            Self::Vacation => 0.15,
            Self::House => 0.05,
            Self::Wedding => -0.05,
            Self::RenewableEnergy => 0.10,
            Self::Educational => 0.35,
        }
    }

    /// How the loan size for this purpose compares with the typical one.
    fn size_factor(self) -> f64 {
        match self {
            Self::SmallBusiness => 1.4,
            Self::House => 1.5,
            Self::HomeImprovement => 1.1,
            Self::Car | Self::Educational => 0.6,
            Self::Medical | Self::Moving => 0.5,
            Self::Vacation => 0.4,
            Self::Wedding => 0.8,
            _ => 1.0,
        }
    }
}

/// Home ownership, with its share of applications and its effect on the true log-odds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HomeOwnership {
    Mortgage,
    Rent,
    Own,
    Other,
    /// Written as `NONE`.
    NoneStated,
}

impl HomeOwnership {
    pub const ALL: [Self; 5] = [
        Self::Mortgage,
        Self::Rent,
        Self::Own,
        Self::Other,
        Self::NoneStated,
    ];

    /// The raw value written to the `home_ownership` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mortgage => "MORTGAGE",
            Self::Rent => "RENT",
            Self::Own => "OWN",
            Self::Other => "OTHER",
            Self::NoneStated => "NONE",
        }
    }

    /// Share of applications (the weights sum to 1).
    pub fn share(self) -> f64 {
        match self {
            Self::Mortgage => 0.48,
            Self::Rent => 0.40,
            Self::Own => 0.11,
            Self::Other => 0.006,
            Self::NoneStated => 0.004,
        }
    }

    /// Additive effect on the true log-odds of default.
    pub fn effect(self) -> f64 {
        match self {
            Self::Mortgage => -0.15,
            Self::Rent => 0.15,
            Self::Own => 0.00,
            Self::Other => 0.30,
            Self::NoneStated => 0.40,
        }
    }
}

/// The clean, typed values of one application: what the raw row would say without the mess.
///
/// Values hidden in the raw row (a missing income, an `n/a` employment length) are still known
/// here: the truth does not depend on what was reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Applicant {
    pub application_date: NaiveDate,
    /// Dollars a year.
    pub annual_income: f64,
    /// Dollars, a multiple of 25 in 1,000..=40,000.
    pub loan_amount: f64,
    /// 36 or 60.
    pub term_months: u32,
    /// The bank's own price, percent a year: a noisy function of the risk factors, never an input
    /// to [`true_logit`].
    pub interest_rate: f64,
    /// 0..=10.
    pub employment_years: u32,
    pub purpose: Purpose,
    pub home_ownership: HomeOwnership,
    /// 3-digit postal prefix, 0..=999 (written with leading zeros).
    pub region: u16,
    /// The region's additive effect on the log-odds, drawn once per book from the seed.
    pub region_effect: f64,
    /// First day of the month of the oldest credit line, at least a year before the application.
    pub earliest_credit_line: NaiveDate,
    /// 0..=10.
    pub delinquencies_2y: u32,
    /// Percent of the revolving limit in use, 0..=150.
    pub revolving_utilisation: f64,
    pub income_verified: bool,
    /// Protected: 18..=80, and no part of [`true_logit`].
    pub applicant_age: u32,
    /// The application falls on or after [`SynthOptions::drift_after`].
    pub drifted: bool,
}

impl Applicant {
    /// Loan amount over annual income.
    pub fn debt_to_income(&self) -> f64 {
        self.loan_amount / self.annual_income
    }

    /// Years from the earliest credit line to the application date.
    pub fn credit_history_years(&self) -> f64 {
        (self.application_date - self.earliest_credit_line).num_days() as f64 / 365.25
    }
}

/// Intercept of [`true_logit`], calibrated so that about 17% of finished loans default.
pub const INTERCEPT: f64 = -2.12;

/// The ground truth: log-odds that this applicant defaults.
///
/// With `dti` = loan_amount / annual_income, `u` = revolving_utilisation / 100 and `h` = credit
/// history in years (earliest credit line to application date):
///
/// ```text
/// logit = -2.12                                      (INTERCEPT)
///       + 2.5·dti + 5.0·dti²                         debt-to-income, convex
///       + 0.3·u + 2.0·max(0, u − 0.8)                utilisation, steep above 80%
///       + 0.55·ln(1 + delinquencies_2y)              concave in the count
///       − 0.9·(1 − exp(−h / 8))                      longer history is safer, saturating
///       + 1.2·max(0, u − 0.8)·max(0, 1 − h / 5)      high utilisation on a thin file
///       + 0.45·[term = 60]
///       − 0.03·employment_years
///       + purpose.effect() + home_ownership.effect() + region_effect
///       − 0.15·[income_verified]
/// ```
///
/// Drift: when `drifted` (application on or after `drift_after`) the intercept rises by 0.4 and
/// both debt-to-income terms are multiplied by 1.5.
///
/// `applicant_age` and `interest_rate` do not appear. The true PD is `1 / (1 + exp(−logit))`.
pub fn true_logit(a: &Applicant) -> f64 {
    let (dti_scale, shift) = if a.drifted { (1.5, 0.4) } else { (1.0, 0.0) };
    let dti = a.debt_to_income();
    let u = a.revolving_utilisation / 100.0;
    let h = a.credit_history_years();
    let high_u = (u - 0.8).max(0.0);
    INTERCEPT
        + shift
        + dti_scale * (2.5 * dti + 5.0 * dti * dti)
        + 0.3 * u
        + 2.0 * high_u
        + 0.55 * f64::from(a.delinquencies_2y).ln_1p()
        - 0.9 * (1.0 - (-h / 8.0).exp())
        + 1.2 * high_u * (1.0 - h / 5.0).max(0.0)
        + if a.term_months == 60 { 0.45 } else { 0.0 }
        - 0.03 * f64::from(a.employment_years)
        + a.purpose.effect()
        + a.home_ownership.effect()
        + a.region_effect
        - if a.income_verified { 0.15 } else { 0.0 }
}

/// The bank's pricing view: the obvious risk factors, without region, interaction or drift.
fn pricing_logit(a: &Applicant) -> f64 {
    let dti = a.debt_to_income();
    let u = a.revolving_utilisation / 100.0;
    let h = a.credit_history_years();
    2.8 * dti + 0.6 * u + 1.2 * (u - 0.8).max(0.0) + 0.5 * f64::from(a.delinquencies_2y).ln_1p()
        - 0.8 * (1.0 - (-h / 8.0).exp())
        + if a.term_months == 60 { 0.4 } else { 0.0 }
        + 0.8 * a.purpose.effect()
        + 0.5 * a.home_ownership.effect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Generates the loan book described in the module docs, columns as in [`COLUMNS`].
pub fn generate(opts: &SynthOptions) -> Result<DataFrame, IngestError> {
    check(opts)?;
    let mut rng = Sampler::new(opts.seed);
    let tables = Tables::draw(&mut rng);
    let mut out = Builders::new(opts.rows);
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

/// Box–Muller normals and friends over one seeded ChaCha8 stream.
struct Sampler {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Sampler {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Uniform integer in 0..n.
    fn below(&mut self, n: u32) -> u32 {
        self.rng.random_range(0..n)
    }

    /// Standard normal by Box–Muller; the second value of each pair is kept for the next call.
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }
}

/// Index into cumulative weights for a uniform draw `u` in [0, 1).
fn pick(cumulative: &[f64], u: f64) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    cumulative
        .partition_point(|&c| c <= u * total)
        .min(cumulative.len() - 1)
}

fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    weights
        .into_iter()
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

/// Per-book tables drawn from the seed before any row.
struct Tables {
    purposes: Vec<f64>,
    homes: Vec<f64>,
    /// Postal prefixes by popularity rank, their Zipf cumulative weights and their effects.
    regions: Vec<u16>,
    region_weights: Vec<f64>,
    region_effects: Vec<f64>,
}

const REGIONS: usize = 900;

impl Tables {
    fn draw(rng: &mut Sampler) -> Self {
        let mut codes: Vec<u16> = (0..1000).collect();
        for i in 0..REGIONS {
            let j = i + rng.below((codes.len() - i) as u32) as usize;
            codes.swap(i, j);
        }
        codes.truncate(REGIONS);
        let region_effects = (0..REGIONS)
            .map(|_| (0.2 * rng.normal()).clamp(-0.5, 0.5))
            .collect();
        Self {
            purposes: cumulative(Purpose::ALL.map(Purpose::share)),
            homes: cumulative(HomeOwnership::ALL.map(HomeOwnership::share)),
            region_weights: cumulative((1..=REGIONS).map(|rank| (rank as f64).powf(-0.95))),
            regions: codes,
            region_effects,
        }
    }
}

/// Month index (year·12 + month0) of a date.
fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

fn draw_applicant(rng: &mut Sampler, opts: &SynthOptions, t: &Tables) -> Applicant {
    let span = (opts.end - opts.start).num_days();
    let day = (rng.uniform() * (span + 1) as f64) as i64;
    let application_date = opts.start + chrono::Duration::days(day.min(span));

    let applicant_age = (42.0 + 13.0 * rng.normal()).round().clamp(18.0, 80.0) as u32;
    let years_adult = f64::from(applicant_age - 18);
    let income_mu = 42_000f64.ln() + 0.35 * (1.0 - (-years_adult / 12.0).exp());
    let annual_income =
        (rng.lognormal(income_mu, 0.5).clamp(6_000.0, 1_500_000.0) / 100.0).round() * 100.0;

    let purpose = Purpose::ALL[pick(&t.purposes, rng.uniform())];
    let home_ownership = HomeOwnership::ALL[pick(&t.homes, rng.uniform())];

    let loan = annual_income * 0.2 * purpose.size_factor() * rng.lognormal(0.0, 0.45);
    let loan_amount = (loan.clamp(1_000.0, 40_000.0) / 25.0).round() * 25.0;
    let p60 = sigmoid(-1.3 + (loan_amount - 15_000.0) / 9_000.0);
    let term_months = if rng.uniform() < p60 { 60 } else { 36 };

    let u_emp = rng.uniform();
    let employment_years = if u_emp < 0.3 {
        10
    } else {
        ((u_emp - 0.3) / 0.07) as u32
    }
    .min(10);
    let employment_years = employment_years.min(applicant_age - 18);

    // Oldest credit line: 12 months to (age − 16) years back, never before January 1965.
    let app_month = month_index(application_date);
    let max_months = ((applicant_age as i32 - 16) * 12)
        .min(app_month - 1965 * 12)
        .max(12);
    let back = 12 + (rng.uniform().powf(0.7) * f64::from(max_months - 12 + 1)) as i32;
    let first = app_month - back.min(max_months);
    let earliest_credit_line =
        NaiveDate::from_ymd_opt(first.div_euclid(12), first.rem_euclid(12) as u32 + 1, 1)
            .expect("valid month");

    let u_del = rng.uniform();
    let v_del = rng.uniform();
    let delinquencies_2y = if u_del < 0.78 {
        0
    } else {
        (1.0 + ((1.0 - v_del).ln() / 0.45f64.ln()).floor()).min(10.0) as u32
    };

    let high = rng.uniform() < 0.12;
    let (z_low, z_high) = (rng.normal(), rng.normal());
    let util = if high {
        80.0 + 25.0 * z_high.abs()
    } else {
        45.0 + 22.0 * z_low
    };
    let revolving_utilisation = (util.clamp(0.0, 150.0) * 10.0).round() / 10.0;

    let income_verified = rng.uniform() < 0.45 + 0.3 * loan_amount / 40_000.0;

    let rank = pick(&t.region_weights, rng.uniform());
    let drifted = opts.drift_after.is_some_and(|d| application_date >= d);
    let mut a = Applicant {
        application_date,
        annual_income,
        loan_amount,
        term_months,
        interest_rate: 0.0,
        employment_years,
        purpose,
        home_ownership,
        region: t.regions[rank],
        region_effect: t.region_effects[rank],
        earliest_credit_line,
        delinquencies_2y,
        revolving_utilisation,
        income_verified,
        applicant_age,
        drifted,
    };
    let rate = 12.5 + 5.0 * (pricing_logit(&a) - 0.6) + 1.5 * rng.normal();
    a.interest_rate = (rate.clamp(5.31, 30.99) * 100.0).round() / 100.0;
    a
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Current,
    ChargedOff,
    Default,
    FullyPaid,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Current => "Current",
            Self::ChargedOff => "Charged Off",
            Self::Default => "Default",
            Self::FullyPaid => "Fully Paid",
        }
    }
}

struct Outcome {
    status: Status,
    /// Dollars recovered after a default; `None` for loans that did not go bad.
    recoveries: Option<f64>,
    total_received: f64,
}

/// The outcome: 5% still running, else Bernoulli(pd). Always five draws, whatever happens.
fn draw_outcome(rng: &mut Sampler, a: &Applicant, pd: f64) -> Outcome {
    let [u_current, u_bad, u_kind, u_recovered, u_paid] = [(); 5].map(|()| rng.uniform());
    let status = if u_current < 0.05 {
        Status::Current
    } else if u_bad < pd {
        if u_kind < 0.8 {
            Status::ChargedOff
        } else {
            Status::Default
        }
    } else {
        Status::FullyPaid
    };
    let full = a.loan_amount * (1.0 + a.interest_rate / 100.0 * f64::from(a.term_months) / 12.0);
    let recovered = a.loan_amount * (0.01 + 0.2 * u_recovered);
    match status {
        Status::Current => Outcome {
            status,
            recoveries: None,
            total_received: full * (0.05 + 0.85 * u_paid),
        },
        Status::FullyPaid => Outcome {
            status,
            recoveries: None,
            total_received: full * (0.985 + 0.015 * u_paid),
        },
        Status::ChargedOff | Status::Default => Outcome {
            status,
            recoveries: Some(recovered),
            total_received: a.loan_amount * (0.05 + 0.5 * u_paid) + recovered,
        },
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const INCOME_NA: [&str; 3] = ["", "N/A", "NA"];
const BOOLEANS: [[&str; 2]; 4] = [["N", "Y"], ["no", "yes"], ["false", "true"], ["0", "1"]];

/// Appends `n` with thousands separators.
fn push_grouped(out: &mut String, n: u64) {
    if n >= 1000 {
        push_grouped(out, n / 1000);
        write!(out, ",{:03}", n % 1000).expect("writing to a String");
    } else {
        write!(out, "{n}").expect("writing to a String");
    }
}

/// Appends `$1,234.56` (or `$1,235` without cents).
fn push_money(out: &mut String, dollars: f64, cents: bool) {
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
struct Builders {
    text: Vec<StringChunkedBuilder>,
    true_pd: Vec<f64>,
    buf: String,
}

impl Builders {
    fn new(rows: usize) -> Self {
        let text = COLUMNS[..COLUMNS.len() - 1]
            .iter()
            .map(|&name| StringChunkedBuilder::new(name.into(), rows))
            .collect();
        Self {
            text,
            true_pd: Vec::with_capacity(rows),
            buf: String::with_capacity(32),
        }
    }

    fn put(&mut self, column: usize, fill: impl FnOnce(&mut String)) {
        self.buf.clear();
        fill(&mut self.buf);
        self.text[column].append_value(self.buf.as_str());
    }

    fn put_str(&mut self, column: usize, value: &str) {
        self.text[column].append_value(value);
    }

    /// Writes one row; the draws here only pick how values are spelled, never what they are.
    fn push(&mut self, rng: &mut Sampler, row: usize, a: &Applicant, outcome: &Outcome, pd: f64) {
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
        self.put_str(8, a.home_ownership.as_str());
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

    fn finish(self) -> Result<DataFrame, IngestError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::DataType;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn book(rows: usize, seed: u64, drift_after: Option<NaiveDate>) -> DataFrame {
        generate(&SynthOptions {
            rows,
            seed,
            drift_after,
            ..SynthOptions::default()
        })
        .unwrap()
    }

    fn text<'a>(df: &'a DataFrame, name: &str) -> Vec<Option<&'a str>> {
        df.column(name).unwrap().str().unwrap().iter().collect()
    }

    fn true_pd(df: &DataFrame) -> Vec<f64> {
        df.column("true_pd")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    }

    /// Some(true) for bad, Some(false) for good, None for a loan still running.
    fn bad(status: Option<&str>) -> Option<bool> {
        match status {
            Some("Charged Off" | "Default") => Some(true),
            Some("Fully Paid") => Some(false),
            Some("Current") => None,
            other => panic!("unexpected loan_status {other:?}"),
        }
    }

    fn applicant(age: u32) -> Applicant {
        Applicant {
            application_date: date(2021, 6, 15),
            annual_income: 55_000.0,
            loan_amount: 15_000.0,
            term_months: 60,
            interest_rate: 14.2,
            employment_years: 3,
            purpose: Purpose::SmallBusiness,
            home_ownership: HomeOwnership::Rent,
            region: 21,
            region_effect: 0.1,
            earliest_credit_line: date(2017, 3, 1),
            delinquencies_2y: 2,
            revolving_utilisation: 92.5,
            income_verified: false,
            applicant_age: age,
            drifted: false,
        }
    }

    #[test]
    fn the_same_seed_writes_identical_bytes_and_another_seed_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        for (name, seed) in [
            ("a.csv", 7),
            ("b.csv", 7),
            ("c.csv", 8),
            ("a.parquet", 7),
            ("b.parquet", 7),
        ] {
            write(&mut book(2_000, seed, None), &path(name)).unwrap();
        }
        let bytes = |name: &str| std::fs::read(path(name)).unwrap();
        assert_eq!(bytes("a.csv"), bytes("b.csv"));
        assert_ne!(bytes("a.csv"), bytes("c.csv"));
        assert_eq!(bytes("a.parquet"), bytes("b.parquet"));
    }

    #[test]
    fn every_column_is_present_in_order_with_its_type_and_the_row_count_is_exact() {
        let df = book(1_234, 3, None);
        assert_eq!(df.height(), 1_234);
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, COLUMNS);
        for column in df.columns() {
            let expected = if column.name() == "true_pd" {
                DataType::Float64
            } else {
                DataType::String
            };
            assert_eq!(column.dtype(), &expected, "{}", column.name());
        }
        let ids = text(&df, "application_id");
        assert_eq!((ids[0], ids[1_233]), (Some("A0000001"), Some("A0001234")));
    }

    #[test]
    fn finished_loans_default_at_a_realistic_rate_that_rises_with_the_true_pd() {
        let df = book(20_000, 7, None);
        let mut finished: Vec<(f64, bool)> = true_pd(&df)
            .into_iter()
            .zip(text(&df, "loan_status"))
            .filter_map(|(pd, status)| bad(status).map(|b| (pd, b)))
            .collect();
        let running = 20_000 - finished.len();
        assert!(
            (600..1_400).contains(&running),
            "{running} loans still running"
        );
        let rate =
            |rows: &[(f64, bool)]| rows.iter().filter(|r| r.1).count() as f64 / rows.len() as f64;
        let overall = rate(&finished);
        assert!((0.12..0.25).contains(&overall), "bad rate {overall}");
        finished.sort_by(|a, b| a.0.total_cmp(&b.0));
        let decile = finished.len() / 10;
        let (first, last) = (
            rate(&finished[..decile]),
            rate(&finished[finished.len() - decile..]),
        );
        assert!(first < last, "first decile {first}, last decile {last}");
    }

    #[test]
    fn the_true_pd_is_a_probability_and_age_has_no_influence_on_it() {
        assert!(
            true_pd(&book(5_000, 5, None))
                .iter()
                .all(|&p| p > 0.0 && p < 1.0)
        );
        let logit = true_logit(&applicant(30));
        for age in 18..=80 {
            assert_eq!(
                true_logit(&applicant(age)).to_bits(),
                logit.to_bits(),
                "age {age}"
            );
        }
    }

    #[test]
    fn the_true_logit_follows_the_documented_directions() {
        let base = applicant(40);
        let logit = |f: &dyn Fn(&mut Applicant)| {
            let mut a = base.clone();
            f(&mut a);
            true_logit(&a)
        };
        let l0 = true_logit(&base);
        assert!(logit(&|a| a.loan_amount = 25_000.0) > l0);
        assert!(logit(&|a| a.delinquencies_2y = 5) > l0);
        assert!(logit(&|a| a.earliest_credit_line = date(2001, 1, 1)) < l0);
        assert!(logit(&|a| a.term_months = 36) < l0);
        assert!(logit(&|a| a.income_verified = true) < l0);
        assert!(logit(&|a| a.drifted = true) > l0 + 0.4);
        assert_eq!(
            logit(&|a| a.interest_rate = 25.0),
            l0,
            "the price is not part of the truth"
        );
    }

    #[test]
    fn drift_raises_the_true_pd_after_the_drift_date_and_leaves_applicants_alone() {
        let cut = date(2022, 1, 1);
        let (plain, drifted) = (book(10_000, 11, None), book(10_000, 11, Some(cut)));
        assert_eq!(
            text(&plain, "annual_income"),
            text(&drifted, "annual_income")
        );
        let dates = text(&drifted, "application_date");
        let after: Vec<bool> = dates
            .iter()
            .map(|d| NaiveDate::parse_from_str(d.unwrap(), "%Y-%m-%d").unwrap() >= cut)
            .collect();
        let (base, shifted) = (true_pd(&plain), true_pd(&drifted));
        let mean = |pds: &[f64], side: bool| {
            let picked: Vec<f64> = pds
                .iter()
                .zip(&after)
                .filter(|(_, a)| **a == side)
                .map(|(p, _)| *p)
                .collect();
            picked.iter().sum::<f64>() / picked.len() as f64
        };
        assert!(mean(&shifted, true) > mean(&shifted, false) + 0.03);
        assert!(
            (mean(&base, true) - mean(&base, false)).abs() < 0.02,
            "no drift without drift_after"
        );
        for ((b, s), a) in base.iter().zip(&shifted).zip(&after) {
            if *a { assert!(s > b) } else { assert_eq!(b, s) }
        }
    }

    #[test]
    fn recoveries_are_recorded_only_for_bad_loans() {
        let df = book(5_000, 9, None);
        for (status, recovered) in text(&df, "loan_status")
            .into_iter()
            .zip(text(&df, "recoveries"))
        {
            let has_value = recovered.is_some_and(|r| !r.trim().is_empty());
            assert_eq!(
                has_value,
                bad(status) == Some(true),
                "{status:?} with recoveries {recovered:?}"
            );
        }
        assert!(
            text(&df, "total_received")
                .iter()
                .all(|t| t.is_some_and(|t| t.starts_with('$')))
        );
    }

    #[test]
    fn raw_values_are_messy_in_the_ways_the_spec_expects() {
        let df = book(20_000, 7, None);
        let count = |name: &str, f: &dyn Fn(&str) -> bool| {
            text(&df, name)
                .into_iter()
                .flatten()
                .filter(|v| f(v))
                .count()
        };
        let incomes_missing = count("annual_income", &|v| ["", "N/A", "NA"].contains(&v));
        assert!(
            (400..800).contains(&incomes_missing),
            "{incomes_missing} missing incomes"
        );
        assert!(count("annual_income", &|v| v.ends_with(' ')) > 0);
        assert!(count("annual_income", &|v| v.starts_with(' ')) > 0);
        assert!(
            count("annual_income", &|v| !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_digit()))
                > 0
        );
        assert!(count("employment_length", &|v| v == "n/a") > 500);
        for rare in ["wedding", "renewable_energy", "educational"] {
            let n = count("purpose", &|v| v == rare);
            assert!(n > 0 && n < 40, "{rare}: {n}");
        }
        assert!(
            count("region", &|v| v.len() == 3
                && v.bytes().all(|b| b.is_ascii_digit()))
                == 20_000
        );
        assert!(count("region", &|v| v.starts_with('0')) > 0);
        assert!(count("revolving_utilisation", &|v| v.is_empty()) > 200);
        for spelling in ["Y", "N", "yes", "no", "true", "false", "1", "0"] {
            assert!(
                count("income_verified", &|v| v == spelling) > 0,
                "{spelling}"
            );
        }
        // Earliest credit lines read back with pivot 30 to 1965..=2029, at least a year before.
        for (line, applied) in text(&df, "earliest_credit_line")
            .into_iter()
            .zip(text(&df, "application_date"))
        {
            let (month, yy) = line.unwrap().split_once('-').unwrap();
            let month = MONTHS.iter().position(|m| *m == month).unwrap() as u32 + 1;
            let yy: i32 = yy.parse().unwrap();
            let year = if yy < 30 { 2000 + yy } else { 1900 + yy };
            let applied = NaiveDate::parse_from_str(applied.unwrap(), "%Y-%m-%d").unwrap();
            let line = date(year, month, 1);
            assert!(
                line.year() >= 1965 && line <= applied - chrono::Months::new(12),
                "{line} for {applied}"
            );
        }
    }

    #[test]
    fn an_unknown_extension_is_refused_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("book.xlsx");
        let err = write(&mut book(10, 1, None), &path).unwrap_err();
        assert!(
            matches!(&err, IngestError::Input(m) if m.contains("book.xlsx")),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn dates_outside_the_two_digit_year_window_are_refused() {
        let early = SynthOptions {
            start: date(1960, 1, 1),
            ..SynthOptions::default()
        };
        let backwards = SynthOptions {
            start: date(2025, 1, 1),
            ..SynthOptions::default()
        };
        assert!(matches!(generate(&early), Err(IngestError::Input(_))));
        assert!(matches!(generate(&backwards), Err(IngestError::Input(_))));
    }

    #[test]
    fn the_shipped_spec_reads_the_generated_columns() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/synthetic_loans.toml");
        let spec = crate::spec::DatasetSpec::from_file(&path).unwrap();
        let mut read: Vec<&str> = spec.features.iter().map(|f| f.column()).collect();
        read.extend(spec.drops.iter().map(|d| d.column.as_str()));
        read.push(&spec.target.column);
        read.extend(spec.id_column.as_deref());
        read.extend(spec.time.as_ref().map(|t| t.column.as_str()));
        read.sort_unstable();
        let mut expected: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| *c != "true_pd")
            .collect();
        expected.sort_unstable();
        assert_eq!(read, expected);
    }
}
