//! riskloop's service crate: the `riskloop` command line, configuration and the database layer.
//! Later stages add the scoring API, policy, decision writer and model registry here.

pub mod api_key; // API key format, generation, hashing and roles
pub mod cli; // command-line definitions and dispatch to the commands
pub mod commands; // what each CLI command does
pub mod settings; // typed configuration: TOML file, then RISKLOOP_* environment
pub mod store; // sqlx database layer over SQLite or PostgreSQL, with migrations
