//! riskloop's service crate: the `riskloop` command line, and everything it runs, by layer.
//! Data flows `cli`/`http` → `decision` → `writer` → `store`; `registry` and `lifecycle` manage
//! the artefacts (models, policies) the decisions are made with.

pub mod api_key; // API key format, generation, hashing and roles
pub mod cli; // the commands, each with its arguments
pub mod decision; // one application → the decision record: check, parse, pipeline, score, policy
pub mod digest; // SHA-256 as hex, as stored
pub mod http; // the HTTP API: server, auth, routes, errors, OpenAPI
pub mod lifecycle; // ingest → train → register → promote as calls; replay
pub mod monitoring; // PSI of scores and features, approval and default rates, alert states
pub mod registry; // models and policies: register, promote, roll back, follow, the current slots
pub mod settings; // typed configuration: TOML file, then RISKLOOP_* environment
pub mod shadow; // the other model scores live decisions off the response path
pub mod store; // the database layer over SQLite or PostgreSQL, with migrations
pub mod telemetry; // logs, metrics, protocol errors
pub mod ui; // the analyst web UI under /ui/: pages, charts, sign-in
pub mod uuid7; // time-ordered ids as text
pub mod writer; // group-commit decision writer and its sinks per engine
