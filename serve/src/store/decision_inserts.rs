//! Writing decisions: a whole batch in one transaction, in as few statements as each engine
//! allows, skipping idempotent repeats.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{NewDecision, Result, Store, StoreError};

impl Store {
    /// Writes decisions in one transaction (one sync): all are durable when this returns, or
    /// none is. A decision whose `(api_key_id, idempotency_key)` is already stored (or repeated
    /// earlier in the batch) is skipped: its entry is `None`. The others get their commit
    /// timestamps, in input order.
    pub async fn insert_decisions(
        &self,
        batch: &[NewDecision],
    ) -> Result<Vec<Option<DateTime<Utc>>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let written = match &self.pool {
            super::Pool::Sqlite(pool) => insert_sqlite(pool, batch).await,
            super::Pool::Postgres(pool) => insert_postgres(pool, batch).await,
        };
        written.map_err(|e| StoreError::from_write(e, || "a decision with this id".into()))
    }
}

macro_rules! insert_columns {
    () => {
        "INSERT INTO decisions (id, application_id, api_key_id, idempotency_key, request_sha256, \
         input, model_version, policy_version, policy_sha256, probability, score, decision, \
         reasons, latency_us) "
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

async fn insert_sqlite(
    pool: &sqlx::SqlitePool,
    batch: &[NewDecision],
) -> std::result::Result<Vec<Option<DateTime<Utc>>>, sqlx::Error> {
    let created: Vec<(String, DateTime<Utc>)> = if batch.len() <= SQLITE_ROWS_PER_STATEMENT {
        sqlite_insert(batch)
            .build_query_as()
            .fetch_all(pool)
            .await?
    } else {
        let mut tx = pool.begin().await?;
        let mut created = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(SQLITE_ROWS_PER_STATEMENT) {
            created.extend(
                sqlite_insert(chunk)
                    .build_query_as::<(String, DateTime<Utc>)>()
                    .fetch_all(&mut *tx)
                    .await?,
            );
        }
        tx.commit().await?;
        created
    };
    let created: std::collections::HashMap<String, DateTime<Utc>> = created.into_iter().collect();
    Ok(batch.iter().map(|d| created.get(&d.id).copied()).collect())
}

fn sqlite_insert(rows: &[NewDecision]) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut query = sqlx::QueryBuilder::new(insert_columns!());
    query.push_values(rows, |mut row, d| {
        row.push_bind(&d.id)
            .push_bind(&d.application_id)
            .push_bind(d.api_key_id)
            .push_bind(&d.idempotency_key)
            .push_bind(&d.request_sha256)
            .push_bind(Json(&d.input))
            .push_bind(&d.model_version)
            .push_bind(&d.policy_version)
            .push_bind(&d.policy_sha256)
            .push_bind(d.probability)
            .push_bind(d.score)
            .push_bind(d.decision.as_str())
            .push_bind(Json(&d.reasons))
            .push_bind(d.latency_us);
    });
    query.push(concat!(skip_duplicates!(), " RETURNING id, created_at"));
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
    let json = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_default();
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
        .bind(batch.iter().map(|d| json(&d.input)).collect::<Vec<_>>())
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
