//! Deciding one application, without HTTP: the application is checked and parsed once, by the
//! served model's schema and with the parsers batch ingest uses; the pipeline, the int8 scorer
//! and the policy all read those same parsed values; the result is the decision record with its
//! reasons. The HTTP handlers call it, for one application or a batch; replay and shadow scoring
//! will too.

use std::borrow::Cow;
use std::time::Instant;

use riskloop_ingest::application::{Application, Field};
use riskloop_ingest::parse::Value;
use riskloop_ingest::pipeline::Input;
use serde_json::value::RawValue;

use crate::store::{JsonText, NewDecision, Reason, Reasons};
use policy::Policy;

pub mod check; // what requests carry: applications against their schema, identifiers, text
pub mod model; // a verified bundle with its schema: what the core decides with
pub mod policy; // cutoffs, hard rules and segments on parsed values
pub mod schema; // the fields an application may carry, one owner of their rules

pub use model::ServedModel;

use schema::Position;

/// A field the application got wrong, and the rule it broke.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("field `{field}`: {rule}")]
pub struct FieldError {
    /// The field's name within the application.
    pub field: String,
    pub rule: String,
}

impl FieldError {
    pub fn new(field: &str, rule: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            rule: rule.into(),
        }
    }
}

/// What a decision is made of besides the application: who asked, and how to tell a retry.
#[derive(Debug)]
pub struct Request<'a> {
    /// The decision's id: `None` for a new decision; a replay names the stored one, so that
    /// what is drawn from it (exploration) is drawn again.
    pub decision_id: Option<String>,
    pub application_id: Option<String>,
    /// The application as sent; stored as is.
    pub raw: &'a RawValue,
    pub api_key_id: i64,
    pub idempotency_key: Option<String>,
    pub request_sha256: String,
    pub started: Instant,
}

/// Why an application could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The application's fault: answered 422 naming the field.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// Ours.
    #[error("{0}")]
    Internal(String),
}

/// A decision, ready to store.
#[derive(Debug)]
pub struct Decided {
    pub record: NewDecision,
    /// The model inputs the application left out (absent, `null` or an NA token), which the
    /// model imputed.
    pub imputed: Vec<String>,
    /// Each model feature's monitoring bin (see `riskloop_ingest::pipeline`), for the drift
    /// monitor; empty for a bundle without a training baseline.
    pub bins: Vec<u16>,
}

/// One application's fields as parsed: the model's inputs in the pipeline's feature order and
/// the protected attributes in the schema's order. Everything that decides reads these.
#[derive(Debug)]
pub struct Inputs<'a> {
    model: Vec<Input<'a>>,
    protected: Vec<Input<'a>>,
}

impl<'a> Inputs<'a> {
    /// Parses `application` (already checked by [`check::shape`]) as `model`'s spec says, and
    /// refuses it when a required field is missing.
    pub fn parse(
        model: &ServedModel,
        application: &'a Application<'_>,
    ) -> Result<Self, FieldError> {
        let pipeline = &model.bundle.pipeline;
        let model_inputs = pipeline.parse_one(application).map_err(|e| match e {
            riskloop_ingest::IngestError::Field { field, rule } => FieldError { field, rule },
            // parse_one fails only on a field; anything else would name the whole application.
            other => FieldError::new("application", other.to_string()),
        })?;
        let mut protected = Vec::with_capacity(model.schema.protected.len());
        for (name, format) in &model.schema.protected {
            // Read as the batch path reads the column: the spec's value map and missing values
            // first, then the parser and the plausible range. A number for a categorical
            // attribute was refused by `check::shape`.
            let read = match application.get(name) {
                None | Some(Field::Null) => Ok(Input::Missing),
                Some(Field::Number(n)) => {
                    let value = n
                        .as_f64()
                        .ok_or_else(|| FieldError::new(name, "not a number"))?;
                    format.read_number(value).map(owned)
                }
                Some(Field::Bool(b)) => format.read_number(f64::from(u8::from(*b))).map(owned),
                Some(Field::Text(s)) => match format.mapped(s) {
                    Some(mapped) => format.read(mapped, &pipeline.na_values, None).map(owned),
                    None => format.read(s, &pipeline.na_values, None).map(borrowed),
                },
                Some(other) => Err(format!("wrong type: got {}", other.type_name())),
            };
            protected.push(read.map_err(|rule| FieldError::new(name, rule))?);
        }
        let inputs = Self {
            model: model_inputs,
            protected,
        };
        for rule in model.schema.fields.iter().filter(|f| f.required) {
            if rule
                .position
                .and_then(|at| inputs.at(at))
                .is_none_or(|v| *v == Input::Missing)
            {
                return Err(FieldError::new(&rule.name, "required field is missing"));
            }
        }
        Ok(inputs)
    }

    /// A field's parsed value; `None` for a name the schema does not place.
    pub fn get(&self, schema: &schema::InputSchema, name: &str) -> Option<&Input<'a>> {
        self.at(schema.position(name)?)
    }

    fn at(&self, position: Position) -> Option<&Input<'a>> {
        match position {
            Position::Model(i) => self.model.get(i),
            Position::Protected(i) => self.protected.get(i),
        }
    }
}

/// A value read from the application's text, as an input that borrows it.
fn borrowed(value: Value<'_>) -> Input<'_> {
    match value {
        Value::Number(v) => Input::Number(v),
        Value::Text(t) => Input::Text(Cow::Borrowed(t)),
        Value::Missing => Input::Missing,
    }
}

/// A value read from elsewhere (a number, or text the value map gave), as an owned input.
fn owned(value: Value<'_>) -> Input<'static> {
    match value {
        Value::Text(t) => Input::Text(Cow::Owned(t.to_owned())),
        Value::Number(v) => Input::Number(v),
        Value::Missing => Input::Missing,
    }
}

/// The parsed fields by name, as the policy reads them.
#[derive(Debug)]
pub struct Fields<'s, 'a> {
    pub schema: &'s schema::InputSchema,
    pub inputs: &'s Inputs<'a>,
}

impl policy::FieldValues for Fields<'_, '_> {
    fn value(&self, field: &str) -> Option<&Input<'_>> {
        self.inputs.get(self.schema, field)
    }
}

/// A number uniform in [0, 1) fixed by `id`: the first 8 bytes of its SHA-256.
pub fn draw(id: &str) -> f64 {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Decides again a stored application (`input`, its JSON text) as decision `id`, so that what
/// is drawn from the id is drawn again: what replay, shadow scoring and the retrain's judging
/// do. The error says why it cannot be decided.
pub fn decide_stored(
    model: &ServedModel,
    policy: &Policy,
    id: &str,
    input: &str,
) -> Result<Decided, String> {
    let raw = RawValue::from_string(input.to_owned()).map_err(|e| e.to_string())?;
    let application = Application::parse(raw.get()).map_err(|e| e.to_string())?;
    let request = Request {
        decision_id: Some(id.to_owned()),
        application_id: None,
        raw: &raw,
        api_key_id: 0,
        idempotency_key: None,
        request_sha256: String::new(),
        started: Instant::now(),
    };
    decide(model, policy, &application, request).map_err(|e| e.to_string())
}

/// How `model` read and weighed a stored application: each model input as parsed (or
/// imputed), and every term's contribution to the logit, largest effect first.
#[derive(Debug)]
pub struct Explanation {
    /// (feature name, its column, value as the model read it, imputed because missing).
    pub inputs: Vec<(String, String, String, bool)>,
    /// (feature, term, contribution in logit units), largest effect first;
    /// `base + Σ contributions = logit`.
    pub terms: Vec<(String, String, f64)>,
    pub base: f64,
    pub logit: f64,
    pub probability: f64,
    pub score: i32,
}

/// Explains a stored application (`input`, its JSON) with `model`, as [`decide`] reads it.
pub fn explain(model: &ServedModel, input: &str) -> Result<Explanation, String> {
    let application = Application::parse(input).map_err(|e| e.to_string())?;
    check::shape(&model.schema, &application).map_err(|e| e.to_string())?;
    let inputs = Inputs::parse(model, &application).map_err(|e| e.to_string())?;
    let pipeline = &model.bundle.pipeline;
    let scorer = &model.bundle.model.int8;
    let scored = scorer.score(&pipeline.encode_one(&inputs.model));
    let read = pipeline
        .features
        .iter()
        .zip(&inputs.model)
        .map(|(f, input)| {
            let (value, imputed) = match input {
                Input::Missing => ("missing".to_owned(), true),
                Input::Number(n) => (format!("{n}"), false),
                Input::Text(t) => (t.to_string(), false),
            };
            (f.name.clone(), f.column.clone(), value, imputed)
        })
        .collect();
    let mut terms: Vec<(String, String, f64)> = scorer
        .layout
        .terms
        .iter()
        .zip(&scored.contributions)
        .map(|(t, c)| (t.feature.clone(), t.description.clone(), *c))
        .collect();
    terms.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
    Ok(Explanation {
        inputs: read,
        terms,
        base: scored.base,
        logit: scored.logit,
        probability: scored.probability,
        score: scored.score,
    })
}

/// Decides `application` with `model` and `policy`.
pub fn decide(
    model: &ServedModel,
    policy: &Policy,
    application: &Application<'_>,
    request: Request<'_>,
) -> Result<Decided, DecideError> {
    check::shape(&model.schema, application)?;
    let inputs = Inputs::parse(model, application)?;
    let pipeline = &model.bundle.pipeline;
    let slots = pipeline.encode_one(&inputs.model);
    let scorer = &model.bundle.model.int8;
    let scored = scorer.score(&slots);
    let fields = Fields {
        schema: &model.schema,
        inputs: &inputs,
    };
    let id = request.decision_id.unwrap_or_else(NewDecision::new_id);
    let verdict = policy.decide(&fields, scored.score, scored.probability, draw(&id));
    let mut reasons: Vec<Reason<Cow<str>>> = verdict
        .rule
        .iter()
        .map(|(code, description)| Reason {
            feature: Cow::Owned(format!("policy:{code}")),
            contribution: 0.0,
            description: Cow::Borrowed(description.as_str()),
        })
        .collect();
    reasons.extend(
        scorer
            .reasons(&scored, model.bundle.model.reasons)
            .into_iter()
            .map(|r| Reason {
                feature: Cow::Borrowed(r.feature),
                contribution: r.contribution,
                description: Cow::Borrowed(r.description),
            }),
    );
    let imputed = pipeline
        .features
        .iter()
        .zip(&inputs.model)
        .filter(|(_, input)| **input == Input::Missing)
        .map(|(f, _)| f.column.clone())
        .collect();
    let reasons = Reasons::new(&reasons)
        .map_err(|e| DecideError::Internal(format!("encoding the reasons: {e}")))?;
    let bins = if pipeline.features.iter().all(|f| !f.baseline.is_empty()) {
        pipeline
            .features
            .iter()
            .zip(&inputs.model)
            .map(|(f, input)| f.monitor_bin(input) as u16)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Decided {
        record: NewDecision {
            id,
            application_id: request.application_id,
            api_key_id: request.api_key_id,
            idempotency_key: request.idempotency_key,
            request_sha256: request.request_sha256,
            input: JsonText::from(request.raw),
            model_version: model.version().to_owned(),
            policy_version: policy.version.clone(),
            policy_sha256: policy.sha256.clone(),
            probability: scored.probability,
            score: scored.score,
            decision: verdict.decision,
            reasons,
            latency_us: request.started.elapsed().as_micros() as i64,
        },
        imputed,
        bins,
    })
}
