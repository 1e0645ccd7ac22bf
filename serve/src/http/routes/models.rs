//! The model registry over HTTP: list (analysts and admins), promote and roll back (admins).

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_body::{Object, read_body};
use super::route;
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::http::error::ApiError;
use crate::registry;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route("/v1/models", Method::GET, list))
        .service(route("/v1/models/rollback", Method::POST, rollback))
        .service(route("/v1/models/{version}/promote", Method::POST, promote));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelBody {
    pub version: String,
    /// `registered`, `challenger`, `champion` or `retired`.
    pub stage: String,
    pub serving: bool,
    pub registered_at: chrono::DateTime<chrono::Utc>,
    pub parent_version: Option<String>,
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Promoted {
    pub version: String,
    pub previous: Option<String>,
}

#[utoipa::path(get, path = "/v1/models", tag = "models", operation_id = "list_models", responses((status = 200, body = Vec<ModelBody>)), security(("api_key" = [])))]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let serving = state.model.current().map(|m| m.version().to_owned());
    let models: Vec<ModelBody> = state
        .store
        .list_models()
        .await?
        .into_iter()
        .map(|m| ModelBody {
            serving: serving.as_deref() == Some(m.record.version.as_str()),
            stage: format!("{:?}", m.stage).to_lowercase(),
            registered_at: m.registered_at,
            parent_version: m.record.parent_version.clone(),
            metrics: m
                .record
                .manifest
                .get("metrics")
                .cloned()
                .unwrap_or_default(),
            version: m.record.version,
        })
        .collect();
    Ok(HttpResponse::Ok().json(models))
}

/// Options of a promotion; the body may be empty.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct PromoteRequest {
    /// Promote even though the model takes other applications than the champion (409 lists
    /// the differences otherwise).
    allow_schema_change: Option<bool>,
    /// Promote although the bundle carries gates (leakage, drift) its dataset spec does not
    /// acknowledge (409 lists them otherwise).
    acknowledge_gates: Option<bool>,
}

const PROMOTE_OPTIONS: [&str; 2] = ["allow_schema_change", "acknowledge_gates"];

/// The promotion's options from its body (empty: none set).
fn promote_options(body: &[u8]) -> Result<[bool; 2], ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok([false; 2]);
    }
    let request = Object::parse(body, "body")?.only(&PROMOTE_OPTIONS)?;
    let mut options = [false; 2];
    for (option, name) in options.iter_mut().zip(PROMOTE_OPTIONS) {
        *option = match request.get(name).map(|raw| raw.get()) {
            None | Some("false") | Some("null") => false,
            Some("true") => true,
            Some(_) => return Err(ApiError::field(name, "wrong type: expected boolean")),
        };
    }
    Ok(options)
}

#[utoipa::path(post, path = "/v1/models/{version}/promote", tag = "models", operation_id = "promote_model", params(("version" = String, Path)),
    request_body(content = Option<PromoteRequest>, description = "optional: {\"allow_schema_change\": true, \"acknowledge_gates\": true}"),
    responses((status = 200, body = Promoted), (status = 404, body = crate::http::error::Problem), (status = 409, body = crate::http::error::Problem), (status = 422, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn promote(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageModels)?;
    crate::decision::check::identifier(Some(&version), "version")?;
    let options = if req.headers().contains_key(header::CONTENT_TYPE) {
        let body = read_body(
            &req,
            payload,
            state.limits.max_body,
            state.limits.body_timeout(),
        )
        .await?;
        promote_options(&body)?
    } else {
        [false; 2]
    };
    let [allow_schema_change, acknowledge_gates] = options;
    let actor = format!("api-key:{}", caller.key_id);
    let policy = state.policy.current();
    let guard = registry::Guard {
        allow_schema_change,
        acknowledge_gates,
        policy: Some(&policy),
    };
    let previous =
        registry::promote(&state.store, Some(&state.model), &version, &actor, guard).await?;
    state.metrics.model(&version);
    Ok(HttpResponse::Ok().json(Promoted {
        version: version.into_inner(),
        previous,
    }))
}

#[utoipa::path(post, path = "/v1/models/rollback", tag = "models", operation_id = "rollback_model",
    responses((status = 200, body = Promoted), (status = 409, body = crate::http::error::Problem)), security(("api_key" = [])))]
pub async fn rollback(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageModels)?;
    let from = state.model.current().map(|m| m.version().to_owned());
    let actor = format!("api-key:{}", caller.key_id);
    let policy = state.policy.current();
    let version =
        registry::rollback(&state.store, Some(&state.model), &actor, Some(&policy)).await?;
    state.metrics.model(&version);
    Ok(HttpResponse::Ok().json(Promoted {
        version,
        previous: from,
    }))
}
