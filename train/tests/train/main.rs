//! Integration tests of the train stage: German credit end to end, the synthetic book against
//! its Bayes AUC, bundles, the int8 scorer and offline scoring, the GA2M's purified pairs.

mod ga2m;
mod gates;
mod german;
mod synthetic;

use std::path::{Path, PathBuf};

use polars::prelude::*;
use riskloop_ingest::etl;
use riskloop_ingest::spec::DatasetSpec;
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::device::DeviceChoice;
use riskloop_train::run::{self, TrainRequest, Trained};
use serde_json::{Map, Value};

pub(crate) fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

/// Ingests `inputs` with the spec `spec` into `dir/dataset`.
pub(crate) fn ingest(dir: &Path, spec: &str, inputs: &[PathBuf]) -> PathBuf {
    let spec = DatasetSpec::from_file(&data(spec)).unwrap();
    let out = dir.join("dataset");
    etl::ingest(&spec, inputs, &out, &mut |_| {}).unwrap();
    out
}

pub(crate) fn train(
    data_dir: &Path,
    out: &Path,
    model: ModelChoice,
    config: &TrainConfig,
) -> Trained {
    let request = TrainRequest {
        data: data_dir,
        out,
        device: DeviceChoice::Cpu,
        config: TrainConfig {
            model,
            ..config.clone()
        },
        parent_version: None,
    };
    run::train(&request, &mut |_| {}).unwrap()
}

/// Every raw row of a CSV as the JSON object a bank would send (values as their raw strings).
pub(crate) fn raw_rows(csv: &Path, spec: &DatasetSpec) -> Vec<Map<String, Value>> {
    let frame = riskloop_ingest::read::scan(&[csv.to_owned()], &spec.read)
        .unwrap()
        .collect()
        .unwrap();
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
                    let v = values
                        .get(row)
                        .map_or(Value::Null, |s| Value::String(s.to_owned()));
                    (name.clone(), v)
                })
                .collect()
        })
        .collect()
}

/// A column of a split file as f64.
pub(crate) fn column_f64(frame: &DataFrame, name: &str) -> Vec<f64> {
    let c = frame
        .column(name)
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap();
    c.f64().unwrap().iter().map(|v| v.unwrap()).collect()
}
