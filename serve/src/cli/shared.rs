//! What the commands share: the service configuration argument, opening the database
//! (migrated first), and the address a server is reached at.

use clap::Args;
use std::path::PathBuf;

use crate::settings::Settings;
use crate::store::Store;

/// Opens the configured database and brings its schema up to date, so no command ever runs
/// against a half-migrated database.
pub(super) async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url(), &settings.database).await?;
    migrate_schema(&store).await?;
    Ok(store)
}

/// Brings the schema up to date, saying so in the log before and after; returns how many
/// migrations were applied.
pub(super) async fn migrate_schema(store: &Store) -> anyhow::Result<usize> {
    // Said before, not only after: a migration that rebuilds a table takes a while on a large
    // database, and the server is not listening meanwhile.
    let pending = store.pending_migrations().await;
    if pending > 0 {
        tracing::info!(
            pending,
            database = store.target(),
            "updating the database schema (rebuilding a table can take minutes on a large database)"
        );
    }
    let started = std::time::Instant::now();
    let applied = super::progress::with_heartbeat(
        store.migrate(),
        std::time::Duration::from_secs(10),
        |elapsed| {
            tracing::info!(
                seconds = elapsed.as_secs(),
                "still updating the database schema"
            );
        },
    )
    .await?;
    if applied > 0 {
        tracing::info!(
            applied,
            seconds = started.elapsed().as_secs_f64(),
            "database schema up to date"
        );
    }
    Ok(applied)
}

/// The base URL a client reaches `address` at: an unspecified host (`0.0.0.0`, `::`) is
/// reached on loopback from this machine, and is printed as such.
pub(super) fn url_of(address: std::net::SocketAddr) -> String {
    let host = match address.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", address.port())
}

/// The service configuration, for the commands that open the database or serve.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (TOML); RISKLOOP_* environment variables override it.
    #[arg(
        long = "config",
        global = true,
        env = "RISKLOOP_CONFIG",
        value_name = "FILE"
    )]
    pub file: Option<PathBuf>,
}

impl ConfigArg {
    pub fn settings(&self) -> Result<Settings, crate::settings::SettingsError> {
        Settings::load(self.file.as_deref())
    }
}
