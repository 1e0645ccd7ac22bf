//! Outcome ingestion: what became of past decisions (repaid or defaulted), one or many at once,
//! by decision id or by the bank's application id. All of a request is stored, or none of it.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::route;
use super::{object, optional_string, read_json};
use crate::app::AppState;
use crate::auth::{Caller, Permission};
use crate::error::ApiError;
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
    pub accepted: usize,
    pub ids: Vec<i64>,
}

#[utoipa::path(post, path = "/v1/outcomes", tag = "outcomes", request_body(content = OutcomeRequest, description = "one outcome, or {\"outcomes\": [...]}"),
    responses((status = 201, body = OutcomesAccepted), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("api_key" = [])))]
pub async fn report(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Score)?;
    let limit = state.limits.max_body * 4;
    let (body, _) = read_json(&req, payload, limit).await?;
    let items = match body {
        Value::Object(mut map) if map.contains_key("outcomes") => {
            if map.len() > 1 {
                return Err(ApiError::field(
                    "body",
                    "with `outcomes`, no other field is allowed",
                ));
            }
            match map.remove("outcomes") {
                Some(Value::Array(items)) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("outcomes[{i}]"), v))
                    .collect(),
                _ => return Err(ApiError::field("outcomes", "must be an array")),
            }
        }
        single => vec![("body".to_owned(), single)],
    };
    if items.is_empty() || items.len() > state.limits.max_batch * 10 {
        return Err(ApiError::field(
            "outcomes",
            format!("must hold 1 to {} outcomes", state.limits.max_batch * 10),
        ));
    }
    let mut batch = Vec::with_capacity(items.len());
    for (at, item) in items {
        batch.push(parse(&state, caller, item, &at).await?);
    }
    let ids = state.store.insert_outcomes(&batch).await?;
    Ok(HttpResponse::Created().json(OutcomesAccepted {
        accepted: ids.len(),
        ids,
    }))
}

async fn parse(
    state: &AppState,
    caller: Caller,
    item: Value,
    at: &str,
) -> Result<NewOutcome, ApiError> {
    let path = |f: &str| {
        if at == "body" {
            f.to_owned()
        } else {
            format!("{at}.{f}")
        }
    };
    let map = object(
        item,
        at,
        &["decision_id", "application_id", "outcome", "observed_at"],
    )?;
    let decision_id = match (
        optional_string(&map, "decision_id", &path("decision_id"))?,
        optional_string(&map, "application_id", &path("application_id"))?,
    ) {
        (Some(id), None) => id,
        (None, Some(application)) => state
            .store
            .latest_decision_for_application(&application)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!("a decision for application {application}"))
            })?,
        _ => {
            return Err(ApiError::field(
                path("decision_id"),
                "give exactly one of decision_id and application_id",
            ));
        }
    };
    let outcome = match optional_string(&map, "outcome", &path("outcome"))?.as_deref() {
        Some("default") => OutcomeKind::Default,
        Some("repaid") => OutcomeKind::Repaid,
        _ => {
            return Err(ApiError::field(
                path("outcome"),
                "required: default or repaid",
            ));
        }
    };
    let observed_at = optional_string(&map, "observed_at", &path("observed_at"))?
        .ok_or_else(|| ApiError::field(path("observed_at"), "required: an RFC 3339 timestamp"))?;
    let observed_at = DateTime::parse_from_rfc3339(&observed_at)
        .map_err(|e| {
            ApiError::field(
                path("observed_at"),
                format!("not an RFC 3339 timestamp: {e}"),
            )
        })?
        .with_timezone(&Utc);
    Ok(NewOutcome {
        decision_id,
        outcome,
        observed_at,
        api_key_id: Some(caller.key_id),
    })
}
