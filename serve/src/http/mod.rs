//! Everything HTTP: the server and its state, authentication, the routes, the one mapping of
//! errors to statuses and problem+json bodies, and the OpenAPI description. Nothing below
//! `http/` knows HTTP.

mod app; // build, listen, background work, graceful stop
pub mod auth; // bearer keys, cached lookups, roles per route
pub mod error; // ApiError → status and problem+json; every From<…> for ApiError
pub mod limiter; // per-key token buckets: 429 with Retry-After
pub mod openapi; // the OpenAPI description, from the handlers' annotations
pub mod request_id; // per-request id in logs, headers and problems
pub mod routes; // one module per resource
mod state; // AppState, Limits, the Caller extractor
pub mod tls; // the optional rustls listener, its certificate reloaded on change

pub use app::{Application, STOP_GRACE, ScheduledRetrain, ServeConfig};
pub use state::{AppState, Limits};
