//! Writing decisions: a whole batch in one transaction, in as few statements as each engine
//! allows, skipping idempotent repeats.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{NewDecision, Result, Store, StoreError};

impl Store {
    /// Writes decisions in one transaction (one sync): all are durable when this returns, or
    /// none is. A decision whose `(api_key_id, idempotency_key)` is already stored (or repeated
    /// earlier in the batch) is skipped: its entry is `None`. The others get the time their
    /// batch was written (`created_at`), in input order.
    pub async fn insert_decisions(
        &self,
        batch: &[NewDecision],
    ) -> Result<Vec<Option<DateTime<Utc>>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let written = match &self.pool {
            super::Pool::Sqlite(pool) => match pool.acquire().await {
                Ok(mut conn) => insert_sqlite(&mut conn, batch).await,
                Err(e) => Err(e),
            },
            super::Pool::Postgres(pool) => insert_postgres(pool, batch).await,
        };
        written.map_err(write_error)
    }
}

fn write_error(err: sqlx::Error) -> StoreError {
    StoreError::from_write(err, || "a decision with this id".into())
}

/// Where the decision writer commits. On SQLite it keeps one pooled connection for itself
/// (when the pool has room for others): SQLite has one writer anyway, and the connection that
/// wrote the last batch still has valid pages in its cache, where any other connection would
/// first re-read what was written through another.
#[derive(Debug)]
pub struct DecisionSink {
    store: Store,
    held: Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>,
}

impl Store {
    pub fn decision_sink(&self) -> DecisionSink {
        DecisionSink {
            store: self.clone(),
            held: None,
        }
    }
}

impl DecisionSink {
    /// [`Store::insert_decisions`], on the writer's own connection where it has one.
    pub async fn insert(&mut self, batch: &[NewDecision]) -> Result<Vec<Option<DateTime<Utc>>>> {
        let super::Pool::Sqlite(pool) = &self.store.pool else {
            return self.store.insert_decisions(batch).await;
        };
        if pool.options().get_max_connections() < 2 || batch.is_empty() {
            return self.store.insert_decisions(batch).await;
        }
        let mut conn = match self.held.take() {
            Some(conn) => conn,
            None => pool.acquire().await.map_err(write_error)?,
        };
        let written = insert_sqlite(&mut conn, batch).await;
        // After a failure the connection goes back to the pool and a fresh one is taken next.
        if written.is_ok() {
            self.held = Some(conn);
        }
        written.map_err(write_error)
    }
}

/// The columns a decision insert binds; SQLite binds `created_at` too (the batch's time, which
/// it then need not send back), PostgreSQL returns its default instead.
macro_rules! insert_columns {
    ($($first:literal)?) => {
        concat!(
            "INSERT INTO decisions (",
            $($first, ", ",)?
            "id, application_id, api_key_id, idempotency_key, request_sha256, input, \
             model_version, policy_version, policy_sha256, probability, score, decision, reasons, \
             latency_us) "
        )
    };
}
macro_rules! skip_duplicates {
    () => {
        " ON CONFLICT (api_key_id, idempotency_key) DO NOTHING"
    };
}

/// Rows per SQLite statement. A batch up to this size is one statement, so one trip to sqlx's
/// SQLite thread and one implicit transaction; the few hundred distinct statement texts (one per
/// row count) all stay in the connection's statement cache (see `connect_sqlite`).
pub(super) const SQLITE_ROWS_PER_STATEMENT: usize = 256;

/// SQLite's own `created_at` default, `strftime('%Y-%m-%dT%H:%M:%fZ','now')`: every stored
/// timestamp has this one shape, so text order is time order.
const SQLITE_TIME: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// No `RETURNING`: sending each stored row back from sqlx's SQLite thread cost about 5 µs a
/// row, more than inserting it. The batch's time is bound instead, and only when the database skipped a row
/// (a repeated idempotency key, the rare case) are the survivors looked up.
pub(super) async fn insert_sqlite(
    conn: &mut sqlx::SqliteConnection,
    batch: &[NewDecision],
) -> std::result::Result<Vec<Option<DateTime<Utc>>>, sqlx::Error> {
    let now = Utc::now();
    let stamp = now.format(SQLITE_TIME).to_string();
    // What the column holds, read back: millisecond precision.
    let created = DateTime::parse_from_rfc3339(&stamp).map_or(now, |t| t.with_timezone(&Utc));
    let inserted = if batch.len() <= SQLITE_ROWS_PER_STATEMENT {
        sqlite_insert(batch, &stamp)
            .build()
            .execute(&mut *conn)
            .await?
            .rows_affected()
    } else {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let mut inserted = 0;
        for chunk in batch.chunks(SQLITE_ROWS_PER_STATEMENT) {
            inserted += sqlite_insert(chunk, &stamp)
                .build()
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        inserted
    };
    if inserted == batch.len() as u64 {
        return Ok(vec![Some(created); batch.len()]);
    }
    // Only a decision with an idempotency key can have been skipped; ids are fresh UUIDs, so
    // such a decision is stored exactly when its id is.
    let keyed: Vec<&str> = batch
        .iter()
        .filter(|d| d.idempotency_key.is_some())
        .map(|d| d.id.as_str())
        .collect();
    let mut query = sqlx::QueryBuilder::new("SELECT id FROM decisions WHERE id IN (");
    let mut ids = query.separated(", ");
    for id in &keyed {
        ids.push_bind(*id);
    }
    query.push(")");
    let stored: std::collections::HashSet<String> = query
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    Ok(batch
        .iter()
        .map(|d| (d.idempotency_key.is_none() || stored.contains(&d.id)).then_some(created))
        .collect())
}

fn sqlite_insert(rows: &[NewDecision], created_at: &str) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut query = sqlx::QueryBuilder::new(insert_columns!("created_at"));
    query.push_values(rows, |mut row, d| {
        row.push_bind(created_at)
            .push_bind(&d.id)
            .push_bind(&d.application_id)
            .push_bind(d.api_key_id)
            .push_bind(&d.idempotency_key)
            .push_bind(&d.request_sha256)
            .push_bind(d.input.as_str())
            .push_bind(&d.model_version)
            .push_bind(&d.policy_version)
            .push_bind(&d.policy_sha256)
            .push_bind(d.probability)
            .push_bind(d.score)
            .push_bind(d.decision.as_str())
            .push_bind(Json(&d.reasons))
            .push_bind(d.latency_us);
    });
    query.push(skip_duplicates!());
    query
}

/// PostgreSQL: one round trip per batch. The rows travel as arrays, so the statement text is
/// the same for every batch size and stays prepared.
async fn insert_postgres(
    pool: &sqlx::PgPool,
    batch: &[NewDecision],
) -> std::result::Result<Vec<Option<DateTime<Utc>>>, sqlx::Error> {
    const SQL: &str = concat!(
        insert_columns!(),
        "SELECT id, application_id, api_key_id, idempotency_key, request_sha256, input::jsonb, \
         model_version, policy_version, policy_sha256, probability, score, decision, \
         reasons::jsonb, latency_us FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], \
         $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::float8[], $11::int4[], \
         $12::text[], $13::text[], $14::int8[]) AS t(id, application_id, api_key_id, \
         idempotency_key, request_sha256, input, model_version, policy_version, policy_sha256, \
         probability, score, decision, reasons, latency_us)",
        skip_duplicates!(),
        " RETURNING id, created_at"
    );
    let column = |f: fn(&NewDecision) -> String| batch.iter().map(f).collect::<Vec<String>>();
    let reasons: Vec<String> = batch
        .iter()
        .map(|d| serde_json::to_string(&d.reasons).unwrap_or_default())
        .collect();
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(SQL)
        .bind(column(|d| d.id.clone()))
        .bind(
            batch
                .iter()
                .map(|d| d.application_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(batch.iter().map(|d| d.api_key_id).collect::<Vec<_>>())
        .bind(
            batch
                .iter()
                .map(|d| d.idempotency_key.clone())
                .collect::<Vec<_>>(),
        )
        .bind(column(|d| d.request_sha256.clone()))
        .bind(column(|d| d.input.as_str().to_owned()))
        .bind(column(|d| d.model_version.clone()))
        .bind(column(|d| d.policy_version.clone()))
        .bind(column(|d| d.policy_sha256.clone()))
        .bind(batch.iter().map(|d| d.probability).collect::<Vec<_>>())
        .bind(batch.iter().map(|d| d.score).collect::<Vec<_>>())
        .bind(column(|d| d.decision.as_str().to_owned()))
        .bind(reasons)
        .bind(batch.iter().map(|d| d.latency_us).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    let by_id: std::collections::HashMap<String, DateTime<Utc>> = rows.into_iter().collect();
    Ok(batch.iter().map(|d| by_id.get(&d.id).copied()).collect())
}
