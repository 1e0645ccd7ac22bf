//! The ingest crate's one error type: user faults (spec, input) kept apart from internal ones.

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The dataset spec is malformed; the message names the key and the reason.
    #[error("invalid dataset spec: {0}")]
    Spec(String),
    /// The input files do not match the spec (missing column, bad target value, no rows...).
    #[error("invalid input: {0}")]
    Input(String),
    /// One application (online) has a field that cannot be used.
    #[error("field `{field}`: {rule}")]
    Field { field: String, rule: String },
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
    #[error("{path}: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
}

impl IngestError {
    pub(crate) fn polars(
        context: impl Into<String>,
    ) -> impl FnOnce(polars::error::PolarsError) -> Self {
        let context = context.into();
        move |source| Self::Polars { context, source }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Writes a value as pretty JSON, naming the file in any error.
pub(crate) fn write_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
) -> Result<(), IngestError> {
    let json = serde_json::to_vec_pretty(value).map_err(|source| IngestError::Json {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::write(path, json).map_err(IngestError::io(path))
}
