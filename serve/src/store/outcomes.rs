//! Outcomes the bank reports for past decisions: the labels that retraining learns from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chain::{self, Source};
use super::{Result, Store, StoreError, on_pool};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    Default,
    Repaid,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Repaid => "repaid",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewOutcome {
    pub decision_id: String,
    pub outcome: OutcomeKind,
    pub observed_at: DateTime<Utc>,
    pub api_key_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub id: i64,
    pub record: NewOutcome,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    decision_id: String,
    outcome: String,
    observed_at: DateTime<Utc>,
    api_key_id: Option<i64>,
    created_at: DateTime<Utc>,
}

impl TryFrom<Row> for Outcome {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let outcome = match r.outcome.as_str() {
            "default" => OutcomeKind::Default,
            "repaid" => OutcomeKind::Repaid,
            other => return Err(StoreError::Corrupt(format!("outcome {}: {other}", r.id))),
        };
        Ok(Self {
            id: r.id,
            record: NewOutcome {
                decision_id: r.decision_id,
                outcome,
                observed_at: r.observed_at,
                api_key_id: r.api_key_id,
            },
            created_at: r.created_at,
        })
    }
}

/// What became of one reported outcome: its row, and whether this report stored it or an
/// identical earlier one did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutcomeStored {
    pub id: i64,
    pub repeated: bool,
}

impl Store {
    /// Stores outcomes in one transaction; a decision id that does not exist fails the batch.
    /// A report identical to a stored one (decision, outcome and `observed_at`) is not stored
    /// again: its entry names the stored row. Any other report is a new row, a correction when
    /// the decision had one already: the latest report counts.
    pub async fn insert_outcomes(&self, batch: &[NewOutcome]) -> Result<Vec<OutcomeStored>> {
        const INSERT: &str = "INSERT INTO outcomes (decision_id, outcome, observed_at, api_key_id, \
             once) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (decision_id, outcome, observed_at) WHERE once = 1 DO NOTHING RETURNING id";
        const STORED: &str = "SELECT id FROM outcomes WHERE decision_id = $1 AND outcome = $2 \
             AND observed_at = $3 AND once = 1";
        let ids: Result<Vec<OutcomeStored>, sqlx::Error> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(batch.len());
            for o in batch {
                let id: Option<i64> = sqlx::query_scalar(INSERT)
                    .bind(&o.decision_id)
                    .bind(o.outcome.as_str())
                    .bind(o.observed_at)
                    .bind(o.api_key_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let stored = match id {
                    Some(id) => {
                        chain::append(&mut *tx, Source::Outcome, &id.to_string()).await?;
                        OutcomeStored { id, repeated: false }
                    }
                    None => {
                        let id: i64 = sqlx::query_scalar(STORED)
                            .bind(&o.decision_id)
                            .bind(o.outcome.as_str())
                            .bind(o.observed_at)
                            .fetch_one(&mut *tx)
                            .await?;
                        OutcomeStored { id, repeated: true }
                    }
                };
                ids.push(stored);
            }
            tx.commit().await?;
            Ok(ids)
        }.await);
        ids.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound("a decision named by an outcome".into())
            }
            _ => StoreError::Database(e),
        })
    }

    /// Outcomes of one decision in the order they were reported; the last one counts.
    pub async fn outcomes_of(&self, decision_id: &str) -> Result<Vec<Outcome>> {
        const SQL: &str = "SELECT id, decision_id, outcome, observed_at, api_key_id, created_at \
             FROM outcomes WHERE decision_id = $1 ORDER BY id";
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(decision_id).fetch_all(pool).await)?;
        rows.into_iter().map(Outcome::try_from).collect()
    }
}
