//! riskloop-ingest: dataset specs, raw parsing, the Polars ETL, the fitted feature pipeline
//! (identical in batch and online), the data-quality report and the synthetic loan book.
//!
//! Empty until the ingest stage lands; the workspace layout is fixed now so that dependencies
//! flow `serve → train → ingest` from the start.
