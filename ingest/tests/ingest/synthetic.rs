//! The synthetic loan book: messy raw text, time splits, leakage detection, parity at scale.

use std::path::{Path, PathBuf};

use riskloop_ingest::etl;
use riskloop_ingest::pipeline::FeaturePipeline;
use riskloop_ingest::spec::{DatasetSpec, Feature};
use riskloop_ingest::synth::{self, SynthOptions};

use crate::{assert_parity, data};

fn spec() -> DatasetSpec {
    DatasetSpec::from_file(&data("synthetic_loans.toml")).unwrap()
}

fn book(dir: &Path, name: &str, rows: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let mut frame = synth::generate(&SynthOptions {
        rows,
        seed,
        ..SynthOptions::default()
    })
    .unwrap();
    synth::write(&mut frame, &path).unwrap();
    path
}

#[test]
fn the_synthetic_book_ingests_with_a_time_split_and_its_mess_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let csv = book(dir.path(), "book.csv", 20_000, 3);
    let ingested = etl::ingest(&spec(), &[csv], &dir.path().join("out"), &mut |_| {}).unwrap();
    let q = &ingested.quality;
    assert_eq!(q.rows_read, 20_000);
    let current = q
        .target
        .other
        .iter()
        .find(|(v, _)| v == "Current")
        .map_or(0, |(_, n)| *n);
    assert!(
        current > 0,
        "running loans are excluded and counted: {:?}",
        q.target.other
    );
    assert_eq!(q.rows_used, 20_000 - current);
    for f in &q.features {
        assert_eq!(
            f.parse_failures, 0,
            "{}: {:?}",
            f.name, f.parse_failure_examples
        );
    }
    let income = q
        .features
        .iter()
        .find(|f| f.name == "annual_income")
        .unwrap();
    assert!(
        income.missing_rate > 0.0 && income.missing_rate < 0.1,
        "{}",
        income.missing_rate
    );
    let region = q.features.iter().find(|f| f.name == "region").unwrap();
    assert!(
        region.distinct > 300,
        "high-cardinality region: {}",
        region.distinct
    );
    assert!(q.probable_leakage.is_empty(), "{:?}", q.probable_leakage);

    let train = etl::read_split(&ingested.out_dir, "train").unwrap();
    let test = etl::read_split(&ingested.out_dir, "test").unwrap();
    let dates = |frame: &polars::prelude::DataFrame| -> Vec<String> {
        let s = frame
            .column("application_date")
            .unwrap()
            .as_materialized_series()
            .str()
            .unwrap()
            .clone();
        s.iter().flatten().map(str::to_owned).collect()
    };
    let newest_train = dates(&train).into_iter().max().unwrap();
    let oldest_test = dates(&test).into_iter().min().unwrap();
    assert!(
        newest_train <= oldest_test,
        "time split: train ends {newest_train}, test starts {oldest_test}"
    );
    assert!(
        train.column("true_pd").is_ok(),
        "kept columns are carried through"
    );
    assert!(train.column("protected__applicant_age").is_ok());
}

#[test]
fn a_leakage_column_used_as_a_feature_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let csv = book(dir.path(), "book.csv", 5_000, 5);
    let mut leaky = spec();
    leaky.drops.retain(|d| d.column != "recoveries");
    leaky.features.push(
        toml::from_str::<Feature>(
            "name = \"recoveries\"\nkind = \"numeric\"\ndescription = \"Amount recovered after charge-off\"",
        )
        .unwrap(),
    );
    let ingested = etl::ingest(&leaky, &[csv], &dir.path().join("out"), &mut |_| {}).unwrap();
    assert_eq!(ingested.quality.probable_leakage, ["recoveries"]);
    assert!(ingested.quality.table().contains("PROBABLE LEAKAGE"));
}

#[test]
fn batch_and_online_agree_bit_for_bit_on_100000_synthetic_rows() {
    let dir = tempfile::tempdir().unwrap();
    let csv = book(dir.path(), "book.csv", 100_000, 11);
    let spec = spec();
    let out = dir.path().join("out");
    etl::ingest(&spec, std::slice::from_ref(&csv), &out, &mut |_| {}).unwrap();
    let pipeline = FeaturePipeline::load(&out.join("pipeline.json")).unwrap();
    assert_eq!(assert_parity(&pipeline, &[csv], &spec), 100_000);
}

#[test]
fn parquet_inputs_and_several_files_read_like_one_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = book(dir.path(), "all.csv", 4_000, 9);
    let mut frame = synth::generate(&SynthOptions {
        rows: 4_000,
        seed: 9,
        ..SynthOptions::default()
    })
    .unwrap();
    let parquet = dir.path().join("all.parquet");
    synth::write(&mut frame, &parquet).unwrap();
    let first = frame.slice(0, 1_500);
    let rest = frame.slice(1_500, 2_500);
    let (a, b) = (dir.path().join("part-1.csv"), dir.path().join("part-2.csv"));
    synth::write(&mut first.clone(), &a).unwrap();
    synth::write(&mut rest.clone(), &b).unwrap();

    let spec = spec();
    let from_csv = etl::ingest(&spec, &[csv], &dir.path().join("o1"), &mut |_| {}).unwrap();
    let from_parquet = etl::ingest(&spec, &[parquet], &dir.path().join("o2"), &mut |_| {}).unwrap();
    let from_parts = etl::ingest(&spec, &[a, b], &dir.path().join("o3"), &mut |_| {}).unwrap();
    for other in [&from_parquet, &from_parts] {
        assert_eq!(other.quality.rows_read, 4_000);
        assert_eq!(other.quality.rows_used, from_csv.quality.rows_used);
        let read = |d: &Path| std::fs::read(d.join("train.parquet")).unwrap();
        assert!(
            read(&other.out_dir) == read(&from_csv.out_dir),
            "same rows give the same dataset"
        );
    }
}

/// The era artefact: from a date on, `home_ownership` is written in new codes. The book is
/// otherwise the same (the same applicants and outcomes); the shipped spec sees a drifting
/// column, and a spec whose `map` reads both codes as one sees none.
#[test]
fn recoded_home_ownership_is_drift_until_a_map_reads_both_eras_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let from = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    let options = SynthOptions {
        rows: 20_000,
        seed: 5,
        ..SynthOptions::default()
    };
    let plain = synth::generate(&options).unwrap();
    let mut recoded = synth::generate(&SynthOptions {
        recode_after: Some(from),
        ..options
    })
    .unwrap();
    assert_eq!(
        plain.column("true_pd").unwrap(),
        recoded.column("true_pd").unwrap()
    );
    let codes = |frame: &polars::prelude::DataFrame, column: &str| -> Vec<String> {
        frame
            .column(column)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or_default().to_owned())
            .collect()
    };
    let dates = codes(&recoded, "application_date");
    let homes = codes(&recoded, "home_ownership");
    for (date, home) in dates.iter().zip(&homes) {
        let new_era = date.as_str() >= "2023-01-01";
        assert_eq!(home.len() == 1, new_era, "{date}: {home}");
    }
    let csv = dir.path().join("recoded.csv");
    synth::write(&mut recoded, &csv).unwrap();

    let spec = spec();
    let ingested = etl::ingest(
        &spec,
        std::slice::from_ref(&csv),
        &dir.path().join("a"),
        &mut |_| {},
    )
    .unwrap();
    let gate = ingested
        .quality
        .gates
        .iter()
        .find(|g| g.feature == "home_ownership")
        .unwrap_or_else(|| panic!("{:?}", ingested.quality.gates));
    assert!(gate.detail.contains("\"M\""), "{gate}");

    let text = std::fs::read_to_string(data("synthetic_loans.toml")).unwrap();
    let mapped = text.replace(
        "name = \"home_ownership\"",
        "name = \"home_ownership\"\nmap = { M = \"MORTGAGE\", R = \"RENT\", O = \"OWN\", X = \"OTHER\", N = \"NONE\" }",
    );
    assert_ne!(mapped, text);
    let spec = DatasetSpec::from_toml(&mapped).unwrap();
    let ingested = etl::ingest(&spec, &[csv], &dir.path().join("b"), &mut |_| {}).unwrap();
    assert!(
        !ingested
            .quality
            .gates
            .iter()
            .any(|g| g.feature == "home_ownership"),
        "{:?}",
        ingested.quality.gates
    );
}

/// A book with more rows than `fit_rows` is read twice: the fit sees a sample, every row is
/// written, and what is written is the fitted pipeline applied to each row.
#[test]
fn a_book_larger_than_fit_rows_is_fitted_on_a_sample_and_written_in_a_second_pass() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    // More than two read batches (64k rows each), so both passes append and write by batch.
    let csv = book(dir.path(), "book.csv", 150_000, 13);
    let mut whole = spec();
    whole.read.fit_rows = 0;
    let mut sampled = spec();
    sampled.read.fit_rows = 20_000;
    let held = etl::ingest(
        &whole,
        std::slice::from_ref(&csv),
        &dir.path().join("held"),
        &mut |_| {},
    )
    .unwrap();
    let mut steps = Vec::new();
    let streamed = etl::ingest(
        &sampled,
        std::slice::from_ref(&csv),
        &dir.path().join("streamed"),
        &mut |s| steps.push(s.to_owned()),
    )
    .unwrap();
    assert!(
        steps.iter().any(|s| s.contains("second pass")),
        "the progress says so: {steps:?}"
    );
    let (h, s) = (&held.quality, &streamed.quality);
    assert_eq!(h.sampled_rows, None);
    let n = s.sampled_rows.expect("the report says it sampled");
    assert!(
        (19_000..=21_000).contains(&n),
        "about fit_rows sampled: {n}"
    );
    assert_eq!((s.rows_read, s.rows_used), (h.rows_read, h.rows_used));
    assert_eq!((s.target.bad, s.target.good), (h.target.bad, h.target.good));
    assert_eq!(s.target.other, h.target.other);
    for (a, b) in s.target.splits.iter().zip(&h.target.splits) {
        assert_eq!((a.name, a.rows, a.bad_rate), (b.name, b.rows, b.bad_rate));
    }
    for (a, b) in s.features.iter().zip(&h.features) {
        // Failures count every row; rates come from the sample.
        assert_eq!(a.parse_failures, b.parse_failures, "{}", a.name);
        assert!(
            (a.missing_rate - b.missing_rate).abs() < 0.01,
            "{}: sampled {} vs all {}",
            a.name,
            a.missing_rate,
            b.missing_rate
        );
    }

    // Every split holds the same rows, in the same order, with the same labels and text.
    let pipeline = FeaturePipeline::load(&streamed.out_dir.join("pipeline.json")).unwrap();
    let encoded = pipeline
        .apply_batch(
            riskloop_ingest::read::scan(std::slice::from_ref(&csv), &sampled.read).unwrap(),
        )
        .unwrap();
    for split in ["train", "valid", "test"] {
        let a = etl::read_split(&held.out_dir, split).unwrap();
        let b = etl::read_split(&streamed.out_dir, split).unwrap();
        assert_eq!(a.height(), b.height(), "{split}");
        for column in [
            etl::TARGET,
            etl::SOURCE_ROW,
            "application_id",
            "application_date",
            "protected__applicant_age",
        ] {
            assert!(
                a.column(column)
                    .unwrap()
                    .equals_missing(b.column(column).unwrap()),
                "{split}: {column} differs"
            );
        }
        // The values written are the sample-fitted pipeline applied to each source row.
        let rows: Vec<IdxSize> = b
            .column(etl::SOURCE_ROW)
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .map(|r| r as IdxSize)
            .collect();
        let expected = encoded.take(&IdxCa::from_vec("rows".into(), rows)).unwrap();
        for slot in &pipeline.slots {
            let name = slot.name.as_str();
            let bits = |frame: &DataFrame| -> Vec<u32> {
                frame
                    .column(name)
                    .unwrap()
                    .f32()
                    .unwrap()
                    .into_no_null_iter()
                    .map(f32::to_bits)
                    .collect()
            };
            assert!(bits(&b) == bits(&expected), "{split}: slot {name}");
        }
    }
}
