//! HTTP routes, one module per resource, each registering itself; plus the shared body reader
//! that turns size and JSON problems into problem responses.

pub mod bodies; // request and response bodies of the scoring and decision routes
pub mod decisions; // GET /v1/decisions, GET /v1/decisions/{id}, POST /v1/decisions/{id}/review
pub mod health; // /healthz, /readyz, /metrics, /v1/info, /openapi.json
pub mod models; // GET /v1/models, promote, rollback
pub mod outcomes; // POST /v1/outcomes
pub mod score; // POST /v1/score, POST /v1/score/batch

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    score::configure(cfg);
    decisions::configure(cfg);
    outcomes::configure(cfg);
    models::configure(cfg);
    health::configure(cfg);
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

/// Reads a JSON body of at most `limit` bytes, without trusting Content-Length.
pub async fn read_json(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<(Value, Vec<u8>), ApiError> {
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::MalformedJson(format!("reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let value =
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok((value, body))
}

/// Takes an object apart, refusing fields other than `allowed`.
pub fn object(
    value: Value,
    at: &str,
    allowed: &[&str],
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::field(at, "must be a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        let path = if at == "body" {
            unknown.clone()
        } else {
            format!("{at}.{unknown}")
        };
        return Err(ApiError::field(
            path,
            format!("unknown field (allowed: {})", allowed.join(", ")),
        ));
    }
    Ok(map)
}

/// An optional string field.
pub fn optional_string(
    map: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::field(path, "wrong type: expected string")),
    }
}
