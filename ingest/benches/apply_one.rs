//! Criterion benchmark of the online transform: one German credit application, JSON → f32s.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use riskloop_ingest::application::Application;
use riskloop_ingest::etl;
use riskloop_ingest::pipeline::FeaturePipeline;
use riskloop_ingest::read;
use riskloop_ingest::spec::DatasetSpec;
use serde_json::{Map, Value};

fn applications(
    pipeline: &FeaturePipeline,
    csv: &PathBuf,
    spec: &DatasetSpec,
) -> Vec<Map<String, Value>> {
    let frame = read::scan(std::slice::from_ref(csv), &spec.read)
        .unwrap()
        .collect()
        .unwrap();
    let numeric: Vec<&str> = pipeline
        .input_schema
        .iter()
        .filter(|f| f.kind == "number")
        .map(|f| f.name.as_str())
        .collect();
    (0..frame.height())
        .map(|row| {
            frame
                .columns()
                .iter()
                .map(|c| {
                    let s = c
                        .as_materialized_series()
                        .str()
                        .unwrap()
                        .get(row)
                        .unwrap_or_default();
                    let value = match s.parse::<f64>() {
                        Ok(_) if numeric.contains(&c.name().as_str()) => {
                            serde_json::from_str(s).unwrap()
                        }
                        _ => Value::String(s.to_owned()),
                    };
                    (c.name().to_string(), value)
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let spec = DatasetSpec::from_file(&root.join("data/german_credit.toml")).unwrap();
    let csv = root.join("data/german_credit.csv");
    let out = tempfile::tempdir().unwrap();
    etl::ingest(&spec, std::slice::from_ref(&csv), out.path(), &mut |_| {}).unwrap();
    let pipeline = FeaturePipeline::load(&out.path().join("pipeline.json")).unwrap();
    let maps = applications(&pipeline, &csv, &spec);
    let apps: Vec<Application> = maps.iter().map(Application::from).collect();
    let mut i = 0;
    c.bench_function("apply_one german credit row", |b| {
        b.iter(|| {
            i = (i + 1) % apps.len();
            std::hint::black_box(pipeline.apply_one(std::hint::black_box(&apps[i])).unwrap())
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
