//! The database layer: one logical schema on SQLite (embedded default) or PostgreSQL.
//!
//! Every query is written once, in SQL both engines accept (`$1` placeholders, `RETURNING`), and
//! run on whichever pool is configured through [`on_pool!`]. Migrations live in
//! `migrations/sqlite` and `migrations/postgres` and are embedded into the binary.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use settings::DatabaseSettings;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod audit;
pub(crate) mod chain;
mod decisions;
mod error;
mod jobs;
mod keys;
mod labelled;
mod locks;
mod models;
mod notify;
mod outcomes;
mod policies;
mod reviews;
mod settings;
mod shadow;
mod ui;

pub use audit::{AuditEntry, NewAuditEntry};
pub use chain::{BrokenLink, ChainHead, ChainReport};
pub use decisions::{
    Decision, DecisionFilter, DecisionKind, JsonText, NewDecision, Reason, Reasons,
};
pub use error::StoreError;
pub(crate) use error::sqlite_refused_row;
pub use jobs::{Job, JobStatus};
pub use keys::{ApiKey, NewApiKey};
pub use labelled::{Band, Declined, Labelled};
pub use models::{Model, ModelEvent, ModelStage, NewModel};
pub use outcomes::{NewOutcome, Outcome, OutcomeKind, OutcomeStored};
pub use policies::StoredPolicy;
pub use reviews::{NewReview, Review};
pub use shadow::{Challenger, ShadowScore};
pub use ui::{TimeUnit, UiSession, Volume, id_lower_bound, id_time};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool the store holds; `$pool` is bound to it.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A handle on the database; cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    target: String,
    /// SQLite's database file, which the decision writer opens a connection of its own to.
    sqlite_file: Option<std::path::PathBuf>,
}

impl Store {
    /// Connects to `url` with a pool of `settings.max_connections`. A SQLite file (and its
    /// folder) is created on first use, in WAL mode with `synchronous=FULL` so that a committed
    /// decision survives a power loss.
    pub async fn connect(url: &SecretString, settings: &DatabaseSettings) -> Result<Self> {
        let url = url.expose_secret();
        let max_connections = settings.max_connections;
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url, max_connections).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let acquire_timeout = Duration::from_millis(settings.acquire_timeout_ms);
            Self::connect_postgres(url, max_connections, acquire_timeout).await
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    async fn connect_sqlite(url: &str, max_connections: u32) -> Result<Self> {
        let target = redact(url);
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Connect {
                target: target.clone(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let file = options.get_filename().to_path_buf();
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // A local file needs no liveness check before each use; it would cost a trip to
        // sqlx's SQLite thread on every acquire, the writer's included.
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(async move { Ok(settled(conn)) }))
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                target: target.clone(),
                source,
            })?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
            target,
            sqlite_file: Some(file),
        })
    }

    async fn connect_postgres(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self> {
        let target = redact(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|source| StoreError::Connect {
                target: target.clone(),
                source,
            })?
            .options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .after_release(|conn, _| Box::pin(async move { Ok(settled(conn)) }))
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                target: target.clone(),
                source,
            })?;
        Ok(Self {
            pool: Pool::Postgres(pool),
            target,
            sqlite_file: None,
        })
    }

    /// The PostgreSQL pool; `None` on SQLite (the writer's sinks use it directly).
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// The SQLite database file; `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        self.sqlite_file.clone()
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        on_pool!(self, pool => pool.options().get_max_connections())
    }

    pub fn engine(&self) -> Engine {
        match self.pool {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    /// The database's address with any password removed, fit for logs and messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Brings the schema up to date; returns how many migrations this call applied.
    /// Running it again is harmless: applied migrations are recorded and checksummed.
    pub async fn migrate(&self) -> Result<usize> {
        let before = self.applied_migrations().await;
        let result = match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        };
        result.map_err(|source| StoreError::Migrate {
            target: self.target.clone(),
            source,
        })?;
        Ok(self.applied_migrations().await.saturating_sub(before))
    }

    /// Migrations this binary carries that the database has not applied yet.
    pub async fn pending_migrations(&self) -> usize {
        let known = match &self.pool {
            Pool::Sqlite(_) => SQLITE_MIGRATIONS.iter().count(),
            Pool::Postgres(_) => POSTGRES_MIGRATIONS.iter().count(),
        };
        known.saturating_sub(self.applied_migrations().await)
    }

    /// Number of migrations recorded as applied; zero on a database never migrated.
    async fn applied_migrations(&self) -> usize {
        const SQL: &str = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let count: Result<i64, sqlx::Error> =
            on_pool!(self, pool => sqlx::query_scalar(SQL).fetch_one(pool).await);
        count.map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    /// The user tables of the schema, sorted: what `migrate` is expected to have created.
    pub async fn tables(&self) -> Result<Vec<String>> {
        let names: Vec<String> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
                )
                .fetch_all(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%' \
                     ORDER BY table_name",
                )
                .fetch_all(pool)
                .await?
            }
        };
        Ok(names)
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }

    /// Runs raw SQL that is expected to change rows; for tests and operators' checks only.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let done = on_pool!(self, pool => sqlx::raw_sql(sql).execute(pool).await?.rows_affected());
        Ok(done)
    }
}

/// Whether a connection handed back to the pool may serve again: not when a transaction on it
/// failed to end. After a failed COMMIT SQLite may or may not have rolled the transaction back
/// (a full disk: rolled back; a busy lock: still open), and sqlx's count of open transactions
/// then disagrees with SQLite's. Reused, such connections left every writer, the decision
/// writer too, getting "database is locked" after a full disk until the process stopped.
/// Closed instead, whatever was left open is rolled back by SQLite, and the pool opens a new one.
fn settled(conn: &impl sqlx::Connection) -> bool {
    let settled = !conn.is_in_transaction();
    if !settled {
        tracing::warn!("closing a database connection whose transaction did not end cleanly");
    }
    settled
}

/// Removes the password from a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords_and_keeps_the_rest() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("sqlite://riskloop-data/riskloop.db"),
            "sqlite://riskloop-data/riskloop.db"
        );
    }
}
