//! HTTP routes, one module per resource, each registering itself; plus the shared request body
//! reader that turns size and JSON problems into problem responses.

pub mod bodies; // request and response bodies of the scoring and decision routes
pub mod challenger; // GET|DELETE /v1/challenger, POST /v1/models/{version}/challenger
pub mod decisions; // GET /v1/decisions, GET /v1/decisions/{id}, POST /v1/decisions/{id}/review
pub mod health; // /healthz, /readyz, /metrics, /v1/info
pub mod models; // GET /v1/models, promote, rollback
pub mod monitoring; // GET /v1/monitoring
pub mod outcomes; // POST /v1/outcomes
pub mod request_body; // body size and media type, objects read member by member
pub mod score; // POST /v1/score, POST /v1/score/batch

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, web};

use crate::http::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    score::configure(cfg);
    decisions::configure(cfg);
    outcomes::configure(cfg);
    models::configure(cfg);
    challenger::configure(cfg);
    monitoring::configure(cfg);
    health::configure(cfg);
    crate::ui::configure(cfg);
    cfg.default_service(web::to(|| async {
        Err::<actix_web::HttpResponse, _>(ApiError::NotFound("route".into()))
    }));
}

/// `method` on `path`. Any other method is answered 405 with `Allow` and a problem body, like
/// every other error.
pub fn route<F, Args>(path: &str, method: Method, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let allowed = method.clone();
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || {
            let allowed = allowed.clone();
            async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allowed)) }
        }))
}
