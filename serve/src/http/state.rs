//! What a handler can reach (`AppState`, shared by every worker), the limits each client is
//! held to, and how a handler gets its caller (the `Caller` extractor).

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::auth::{Authenticator, Caller};
use super::error::ApiError;
use super::limiter::{InFlight, RateLimiter};
use crate::monitoring::Monitor;
use crate::registry::challenger::ChallengerSlot;
use crate::registry::{ModelSlot, PolicyStore};
use crate::shadow::Shadow;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::writer::DecisionWriter;

/// Everything a handler can reach.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub model: ModelSlot,
    /// The challenger attached beside the champion, if any.
    pub challenger: ChallengerSlot,
    /// Where the model that did not decide a request scores it, off the response path.
    pub shadow: Shadow,
    /// This server's decisions against the training baseline.
    pub monitor: Monitor,
    pub policy: PolicyStore,
    pub writer: DecisionWriter,
    pub auth: Authenticator,
    pub limiter: RateLimiter,
    pub in_flight: Arc<InFlight>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
}

/// What one client may hold of the server: sizes, times and connections (`[limits]` in the
/// configuration file).
#[derive(Clone, Copy, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, in bytes (a batch may be `max_batch` times this).
    pub max_body: usize,
    /// Applications per `POST /v1/score/batch`; outcomes per `POST /v1/outcomes` are ten times this.
    pub max_batch: usize,
    /// How long a connection may take to send a request's head (line and headers), from when
    /// it opens or sends again; then 408 and the connection is closed.
    pub header_timeout_ms: u64,
    /// How long a request may take to send its body, from its head; then 408 and the
    /// connection is closed.
    pub body_timeout_ms: u64,
    /// Open connections at most, over all workers; beyond it, new connections wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// Requests per second each key of a role may send (0: no limit), on this server; a
    /// bucket holds `burst_seconds` of it. Beyond it: 429 with `Retry-After`.
    pub integration_per_second: f64,
    pub analyst_per_second: f64,
    pub admin_per_second: f64,
    pub burst_seconds: f64,
    /// Requests one key may have in flight at once on this server (0: no limit); beyond it
    /// 429 `too_many_in_flight`.
    pub max_in_flight_per_key: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 64 * 1024,
            max_batch: 100,
            header_timeout_ms: 5_000,
            body_timeout_ms: 10_000,
            max_connections: 4_096,
            integration_per_second: 20_000.0,
            analyst_per_second: 50.0,
            admin_per_second: 50.0,
            burst_seconds: 2.0,
            max_in_flight_per_key: 1024,
        }
    }
}

impl AppState {
    /// Refuses a caller over its key's rate limit.
    pub fn limit(&self, caller: &Caller) -> Result<(), ApiError> {
        self.limiter
            .check(&self.limits, caller)
            .map_err(|wait| ApiError::RateLimited {
                seconds: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
    }
}

impl Limits {
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.trim().to_owned());
        let req = req.clone();
        Box::pin(async move {
            let (Some(state), Some(key)) = (state, key) else {
                return Err(ApiError::Unauthenticated);
            };
            let caller = state.auth.authenticate(&state.store, &key).await?;
            state.limit(&caller)?;
            // Counted until the request is dropped, its response sent.
            let guard = state
                .in_flight
                .enter(caller.key_id, state.limits.max_in_flight_per_key)
                .ok_or(ApiError::TooManyInFlight {
                    limit: state.limits.max_in_flight_per_key,
                })?;
            actix_web::HttpMessage::extensions_mut(&req).insert(guard);
            Ok(caller)
        })
    }
}
