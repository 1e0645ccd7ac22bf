//! Background jobs (retraining, imports): queued, claimed once, finished with a result.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Result, Store, StoreError, on_pool};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub status: JobStatus,
    pub detail: serde_json::Value,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    kind: String,
    status: String,
    detail: Json<serde_json::Value>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for Job {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let status = JobStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("job {}: status {}", r.id, r.status)))?;
        Ok(Self {
            id: r.id,
            kind: r.kind,
            status,
            detail: r.detail.0,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

impl Store {
    pub async fn enqueue_job(&self, kind: &str, detail: &serde_json::Value) -> Result<i64> {
        const SQL: &str =
            "INSERT INTO jobs (kind, status, detail) VALUES ($1, 'queued', $2) RETURNING id";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL)
            .bind(kind)
            .bind(Json(detail))
            .fetch_one(pool)
            .await)?)
    }

    /// Moves a queued job to running. False if another worker claimed it first.
    pub async fn claim_job(&self, id: i64) -> Result<bool> {
        const SQL: &str = "UPDATE jobs SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'queued'";
        let done = on_pool!(self, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// Records how a running job ended: its result detail, or the error that stopped it.
    pub async fn finish_job(
        &self,
        id: i64,
        result: std::result::Result<&serde_json::Value, &str>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE jobs SET status = $1, detail = COALESCE($2, detail), error = $3, \
             finished_at = $4 WHERE id = $5 AND status = 'running'";
        let (status, detail, error) = match result {
            Ok(detail) => ("succeeded", Some(Json(detail)), None),
            Err(message) => ("failed", None, Some(message)),
        };
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(status)
            .bind(detail)
            .bind(error)
            .bind(Utc::now())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        if done == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("running job {id}")))
        }
    }

    /// Marks every running job of `kind` but `current` failed with `message`: for a kind that
    /// runs under an exclusive lease, those were left running by a process that stopped (killed,
    /// or shut down mid-run) and will never finish. Returns their ids.
    pub async fn abandon_jobs(&self, kind: &str, current: i64, message: &str) -> Result<Vec<i64>> {
        const SQL: &str = "UPDATE jobs SET status = 'failed', error = $1, finished_at = $2 \
             WHERE kind = $3 AND status = 'running' AND id <> $4 RETURNING id";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL)
            .bind(message)
            .bind(Utc::now())
            .bind(kind)
            .bind(current)
            .fetch_all(pool)
            .await)?)
    }

    pub async fn get_job(&self, id: i64) -> Result<Option<Job>> {
        const SQL: &str = "SELECT id, kind, status, detail, error, created_at, started_at, \
             finished_at FROM jobs WHERE id = $1";
        let row: Option<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?;
        row.map(Job::try_from).transpose()
    }

    /// Replaces a running job's detail: its progress so far, for a resume and for whoever
    /// watches it.
    pub async fn update_job_detail(&self, id: i64, detail: &serde_json::Value) -> Result<()> {
        const SQL: &str = "UPDATE jobs SET detail = $1 WHERE id = $2 AND status = 'running'";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(Json(detail))
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        if done == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("running job {id}")))
        }
    }

    /// Jobs of one kind (all kinds when `None`), newest first.
    pub async fn list_jobs(&self, kind: Option<&str>, limit: u32) -> Result<Vec<Job>> {
        const SQL: &str = "SELECT id, kind, status, detail, error, created_at, started_at, \
             finished_at FROM jobs WHERE (CAST($1 AS TEXT) IS NULL OR kind = $1) ORDER BY id DESC LIMIT $2";
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(kind)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(Job::try_from).collect()
    }
}
