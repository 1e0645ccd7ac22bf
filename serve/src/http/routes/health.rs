//! Unauthenticated operational routes: liveness, readiness, Prometheus metrics and versions.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::route;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::writer::SubmitError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route("/healthz", Method::GET, healthz))
        .service(route("/readyz", Method::GET, readyz))
        .service(route("/metrics", Method::GET, metrics))
        .service(route("/v1/info", Method::GET, info));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    pub riskloop_version: &'static str,
    pub model_version: Option<String>,
    pub model_created_at: Option<String>,
    pub policy_version: String,
    pub policy_sha256: String,
    pub database: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Ready when a model is loaded and a decision can be stored now: a write succeeded in the last
/// two seconds, or a probe write succeeds within 0.9 s. Answers within a second either way.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Health), (status = 503, body = crate::http::error::Problem)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.model.current().ok_or(ApiError::NoModel)?;
    state.writer.ready().await.map_err(|e| match e {
        SubmitError::Full => ApiError::Overloaded,
        other => {
            tracing::debug!(error = %other, "not ready: a decision cannot be stored now");
            ApiError::StoreUnavailable
        }
    })?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.queue_depth(state.writer.queued());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render() + &state.monitor.report().prometheus())
}

#[utoipa::path(get, path = "/v1/info", tag = "operations", responses((status = 200, body = Info)))]
pub async fn info(state: web::Data<AppState>) -> HttpResponse {
    let model = state.model.current();
    let policy = state.policy.current();
    HttpResponse::Ok().json(Info {
        riskloop_version: env!("CARGO_PKG_VERSION"),
        model_version: model.as_ref().map(|m| m.version().to_owned()),
        model_created_at: model.as_ref().map(|m| m.bundle.manifest.created_at.clone()),
        policy_version: policy.version.clone(),
        policy_sha256: policy.sha256.clone(),
        database: match state.store.engine() {
            crate::store::Engine::Sqlite => "sqlite",
            crate::store::Engine::Postgres => "postgres",
        },
    })
}
