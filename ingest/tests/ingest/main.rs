//! Integration tests of the ingest stage on the shipped data and on synthetic books.

mod german;
mod messy;
mod parity;
mod synthetic;

use std::path::{Path, PathBuf};

use polars::prelude::*;
use riskloop_ingest::application::Application;
use riskloop_ingest::pipeline::FeaturePipeline;
use riskloop_ingest::read;
use riskloop_ingest::spec::DatasetSpec;
use serde_json::{Map, Value};

pub(crate) fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

pub(crate) fn german_spec() -> DatasetSpec {
    DatasetSpec::from_file(&data("german_credit.toml")).unwrap()
}

/// Every raw row of `inputs` as the JSON object a bank would send: fields the pipeline reads as
/// numbers become JSON numbers when they are plain numbers, everything else stays a string.
pub(crate) fn rows_as_json(
    pipeline: &FeaturePipeline,
    inputs: &[PathBuf],
    spec: &DatasetSpec,
) -> Vec<Map<String, Value>> {
    let frame = read::scan(inputs, &spec.read).unwrap().collect().unwrap();
    let numeric: Vec<&str> = pipeline
        .input_schema
        .iter()
        .filter(|f| f.kind == "number")
        .map(|f| f.name.as_str())
        .collect();
    let columns: Vec<(String, StringChunked)> = frame
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.as_materialized_series().str().unwrap().clone(),
            )
        })
        .collect();
    (0..frame.height())
        .map(|row| {
            columns
                .iter()
                .map(|(name, values)| {
                    let value = match values.get(row) {
                        None => Value::Null,
                        Some(s) => match s.trim().parse::<f64>() {
                            Ok(x) if numeric.contains(&name.as_str()) && x.is_finite() => {
                                serde_json::from_str(s.trim())
                                    .unwrap_or(Value::String(s.to_owned()))
                            }
                            _ => Value::String(s.to_owned()),
                        },
                    };
                    (name.clone(), value)
                })
                .collect()
        })
        .collect()
}

/// Asserts that `apply_batch` and `apply_one` agree bit for bit on every row.
pub(crate) fn assert_parity(
    pipeline: &FeaturePipeline,
    inputs: &[PathBuf],
    spec: &DatasetSpec,
) -> usize {
    let batch = pipeline
        .apply_batch(read::scan(inputs, &spec.read).unwrap())
        .unwrap();
    let columns: Vec<Vec<f32>> = batch
        .columns()
        .iter()
        .map(|c| {
            c.as_materialized_series()
                .f32()
                .unwrap()
                .into_no_null_iter()
                .collect()
        })
        .collect();
    let rows = rows_as_json(pipeline, inputs, spec);
    assert_eq!(rows.len(), batch.height());
    for (r, application) in rows.iter().enumerate() {
        let online = pipeline
            .apply_one(&Application::from(application))
            .unwrap_or_else(|e| panic!("row {r}: {e}"));
        assert_eq!(online.len(), columns.len());
        for (slot, value) in online.iter().enumerate() {
            assert_eq!(
                value.to_bits(),
                columns[slot][r].to_bits(),
                "row {r}, slot {}: online {value} vs batch {}",
                pipeline.slots[slot].name,
                columns[slot][r]
            );
        }
    }
    rows.len()
}
