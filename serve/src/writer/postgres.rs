//! PostgreSQL's decision sink: a whole batch in one multi-row insert, one transaction, skipping
//! idempotent repeats, on a connection a writer task keeps; after a failed commit, what the
//! database holds of the batch (`settle`). SQLite's is `sqlite_sink`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::chain::{Chain, HEAD_SQL, Head, decision_link};
use crate::store::{NewDecision, Result, Store, StoreError};

pub(super) fn write_error(err: sqlx::Error) -> StoreError {
    StoreError::from_write(err, || "a decision with this id".into())
}

/// Where one PostgreSQL decision writer task commits. It keeps a pooled connection for itself
/// when the pool has room for others (`hold`), and knows its server process, so that after a
/// failed commit it can wait for that process to end before asking what was stored (see
/// [`DecisionSink::settle`]). SQLite's writer is a thread of its own (`writer::sqlite`).
#[derive(Debug)]
pub struct DecisionSink {
    store: Store,
    hold: bool,
    postgres: Option<(sqlx::pool::PoolConnection<sqlx::Postgres>, i32)>,
    /// The server process of the connection whose commit last failed, until settled.
    failed_backend: Option<i32>,
    /// This writer's chain of decisions.
    chain: Chain,
}

impl Store {
    pub fn decision_sink(&self, hold: bool) -> DecisionSink {
        DecisionSink {
            store: self.clone(),
            hold,
            postgres: None,
            failed_backend: None,
            chain: Chain::fresh(),
        }
    }
}

/// How long [`DecisionSink::settle`] waits for a failed connection's server process to end
/// before it terminates it, and again after.
const BACKEND_GONE_WAIT: Duration = Duration::from_secs(5);

impl DecisionSink {
    /// [`Store::insert_decisions`], on the writer's own connection where it has one.
    pub async fn insert(&mut self, batch: &[NewDecision]) -> Result<Vec<Option<DateTime<Utc>>>> {
        let Some(pool) = self.store.postgres_pool() else {
            return self.store.insert_decisions(batch).await;
        };
        if !self.hold || batch.is_empty() {
            return self.store.insert_decisions(batch).await;
        }
        // After a failure other than a refused row the connection is not reused.
        let (mut conn, backend) = match self.postgres.take() {
            Some(held) => held,
            None => held_connection(pool).await?,
        };
        match insert_postgres(&mut conn, batch, &mut self.chain).await {
            Ok(written) => {
                self.postgres = Some((conn, backend));
                Ok(written)
            }
            Err(err) => {
                let err = write_error(err);
                if err.is_refused_row() {
                    // The statement failed cleanly; the connection is sound.
                    self.postgres = Some((conn, backend));
                } else {
                    // Whether the batch was committed is settled later: the head is read again.
                    self.chain.head = None;
                    self.failed_backend = Some(backend);
                    drop(conn.detach());
                }
                Err(err)
            }
        }
    }

    /// One small write, committed like a batch (it rewrites the one row of `write_probes`):
    /// whether the database takes writes now. On PostgreSQL it runs on the writer's own
    /// connection where it holds one, so a probe after an outage also replaces that connection.
    pub async fn probe(&mut self) -> Result<()> {
        const SQL: &str = "INSERT INTO write_probes (id, probed_at) VALUES (1, now()) \
             ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at";
        let Some(pool) = self.store.postgres_pool() else {
            return super::once::probe_once(&self.store).await;
        };
        if !self.hold {
            let mut conn = pool.acquire().await.map_err(StoreError::Unavailable)?;
            sqlx::query(SQL).execute(&mut *conn).await?;
            return Ok(());
        }
        let (mut conn, backend) = match self.postgres.take() {
            Some(held) => held,
            None => held_connection(pool).await?,
        };
        // A failed probe drops the connection: the next write gets a new one.
        sqlx::query(SQL).execute(&mut *conn).await?;
        self.postgres = Some((conn, backend));
        Ok(())
    }

    /// After a failed insert that was not a refused row: when each of the batch's decisions was
    /// committed, those not stored being absent. A batch is one transaction, so the answer is
    /// all or none. On PostgreSQL the failed connection's server process may still be running
    /// the commit (the connection dropped while COMMIT's answer was on its way back), so this
    /// first waits for that process to end, which makes the answer final.
    pub async fn settle(
        &mut self,
        batch: &[NewDecision],
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>> {
        if let (Some(backend), Some(pool)) =
            (self.failed_backend.take(), self.store.postgres_pool())
        {
            wait_backend_gone(pool, backend).await?;
        }
        let ids: Vec<&str> = batch.iter().map(|d| d.id.as_str()).collect();
        self.store.committed_at(&ids).await
    }
}

/// A pooled connection for a writer task to keep, and its server process.
async fn held_connection(
    pool: &sqlx::PgPool,
) -> Result<(sqlx::pool::PoolConnection<sqlx::Postgres>, i32)> {
    let mut conn = pool.acquire().await.map_err(StoreError::Unavailable)?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .map_err(write_error)?;
    Ok((conn, backend))
}

async fn wait_backend_gone(pool: &sqlx::PgPool, backend: i32) -> Result<()> {
    let running = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
        )
        .bind(backend)
        .fetch_one(pool)
        .await
    };
    for terminate in [false, true] {
        if terminate {
            tracing::warn!(
                backend,
                "terminating the server process of a failed decision commit"
            );
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(backend)
                .execute(pool)
                .await?;
        }
        let deadline = tokio::time::Instant::now() + BACKEND_GONE_WAIT;
        loop {
            if !running().await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Err(StoreError::Unsettled(format!(
        "server process {backend} of the failed commit does not end"
    )))
}

/// PostgreSQL: the rows travel as arrays, so the statement text is the same for every batch
/// size and stays prepared. Each row carries its link of `chain`, so a batch that may skip rows
/// (idempotent repeats) is a transaction that commits only when every row it linked was
/// inserted: otherwise it is rolled back and the rest linked again without the repeats.
pub(super) async fn insert_postgres(
    conn: &mut sqlx::PgConnection,
    batch: &[NewDecision],
    chain: &mut Chain,
) -> std::result::Result<Vec<Option<DateTime<Utc>>>, sqlx::Error> {
    use sqlx::Connection;
    let mut by_id: HashMap<String, DateTime<Utc>> = HashMap::with_capacity(batch.len());
    let mut todo: Vec<&NewDecision> = batch.iter().collect();
    // Each round drops at least one row (a repeat), so this ends.
    while !todo.is_empty() {
        // Only a row with an idempotency key can be skipped; a batch without one is a single
        // statement, committed on its own, as before chaining.
        let (inserted, last, created) = if todo.iter().any(|d| d.idempotency_key.is_some()) {
            let mut tx = conn.begin().await?;
            let round = link_and_insert(&mut tx, &todo, chain).await?;
            if round.0.len() == todo.len() {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            round
        } else {
            link_and_insert(conn, &todo, chain).await?
        };
        if inserted.len() == todo.len() {
            chain.head = Some(last);
            by_id.extend(inserted.into_iter().map(|id| (id, created)));
            break;
        }
        let inserted: HashSet<String> = inserted.into_iter().collect();
        todo.retain(|d| inserted.contains(&d.id));
    }
    Ok(batch.iter().map(|d| by_id.get(&d.id).copied()).collect())
}

/// Links `todo` after the chain's head (read from the database when not known) and inserts it:
/// the ids inserted, the new head, and the commit time the links cover.
async fn link_and_insert(
    conn: &mut sqlx::PgConnection,
    todo: &[&NewDecision],
    chain: &Chain,
) -> std::result::Result<(Vec<String>, Option<Head>, DateTime<Utc>), sqlx::Error> {
    // The column's precision, so that the hash covers what is stored.
    let now = Utc::now();
    let created = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let head = match &chain.head {
        Some(head) => head.clone(),
        None => sqlx::query_as(HEAD_SQL)
            .bind(&chain.name)
            .fetch_optional(&mut *conn)
            .await?
            .map(|(seq, hash)| Head { seq, hash }),
    };
    let mut links = Vec::with_capacity(todo.len());
    let mut last = head;
    for d in todo {
        let seq = last.as_ref().map_or(1, |h| h.seq + 1);
        let hash = decision_link(last.as_ref(), seq, created, d);
        links.push((seq, hash.clone()));
        last = Some(Head { seq, hash });
    }
    let inserted = insert_rows(conn, todo, created, &chain.name, &links).await?;
    Ok((inserted, last, created))
}

async fn insert_rows(
    conn: &mut sqlx::PgConnection,
    batch: &[&NewDecision],
    created: DateTime<Utc>,
    chain: &str,
    links: &[(i64, String)],
) -> std::result::Result<Vec<String>, sqlx::Error> {
    const SQL: &str = concat!(
        "INSERT INTO decisions (id, application_id, api_key_id, idempotency_key, request_sha256, \
         input, model_version, policy_version, policy_sha256, probability, score, decision, \
         reasons, latency_us, created_at, chain, chain_seq, chain_hash) ",
        "SELECT id, application_id, api_key_id, idempotency_key, request_sha256, input::json, \
         model_version, policy_version, policy_sha256, probability, score, decision, \
         reasons::json, latency_us, $15, $16, chain_seq, chain_hash FROM UNNEST($1::text[], \
         $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
         $9::text[], $10::float8[], $11::int4[], $12::text[], $13::text[], $14::int8[], \
         $17::int8[], $18::text[]) AS t(id, application_id, api_key_id, idempotency_key, \
         request_sha256, input, model_version, policy_version, policy_sha256, probability, \
         score, decision, reasons, latency_us, chain_seq, chain_hash)",
        " ON CONFLICT (api_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING id"
    );
    fn column<'a, T>(batch: &[&'a NewDecision], f: impl Fn(&'a NewDecision) -> T) -> Vec<T> {
        batch.iter().map(|d| f(d)).collect()
    }
    sqlx::query_scalar(SQL)
        .bind(column(batch, |d| d.id.as_str()))
        .bind(column(batch, |d| d.application_id.as_deref()))
        .bind(column(batch, |d| d.api_key_id))
        .bind(column(batch, |d| d.idempotency_key.as_deref()))
        .bind(column(batch, |d| d.request_sha256.as_str()))
        .bind(column(batch, |d| d.input.as_str()))
        .bind(column(batch, |d| d.model_version.as_str()))
        .bind(column(batch, |d| d.policy_version.as_str()))
        .bind(column(batch, |d| d.policy_sha256.as_str()))
        .bind(column(batch, |d| d.probability))
        .bind(column(batch, |d| d.score))
        .bind(column(batch, |d| d.decision.as_str()))
        .bind(column(batch, |d| d.reasons.json().as_str()))
        .bind(column(batch, |d| d.latency_us))
        .bind(created)
        .bind(chain)
        .bind(links.iter().map(|l| l.0).collect::<Vec<_>>())
        .bind(links.iter().map(|l| l.1.as_str()).collect::<Vec<_>>())
        .fetch_all(conn)
        .await
}
