//! Integration tests of the serve crate, against a real SQLite file and a real PostgreSQL server.

mod cli;
mod helpers;
mod store;
