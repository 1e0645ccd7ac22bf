//! API keys in the database: insert, list, look up by hash, revoke, record use.

use chrono::{DateTime, Utc};

use super::{Result, Store, StoreError, on_pool};
use crate::api_key::Role;

#[derive(Debug)]
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub role: Role,
    pub prefix: &'a str,
    pub key_hash: &'a str,
}

/// A stored key. The hash stays in the database: nothing here can authenticate.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// When a rotated key stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key that replaced this one, once rotated.
    pub replaced_by: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    role: String,
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<i64>,
    replaced_by: Option<i64>,
}

impl TryFrom<Row> for ApiKey {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            role: r
                .role
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("api key {}: {e}", r.id)))?,
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at.and_then(|s| DateTime::from_timestamp(s, 0)),
            replaced_by: r.replaced_by,
        })
    }
}

macro_rules! columns {
    () => {
        "id, name, role, prefix, created_at, revoked_at, last_used_at, expires_at, replaced_by"
    };
}

impl Store {
    pub async fn insert_api_key(&self, key: &NewApiKey<'_>) -> Result<ApiKey> {
        const SQL: &str = concat!(
            "INSERT INTO api_keys (name, role, prefix, key_hash) VALUES ($1, $2, $3, $4) RETURNING ",
            columns!()
        );
        let row: Row = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(key.name)
            .bind(key.role.as_str())
            .bind(key.prefix)
            .bind(key.key_hash)
            .fetch_one(pool)
            .await)
        .map_err(|e| {
            StoreError::from_write(e, || format!("an API key with prefix {}", key.prefix))
        })?;
        row.try_into()
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        const SQL: &str = concat!("SELECT ", columns!(), " FROM api_keys ORDER BY id");
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    /// The key whose hash this is, if it exists, is not revoked and has not expired.
    pub async fn active_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)"
        );
        let now = Utc::now().timestamp();
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(key_hash)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        row.map(ApiKey::try_from).transpose()
    }

    /// The id of the key with this `rk_…` prefix.
    pub async fn api_key_id(&self, prefix: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM api_keys WHERE prefix = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).bind(prefix).fetch_optional(pool).await)?)
    }

    /// Finds a key by its numeric id or its `rk_…` prefix.
    pub async fn find_api_key(&self, id_or_prefix: &str) -> Result<ApiKey> {
        let not_found = || StoreError::NotFound(format!("API key `{id_or_prefix}`"));
        let row: Option<Row> = match id_or_prefix.parse::<i64>() {
            Ok(id) => {
                const SQL: &str = concat!("SELECT ", columns!(), " FROM api_keys WHERE id = $1");
                on_pool!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?
            }
            Err(_) => {
                const SQL: &str =
                    concat!("SELECT ", columns!(), " FROM api_keys WHERE prefix = $1");
                on_pool!(self, pool => sqlx::query_as(SQL).bind(id_or_prefix).fetch_optional(pool).await)?
            }
        };
        row.ok_or_else(not_found)?.try_into()
    }

    /// Replaces key `old` with `new` (same name and role): `old` keeps working for `grace`,
    /// then expires by itself. Refused for a revoked, expired or already rotated key.
    pub async fn rotate_api_key(
        &self,
        old: i64,
        new: &NewApiKey<'_>,
        grace: chrono::Duration,
    ) -> Result<ApiKey> {
        const INSERT: &str = concat!(
            "INSERT INTO api_keys (name, role, prefix, key_hash) VALUES ($1, $2, $3, $4) RETURNING ",
            columns!()
        );
        const RETIRE: &str = "UPDATE api_keys SET expires_at = $1, replaced_by = $2 \
             WHERE id = $3 AND revoked_at IS NULL AND replaced_by IS NULL \
             AND (expires_at IS NULL OR expires_at > $4)";
        let now = Utc::now();
        let until = (now + grace).timestamp();
        let row: Row = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: Row = sqlx::query_as(INSERT)
                .bind(new.name)
                .bind(new.role.as_str())
                .bind(new.prefix)
                .bind(new.key_hash)
                .fetch_one(&mut *tx)
                .await?;
            let done = sqlx::query(RETIRE)
                .bind(until)
                .bind(row.id)
                .bind(old)
                .bind(now.timestamp())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done != 1 {
                tx.rollback().await?;
                return Err(StoreError::NotFound(format!(
                    "API key {old} that is active and not already rotated"
                )));
            }
            tx.commit().await?;
            row
        });
        row.try_into()
    }

    /// Revokes a key; returns false if it was already revoked (the first revocation time stays).
    pub async fn revoke_api_key(&self, id: i64) -> Result<bool> {
        const SQL: &str =
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        let now = Utc::now();
        let done = on_pool!(self, pool => sqlx::query(SQL).bind(now).bind(id).execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// Records when keys were last used, many at once, so that auth needs no write per request.
    pub async fn touch_api_keys(&self, used: &[(i64, DateTime<Utc>)]) -> Result<()> {
        const SQL: &str = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (id, at) in used {
                sqlx::query(SQL).bind(*at).bind(*id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
