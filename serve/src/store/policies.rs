//! Policies as stored artefacts: each text once, by its sha256, so that a decision's
//! `policy_sha256` finds the exact policy it was made with.

use chrono::{DateTime, Utc};

use super::chain::{self, Source};
use super::{Result, Store, on_pool};

#[derive(Clone, Debug, PartialEq)]
pub struct StoredPolicy {
    pub sha256: String,
    pub version: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Stores a policy's text under its sha256; storing the same text again changes nothing.
    pub async fn store_policy(&self, sha256: &str, version: &str, text: &str) -> Result<()> {
        const SQL: &str = "INSERT INTO policies (sha256, version, text) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256) DO NOTHING";
        on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let stored = sqlx::query(SQL)
                .bind(sha256)
                .bind(version)
                .bind(text)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if stored == 1 {
                chain::append(&mut *tx, Source::Policy, sha256).await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }

    pub async fn get_policy(&self, sha256: &str) -> Result<Option<StoredPolicy>> {
        const SQL: &str =
            "SELECT sha256, version, text, created_at FROM policies WHERE sha256 = $1";
        let row: Option<(String, String, String, DateTime<Utc>)> = on_pool!(self, pool =>
            sqlx::query_as(SQL).bind(sha256).fetch_optional(pool).await)?;
        Ok(row.map(|(sha256, version, text, created_at)| StoredPolicy {
            sha256,
            version,
            text,
            created_at,
        }))
    }
}
