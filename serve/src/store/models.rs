//! The model registry: registered bundles, which one is champion, and the history of both.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::chain::{self, LedgerConn, Source};
use super::{Result, Store, StoreError, on_pool};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelStage {
    Registered,
    Challenger,
    Champion,
    Retired,
}

impl ModelStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Challenger => "challenger",
            Self::Champion => "champion",
            Self::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "registered" => Some(Self::Registered),
            "challenger" => Some(Self::Challenger),
            "champion" => Some(Self::Champion),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewModel {
    pub version: String,
    pub path: String,
    pub manifest_sha256: String,
    pub manifest: serde_json::Value,
    pub parent_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub record: NewModel,
    pub stage: ModelStage,
    pub registered_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    version: String,
    path: String,
    manifest_sha256: String,
    manifest: Json<serde_json::Value>,
    parent_version: Option<String>,
    stage: String,
    registered_at: DateTime<Utc>,
}

impl TryFrom<Row> for Model {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let stage = ModelStage::parse(&r.stage).ok_or_else(|| {
            StoreError::Corrupt(format!("model {}: stage {}", r.version, r.stage))
        })?;
        Ok(Self {
            stage,
            registered_at: r.registered_at,
            record: NewModel {
                version: r.version,
                path: r.path,
                manifest_sha256: r.manifest_sha256,
                manifest: r.manifest.0,
                parent_version: r.parent_version,
            },
        })
    }
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ModelEvent {
    pub id: i64,
    pub model_version: String,
    pub event: String,
    pub actor: String,
    #[sqlx(json)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "version, path, manifest_sha256, manifest, parent_version, stage, registered_at"
    };
}

/// Records a model event, linked into the ledger, in the caller's transaction.
async fn record_event<C: LedgerConn + ?Sized>(
    conn: &mut C,
    version: &str,
    event: &str,
    actor: &str,
    detail: &serde_json::Value,
) -> sqlx::Result<i64> {
    let id = conn.model_event((version, event, actor, detail)).await?;
    chain::append(conn, Source::ModelEvent, &id.to_string()).await?;
    Ok(id)
}

impl Store {
    /// Registers a bundle and records the event, atomically.
    pub async fn register_model(&self, model: &NewModel, actor: &str) -> Result<Model> {
        const SQL: &str = concat!(
            "INSERT INTO models (version, path, manifest_sha256, manifest, parent_version) \
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            columns!()
        );
        let row: Result<Row, sqlx::Error> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let row: Row = sqlx::query_as(SQL)
                .bind(&model.version)
                .bind(&model.path)
                .bind(&model.manifest_sha256)
                .bind(Json(&model.manifest))
                .bind(&model.parent_version)
                .fetch_one(&mut *tx)
                .await?;
            let detail = serde_json::json!({ "path": model.path });
            record_event(&mut *tx, &model.version, "registered", actor, &detail).await?;
            tx.commit().await?;
            Ok(row)
        }.await);
        row.map_err(|e| StoreError::from_write(e, || format!("model version {}", model.version)))?
            .try_into()
    }

    pub async fn get_model(&self, version: &str) -> Result<Option<Model>> {
        const SQL: &str = concat!("SELECT ", columns!(), " FROM models WHERE version = $1");
        let row: Option<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(version).fetch_optional(pool).await)?;
        row.map(Model::try_from).transpose()
    }

    /// All registered models, newest registration first.
    pub async fn list_models(&self) -> Result<Vec<Model>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM models ORDER BY registered_at DESC, version DESC"
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        rows.into_iter().map(Model::try_from).collect()
    }

    pub async fn champion(&self) -> Result<Option<Model>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM models WHERE stage = 'champion'"
        );
        let row: Option<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).fetch_optional(pool).await)?;
        row.map(Model::try_from).transpose()
    }

    /// Makes `version` the champion and the previous champion a plain registered model, in one
    /// transaction with both events. Returns the previous champion's version.
    pub async fn promote_model(&self, version: &str, actor: &str) -> Result<Option<String>> {
        // The first statement writes, so SQLite takes its write lock at once (a transaction that
        // reads first cannot upgrade while group commits are landing).
        const DEMOTE: &str = "UPDATE models SET stage = 'registered' \
             WHERE stage = 'champion' AND version <> $1 RETURNING version";
        const PROMOTE: &str = "UPDATE models SET stage = 'champion' \
             WHERE version = $1 AND stage NOT IN ('retired', 'champion')";
        const STAGE: &str = "SELECT stage FROM models WHERE version = $1";
        let outcome: Result<Result<Option<String>>, sqlx::Error> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let previous: Option<String> =
                sqlx::query_scalar(DEMOTE).bind(version).fetch_optional(&mut *tx).await?;
            if sqlx::query(PROMOTE).bind(version).execute(&mut *tx).await?.rows_affected() != 1 {
                let stage: Option<String> =
                    sqlx::query_scalar(STAGE).bind(version).fetch_optional(&mut *tx).await?;
                return Ok(match stage.as_deref() {
                    Some("champion") => Ok(Some(version.to_owned())),
                    _ => Err(StoreError::NotFound(format!("promotable model version {version}"))),
                });
            }
            if let Some(old) = &previous {
                let detail = serde_json::json!({ "replaced_by": version });
                record_event(&mut *tx, old, "demoted", actor, &detail).await?;
            }
            let detail = serde_json::json!({ "previous": previous });
            record_event(&mut *tx, version, "promoted", actor, &detail).await?;
            tx.commit().await?;
            Ok(Ok(previous))
        }.await);
        outcome?
    }

    /// The model that was champion before the current one: the last one demoted.
    pub async fn previous_champion(&self) -> Result<Option<String>> {
        const SQL: &str = "SELECT e.model_version FROM model_events e \
             JOIN models m ON m.version = e.model_version \
             WHERE e.event = 'demoted' AND m.stage <> 'champion' AND m.stage <> 'retired' \
             ORDER BY e.id DESC LIMIT 1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).fetch_optional(pool).await)?)
    }

    /// The registry history of one model, oldest first.
    pub async fn model_events(&self, version: &str) -> Result<Vec<ModelEvent>> {
        const SQL: &str = "SELECT id, model_version, event, actor, detail, created_at \
             FROM model_events WHERE model_version = $1 ORDER BY id";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL).bind(version).fetch_all(pool).await)?)
    }

    /// Records an event about a model that changes nothing else (an evaluation, a refusal).
    pub async fn record_model_event(
        &self,
        version: &str,
        event: &str,
        actor: &str,
        detail: &serde_json::Value,
    ) -> Result<i64> {
        Ok(on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let id = record_event(&mut *tx, version, event, actor, detail).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }.await)?)
    }
}
