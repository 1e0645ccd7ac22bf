//! Decisions with the outcome that counts (the latest reported), read in pages in id order
//! (UUIDv7: time order), so that a retrain can stream millions of them without holding them.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{OutcomeKind, Result, Store, StoreError, on_pool};

/// One decision and its outcome, as the retrain reads them.
#[derive(Clone, Debug)]
pub struct Labelled {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The application as the bank sent it (JSON text).
    pub input: String,
    pub outcome: OutcomeKind,
    pub observed_at: DateTime<Utc>,
}

/// A declined decision without an outcome (it never became a loan): what reject inference
/// works from.
#[derive(Clone, Debug)]
pub struct Declined {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The application as the bank sent it (JSON text).
    pub input: String,
    /// The probability of default the deciding model gave.
    pub probability: f64,
}

#[derive(sqlx::FromRow)]
struct DeclinedRow {
    id: String,
    created_at: DateTime<Utc>,
    input: Json<Box<serde_json::value::RawValue>>,
    probability: f64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    created_at: DateTime<Utc>,
    input: Json<Box<serde_json::value::RawValue>>,
    outcome: String,
    observed_at: DateTime<Utc>,
}

impl Store {
    /// Up to `limit` decisions with an outcome whose id is after `after`, in id order.
    pub async fn labelled_decisions(&self, after: &str, limit: u32) -> Result<Vec<Labelled>> {
        const SQL: &str = "SELECT d.id, d.created_at, d.input, o.outcome, o.observed_at \
             FROM decisions d JOIN outcomes o ON o.decision_id = d.id \
             WHERE d.id > $1 \
             AND o.id = (SELECT MAX(l.id) FROM outcomes l WHERE l.decision_id = d.id) \
             ORDER BY d.id LIMIT $2";
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|r| {
                let outcome = match r.outcome.as_str() {
                    "default" => OutcomeKind::Default,
                    "repaid" => OutcomeKind::Repaid,
                    other => {
                        return Err(StoreError::Corrupt(format!("outcome of {}: {other}", r.id)));
                    }
                };
                Ok(Labelled {
                    id: r.id,
                    created_at: r.created_at,
                    input: r.input.0.get().to_owned(),
                    outcome,
                    observed_at: r.observed_at,
                })
            })
            .collect()
    }

    /// Up to `limit` declined decisions with no outcome whose id is after `after`, in id order.
    pub async fn unlabelled_declines(&self, after: &str, limit: u32) -> Result<Vec<Declined>> {
        const SQL: &str = "SELECT d.id, d.created_at, d.input, d.probability FROM decisions d \
             WHERE d.id > $1 AND d.decision = 'decline' \
             AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.decision_id = d.id) \
             ORDER BY d.id LIMIT $2";
        let rows: Vec<DeclinedRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| Declined {
                id: r.id,
                created_at: r.created_at,
                input: r.input.0.get().to_owned(),
                probability: r.probability,
            })
            .collect())
    }
}

/// Decisions of one model with an outcome, in one score band.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Band {
    /// Scores from `from` up to `from + width`.
    pub from: i32,
    pub decisions: i64,
    /// Mean probability of default the model gave them, and the share that defaulted.
    pub predicted: f64,
    pub observed: f64,
}

#[derive(sqlx::FromRow)]
struct BandRow {
    band: i64,
    decisions: i64,
    predicted: f64,
    defaults: i64,
}

impl Store {
    /// Predicted against observed default rate by score band of `width` points, over the
    /// decisions `model_version` made that have an outcome (the latest reported counts).
    pub async fn default_rates(&self, model_version: &str, width: i32) -> Result<Vec<Band>> {
        const SQL: &str = "SELECT CAST(d.score / $2 AS BIGINT) AS band, \
             COUNT(*) AS decisions, CAST(AVG(d.probability) AS DOUBLE PRECISION) AS predicted, \
             CAST(SUM(CASE WHEN o.outcome = 'default' THEN 1 ELSE 0 END) AS BIGINT) AS defaults \
             FROM decisions d JOIN outcomes o ON o.decision_id = d.id \
             WHERE d.model_version = $1 \
             AND o.id = (SELECT MAX(l.id) FROM outcomes l WHERE l.decision_id = d.id) \
             GROUP BY 1 ORDER BY 1";
        let rows: Vec<BandRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(model_version)
            .bind(width)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| Band {
                from: (r.band as i32) * width,
                decisions: r.decisions,
                predicted: r.predicted,
                observed: r.defaults as f64 / r.decisions.max(1) as f64,
            })
            .collect())
    }
}

#[derive(sqlx::FromRow)]
struct InputRow {
    id: String,
    input: Json<Box<serde_json::value::RawValue>>,
}

impl Store {
    /// The stored applications of up to `limit` decisions from `first` on, in id order: every
    /// application of a period, declined ones included.
    pub async fn applications_from(
        &self,
        first: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        const SQL: &str = "SELECT id, input FROM decisions WHERE id >= $1 ORDER BY id LIMIT $2";
        let rows: Vec<InputRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(first)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| (r.id, r.input.0.get().to_owned()))
            .collect())
    }
}
