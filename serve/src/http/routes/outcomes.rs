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
use crate::decision::check;
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::http::error::ApiError;
use crate::store::{NewOutcome, OutcomeKind};

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

/// How far `observed_at` may be ahead of this server's clock, or behind the decision's time:
/// the bank's clock and ours disagree a little.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

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
    let (decision_id, decided_at) = match (
        item.optional_string("decision_id")?,
        item.optional_string("application_id")?,
    ) {
        (Some(id), None) => {
            if !crate::uuid7::is_id(&id) {
                return Err(ApiError::field(
                    item.path("decision_id"),
                    "not a decision id (a lowercase hyphenated UUID)",
                ));
            }
            let at = state
                .store
                .decision_created_at(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("decision {id}")))?;
            (id, at)
        }
        (None, Some(application)) => {
            check::identifier(Some(&application), &item.path("application_id"))?;
            state
                .store
                .latest_decision_for_application(&application)
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("a decision for application {application}"))
                })?
        }
        _ => {
            return Err(ApiError::field(
                item.path("decision_id"),
                "give exactly one of decision_id and application_id",
            ));
        }
    };
    let outcome = match item.optional_string("outcome")?.as_deref() {
        Some("default") => OutcomeKind::Default,
        Some("repaid") => OutcomeKind::Repaid,
        _ => {
            return Err(ApiError::field(
                item.path("outcome"),
                "required: default or repaid",
            ));
        }
    };
    let observed_at = item.optional_string("observed_at")?.ok_or_else(|| {
        ApiError::field(item.path("observed_at"), "required: an RFC 3339 timestamp")
    })?;
    let observed_at = DateTime::parse_from_rfc3339(&observed_at)
        .map_err(|e| {
            ApiError::field(
                item.path("observed_at"),
                format!("not an RFC 3339 timestamp: {e}"),
            )
        })?
        .with_timezone(&Utc);
    if observed_at < decided_at - CLOCK_SKEW {
        return Err(ApiError::field(
            item.path("observed_at"),
            format!("before the decision was made ({})", decided_at.to_rfc3339()),
        ));
    }
    if observed_at > Utc::now() + CLOCK_SKEW {
        return Err(ApiError::field(
            item.path("observed_at"),
            "in the future: an outcome is reported once observed",
        ));
    }
    Ok(NewOutcome {
        decision_id,
        outcome,
        observed_at,
        api_key_id: Some(caller.key_id),
    })
}
