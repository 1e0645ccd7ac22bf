//! Scoring: validate → online pipeline → int8 model → policy → reasons → durable decision →
//! response. The scorer runs inline on the worker: it takes about a microsecond, less than a
//! hop to another thread would cost.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

pub use super::bodies::{BatchDecisionBody, BatchScoreRequest, DecisionBody, ScoreRequest};
use super::request_body::{self, Object, read_body};
use super::route;
use crate::decision::check;
use crate::decision::{self, DecideError, Decided, FieldError, ServedModel};
use crate::digest::sha256_hex;
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::http::error::ApiError;
use crate::shadow::ShadowJob;
use crate::store::{Decision, NewDecision};
use crate::writer::{SubmitError, Written};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route("/v1/score", Method::POST, score))
        .service(route("/v1/score/batch", Method::POST, score_batch));
}

#[utoipa::path(post, path = "/v1/score", tag = "scoring", request_body = ScoreRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key with the same request (compared as JSON values: whitespace and member order do not matter) returns the original decision; with a different request, 409")),
    responses((status = 200, body = DecisionBody), (status = 400, body = crate::http::error::Problem), (status = 401, body = crate::http::error::Problem),
        (status = 403, body = crate::http::error::Problem), (status = 408, body = crate::http::error::Problem), (status = 409, body = crate::http::error::Problem), (status = 413, body = crate::http::error::Problem),
        (status = 422, body = crate::http::error::Problem), (status = 503, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn score(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Score)?;
    let started = Instant::now();
    let body = read_body(
        &req,
        payload,
        state.limits.max_body,
        state.limits.body_timeout(),
    )
    .await?;
    let request = Object::parse(&body, "body")?;
    let idempotency_key = idempotency_key(&req)?;
    let sha = sha256_hex(&body);
    if let Some(key) = &idempotency_key
        && let Some(existing) = state
            .store
            .decision_by_idempotency_key(caller.key_id, key)
            .await?
    {
        return replay(&existing, &sha, &body);
    }
    let (decision, other) = decide(
        &state,
        caller,
        request,
        idempotency_key.clone(),
        sha.clone(),
        started,
    )?;
    let shadow = shadow_of(&decision, other);
    let keyed = idempotency_key.as_deref().map(|key| Keyed {
        key,
        sha: &sha,
        body: &body,
    });
    let mut committed = commit(&state, vec![decision], caller, keyed).await?;
    let committed = committed
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the writer answered nothing")))?;
    submit_shadow(&state, [(&committed, shadow)]);
    Ok(HttpResponse::Ok().json(committed))
}

#[utoipa::path(post, path = "/v1/score/batch", tag = "scoring", request_body = BatchScoreRequest,
    responses((status = 200, body = BatchDecisionBody), (status = 400, body = crate::http::error::Problem), (status = 408, body = crate::http::error::Problem), (status = 413, body = crate::http::error::Problem),
        (status = 422, body = crate::http::error::Problem), (status = 503, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn score_batch(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Score)?;
    let started = Instant::now();
    let body = read_body(
        &req,
        payload,
        state.limits.max_body * state.limits.max_batch,
        state.limits.body_timeout(),
    )
    .await?;
    let items = Object::parse(&body, "body")?
        .only(&["applications"])?
        .objects("applications", "required: an array of applications")?;
    if items.is_empty() || items.len() > state.limits.max_batch {
        return Err(ApiError::field(
            "applications",
            format!("must hold 1 to {} applications", state.limits.max_batch),
        ));
    }
    // Every application is validated before any is written: a batch is answered whole or refused.
    let (decisions, shadows): (Vec<Decided>, Vec<Option<Pending>>) = items
        .into_iter()
        .map(|request| {
            let sha = sha256_hex(request.json());
            decide(&state, caller, request, None, sha, started).map(|(d, other)| {
                let shadow = shadow_of(&d, other);
                (d, shadow)
            })
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    // One transaction: the batch is stored whole or not at all.
    let committed = commit(&state, decisions, caller, None).await?;
    submit_shadow(&state, committed.iter().zip(shadows));
    Ok(HttpResponse::Ok().json(BatchDecisionBody {
        decisions: committed,
    }))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?;
    check::identifier(Some(key), "Idempotency-Key")?;
    Ok(Some(key.to_owned()))
}

/// A request sent with an `Idempotency-Key`, as the retry check needs it.
#[derive(Clone, Copy, Debug)]
struct Keyed<'a> {
    key: &'a str,
    sha: &'a str,
    body: &'a [u8],
}

/// The stored decision of an earlier request with the same key, when this request is the same:
/// the same bytes, or the same JSON value (whitespace and member order aside).
fn replay(existing: &Decision, sha: &str, body: &[u8]) -> Result<HttpResponse, ApiError> {
    if !same_request(existing, sha, body) {
        return Err(ApiError::Conflict(
            "this Idempotency-Key was used with a different request (compared as JSON values: \
             whitespace and member order do not matter)"
                .into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Idempotent-Replayed", "true"))
        .json(DecisionBody::from(existing)))
}

/// Whether `body` asks for what `existing` stored: its bytes hash alike, or, read as JSON, it
/// holds the same `application_id` and an `application` of the same value as the one stored.
fn same_request(existing: &Decision, sha: &str, body: &[u8]) -> bool {
    if existing.record.request_sha256 == sha {
        return true;
    }
    let Ok(serde_json::Value::Object(mut sent)) = serde_json::from_slice(body) else {
        return false;
    };
    let application_id = match sent.remove("application_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(id)) => Some(id),
        Some(_) => return false,
    };
    let application = sent.remove("application");
    sent.is_empty()
        && application_id == existing.record.application_id
        && application == Some(existing.record.input.value())
}

/// A decision to score again with the model that did not make it, once it is stored.
#[derive(Debug)]
struct Pending {
    decision_id: String,
    input: String,
    model: Arc<ServedModel>,
}

fn shadow_of(decided: &Decided, other: Option<Arc<ServedModel>>) -> Option<Pending> {
    other.map(|model| Pending {
        decision_id: decided.record.id.clone(),
        input: decided.record.input.as_str().to_owned(),
        model,
    })
}

/// Queues the shadow scoring of decisions this request stored (not a retry's earlier one).
fn submit_shadow<'a>(
    state: &AppState,
    answered: impl IntoIterator<Item = (&'a DecisionBody, Option<Pending>)>,
) {
    let policy = state.policy.current();
    for (body, pending) in answered {
        if let Some(p) = pending.filter(|p| p.decision_id == body.decision_id) {
            state.shadow.submit(ShadowJob {
                decision_id: p.decision_id,
                input: p.input,
                model: p.model,
                policy: Arc::clone(&policy),
            });
        }
    }
}

/// Which model decides this request, and which scores it in the shadow: the champion decides
/// unless a challenger is attached and this request falls in its share of the traffic.
fn models(state: &AppState) -> Result<(Arc<ServedModel>, Option<Arc<ServedModel>>), ApiError> {
    let champion = state.model.current().ok_or(ApiError::NoModel)?;
    let Some(challenger) = state.challenger.current() else {
        return Ok((champion, None));
    };
    let roll = getrandom::u32().unwrap_or(u32::MAX) % 100;
    if roll < challenger.traffic_percent {
        Ok((challenger.model.clone(), Some(champion)))
    } else {
        Ok((champion, Some(challenger.model.clone())))
    }
}

/// Everything up to the write: the request's members read, then the decision core. Also the
/// model that should score it in the shadow, if a challenger is attached.
fn decide(
    state: &AppState,
    caller: Caller,
    request: Object<'_>,
    idempotency_key: Option<String>,
    request_sha256: String,
    started: Instant,
) -> Result<(Decided, Option<Arc<ServedModel>>), ApiError> {
    let request = request.only(&["application_id", "application"])?;
    let application_id = request.optional_string("application_id")?;
    check::identifier(application_id.as_deref(), &request.path("application_id"))?;
    let app_path = request.path("application");
    let raw = request
        .get("application")
        .ok_or_else(|| ApiError::field(&app_path, "required field is missing"))?;
    let application = request_body::application(raw, &app_path)?;
    let (model, other) = models(state)?;
    let policy = state.policy.current();
    let request = decision::Request {
        decision_id: None,
        application_id,
        raw,
        api_key_id: caller.key_id,
        idempotency_key,
        request_sha256,
        started,
    };
    let decided =
        decision::decide(&model, &policy, &application, request).map_err(|e| match e {
            DecideError::Field(FieldError { field, rule }) => {
                ApiError::field(format!("{app_path}.{field}"), rule)
            }
            DecideError::Internal(cause) => ApiError::internal(anyhow::anyhow!(cause)),
        })?;
    Ok((decided, other))
}

/// Waits for the decisions' commit, all in one transaction; a concurrent retry with the same
/// idempotency key resolves to the decision that won.
async fn commit(
    state: &AppState,
    decided: Vec<Decided>,
    caller: Caller,
    keyed: Option<Keyed<'_>>,
) -> Result<Vec<DecisionBody>, ApiError> {
    let kinds: Vec<_> = decided.iter().map(|d| d.record.decision).collect();
    // What the drift monitor counts, for the champion's decisions once committed.
    let champion = state.model.current();
    let observed: Vec<Option<(Vec<u16>, i32)>> = decided
        .iter()
        .map(|d| {
            champion
                .as_ref()
                .filter(|c| c.version() == d.record.model_version)
                .map(|_| (d.bins.clone(), d.record.score))
        })
        .collect();
    // The answers are built before the records move to the writer, so no record is copied;
    // `created_at` is replaced by the commit time below.
    let placeholder = Utc::now();
    let (mut bodies, decisions): (Vec<DecisionBody>, Vec<NewDecision>) = decided
        .into_iter()
        .map(|d| {
            let mut body = DecisionBody::new(&d.record, placeholder);
            body.imputed = Some(d.imputed);
            (body, d.record)
        })
        .unzip();
    let written = state.writer.submit(decisions).await.map_err(|e| match e {
        SubmitError::Full => ApiError::Overloaded,
        SubmitError::NotStored => ApiError::NotStored,
        SubmitError::Unavailable(cause) => {
            tracing::debug!(cause, "decision refused: the database refuses writes");
            ApiError::StoreUnavailable
        }
        other => ApiError::internal(other),
    })?;
    for (((body, kind), written), observed) in
        bodies.iter_mut().zip(kinds).zip(written).zip(observed)
    {
        match written {
            Written::Committed(created_at) => {
                state.metrics.decision(kind.as_str());
                if let (Some((bins, score)), Some(model)) = (observed, &champion) {
                    state.monitor.record(model, &bins, score, kind);
                }
                body.created_at = created_at;
            }
            Written::Duplicate => {
                let keyed = keyed.ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("duplicate without an idempotency key"))
                })?;
                let existing = state
                    .store
                    .decision_by_idempotency_key(caller.key_id, keyed.key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("duplicate decision vanished"))
                    })?;
                if !same_request(&existing, keyed.sha, keyed.body) {
                    return Err(ApiError::Conflict(
                        "this Idempotency-Key was used with a different request".into(),
                    ));
                }
                *body = DecisionBody::from(&existing);
            }
        }
    }
    Ok(bodies)
}
