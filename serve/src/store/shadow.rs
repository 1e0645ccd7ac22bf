//! The attached challenger (one row, or none) and what it, or the champion beside it, made of
//! live decisions (`shadow_scores`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{DecisionKind, Result, Store, StoreError, on_pool};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Challenger {
    pub model_version: String,
    pub traffic_percent: i32,
    pub attached_by: String,
    pub attached_at: DateTime<Utc>,
}

/// One model's view of a decision another model made.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowScore {
    pub decision_id: String,
    pub model_version: String,
    pub probability: f64,
    pub score: i32,
    pub decision: DecisionKind,
    /// The reasons as JSON text.
    pub reasons: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    decision_id: String,
    model_version: String,
    probability: f64,
    score: i32,
    decision: String,
    reasons: Json<Box<serde_json::value::RawValue>>,
}

impl Store {
    pub async fn challenger(&self) -> Result<Option<Challenger>> {
        const SQL: &str = "SELECT model_version, traffic_percent, attached_by, attached_at \
             FROM challenger WHERE id = 1";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL).fetch_optional(pool).await)?)
    }

    /// Attaches `version` as the challenger (replacing any other).
    pub async fn attach_challenger(
        &self,
        version: &str,
        traffic_percent: i32,
        actor: &str,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO challenger (id, model_version, traffic_percent, \
             attached_by) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
             model_version = excluded.model_version, traffic_percent = excluded.traffic_percent, \
             attached_by = excluded.attached_by, attached_at = excluded.attached_at";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(version)
            .bind(traffic_percent)
            .bind(actor)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| StoreError::from_write(e, || format!("model version {version}")))?;
        Ok(())
    }

    /// Detaches the challenger; false if none was attached.
    pub async fn detach_challenger(&self) -> Result<bool> {
        const SQL: &str = "DELETE FROM challenger WHERE id = 1";
        let done = on_pool!(self, pool => sqlx::query(SQL).execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// Stores shadow scores; one already stored for the same decision and model is kept.
    pub async fn insert_shadow_scores(&self, scores: &[ShadowScore]) -> Result<()> {
        const SQL: &str = "INSERT INTO shadow_scores (decision_id, model_version, probability, \
             score, decision, reasons) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (decision_id, model_version) DO NOTHING";
        let done: Result<(), sqlx::Error> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            for s in scores {
                let reasons = serde_json::value::RawValue::from_string(s.reasons.clone())
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                sqlx::query(SQL)
                    .bind(&s.decision_id)
                    .bind(&s.model_version)
                    .bind(s.probability)
                    .bind(s.score)
                    .bind(s.decision.as_str())
                    .bind(Json(reasons))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }.await);
        Ok(done?)
    }

    /// The shadow scores of one decision.
    pub async fn shadow_scores_of(&self, decision_id: &str) -> Result<Vec<ShadowScore>> {
        const SQL: &str = "SELECT decision_id, model_version, probability, score, decision, \
             reasons FROM shadow_scores WHERE decision_id = $1 ORDER BY model_version";
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(decision_id).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|r| {
                let decision = DecisionKind::parse(&r.decision).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "shadow score of {}: {}",
                        r.decision_id, r.decision
                    ))
                })?;
                Ok(ShadowScore {
                    decision_id: r.decision_id,
                    model_version: r.model_version,
                    probability: r.probability,
                    score: r.score,
                    decision,
                    reasons: r.reasons.0.get().to_owned(),
                })
            })
            .collect()
    }
}
