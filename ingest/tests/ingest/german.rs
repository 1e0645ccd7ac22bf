//! The shipped German credit data through the whole ingest.

use polars::prelude::ChunkAgg;
use riskloop_ingest::etl::{self, TARGET};
use riskloop_ingest::pipeline::{FeaturePipeline, SlotKind};
use riskloop_ingest::spec::DatasetSpec;

use crate::{data, german_spec};

#[test]
fn german_credit_ingests_end_to_end_with_stratified_splits() {
    let out = tempfile::tempdir().unwrap();
    let spec = german_spec();
    let mut steps = Vec::new();
    let ingested = etl::ingest(&spec, &[data("german_credit.csv")], out.path(), &mut |s| {
        steps.push(s.to_owned());
    })
    .unwrap();
    assert!(steps.len() >= 4, "progress is reported: {steps:?}");

    let q = &ingested.quality;
    assert_eq!(
        (q.rows_read, q.rows_used, q.target.bad, q.target.good),
        (1000, 1000, 300, 700)
    );
    let rows: Vec<usize> = q.target.splits.iter().map(|s| s.rows).collect();
    assert_eq!(rows, [700, 150, 150]);
    for s in &q.target.splits {
        assert!(
            (s.bad_rate - 0.3).abs() < 0.005,
            "{} bad rate {}",
            s.name,
            s.bad_rate
        );
    }
    for file in [
        "train.parquet",
        "valid.parquet",
        "test.parquet",
        "pipeline.json",
        "quality.json",
        "spec.toml",
    ] {
        assert!(out.path().join(file).is_file(), "{file}");
    }

    let pipeline = FeaturePipeline::load(&out.path().join("pipeline.json")).unwrap();
    assert_eq!(
        pipeline.features.len(),
        17,
        "20 attributes less 3 protected"
    );
    assert!(
        pipeline
            .slots
            .iter()
            .all(|s| !s.feature.contains("age") && !s.feature.contains("sex"))
    );
    let checking = pipeline
        .slots
        .iter()
        .find(|s| s.name == "checking_account")
        .unwrap();
    assert!(
        matches!(checking.kind, SlotKind::CategoryIndex { cardinality: 6 }),
        "{checking:?}"
    );

    let train = etl::read_split(out.path(), "train").unwrap();
    assert_eq!(train.height(), 700);
    assert!(train.column(TARGET).is_ok() && train.column("protected__age_in_years").is_ok());
    let duration = train
        .column("duration_in_month")
        .unwrap()
        .as_materialized_series()
        .f32()
        .unwrap()
        .clone();
    let mean = duration.mean().unwrap();
    assert!(mean.abs() < 1e-3, "standardised on train: mean {mean}");

    let checking_iv = q
        .features
        .iter()
        .find(|f| f.name == "checking_account")
        .unwrap()
        .iv
        .unwrap();
    assert!(
        checking_iv > 0.4,
        "checking account is the strongest German credit predictor: IV {checking_iv}"
    );
    assert!(q.probable_leakage.is_empty(), "{:?}", q.probable_leakage);
    assert!(q.table().contains("protected"));
}

#[test]
fn the_same_spec_and_data_give_byte_identical_datasets() {
    let spec = german_spec();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    etl::ingest(&spec, &[data("german_credit.csv")], a.path(), &mut |_| {}).unwrap();
    etl::ingest(&spec, &[data("german_credit.csv")], b.path(), &mut |_| {}).unwrap();
    for file in [
        "train.parquet",
        "valid.parquet",
        "test.parquet",
        "pipeline.json",
        "quality.json",
    ] {
        let (x, y) = (
            std::fs::read(a.path().join(file)).unwrap(),
            std::fs::read(b.path().join(file)).unwrap(),
        );
        assert!(x == y, "{file} differs between two runs");
    }
}

#[test]
fn a_column_missing_from_the_input_is_an_error_naming_it() {
    let mut spec = german_spec();
    spec.features[1].column = Some("loan_term".into());
    let out = tempfile::tempdir().unwrap();
    let err = etl::ingest(&spec, &[data("german_credit.csv")], out.path(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("loan_term") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn a_target_value_outside_the_spec_stops_the_ingest_when_the_spec_says_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(data("german_credit.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    lines[5] = lines[5]
        .replace(",good", ",unknown")
        .replace(",bad", ",unknown");
    let path = dir.path().join("g.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let err = etl::ingest(
        &german_spec(),
        std::slice::from_ref(&path),
        &dir.path().join("out"),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("row 5") && err.contains("unknown"), "{err}");

    let mut lenient: DatasetSpec = german_spec();
    lenient.target.other = riskloop_ingest::spec::OtherTarget::Exclude;
    let ok = etl::ingest(&lenient, &[path], &dir.path().join("out2"), &mut |_| {}).unwrap();
    assert_eq!(ok.quality.target.other, vec![("unknown".to_owned(), 1)]);
    assert_eq!(ok.quality.rows_used, 999);
}

#[test]
fn unparseable_values_are_counted_per_column_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(data("german_credit.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    for (i, line) in lines.iter_mut().skip(1).take(5).enumerate() {
        let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        // duration_in_month: three unreadable, two outside its plausible values [1, 480]
        cells[1] = if i < 3 { "twelve" } else { "0" }.into();
        *line = cells.join(",");
    }
    let path = dir.path().join("g.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let ingested = etl::ingest(
        &german_spec(),
        &[path],
        &dir.path().join("out"),
        &mut |_| {},
    )
    .unwrap();
    let duration = ingested
        .quality
        .features
        .iter()
        .find(|f| f.name == "duration_in_month")
        .unwrap();
    assert_eq!(duration.parse_failures, 5);
    assert_eq!(
        duration.parse_failure_examples,
        ["twelve", "twelve", "twelve", "0", "0"]
    );
    assert!((duration.missing_rate - 0.005).abs() < 1e-9);
}
