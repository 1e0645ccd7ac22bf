//! `riskloop score --policy FILE`: raw application files decided row by row through the
//! decision core, exactly as the server would decide them (the same check, parse, pipeline,
//! int8 scorer and policy), into a Parquet file with the decision and its reasons.

use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::*;
use riskloop_ingest::application::Application;
use riskloop_ingest::read;
use serde_json::value::RawValue;

use crate::decision::policy::Policy;
use crate::decision::{self, DecideError, FieldError, ServedModel};

/// How many rows were decided and refused, and where they went.
#[derive(Debug)]
pub struct Decided {
    pub rows: usize,
    pub refused: usize,
    pub out: PathBuf,
}

pub fn decide_files(
    model: &ServedModel,
    policy: &Policy,
    inputs: &[PathBuf],
    out: &Path,
) -> anyhow::Result<Decided> {
    policy.check_against(&model.schema).map_err(|reason| {
        anyhow::anyhow!(
            "the policy does not fit model {}: {reason}",
            model.version()
        )
    })?;
    let spec = model.bundle.spec()?;
    let frame = read::scan(inputs, &spec.read)?.collect()?;
    // The schema's fields the files hold, as the text a bank would send.
    let fields: Vec<(String, StringChunked)> = model
        .schema
        .fields
        .iter()
        .filter_map(|f| {
            let column = frame.column(&f.name).ok()?.cast(&DataType::String).ok()?;
            Some((f.name.clone(), column.str().ok()?.clone()))
        })
        .collect();
    let n = model.bundle.model.reasons + policy.rules.len().min(1);
    let rows = frame.height();
    let (mut pd, mut score, mut kind, mut refusal) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    let mut reasons: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows); n];
    let started = Instant::now();
    for row in 0..rows {
        let mut application = serde_json::Map::new();
        for (name, column) in &fields {
            let value = column
                .get(row)
                .map_or(serde_json::Value::Null, |t| t.into());
            application.insert(name.clone(), value);
        }
        let raw = RawValue::from_string(serde_json::Value::Object(application).to_string())?;
        let parsed = Application::parse(raw.get())?;
        let request = decision::Request {
            decision_id: None,
            application_id: None,
            raw: &raw,
            api_key_id: 0,
            idempotency_key: None,
            request_sha256: String::new(),
            started,
        };
        match decision::decide(model, policy, &parsed, request) {
            Ok(decided) => {
                let r = &decided.record;
                pd.push(Some(r.probability));
                score.push(Some(r.score));
                kind.push(Some(r.decision.as_str()));
                refusal.push(None);
                let listed: Vec<decision_reason::Listed> =
                    serde_json::from_str(r.reasons.json().as_str())?;
                for (k, column) in reasons.iter_mut().enumerate() {
                    column.push(listed.get(k).map(|l| l.feature.clone()));
                }
            }
            Err(DecideError::Field(FieldError { field, rule })) => {
                pd.push(None);
                score.push(None);
                kind.push(None);
                refusal.push(Some(format!("{field}: {rule}")));
                for column in &mut reasons {
                    column.push(None);
                }
            }
            Err(DecideError::Internal(cause)) => anyhow::bail!("row {row}: {cause}"),
        }
    }
    let refused = refusal.iter().filter(|r| r.is_some()).count();
    let mut columns = vec![Column::new(
        "row".into(),
        (0..rows as u64).collect::<Vec<_>>(),
    )];
    if let Some(id) = &spec.id_column {
        columns.push(frame.column(id)?.clone());
    }
    columns.push(Column::new("probability_of_default".into(), pd));
    columns.push(Column::new("score".into(), score));
    columns.push(Column::new("decision".into(), kind));
    for (k, column) in reasons.into_iter().enumerate() {
        columns.push(Column::new(format!("reason_{}", k + 1).into(), column));
    }
    columns.push(Column::new("refused".into(), refusal));
    let mut table = DataFrame::new(rows, columns)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    ParquetWriter::new(std::fs::File::create(out)?).finish(&mut table)?;
    Ok(Decided {
        rows,
        refused,
        out: out.to_owned(),
    })
}

mod decision_reason {
    /// A stored reason, read back for its feature's name.
    #[derive(serde::Deserialize)]
    pub(super) struct Listed {
        pub(super) feature: String,
    }
}
