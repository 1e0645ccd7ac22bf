//! riskloop-ingest: turns messy raw loan files into model-ready data, and fits the feature
//! pipeline that the server applies to one application at a time, identically.

pub mod application; // one application as JSON text, read with borrowed names and values
pub mod derive; // derived features: expressions over raw columns, read the same both ways
pub mod etl; // read raw files with Polars, parse, split, fit, write the dataset folder
pub mod parse; // raw value parsers shared by batch and online: numbers, percents, dates, booleans
pub mod pipeline; // FeaturePipeline: fit on train, apply_batch (Polars) and apply_one (JSON)
pub mod quality; // data-quality report: missing, parse failures, quantiles, IV, PSI, leakage
pub mod read; // Polars scan of CSV/Parquet files, streamed through the parsers
pub mod spec; // the dataset spec (TOML)
pub mod split; // stratified and time splits, reproducible from a seed
pub mod stats; // AUC and other small statistics
pub mod synth; // synthetic loan book with a known true probability of default
pub mod table; // parsed columns: numbers and interned categories

mod error;

pub use error::IngestError;
