//! The writer's write, once, outside a server: for tools and tests (and PostgreSQL's probe on
//! SQLite, which the server's SQLite writer makes on its own connection instead).

use chrono::{DateTime, Utc};

use super::{postgres, sqlite_sink};
use crate::store::chain::Chain;
use crate::store::{NewDecision, Store, StoreError};

/// [`DecisionSink::probe`] on SQLite, for tools and tests: the server's SQLite writer probes on
/// its own connection.
pub(super) async fn probe_once(store: &Store) -> Result<(), StoreError> {
    let path = store
        .sqlite_file()
        .ok_or_else(|| StoreError::Corrupt("a SQLite store without a file".into()))?;
    tokio::task::spawn_blocking(move || {
        let conn = sqlite_sink::open(&path)?;
        sqlite_sink::probe(&conn)
    })
    .await
    .map_err(|e| StoreError::Thread(std::io::Error::other(e)))?
    .map_err(StoreError::Sqlite)
}

/// The writer's write, once, outside a server: for tools and tests.
impl Store {
    /// Writes decisions in one transaction (one sync): all are durable when this returns, or
    /// none is. A decision whose `(api_key_id, idempotency_key)` is already stored (or repeated
    /// earlier in the batch) is skipped: its entry is `None`. The others get the time their
    /// batch was written (`created_at`), in input order. The decision writer is the way
    /// decisions are written while serving; this is the same write, once, for tools and tests.
    pub async fn insert_decisions(
        &self,
        batch: &[NewDecision],
    ) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        match self.postgres_pool() {
            None => {
                let path = self
                    .sqlite_file()
                    .ok_or_else(|| StoreError::Corrupt("a SQLite store without a file".into()))?;
                let batch = batch.to_vec();
                let written = tokio::task::spawn_blocking(move || {
                    let conn = sqlite_sink::open(&path)?;
                    sqlite_sink::insert_batch(&conn, &batch, &[batch.len()])
                })
                .await
                .map_err(|e| StoreError::Thread(std::io::Error::other(e)))?;
                match written.map_err(StoreError::from_sqlite)?.pop() {
                    Some(Ok(written)) => Ok(written),
                    Some(Err(refused)) => Err(StoreError::from_sqlite(refused)),
                    None => Ok(Vec::new()),
                }
            }
            Some(pool) => {
                let mut conn = pool.acquire().await.map_err(StoreError::Unavailable)?;
                postgres::insert_postgres(&mut conn, batch, &mut Chain::fresh())
                    .await
                    .map_err(postgres::write_error)
            }
        }
    }
}
