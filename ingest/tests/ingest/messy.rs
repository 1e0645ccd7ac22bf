//! What real loan files need from a spec: value maps, per-column missing values, derived
//! features, splits by cut-off values or a column's values, year-only dates, and errors that
//! say what failed. Each is checked batch = online, bit for bit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use riskloop_ingest::etl;
use riskloop_ingest::pipeline::{FeaturePipeline, Transform};
use riskloop_ingest::quality::GateKind;
use riskloop_ingest::spec::DatasetSpec;

use crate::assert_parity;

/// A small-business loan book in the style of a public one: fiscal years with a stray
/// `1976A`, franchise codes where `0` and `1` both mean "no franchise" (each in its own era),
/// NAICS codes with `0` for unknown, amounts as currency text, jobs where `0` means unknown,
/// approval dates with two-digit years, and a `sample` column.
fn write_book(dir: &Path, rows: usize) -> PathBuf {
    let mut csv = String::from(
        "LoanNr,FY,ApprovalDate,FranchiseCode,NAICS,GrAppv,SBA_Appv,NoEmp,sample,MIS_Status\n",
    );
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let months = ["Jan", "Mar", "Jun", "Sep", "Dec"];
    for i in 0..rows {
        let fy = 2000 + (i * 9 / rows) as u64; // 2000..=2008, ascending
        let fy_text = if i == 3 {
            "1976A".to_owned()
        } else {
            fy.to_string()
        };
        // Before 2004 "no franchise" is written 0, from 2004 on 1.
        let franchise = match next(10) {
            0 => (10_000 + next(90_000)).to_string(),
            _ if fy < 2004 => "0".to_owned(),
            _ => "1".to_owned(),
        };
        let sector = [44, 54, 23, 72, 81][next(5) as usize];
        let naics = match next(12) {
            0 => "0".to_owned(),
            1 => String::new(),
            _ => format!("{sector}{:04}", next(10_000)),
        };
        let gross = 5_000 + next(200) * 1_000;
        let share = 50 + next(40);
        let sba = gross * share / 100;
        let jobs = next(30);
        let sample = ["train", "train", "train", "valid", "test"][i % 5];
        let risk = f64::from(u8::from(sector == 72)) * 1.2 - share as f64 / 40.0
            + f64::from(u8::from(jobs == 0)) * 0.8
            + (next(1000) as f64 / 1000.0) * 2.0;
        let status = if risk > 0.0 { "CHGOFF" } else { "P I F" };
        let _ = writeln!(
            csv,
            "{i},{fy_text},{:02}-{}-{:02},{franchise},{naics},\"${gross},000.00\",\"${sba}.00\",{jobs},{sample},{status}",
            1 + next(28),
            months[next(5) as usize],
            fy % 100,
        );
    }
    let path = dir.join("sba.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

const SPEC: &str = r#"
name = "sba"
id_column = "LoanNr"

[target]
column = "MIS_Status"
bad = ["CHGOFF"]
good = ["P I F"]

[split]
method = "cutoff"
column = "FY"
valid_from = "2006"
test_from = "2007"

[[feature]]
name = "franchise"
column = "FranchiseCode"
kind = "categorical"
map = { "0" = "none", "1" = "none" }
max_levels = 5

[[feature]]
name = "no_franchise"
kind = "boolean"
derive = 'in(FranchiseCode, "0", "1")'

[[feature]]
name = "sector"
kind = "categorical"
derive = "prefix(NAICS, 2)"
missing_values = ["0"]

[[feature]]
name = "sba_share"
kind = "numeric"
derive = "ratio(SBA_Appv, GrAppv)"
valid = [0.0, 1.0]

[[feature]]
name = "log_gross"
kind = "numeric"
derive = "log(GrAppv)"

[[feature]]
name = "approval_month"
kind = "numeric"
derive = "month(ApprovalDate)"
date_format = "%d-%b-%y"
two_digit_year_pivot = 30

[[feature]]
name = "jobs"
column = "NoEmp"
kind = "numeric"
missing_values = ["0"]
"#;

fn ingest(spec: &DatasetSpec, csv: &Path, out: &Path) -> etl::Ingested {
    etl::ingest(spec, &[csv.to_owned()], out, &mut |_| {}).unwrap()
}

/// Rows in train, valid and test.
fn split_rows(ingested: &etl::Ingested) -> Vec<usize> {
    ingested
        .quality
        .target
        .splits
        .iter()
        .map(|s| s.rows)
        .collect()
}

#[test]
fn maps_missing_values_and_derived_features_read_the_same_in_batch_and_online() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_book(dir.path(), 3_000);
    let spec = DatasetSpec::from_toml(SPEC).unwrap();
    let out = dir.path().join("out");
    let ingested = ingest(&spec, &csv, &out);
    let pipeline = FeaturePipeline::load(&out.join("pipeline.json")).unwrap();
    assert_eq!(assert_parity(&pipeline, &[csv], &spec), 3_000);

    let feature = |name: &str| {
        pipeline
            .features
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    // Both eras' "no franchise" codes are one level; the raw codes are gone.
    let Transform::Categorical { levels, .. } = &feature("franchise").transform else {
        panic!("franchise is categorical")
    };
    assert_eq!(levels[2], "none", "{levels:?}");
    assert!(!levels.iter().any(|l| l == "0" || l == "1"), "{levels:?}");
    // The first two digits of NAICS, with 0 (and the empty code) missing.
    let Transform::Categorical { levels, .. } = &feature("sector").transform else {
        panic!("sector is categorical")
    };
    let mut sectors: Vec<&str> = levels[2..].iter().map(String::as_str).collect();
    sectors.sort_unstable();
    assert_eq!(sectors, ["23", "44", "54", "72", "81"]);

    let quality = |name: &str| {
        ingested
            .quality
            .features
            .iter()
            .find(|f| f.name == name)
            .unwrap()
    };
    // NoEmp = 0 is one value in 30: missing, not a real zero.
    let jobs = quality("jobs");
    assert!(
        (0.02..0.05).contains(&jobs.missing_rate),
        "{}",
        jobs.missing_rate
    );
    assert_eq!(jobs.parse_failures, 0);
    assert!(quality("sector").missing_rate > 0.1);
    for name in ["sba_share", "log_gross", "approval_month", "no_franchise"] {
        let q = quality(name);
        assert_eq!(
            (q.missing_rate, q.parse_failures),
            (0.0, 0),
            "{name}: {:?}",
            q.parse_failure_examples
        );
    }
    // The input schema asks for the raw columns a derived feature reads, once each.
    let fields: Vec<&str> = pipeline
        .input_schema
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    for column in [
        "FranchiseCode",
        "NAICS",
        "SBA_Appv",
        "GrAppv",
        "ApprovalDate",
        "NoEmp",
    ] {
        assert_eq!(
            fields.iter().filter(|f| **f == column).count(),
            1,
            "{column} in {fields:?}"
        );
    }
    assert!(!fields.contains(&"sba_share"));
}

#[test]
fn cutoff_splits_put_fiscal_years_where_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_book(dir.path(), 900);
    let spec = DatasetSpec::from_toml(SPEC).unwrap();
    let ingested = ingest(&spec, &csv, &dir.path().join("out"));
    let rows = split_rows(&ingested);
    // 100 rows a year, 2000..=2008: 2000-2005 train (less the unreadable 1976A, which is
    // still a number: 1976, before valid_from, so it trains), 2006 valid, 2007-2008 test.
    assert_eq!(rows, [600, 100, 200]);

    // The same years by a column's values.
    let by_column = SPEC.replace(
        "method = \"cutoff\"\ncolumn = \"FY\"\nvalid_from = \"2006\"\ntest_from = \"2007\"",
        "method = \"column\"\ncolumn = \"sample\"\ntrain_values = [\"train\"]\n\
         valid_values = [\"valid\"]\ntest_values = [\"test\"]",
    );
    let spec = DatasetSpec::from_toml(&by_column).unwrap();
    let ingested = ingest(&spec, &csv, &dir.path().join("out2"));
    let rows = split_rows(&ingested);
    assert_eq!(rows, [540, 180, 180]);
}

#[test]
fn a_year_only_time_column_splits_by_time_once_its_odd_values_are_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_book(dir.path(), 900);
    let with_time = |time: &str| {
        SPEC.replace(
            "[split]\nmethod = \"cutoff\"\ncolumn = \"FY\"\nvalid_from = \"2006\"\ntest_from = \"2007\"",
            &format!("{time}\n[split]\nmethod = \"cutoff\"\nvalid_from = \"2006\"\ntest_from = \"2007\""),
        )
    };
    let spec = DatasetSpec::from_toml(&with_time(
        "[time]\ncolumn = \"FY\"\nformat = \"%Y\"\nmap = { \"1976A\" = \"1976\" }",
    ))
    .unwrap();
    let ingested = ingest(&spec, &csv, &dir.path().join("out"));
    assert_eq!(ingested.quality.target.rows_without_time, 0);
    let rows = split_rows(&ingested);
    assert_eq!(rows, [600, 100, 200]);

    // Without the map, the one odd value is a row without a date, not a crash.
    let spec =
        DatasetSpec::from_toml(&with_time("[time]\ncolumn = \"FY\"\nformat = \"%Y\"")).unwrap();
    let ingested = ingest(&spec, &csv, &dir.path().join("out2"));
    assert_eq!(ingested.quality.target.rows_without_time, 1);

    // A format that reads none of them says so, with examples, instead of "no bad rows".
    let spec = DatasetSpec::from_toml(&SPEC.replace(
        "[split]\nmethod = \"cutoff\"\ncolumn = \"FY\"\nvalid_from = \"2006\"\ntest_from = \"2007\"",
        "[time]\ncolumn = \"FY\"\nformat = \"%d/%m/%Y\"\n[split]\nmethod = \"time\"",
    ))
    .unwrap();
    let err = etl::ingest(&spec, &[csv], &dir.path().join("out3"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no date in `FY` parsed with the format \"%d/%m/%Y\"")
            && err.contains("\"2000\""),
        "{err}"
    );
}

#[test]
fn spec_errors_name_the_feature_and_what_is_wrong() {
    let error = |from: &str, to: &str| {
        let text = SPEC.replace(from, to);
        assert_ne!(text, SPEC, "{from} not in the spec");
        DatasetSpec::from_toml(&text).unwrap_err().to_string()
    };
    let err = error(
        "derive = \"prefix(NAICS, 2)\"",
        "derive = \"prefix(NAICS)\"",
    );
    assert!(err.contains("prefix() takes 2 argument(s), got 1"), "{err}");
    let err = error(
        "name = \"sba_share\"\nkind = \"numeric\"",
        "name = \"sba_share\"\nkind = \"categorical\"",
    );
    assert!(
        err.contains("feature[3] (sba_share)") && err.contains("gives a numeric value"),
        "{err}"
    );
    let err = error("date_format = \"%d-%b-%y\"\n", "");
    assert!(err.contains("reads dates: set `date_format`"), "{err}");
    let err = error("name = \"log_gross\"", "name = \"GrAppv\"");
    assert!(err.contains("not a raw column's"), "{err}");
    let err = error("test_from = \"2007\"", "test_from = \"2005\"");
    assert!(err.contains("valid_from <= test_from"), "{err}");
    let err = error("valid_from = \"2006\"", "valid_from = \"mid-2006\"");
    assert!(
        err.contains("`valid_from`") && err.contains("not a number"),
        "{err}"
    );
    let err = error(
        "column = \"NoEmp\"",
        "column = \"NoEmp\"\nacknowledge = { leakage = \" \" }",
    );
    assert!(err.contains("needs a reason"), "{err}");
    let err = error(
        "column = \"NoEmp\"",
        "column = \"NoEmp\"\nacknowledge = { leak = \"x\" }",
    );
    assert!(err.contains("not `leak`"), "{err}");
}

#[test]
fn a_feature_whose_mix_moves_between_eras_is_flagged_as_drift_with_what_moved() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_book(dir.path(), 3_000);
    // The raw franchise code, unmapped: "0" in the old era, "1" in the new.
    let raw = SPEC.replace("map = { \"0\" = \"none\", \"1\" = \"none\" }\n", "");
    let spec = DatasetSpec::from_toml(&raw).unwrap();
    let ingested = ingest(&spec, &csv, &dir.path().join("out"));
    let gate = ingested
        .quality
        .gates
        .iter()
        .find(|g| g.gate == GateKind::Drift && g.feature == "franchise")
        .unwrap_or_else(|| panic!("{:?}", ingested.quality.gates));
    assert!(
        gate.detail.contains("\"0\"") && gate.detail.contains("\"1\""),
        "{gate}"
    );
    assert!(gate.acknowledged.is_none());
    assert!(ingested.quality.table().contains("DRIFT"));
    // Mapped to one level, the same column no longer drifts.
    let spec = DatasetSpec::from_toml(SPEC).unwrap();
    let ingested = ingest(&spec, &csv, &dir.path().join("out2"));
    assert!(
        !ingested
            .quality
            .gates
            .iter()
            .any(|g| g.feature == "franchise"),
        "{:?}",
        ingested.quality.gates
    );
    // An acknowledged gate is still reported, with the reason.
    let acknowledged = raw.replace(
        "name = \"franchise\"",
        "name = \"franchise\"\nacknowledge = { drift = \"codes recoded in 2004\" }",
    );
    let spec = DatasetSpec::from_toml(&acknowledged).unwrap();
    let ingested = ingest(&spec, &csv, &dir.path().join("out3"));
    let gate = ingested
        .quality
        .gates
        .iter()
        .find(|g| g.feature == "franchise")
        .unwrap();
    assert_eq!(gate.acknowledged.as_deref(), Some("codes recoded in 2004"));
}
