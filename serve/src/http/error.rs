//! The one place where failures become HTTP: `ApiError` → status, stable snake_case `code`, and an
//! `application/problem+json` body that names the field and rule and carries the request id.
//! 5xx bodies are opaque; the cause chain goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::decision::FieldError;
use crate::http::request_id;
use crate::registry::RegistryError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("field `{field}`: {rule}")]
    InvalidField { field: String, rule: String },
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request body did not arrive within {seconds} s")]
    BodyTimeout { seconds: f64 },
    #[error("expected Content-Type application/json")]
    UnsupportedMediaType,
    #[error("missing or malformed bearer API key")]
    Unauthenticated,
    #[error("this API key's role `{role}` may not {action}")]
    Forbidden { role: String, action: &'static str },
    #[error("{0} not found")]
    NotFound(String),
    #[error("this route accepts only {0}")]
    MethodNotAllowed(actix_web::http::Method),
    #[error("{0}")]
    Conflict(String),
    #[error("this API key sent more requests than its rate limit; retry in {seconds} s")]
    RateLimited { seconds: u64 },
    #[error("this API key already has {limit} requests in flight; retry when one is answered")]
    TooManyInFlight { limit: usize },
    #[error("the decision queue is full; retry shortly")]
    Overloaded,
    #[error("the decision could not be stored and nothing was written; retry shortly")]
    NotStored,
    /// The database cannot be reached or cannot write now (its cause goes to the log only).
    #[error("the database is unavailable; nothing was written; retry shortly")]
    StoreUnavailable,
    #[error("no model is being served; promote one first")]
    NoModel,
    #[error("{0}")]
    ModelRefused(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn field(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            rule: rule.into(),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// A 503 whose detail tells the client what to do: retry after a second.
    fn says_retry(&self) -> bool {
        matches!(
            self,
            Self::Overloaded | Self::NotStored | Self::StoreUnavailable | Self::NoModel
        )
    }

    fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidField { .. } => "invalid_field",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BodyTimeout { .. } => "body_timeout",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyInFlight { .. } => "too_many_in_flight",
            Self::Overloaded => "overloaded",
            Self::NotStored => "not_stored",
            Self::StoreUnavailable => "store_unavailable",
            Self::NoModel => "no_model",
            Self::ModelRefused(_) => "model_refused",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        Self::InvalidField {
            field: err.field,
            rule: err.rule,
        }
    }
}

impl From<crate::lifecycle::replay::ReplayError> for ApiError {
    fn from(err: crate::lifecycle::replay::ReplayError) -> Self {
        use crate::lifecycle::replay::ReplayError;
        match err {
            ReplayError::Registry(e) => e.into(),
            ReplayError::Store(e) => e.into(),
            // The record cannot be replayed as stored: what a person must look at.
            other => Self::Conflict(other.to_string()),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::Refused(reason) => Self::ModelRefused(reason),
            RegistryError::NothingToRollBack
            | RegistryError::SchemaChanged { .. }
            | RegistryError::Gated { .. }
            | RegistryError::PolicyMismatch { .. } => Self::Conflict(err.to_string()),
            RegistryError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            other if other.is_unavailable() => {
                // One line per request would flood the log during an outage; the writer says
                // once that the database refuses writes.
                tracing::debug!(error = %other, "database unavailable");
                Self::StoreUnavailable
            }
            other => Self::internal(other),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: `code` is the stable machine-readable kind.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub request_id: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } | Self::TooManyInFlight { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Overloaded | Self::NotStored | Self::StoreUnavailable | Self::NoModel => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::ModelRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let request_id = request_id::current();
        let detail = if status.is_server_error() && !self.says_retry() {
            tracing::error!(request_id, error = ?anyhow_chain(self), "request failed");
            "internal error; quote the request id to support".to_owned()
        } else {
            self.to_string()
        };
        let (field, rule) = match self {
            Self::InvalidField { field, rule } => (Some(field.clone()), Some(rule.clone())),
            _ => (None, None),
        };
        let problem = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            code: self.code(),
            detail,
            field,
            rule,
            request_id,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if self.says_retry() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if let Self::RateLimited { seconds } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*seconds)));
        }
        if let Self::TooManyInFlight { .. } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if let Self::BodyTimeout { .. } = self {
            // The rest of the body may still be on its way: the connection cannot be reused.
            response.force_close();
        }
        if let Self::MethodNotAllowed(allowed) = self
            && let Ok(value) = HeaderValue::from_str(allowed.as_str())
        {
            response.insert_header((header::ALLOW, value));
        }
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

fn anyhow_chain(err: &ApiError) -> String {
    match err {
        ApiError::Internal(e) => format!("{e:#}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_decision_not_stored_is_a_503_that_says_retry_and_names_its_code() {
        let response = ApiError::NotStored.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "not_stored");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("nothing was written"),
            "{problem}"
        );
    }

    #[tokio::test]
    async fn an_internal_error_keeps_its_cause_out_of_the_body() {
        let response = ApiError::internal(anyhow::anyhow!("password=hunter2")).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
    }
}
