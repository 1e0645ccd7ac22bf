//! Inference cost per row: Burn's float model (1 row and 1,024 rows) against riskloop's int8
//! scorer (the served path), on German credit. Also prints CPU training samples/s.
//! Run: `cargo bench -p riskloop-train --bench inference`.

use std::hint::black_box;
use std::path::Path;

use burn::backend::NdArray;
use burn::backend::ndarray::NdArrayDevice;
use criterion::{Criterion, criterion_group, criterion_main};
use riskloop_ingest::etl;
use riskloop_ingest::spec::DatasetSpec;
use riskloop_train::bundle::Bundle;
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::data::{Encoded, Split};
use riskloop_train::device::DeviceChoice;
use riskloop_train::inference::load_burn_model;
use riskloop_train::run::{self, TrainRequest};

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let dir = tempfile::tempdir().unwrap();
    let spec = DatasetSpec::from_file(&root.join("german_credit.toml")).unwrap();
    let dataset = dir.path().join("dataset");
    etl::ingest(
        &spec,
        &[root.join("german_credit.csv")],
        &dataset,
        &mut |_| {},
    )
    .unwrap();
    let request = TrainRequest {
        data: &dataset,
        out: &dir.path().join("models"),
        device: DeviceChoice::Cpu,
        config: TrainConfig {
            model: ModelChoice::Additive,
            ..TrainConfig::default()
        },
        parent_version: None,
    };
    let trained = run::train(&request, &mut |_| {}).unwrap();
    println!(
        "training (additive, German credit, CPU): {:.0} samples/s over {} epochs",
        trained.manifest.run.samples_per_second, trained.manifest.run.epochs_run
    );
    let bundle = Bundle::load(&trained.dir).unwrap();
    let test = Split::read(&dataset, "test", &bundle.pipeline).unwrap();
    let layout = &bundle.model.float.layout;
    let encoded = Encoded::new(layout, &test);
    let device = NdArrayDevice::Cpu;
    let model = load_burn_model::<NdArray>(&bundle, &device).unwrap();
    let rows_1024: Vec<usize> = (0..1024).map(|i| i % test.rows).collect();

    let mut group = c.benchmark_group("inference");
    group.bench_function("burn_float_1_row", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % test.rows;
            let batch = encoded.batch::<NdArray>(&[i], &device);
            black_box(model.forward(batch.dense, batch.levels).into_data());
        });
    });
    group.bench_function("burn_float_1024_rows", |b| {
        b.iter(|| {
            let batch = encoded.batch::<NdArray>(&rows_1024, &device);
            black_box(model.forward(batch.dense, batch.levels).into_data());
        });
    });
    let int8 = &bundle.model.int8;
    group.bench_function("int8_scorer_1_row", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % test.rows;
            black_box(int8.score(test.row(i)));
        });
    });
    group.bench_function("int8_scorer_1024_rows", |b| {
        b.iter(|| {
            for &i in &rows_1024 {
                black_box(int8.score(test.row(i)));
            }
        });
    });
    group.bench_function("int8_scorer_1_row_with_reasons", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % test.rows;
            let scored = int8.score(test.row(i));
            black_box(int8.reasons(&scored, 4));
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
