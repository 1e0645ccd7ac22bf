//! The analyst web UI, served under `/ui/` by `riskloop serve` and embedded in the binary:
//! pages rendered on the server from the askama templates in `ui/templates` (checked at compile
//! time), charts drawn on the server as SVG, one stylesheet, no JavaScript. Every page and form
//! checks the session's role on the server; every form carries a CSRF token.

pub mod charts; // inline SVG charts
pub mod decisions; // the decision list, a decision's page, the review queue and reviews
pub mod models; // the registry, a model's page, promote and roll back
pub mod monitoring; // drift, approval rates, default rates by score band
pub mod overview; // the landing page, and the jobs list
pub mod session; // sign-in, the session cookie, CSRF

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;

use crate::http::error::ApiError;
use crate::store::StoreError;

/// What every page's frame shows: who is signed in, the CSRF token for its forms, the active tab.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub user: String,
    pub role: String,
    pub admin: bool,
    pub csrf: String,
    pub active: &'static str,
}

/// Why a page could not be shown, answered as a page (or, to sign in, a redirect).
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("sign in to see this page")]
    SignIn { next: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("this form has expired or did not come from this site: reload the page and try again")]
    Csrf,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Internal(String),
}

impl UiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Field {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        Self::Api(ApiError::from(e))
    }
}

impl From<crate::decision::FieldError> for UiError {
    fn from(e: crate::decision::FieldError) -> Self {
        Self::Api(ApiError::from(e))
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(format!("a page failed to render: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Forbidden(_) | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Field { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Api(e) => e.status_code(),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignIn { next } = self {
            let location = format!("/ui/login?next={}", url_escape(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "a UI page failed");
        }
        let title = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_client_error() => "Cannot do that",
            _ => "Something went wrong",
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message: self.to_string(),
        };
        let mut response =
            render(&page).unwrap_or_else(|_| HttpResponse::InternalServerError().finish());
        *response.status_mut() = status;
        response
    }
}

/// A query-string value, percent-encoded.
pub fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The page's policy: nothing runs, nothing loads from elsewhere, forms post only here.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A rendered page, with the headers every UI page carries.
pub fn render(page: &impl Template) -> Result<HttpResponse, UiError> {
    let body = page.render()?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// After a form: back to a page (303, so a reload does not post again).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

const STYLESHEET: &str = include_str!("../../../ui/static/app.css");

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STYLESHEET)
}

/// Forms larger than this are refused (a review's note is at most 4 KiB).
const FORM_LIMIT: usize = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let form = web::FormConfig::default()
        .limit(FORM_LIMIT)
        .error_handler(|e, _| UiError::field("form", e.to_string()).into());
    let query = web::QueryConfig::default()
        .error_handler(|e, _| UiError::field("query", e.to_string()).into());
    cfg.service(web::resource("/ui").route(web::get().to(|| async { see_other("/ui/") })));
    cfg.service(
        web::scope("/ui")
            .app_data(form)
            .app_data(query)
            .route("/", web::get().to(overview::page))
            .route("/static/app.css", web::get().to(stylesheet))
            .route("/login", web::get().to(session::login_form))
            .route("/login", web::post().to(session::login))
            .route("/logout", web::post().to(session::logout))
            .route("/decisions", web::get().to(decisions::list))
            .route("/decisions/{id}", web::get().to(decisions::detail))
            .route("/decisions/{id}/review", web::post().to(decisions::review))
            .route("/review", web::get().to(decisions::queue))
            .route("/models", web::get().to(models::list))
            .route("/models/{version}", web::get().to(models::detail))
            .route(
                "/models/{version}/promote",
                web::get().to(models::confirm_promote),
            )
            .route("/models/{version}/promote", web::post().to(models::promote))
            .route("/rollback", web::get().to(models::confirm_rollback))
            .route("/rollback", web::post().to(models::rollback))
            .route("/monitoring", web::get().to(monitoring::page))
            .route("/jobs", web::get().to(overview::jobs))
            .route("/jobs/{id}", web::get().to(overview::job))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(UiError::NotFound("page".into()))
            })),
    );
}

/// Formats for templates.
pub mod fmt {
    use chrono::{DateTime, Utc};

    pub fn time(at: &DateTime<Utc>) -> String {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }

    pub fn pct(x: f64) -> String {
        format!("{:.1}%", x * 100.0)
    }

    pub fn opt(x: Option<f64>, decimals: usize) -> String {
        x.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
    }
}
