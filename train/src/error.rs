//! The train crate's one error type: user faults (data, config, device, a refused bundle) kept
//! apart from internal ones.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The dataset folder cannot be trained on (missing split, one class only...).
    #[error("invalid training data: {0}")]
    Data(String),
    /// The training configuration is malformed; the message names the key.
    #[error("invalid training config: {0}")]
    Config(String),
    /// The requested device is not available in this build or on this machine.
    #[error("device unavailable: {0}")]
    Device(String),
    /// A gate on the training data fired and the spec does not acknowledge it.
    #[error("training stopped by a gate: {0}")]
    Gate(String),
    /// The int8 model lost more accuracy than allowed, so no bundle was written.
    #[error("quantization refused: {0}")]
    Quantization(String),
    /// A bundle is incomplete, tampered with, or from an unknown format.
    #[error("invalid model bundle {path}: {reason}")]
    Bundle { path: String, reason: String },
    #[error(transparent)]
    Ingest(#[from] riskloop_ingest::IngestError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Polars {
        context: String,
        source: polars::error::PolarsError,
    },
    #[error("{context}: {reason}")]
    Burn { context: String, reason: String },
}

impl TrainError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn polars(
        context: impl Into<String>,
    ) -> impl FnOnce(polars::error::PolarsError) -> Self {
        let context = context.into();
        move |source| Self::Polars { context, source }
    }

    pub(crate) fn bundle(path: &Path, reason: impl Into<String>) -> Self {
        Self::Bundle {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}
