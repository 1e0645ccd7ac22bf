//! Decisions: written once, in batches, never changed (the schema's triggers refuse it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::{Result, Store, StoreError, on_pool};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    Approve,
    Review,
    Decline,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Review => "review",
            Self::Decline => "decline",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Self::Approve),
            "review" => Some(Self::Review),
            "decline" => Some(Self::Decline),
            _ => None,
        }
    }
}

/// One reason behind a decision: a raw feature and how much it pushed the risk up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub feature: String,
    pub contribution: f64,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewDecision {
    pub id: String,
    pub application_id: Option<String>,
    pub api_key_id: i64,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request body: tells a true retry from a reused idempotency key.
    pub request_sha256: String,
    pub input: serde_json::Value,
    pub model_version: String,
    pub policy_version: String,
    pub policy_sha256: String,
    pub probability: f64,
    pub score: i32,
    pub decision: DecisionKind,
    pub reasons: Vec<Reason>,
    pub latency_us: i64,
}

impl NewDecision {
    /// Decision ids are UUIDv7: unique without coordination and sortable by time.
    pub fn new_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub record: NewDecision,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    application_id: Option<String>,
    created_at: DateTime<Utc>,
    api_key_id: i64,
    idempotency_key: Option<String>,
    request_sha256: String,
    input: Json<serde_json::Value>,
    model_version: String,
    policy_version: String,
    policy_sha256: String,
    probability: f64,
    score: i32,
    decision: String,
    reasons: Json<Vec<Reason>>,
    latency_us: i64,
}

impl TryFrom<Row> for Decision {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let decision = DecisionKind::parse(&r.decision).ok_or_else(|| {
            StoreError::Corrupt(format!("decision {}: kind {}", r.id, r.decision))
        })?;
        Ok(Self {
            created_at: r.created_at,
            record: NewDecision {
                id: r.id,
                application_id: r.application_id,
                api_key_id: r.api_key_id,
                idempotency_key: r.idempotency_key,
                request_sha256: r.request_sha256,
                input: r.input.0,
                model_version: r.model_version,
                policy_version: r.policy_version,
                policy_sha256: r.policy_sha256,
                probability: r.probability,
                score: r.score,
                decision,
                reasons: r.reasons.0,
                latency_us: r.latency_us,
            },
        })
    }
}

macro_rules! columns {
    () => {
        "id, application_id, created_at, api_key_id, idempotency_key, request_sha256, input, \
         model_version, policy_version, policy_sha256, probability, score, decision, reasons, \
         latency_us"
    };
}

impl Store {
    /// Writes decisions in one transaction: all are durable when this returns, or none is.
    /// Returns the commit timestamps in input order.
    pub async fn insert_decisions(&self, batch: &[NewDecision]) -> Result<Vec<DateTime<Utc>>> {
        const SQL: &str = "INSERT INTO decisions (id, application_id, api_key_id, idempotency_key, \
             request_sha256, input, model_version, policy_version, policy_sha256, probability, \
             score, decision, reasons, latency_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING created_at";
        let written: Result<Vec<DateTime<Utc>>, sqlx::Error> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let mut created = Vec::with_capacity(batch.len());
            for d in batch {
                let at: DateTime<Utc> = sqlx::query_scalar(SQL)
                    .bind(&d.id)
                    .bind(&d.application_id)
                    .bind(d.api_key_id)
                    .bind(&d.idempotency_key)
                    .bind(&d.request_sha256)
                    .bind(Json(&d.input))
                    .bind(&d.model_version)
                    .bind(&d.policy_version)
                    .bind(&d.policy_sha256)
                    .bind(d.probability)
                    .bind(d.score)
                    .bind(d.decision.as_str())
                    .bind(Json(&d.reasons))
                    .bind(d.latency_us)
                    .fetch_one(&mut *tx)
                    .await?;
                created.push(at);
            }
            tx.commit().await?;
            Ok(created)
        }.await);
        written.map_err(|e| {
            StoreError::from_write(e, || "a decision with this id or idempotency key".into())
        })
    }

    pub async fn get_decision(&self, id: &str) -> Result<Option<Decision>> {
        const SQL: &str = concat!("SELECT ", columns!(), " FROM decisions WHERE id = $1");
        let row: Option<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?;
        row.map(Decision::try_from).transpose()
    }

    /// The decision an earlier request with this key's idempotency key produced, if any.
    pub async fn decision_by_idempotency_key(
        &self,
        api_key_id: i64,
        idempotency_key: &str,
    ) -> Result<Option<Decision>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM decisions WHERE api_key_id = $1 AND idempotency_key = $2"
        );
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(api_key_id)
            .bind(idempotency_key)
            .fetch_optional(pool)
            .await)?;
        row.map(Decision::try_from).transpose()
    }

    /// The newest decisions first.
    pub async fn recent_decisions(&self, limit: u32) -> Result<Vec<Decision>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM decisions ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL).bind(i64::from(limit)).fetch_all(pool).await)?;
        rows.into_iter().map(Decision::try_from).collect()
    }

    pub async fn count_decisions(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM decisions";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?)
    }
}
