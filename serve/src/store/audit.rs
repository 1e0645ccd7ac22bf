//! The audit log: who did what to keys, models and policies. Append-only.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::chain::{self, Source};
use super::{Result, Store, on_pool};

#[derive(Debug)]
pub struct NewAuditEntry<'a> {
    /// `cli`, or `key:<id>` for an API caller.
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[sqlx(json)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn audit(&self, entry: &NewAuditEntry<'_>) -> Result<i64> {
        const SQL: &str = "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4) RETURNING id";
        Ok(on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(SQL)
                .bind(entry.actor)
                .bind(entry.action)
                .bind(entry.target)
                .bind(Json(&entry.detail))
                .fetch_one(&mut *tx)
                .await?;
            chain::append(&mut *tx, Source::Audit, &id.to_string()).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }.await)?)
    }

    /// The newest entries first.
    pub async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        const SQL: &str = "SELECT id, actor, action, target, detail, created_at FROM audit_log \
             ORDER BY id DESC LIMIT $1";
        Ok(
            on_pool!(self, pool => sqlx::query_as(SQL).bind(i64::from(limit)).fetch_all(pool).await)?,
        )
    }
}
