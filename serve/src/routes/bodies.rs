//! Request and response bodies of the scoring and decision routes, as the OpenAPI description
//! shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::store::{Decision, JsonText, NewDecision};

/// One application to score.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ScoreRequest {
    /// The bank's own id for the application (optional, at most 128 bytes).
    application_id: Option<String>,
    /// The applicant's fields, as the served model's input schema names them, each name once.
    /// Stored with the decision exactly as sent.
    #[schema(value_type = Object)]
    application: Map<String, Value>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BatchScoreRequest {
    applications: Vec<ScoreRequest>,
}

/// One reason, as stored with the decision (see `DecisionBody::reasons`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ReasonBody {
    feature: String,
    /// How much this feature raised the log-odds of default, relative to the training population.
    contribution: f64,
    description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionBody {
    pub decision_id: String,
    pub application_id: Option<String>,
    pub model_version: String,
    pub policy_version: String,
    pub probability_of_default: f64,
    pub score: i32,
    /// `approve`, `review` or `decline`.
    pub decision: String,
    /// Why: the policy rules that fired (`policy:CODE`), then the model's strongest features.
    /// Exactly as stored with the decision.
    // The stored JSON itself: what the bank is told is byte for byte what the record says, and
    // the reasons are encoded once per decision, not once more for the answer.
    #[schema(value_type = Vec<ReasonBody>)]
    pub reasons: JsonText,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDecisionBody {
    pub decisions: Vec<DecisionBody>,
}

impl From<&Decision> for DecisionBody {
    fn from(d: &Decision) -> Self {
        Self::new(&d.record, d.created_at)
    }
}

impl DecisionBody {
    pub(crate) fn new(r: &NewDecision, created_at: DateTime<Utc>) -> Self {
        Self {
            decision_id: r.id.clone(),
            application_id: r.application_id.clone(),
            model_version: r.model_version.clone(),
            policy_version: r.policy_version.clone(),
            probability_of_default: r.probability,
            score: r.score,
            decision: r.decision.as_str().to_owned(),
            reasons: r.reasons.json().clone(),
            created_at,
        }
    }
}
