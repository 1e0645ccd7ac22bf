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

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Self::Approve),
            "review" => Some(Self::Review),
            "decline" => Some(Self::Decline),
            _ => None,
        }
    }
}

/// JSON encoded once, where it is made (on an HTTP worker), so that the decision writer's serial
/// path only binds its text, which both engines keep as written. Two are equal when their JSON
/// values are: PostgreSQL gives decisions stored before it kept `json` (migration 13) back
/// formatted by `jsonb`.
#[derive(Clone, Debug)]
pub struct JsonText(Box<serde_json::value::RawValue>);

impl JsonText {
    pub fn encode(value: &impl Serialize) -> serde_json::Result<Self> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The JSON value, parsed again.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }
}

/// JSON kept as it was received: it is already valid, so it is stored without being encoded again.
impl From<&serde_json::value::RawValue> for JsonText {
    fn from(raw: &serde_json::value::RawValue) -> Self {
        Self(raw.to_owned())
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.value() == other.value()
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One reason behind a decision: a raw feature and how much it pushed the risk up. Read back
/// with owned text; made with text borrowed from the model and the policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason<S = String> {
    pub feature: S,
    pub contribution: f64,
    pub description: S,
}

/// The reasons behind a decision as JSON, encoded once where they are made, like [`JsonText`]:
/// encoding them took an eighth of the SQLite writer's serial time. The answer carries the same
/// text.
#[derive(Clone, Debug, PartialEq)]
pub struct Reasons(JsonText);

impl Reasons {
    pub fn new<S: Serialize>(list: &[Reason<S>]) -> serde_json::Result<Self> {
        JsonText::encode(&list).map(Self)
    }

    pub fn json(&self) -> &JsonText {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewDecision {
    pub id: String,
    pub application_id: Option<String>,
    pub api_key_id: i64,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request body: tells a true retry from a reused idempotency key.
    pub request_sha256: String,
    /// The application as the bank sent it (its fields were read from this text and nothing
    /// else).
    pub input: JsonText,
    pub model_version: String,
    pub policy_version: String,
    pub policy_sha256: String,
    pub probability: f64,
    pub score: i32,
    pub decision: DecisionKind,
    pub reasons: Reasons,
    pub latency_us: i64,
}

impl NewDecision {
    /// Decision ids are UUIDv7: unique without coordination and sortable by time.
    pub fn new_id() -> String {
        crate::uuid7::new()
    }
}

/// Which decisions to list. Ids are UUIDv7, so id order is time order.
#[derive(Clone, Debug, Default)]
pub struct DecisionFilter {
    pub before: Option<String>,
    pub decision: Option<DecisionKind>,
    pub model_version: Option<String>,
    pub application_id: Option<String>,
    /// Made at or after this decision id (see `store::id_lower_bound`), and before this one.
    pub from_id: Option<String>,
    pub to_id: Option<String>,
    pub min_score: Option<i32>,
    pub max_score: Option<i32>,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub record: NewDecision,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: String,
    application_id: Option<String>,
    created_at: DateTime<Utc>,
    api_key_id: i64,
    idempotency_key: Option<String>,
    request_sha256: String,
    input: Json<Box<serde_json::value::RawValue>>,
    model_version: String,
    policy_version: String,
    policy_sha256: String,
    probability: f64,
    score: i32,
    decision: String,
    reasons: Json<Box<serde_json::value::RawValue>>,
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
                input: JsonText(r.input.0),
                model_version: r.model_version,
                policy_version: r.policy_version,
                policy_sha256: r.policy_sha256,
                probability: r.probability,
                score: r.score,
                decision,
                reasons: Reasons(JsonText(r.reasons.0)),
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
pub(super) use columns;

impl Store {
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

    /// The newest decisions first (by id: UUIDv7 ids sort by time).
    pub async fn recent_decisions(&self, limit: u32) -> Result<Vec<Decision>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM decisions ORDER BY id DESC LIMIT $1"
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL).bind(i64::from(limit)).fetch_all(pool).await)?;
        rows.into_iter().map(Decision::try_from).collect()
    }

    /// Decisions matching `filter`, newest first; page with `before` (the last id seen).
    pub async fn list_decisions(&self, filter: &DecisionFilter) -> Result<Vec<Decision>> {
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(concat!("SELECT ", columns!(), " FROM decisions WHERE 1 = 1"));
            if let Some(before) = &filter.before {
                q.push(" AND id < ").push_bind(before);
            }
            if let Some(kind) = filter.decision {
                q.push(" AND decision = ").push_bind(kind.as_str());
            }
            if let Some(version) = &filter.model_version {
                q.push(" AND model_version = ").push_bind(version);
            }
            if let Some(application) = &filter.application_id {
                q.push(" AND application_id = ").push_bind(application);
            }
            if let Some(from) = &filter.from_id {
                q.push(" AND id >= ").push_bind(from);
            }
            if let Some(to) = &filter.to_id {
                q.push(" AND id < ").push_bind(to);
            }
            if let Some(min) = filter.min_score {
                q.push(" AND score >= ").push_bind(min);
            }
            if let Some(max) = filter.max_score {
                q.push(" AND score <= ").push_bind(max);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit));
            q.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(Decision::try_from).collect()
    }

    /// The newest decision taken for a bank's application id, and when it was made.
    pub async fn latest_decision_for_application(
        &self,
        application_id: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>> {
        const SQL: &str = "SELECT id, created_at FROM decisions WHERE application_id = $1 \
             ORDER BY id DESC LIMIT 1";
        Ok(
            on_pool!(self, pool => sqlx::query_as(SQL).bind(application_id).fetch_optional(pool).await)?,
        )
    }

    /// When a decision was made, if it exists.
    pub async fn decision_created_at(&self, id: &str) -> Result<Option<DateTime<Utc>>> {
        const SQL: &str = "SELECT created_at FROM decisions WHERE id = $1";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).bind(id).fetch_optional(pool).await)?)
    }

    /// When each of these decisions was committed; those not stored are absent.
    pub async fn committed_at(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let rows: Vec<(String, DateTime<Utc>)> = on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT id, created_at FROM decisions WHERE id IN (");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            q.push(")");
            q.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().collect())
    }

    pub async fn count_decisions(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM decisions";
        Ok(on_pool!(self, pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?)
    }
}
