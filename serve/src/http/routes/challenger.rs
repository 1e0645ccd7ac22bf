//! The challenger over HTTP: see which model scores beside the champion (analysts and admins),
//! attach one with its share of the traffic, or detach it (admins).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_body::{Object, read_body};
use super::route;
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::http::error::ApiError;
use crate::registry::challenger::{self, MAX_TRAFFIC_PERCENT};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/challenger")
            .route(web::get().to(get))
            .route(web::delete().to(detach))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed(Method::GET))
            })),
    )
    .service(route(
        "/v1/models/{version}/challenger",
        Method::POST,
        attach,
    ));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengerBody {
    /// The challenger's version; null when none is attached.
    pub version: Option<String>,
    /// Share of requests it decides (the champion decides the rest); it scores all of them.
    pub traffic_percent: u32,
    pub attached_by: Option<String>,
    pub attached_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Shadow scores stored and dropped (under overload) by this server since it started.
    pub shadow_stored: u64,
    pub shadow_dropped: u64,
}

#[utoipa::path(get, path = "/v1/challenger", tag = "models", operation_id = "get_challenger", responses((status = 200, body = ChallengerBody)), security(("api_key" = [])))]
pub async fn get(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let attached = state.store.challenger().await?;
    use std::sync::atomic::Ordering::Relaxed;
    Ok(HttpResponse::Ok().json(ChallengerBody {
        traffic_percent: attached.as_ref().map_or(0, |c| c.traffic_percent as u32),
        attached_by: attached.as_ref().map(|c| c.attached_by.clone()),
        attached_at: attached.as_ref().map(|c| c.attached_at),
        version: attached.map(|c| c.model_version),
        shadow_stored: state.shadow.stored.load(Relaxed),
        shadow_dropped: state.shadow.dropped.load(Relaxed),
    }))
}

/// How much traffic the challenger decides itself; the body may be empty (0: shadow only).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct AttachRequest {
    /// 0 to 50.
    traffic_percent: Option<u32>,
}

#[utoipa::path(post, path = "/v1/models/{version}/challenger", tag = "models", operation_id = "attach_challenger", params(("version" = String, Path)),
    request_body(content = Option<AttachRequest>, description = "optional: {\"traffic_percent\": 10}"),
    responses((status = 204), (status = 404, body = crate::http::error::Problem), (status = 409, body = crate::http::error::Problem), (status = 422, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn attach(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageModels)?;
    crate::decision::check::identifier(Some(&version), "version")?;
    let body = read_body(
        &req,
        payload,
        state.limits.max_body,
        state.limits.body_timeout(),
    )
    .await?;
    let traffic_percent = if body.iter().all(u8::is_ascii_whitespace) {
        0
    } else {
        let request = Object::parse(&body, "body")?.only(&["traffic_percent"])?;
        match request
            .get("traffic_percent")
            .map(|raw| raw.get().parse::<u32>())
        {
            None => 0,
            Some(Ok(p)) if p <= MAX_TRAFFIC_PERCENT => p,
            Some(_) => {
                return Err(ApiError::field(
                    "traffic_percent",
                    format!("must be a whole number from 0 to {MAX_TRAFFIC_PERCENT}"),
                ));
            }
        }
    };
    let actor = format!("api-key:{}", caller.key_id);
    let policy = state.policy.current();
    challenger::attach(
        &state.store,
        &version,
        traffic_percent,
        &actor,
        Some(&policy),
    )
    .await?;
    challenger::follow(&state.store, &state.challenger).await;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/v1/challenger", tag = "models", operation_id = "detach_challenger", responses((status = 204), (status = 404, body = crate::http::error::Problem)), security(("api_key" = [])))]
pub async fn detach(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageModels)?;
    let actor = format!("api-key:{}", caller.key_id);
    challenger::detach(&state.store, &actor)
        .await?
        .ok_or_else(|| ApiError::NotFound("an attached challenger".into()))?;
    challenger::follow(&state.store, &state.challenger).await;
    Ok(HttpResponse::NoContent().finish())
}
