//! The generative story: who applies, and their true log-odds of default.

use chrono::NaiveDate;

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
    pub(super) fn size_factor(self) -> f64 {
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

    /// The code a later system writes for the same thing (see
    /// [`super::SynthOptions::recode_after`]).
    pub fn recoded(self) -> &'static str {
        match self {
            Self::Mortgage => "M",
            Self::Rent => "R",
            Self::Own => "O",
            Self::Other => "X",
            Self::NoneStated => "N",
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
pub(super) fn pricing_logit(a: &Applicant) -> f64 {
    let dti = a.debt_to_income();
    let u = a.revolving_utilisation / 100.0;
    let h = a.credit_history_years();
    2.8 * dti + 0.6 * u + 1.2 * (u - 0.8).max(0.0) + 0.5 * f64::from(a.delinquencies_2y).ln_1p()
        - 0.8 * (1.0 - (-h / 8.0).exp())
        + if a.term_months == 60 { 0.4 } else { 0.0 }
        + 0.8 * a.purpose.effect()
        + 0.5 * a.home_ownership.effect()
}

pub(super) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
