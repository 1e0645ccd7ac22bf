//! The seeded random draws: applicants and their outcomes.

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SynthOptions;
use super::truth::{Applicant, HomeOwnership, Purpose, pricing_logit, sigmoid};

/// Box–Muller normals and friends over one seeded ChaCha8 stream.
pub(super) struct Sampler {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Sampler {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform in [0, 1).
    pub(super) fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Uniform integer in 0..n.
    pub(super) fn below(&mut self, n: u32) -> u32 {
        self.rng.random_range(0..n)
    }

    /// Standard normal by Box–Muller; the second value of each pair is kept for the next call.
    pub(super) fn normal(&mut self) -> f64 {
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

    pub(super) fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }
}

/// Index into cumulative weights for a uniform draw `u` in [0, 1).
pub(super) fn pick(cumulative: &[f64], u: f64) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    cumulative
        .partition_point(|&c| c <= u * total)
        .min(cumulative.len() - 1)
}

pub(super) fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    weights
        .into_iter()
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

/// Per-book tables drawn from the seed before any row.
pub(super) struct Tables {
    purposes: Vec<f64>,
    homes: Vec<f64>,
    /// Postal prefixes by popularity rank, their Zipf cumulative weights and their effects.
    regions: Vec<u16>,
    region_weights: Vec<f64>,
    region_effects: Vec<f64>,
}

pub(super) const REGIONS: usize = 900;

impl Tables {
    pub(super) fn draw(rng: &mut Sampler) -> Self {
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
pub(super) fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

pub(super) fn draw_applicant(rng: &mut Sampler, opts: &SynthOptions, t: &Tables) -> Applicant {
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
pub(super) enum Status {
    Current,
    ChargedOff,
    Default,
    FullyPaid,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Current => "Current",
            Self::ChargedOff => "Charged Off",
            Self::Default => "Default",
            Self::FullyPaid => "Fully Paid",
        }
    }
}

pub(super) struct Outcome {
    pub(super) status: Status,
    /// Dollars recovered after a default; `None` for loans that did not go bad.
    pub(super) recoveries: Option<f64>,
    pub(super) total_received: f64,
}

/// The outcome: 5% still running, else Bernoulli(pd). Always five draws, whatever happens.
pub(super) fn draw_outcome(rng: &mut Sampler, a: &Applicant, pd: f64) -> Outcome {
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
