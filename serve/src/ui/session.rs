//! Signing in to the UI: an analyst or admin API key is exchanged for a session cookie
//! (HttpOnly, SameSite=Strict, Secure over TLS), whose token's hash names a `ui_sessions` row.
//! Every form carries the session's CSRF token, compared in constant time; the sign-in form,
//! before any session, a token it was given in a short-lived cookie (double submit).
//! Integration keys cannot sign in; a revoked key's sessions end at once.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, UiError, render};
use crate::api_key::{Role, hash_key};
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::store::{NewAuditEntry, UiSession};

pub const SESSION_COOKIE: &str = "riskloop_session";
const LOGIN_COOKIE: &str = "riskloop_login";
/// How long a session lasts, from sign-in.
pub const SESSION_HOURS: i64 = 8;

/// A signed-in analyst or admin, from the session cookie; pages without one send the browser
/// to the sign-in page.
#[derive(Clone, Debug)]
pub struct Signed {
    pub session: UiSession,
}

impl Signed {
    /// Refuses (403) what the session's role may not do.
    pub fn require(&self, permission: Permission) -> Result<(), UiError> {
        Caller {
            key_id: self.session.api_key_id,
            role: self.session.role,
        }
        .require(permission)
        .map_err(|e| UiError::Forbidden(e.to_string()))
    }

    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), UiError> {
        if same(token, &self.session.csrf) {
            Ok(())
        } else {
            Err(UiError::Csrf)
        }
    }

    pub fn actor(&self) -> String {
        format!("api-key:{}", self.session.api_key_id)
    }

    pub fn chrome(&self, active: &'static str) -> Chrome {
        Chrome {
            user: self.session.key_name.clone(),
            role: self.session.role.to_string(),
            admin: self.session.role == Role::Admin,
            csrf: self.session.csrf.clone(),
            active,
        }
    }
}

/// Constant-time equality of two secrets (their lengths are not secret).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn token() -> Result<String, UiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| UiError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

fn cookie(
    req: &HttpRequest,
    name: &'static str,
    value: String,
    max_age: CookieDuration,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(req))
        .max_age(max_age)
        .finish()
}

impl FromRequest for Signed {
    type Error = UiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let next = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map_or_else(|| "/ui/".to_owned(), |p| p.as_str().to_owned())
        } else {
            "/ui/".to_owned()
        };
        Box::pin(async move {
            let (Some(state), Some(token)) = (state, token) else {
                return Err(UiError::SignIn { next });
            };
            match state.store.ui_session(&hash_key(&token)).await? {
                Some(session) => {
                    state.limit(&Caller {
                        key_id: session.api_key_id,
                        role: session.role,
                    })?;
                    Ok(Signed { session })
                }
                None => Err(UiError::SignIn { next }),
            }
        })
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where to go after signing in: a UI page of this server, nothing else.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\') => n.to_owned(),
        _ => "/ui/".to_owned(),
    }
}

pub async fn login_form(
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, UiError> {
    let csrf = token()?;
    let mut response = render(&LoginPage {
        csrf: csrf.clone(),
        next: safe_next(query.next.as_deref()),
        error: None,
    })?;
    response
        .add_cookie(&cookie(
            &req,
            LOGIN_COOKIE,
            csrf,
            CookieDuration::minutes(30),
        ))
        .map_err(|e| UiError::Internal(e.to_string()))?;
    Ok(response)
}

#[derive(Deserialize)]
pub struct LoginForm {
    key: String,
    csrf: String,
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("key", &"***")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, UiError> {
    let expected = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    if !expected.is_some_and(|e| same(&form.csrf, &e)) {
        return Err(UiError::Csrf);
    }
    let next = safe_next(form.next.as_deref());
    let refuse =
        |status: actix_web::http::StatusCode, message: &str| -> Result<HttpResponse, UiError> {
            let mut response = render(&LoginPage {
                csrf: form.csrf.clone(),
                next: next.clone(),
                error: Some(message.to_owned()),
            })?;
            *response.status_mut() = status;
            Ok(response)
        };
    let key = form.key.trim();
    let found = if key.is_empty() || key.len() > 200 {
        None
    } else {
        state.store.active_api_key_by_hash(&hash_key(key)).await?
    };
    let Some(key) = found else {
        return refuse(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "This key is not valid, or it has been revoked.",
        );
    };
    if key.role == Role::Integration {
        return refuse(
            actix_web::http::StatusCode::FORBIDDEN,
            "An integration key cannot sign in: use an analyst or admin key.",
        );
    }
    let session = token()?;
    let csrf = token()?;
    let expires_at = chrono::Utc::now().timestamp() + SESSION_HOURS * 3600;
    state
        .store
        .create_ui_session(&hash_key(&session), key.id, &csrf, expires_at)
        .await?;
    state
        .store
        .audit(&NewAuditEntry {
            actor: &format!("api-key:{}", key.id),
            action: "ui.sign_in",
            target: &key.name,
            detail: serde_json::json!({ "role": key.role.as_str() }),
        })
        .await?;
    tracing::info!(key_id = key.id, role = %key.role, "signed in to the UI");
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .finish();
    let add = |r: &mut HttpResponse, c: &Cookie<'static>| {
        r.add_cookie(c)
            .map_err(|e| UiError::Internal(e.to_string()))
    };
    add(
        &mut response,
        &cookie(
            &req,
            SESSION_COOKIE,
            session,
            CookieDuration::hours(SESSION_HOURS),
        ),
    )?;
    add(
        &mut response,
        &cookie(&req, LOGIN_COOKIE, String::new(), CookieDuration::ZERO),
    )?;
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    signed.check_csrf(&form.csrf)?;
    if let Some(token) = req.cookie(SESSION_COOKIE) {
        state
            .store
            .delete_ui_session(&hash_key(token.value()))
            .await?;
    }
    state
        .store
        .audit(&NewAuditEntry {
            actor: &signed.actor(),
            action: "ui.sign_out",
            target: &signed.session.key_name,
            detail: serde_json::json!({}),
        })
        .await?;
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/login"))
        .finish();
    response
        .add_cookie(&cookie(
            &req,
            SESSION_COOKIE,
            String::new(),
            CookieDuration::ZERO,
        ))
        .map_err(|e| UiError::Internal(e.to_string()))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_servers_ui_pages_are_places_to_return_to() {
        assert_eq!(
            safe_next(Some("/ui/decisions?decision=review")),
            "/ui/decisions?decision=review"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/ui//evil",
            "/v1/models",
            "/ui/\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("abc", "ab") && !same("", "a"));
    }
}
