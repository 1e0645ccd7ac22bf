//! Reading decisions (analysts) and reviewing them: a review is a new row, the decision stays.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::request_body::{Object, read_body};
use super::route;
use crate::decision::check;
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::http::error::ApiError;
use crate::http::routes::score::DecisionBody;
use crate::store::{Decision, DecisionFilter, DecisionKind, NewReview};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route("/v1/decisions", Method::GET, list))
        .service(route("/v1/decisions/{id}", Method::GET, get))
        .service(route("/v1/decisions/{id}/review", Method::POST, review))
        .service(route("/v1/decisions/{id}/replay", Method::GET, replay));
}

/// A stored decision decided again with its own model bundle and stored policy text.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayBody {
    pub decision_id: String,
    pub model_version: String,
    pub policy_version: String,
    /// The same probability, score, decision and reasons as stored.
    pub identical: bool,
    /// What differs, one line each; empty when identical.
    pub differences: Vec<String>,
}

#[utoipa::path(get, path = "/v1/decisions/{id}/replay", tag = "decisions", operation_id = "replay_decision", params(("id" = String, Path)),
    responses((status = 200, body = ReplayBody), (status = 404, body = crate::http::error::Problem), (status = 409, body = crate::http::error::Problem), (status = 422, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn replay(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let decision = stored(&state, &id).await?;
    let mut artefacts = crate::lifecycle::replay::Artefacts::default();
    let differences =
        crate::lifecycle::replay::redecide(&state.store, &mut artefacts, &decision).await?;
    Ok(HttpResponse::Ok().json(ReplayBody {
        decision_id: decision.record.id.clone(),
        model_version: decision.record.model_version.clone(),
        policy_version: decision.record.policy_version.clone(),
        identical: differences.is_empty(),
        differences,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionDetail {
    #[serde(flatten)]
    pub decision: DecisionBody,
    /// The application as it was scored.
    #[schema(value_type = Object)]
    pub input: crate::store::JsonText,
    pub latency_us: i64,
    pub reviews: Vec<ReviewBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewBody {
    pub id: i64,
    pub decision: String,
    pub note: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionBody>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only decisions older than this decision id.
    before: Option<String>,
    /// `approve`, `review` or `decline`.
    decision: Option<String>,
    model_version: Option<String>,
    application_id: Option<String>,
    /// 1 to 500; default 50.
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/decisions", tag = "decisions", operation_id = "list_decisions", params(ListQuery),
    responses((status = 200, body = DecisionPage), (status = 403, body = crate::http::error::Problem), (status = 422, body = crate::http::error::Problem), (status = 503, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::field("query", e.to_string()))?
        .into_inner();
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 500"));
    }
    if let Some(before) = &query.before
        && !crate::uuid7::is_id(before)
    {
        return Err(ApiError::field(
            "before",
            "not a decision id (pass next_before from the previous page)",
        ));
    }
    check::identifier(query.application_id.as_deref(), "application_id")?;
    check::identifier(query.model_version.as_deref(), "model_version")?;
    let decision = query
        .decision
        .as_deref()
        .map(|d| serde_json::from_value::<DecisionKind>(serde_json::Value::String(d.to_owned())))
        .transpose()
        .map_err(|_| ApiError::field("decision", "must be approve, review or decline"))?;
    let filter = DecisionFilter {
        before: query.before,
        decision,
        model_version: query.model_version,
        application_id: query.application_id,
        limit,
        ..DecisionFilter::default()
    };
    let found = state.store.list_decisions(&filter).await?;
    let next_before = (found.len() == limit as usize)
        .then(|| found.last().map(|d| d.record.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(DecisionPage {
        decisions: found.iter().map(DecisionBody::from).collect(),
        next_before,
    }))
}

#[utoipa::path(get, path = "/v1/decisions/{id}", tag = "decisions", operation_id = "get_decision", params(("id" = String, Path)),
    responses((status = 200, body = DecisionDetail), (status = 404, body = crate::http::error::Problem), (status = 422, body = crate::http::error::Problem), (status = 503, body = crate::http::error::Problem)), security(("api_key" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let decision = stored(&state, &id).await?;
    let reviews = state.store.reviews_of(&id).await?;
    Ok(HttpResponse::Ok().json(DecisionDetail {
        decision: DecisionBody::from(&decision),
        input: decision.record.input.clone(),
        latency_us: decision.record.latency_us,
        reviews: reviews
            .into_iter()
            .map(|r| ReviewBody {
                id: r.id,
                decision: r.decision.as_str().to_owned(),
                note: r.note,
                created_at: r.created_at,
            })
            .collect(),
    }))
}

/// The stored decision a path names: a well-formed id, then a row, or 422 / 404.
pub(crate) async fn stored(state: &AppState, id: &str) -> Result<Decision, ApiError> {
    decision_id(id)?;
    state
        .store
        .get_decision(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("decision {id}")))
}

/// A decision id in a path: well-formed, or refused before any lookup.
pub(crate) fn decision_id(id: &str) -> Result<(), ApiError> {
    if crate::uuid7::is_id(id) {
        Ok(())
    } else {
        Err(ApiError::field(
            "id",
            "not a decision id (a lowercase hyphenated UUID)",
        ))
    }
}

/// An analyst's final word on a decision.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ReviewRequest {
    /// `approve` or `decline`.
    decision: String,
    note: Option<String>,
}

#[utoipa::path(post, path = "/v1/decisions/{id}/review", tag = "decisions", operation_id = "review_decision", params(("id" = String, Path)), request_body = ReviewRequest,
    responses((status = 201, body = ReviewBody), (status = 404, body = crate::http::error::Problem), (status = 408, body = crate::http::error::Problem), (status = 422, body = crate::http::error::Problem), (status = 503, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn review(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Review)?;
    decision_id(&id)?;
    let body = read_body(
        &req,
        payload,
        state.limits.max_body,
        state.limits.body_timeout(),
    )
    .await?;
    let request = Object::parse(&body, "body")?.only(&["decision", "note"])?;
    let decision = match request.optional_string("decision")?.as_deref() {
        Some("approve") => DecisionKind::Approve,
        Some("decline") => DecisionKind::Decline,
        _ => return Err(ApiError::field("decision", "required: approve or decline")),
    };
    let note = request.optional_string("note")?.unwrap_or_default();
    if note.len() > 4096 {
        return Err(ApiError::field("note", "at most 4096 bytes"));
    }
    let review = state
        .store
        .insert_review(&NewReview {
            decision_id: &id,
            api_key_id: caller.key_id,
            decision,
            note: &note,
        })
        .await?;
    Ok(HttpResponse::Created().json(ReviewBody {
        id: review.id,
        decision: review.decision.as_str().to_owned(),
        note: review.note,
        created_at: review.created_at,
    }))
}
