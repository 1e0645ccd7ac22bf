//! Integration tests of the serve crate, against a real SQLite file and a real PostgreSQL server,
//! and the real HTTP server on a loopback port.

mod abuse;
mod api;
mod app;
mod chain;
mod challenger;
mod cli;
mod data_loop;
mod decide;
mod deploy;
mod faults;
mod helpers;
mod hostile;
mod lost_commit;
mod replicas;
mod selection;
mod store;
mod swap;
mod tls;
mod ui;
