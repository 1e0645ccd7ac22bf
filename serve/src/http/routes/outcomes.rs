//! Outcome ingestion: what became of past decisions (repaid or defaulted), one or many at once,
//! by decision id or by the bank's application id. All of a request is stored, or none of it.
//! A report is idempotent: the same decision, outcome and `observed_at` again is not stored
//! twice. A different report for a decision is a correction, kept beside the first; the latest
//! report counts.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_body::{Object, read_body};
use super::route;
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::http::error::ApiError;
use crate::lifecycle::outcomes::{self, OutcomeError, Reported};
use crate::store::NewOutcome;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route("/v1/outcomes", Method::POST, report));
}

/// One outcome; `decision_id` or `application_id` names the decision.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OutcomeRequest {
    decision_id: Option<String>,
    application_id: Option<String>,
    /// `default` or `repaid`.
    outcome: String,
    observed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomesAccepted {
    /// Outcomes in the request.
    pub accepted: usize,
    /// The stored row of each, in order: new, or the row of an identical earlier report.
    pub ids: Vec<i64>,
    /// How many were identical to reports stored before, and so not stored again.
    pub repeated: usize,
}

/// Reports outcomes. Repeating a report (same decision, outcome and `observed_at`) stores
/// nothing new and answers with the stored row: retries are safe. Another outcome or time for
/// the same decision is a correction: stored as a new row beside the first, and the latest
/// report counts. `observed_at` may not precede the decision nor lie in the future (5 minutes
/// of clock skew allowed).
#[utoipa::path(post, path = "/v1/outcomes", tag = "outcomes", operation_id = "report_outcomes", request_body(content = OutcomeRequest, description = "one outcome, or {\"outcomes\": [...]}"),
    responses((status = 201, body = OutcomesAccepted), (status = 404, body = crate::http::error::Problem), (status = 408, body = crate::http::error::Problem), (status = 422, body = crate::http::error::Problem), (status = 503, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn report(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Score)?;
    let limit = state.limits.max_body * 4;
    let body = read_body(&req, payload, limit, state.limits.body_timeout()).await?;
    let request = Object::parse(&body, "body")?;
    let items = if request.get("outcomes").is_some() {
        request
            .only(&["outcomes"])?
            .objects("outcomes", "must be an array")?
    } else {
        vec![request]
    };
    if items.is_empty() || items.len() > state.limits.max_batch * 10 {
        return Err(ApiError::field(
            "outcomes",
            format!("must hold 1 to {} outcomes", state.limits.max_batch * 10),
        ));
    }
    let mut batch = Vec::with_capacity(items.len());
    for item in items {
        batch.push(parse(&state, caller, item).await?);
    }
    let stored = state.store.insert_outcomes(&batch).await?;
    Ok(HttpResponse::Created().json(OutcomesAccepted {
        accepted: stored.len(),
        repeated: stored.iter().filter(|s| s.repeated).count(),
        ids: stored.iter().map(|s| s.id).collect(),
    }))
}

async fn parse(state: &AppState, caller: Caller, item: Object<'_>) -> Result<NewOutcome, ApiError> {
    let item = item.only(&["decision_id", "application_id", "outcome", "observed_at"])?;
    let reported = Reported {
        decision_id: item.optional_string("decision_id")?,
        application_id: item.optional_string("application_id")?,
        outcome: item.optional_string("outcome")?,
        observed_at: item.optional_string("observed_at")?,
    };
    let mut outcome = outcomes::check(&state.store, &reported)
        .await
        .map_err(|e| match e {
            OutcomeError::Field { field, rule } => ApiError::field(item.path(field), rule),
            OutcomeError::Unknown(what) => ApiError::NotFound(what),
            OutcomeError::Store(e) => e.into(),
        })?;
    outcome.api_key_id = Some(caller.key_id);
    Ok(outcome)
}
