//! riskloop's service crate: the `riskloop` command line, configuration, the database layer, and
//! the scoring API with its policy, decision writer and model registry.

pub mod api_key; // API key format, generation, hashing and roles
pub mod app; // the HTTP server: state, middleware, graceful stop
pub mod auth; // bearer keys, cached lookups, roles per route
pub mod cli; // command-line definitions and dispatch to the commands
pub mod commands; // what each CLI command does
pub mod decision; // one application → the decision record: check, parse, pipeline, score, policy
pub mod digest; // SHA-256 as hex, as stored
pub mod error; // ApiError → HTTP status and problem+json
pub mod metrics; // Prometheus metrics

pub mod protocol_errors; // the HTTP parser's refusals, counted instead of logged one by one
pub mod registry; // register, promote, roll back, follow the champion
pub mod replay; // a stored decision decided again with its stored model and policy
pub mod request_id; // per-request id in logs, headers and problems
pub mod routes; // HTTP routes
pub mod served; // the served model and its atomic swap
pub mod settings; // typed configuration: TOML file, then RISKLOOP_* environment
pub mod store; // sqlx database layer over SQLite or PostgreSQL, with migrations
pub mod uuid7; // time-ordered ids as text
pub mod validate; // request validation against the served model's fields
pub mod writer; // group-commit decision writer
