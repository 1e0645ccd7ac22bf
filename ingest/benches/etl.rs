//! Whole-ETL benchmark: ingest a synthetic CSV and, in the same run, time Polars alone reading
//! that CSV. Prints medians and their ratio. Usage (see bench/README.md):
//!
//!     cargo bench -p riskloop-ingest --bench etl -- [ROWS] [RUNS]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use polars::prelude::*;
use riskloop_ingest::etl;
use riskloop_ingest::spec::DatasetSpec;
use riskloop_ingest::synth::{self, SynthOptions};

// The allocator the `riskloop` binary runs with, so the ETL is timed as `riskloop ingest` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rows: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = root.join("target/bench-data");
    std::fs::create_dir_all(&work).unwrap();
    let csv = work.join(format!("synthetic_{rows}.csv"));
    if !csv.exists() {
        let started = Instant::now();
        let mut frame = synth::generate(&SynthOptions {
            rows,
            ..SynthOptions::default()
        })
        .unwrap();
        synth::write(&mut frame, &csv).unwrap();
        println!(
            "generated {} ({rows} rows) in {:.1}s",
            csv.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&csv).unwrap().len();
    let spec = DatasetSpec::from_file(&root.join("data/synthetic_loans.toml")).unwrap();

    let mut read_times = Vec::new();
    let mut etl_times = Vec::new();
    for run in 0..runs {
        let started = Instant::now();
        let frame = LazyCsvReader::new(PlRefPath::new(csv.to_string_lossy().as_ref()))
            .with_has_header(true)
            .finish()
            .and_then(|lf| lf.collect())
            .unwrap();
        read_times.push(started.elapsed());
        assert_eq!(frame.height(), rows);
        drop(frame);

        let out = work.join("etl-out");
        let started = Instant::now();
        let mut steps: Vec<(String, Instant)> = Vec::new();
        etl::ingest(&spec, std::slice::from_ref(&csv), &out, &mut |s| {
            steps.push((s.to_owned(), Instant::now()));
        })
        .unwrap();
        etl_times.push(started.elapsed());
        let ends: Vec<Instant> = steps
            .iter()
            .skip(1)
            .map(|(_, t)| *t)
            .chain([Instant::now()])
            .collect();
        for ((step, begun), end) in steps.iter().zip(ends) {
            println!("    {:>6.3}s  {step}", (end - *begun).as_secs_f64());
        }
        println!(
            "run {}: polars read {:.3}s, riskloop ingest {:.3}s",
            run + 1,
            read_times[run].as_secs_f64(),
            etl_times[run].as_secs_f64()
        );
    }
    let (read, full) = (median(&mut read_times), median(&mut etl_times));
    println!(
        "rows: {rows}, file: {:.1} MiB, runs: {runs}",
        size as f64 / 1048576.0
    );
    println!(
        "median polars CSV read (types inferred): {:.3}s",
        read.as_secs_f64()
    );
    println!(
        "median riskloop ingest (read, parse, split, fit, encode, write 3 parquet, quality): {:.3}s",
        full.as_secs_f64()
    );
    println!(
        "ratio ingest / read: {:.2}x (target: at most 3x)",
        full.as_secs_f64() / read.as_secs_f64()
    );
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
