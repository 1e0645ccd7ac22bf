use super::render::MONTHS;
use super::*;
use chrono::Datelike;
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
