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
        })
    }
}

macro_rules! columns {
    () => {
        "id, name, role, prefix, created_at, revoked_at, last_used_at"
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

    /// The key whose hash this is, if it exists and is not revoked.
    pub async fn active_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        );
        let row: Option<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(key_hash).fetch_optional(pool).await)?;
        row.map(ApiKey::try_from).transpose()
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
