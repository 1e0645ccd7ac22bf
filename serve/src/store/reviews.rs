//! Analyst reviews: a reviewed decision keeps its row; the review is a new row pointing at it.

use chrono::{DateTime, Utc};

use super::chain::{self, Source};
use super::{DecisionKind, Result, Store, StoreError, on_pool};

#[derive(Debug)]
pub struct NewReview<'a> {
    pub decision_id: &'a str,
    pub api_key_id: i64,
    /// The analyst's final word: approve or decline (never "review" again).
    pub decision: DecisionKind,
    pub note: &'a str,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    pub id: i64,
    pub decision_id: String,
    pub api_key_id: i64,
    pub decision: DecisionKind,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    decision_id: String,
    api_key_id: i64,
    decision: String,
    note: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<Row> for Review {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let decision = match r.decision.as_str() {
            "approve" => DecisionKind::Approve,
            "decline" => DecisionKind::Decline,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "review {}: decision {other}",
                    r.id
                )));
            }
        };
        Ok(Self {
            id: r.id,
            decision_id: r.decision_id,
            api_key_id: r.api_key_id,
            decision,
            note: r.note,
            created_at: r.created_at,
        })
    }
}

macro_rules! columns {
    () => {
        "id, decision_id, api_key_id, decision, note, created_at"
    };
}

impl Store {
    pub async fn insert_review(&self, review: &NewReview<'_>) -> Result<Review> {
        if review.decision == DecisionKind::Review {
            return Err(StoreError::Conflict(
                "a review must approve or decline".into(),
            ));
        }
        const SQL: &str = concat!(
            "INSERT INTO reviews (decision_id, api_key_id, decision, note) VALUES ($1, $2, $3, $4) \
             RETURNING ",
            columns!()
        );
        let row: Row = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            let row: Row = sqlx::query_as(SQL)
                .bind(review.decision_id)
                .bind(review.api_key_id)
                .bind(review.decision.as_str())
                .bind(review.note)
                .fetch_one(&mut *tx)
                .await?;
            chain::append(&mut *tx, Source::Review, &row.id.to_string()).await?;
            tx.commit().await?;
            Ok(row)
        }.await)
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound(format!("decision {}", review.decision_id))
            }
            _ => StoreError::Database(e),
        })?;
        row.try_into()
    }

    /// Reviews of one decision, oldest first.
    pub async fn reviews_of(&self, decision_id: &str) -> Result<Vec<Review>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM reviews WHERE decision_id = $1 ORDER BY id"
        );
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(decision_id).fetch_all(pool).await)?;
        rows.into_iter().map(Review::try_from).collect()
    }
}
