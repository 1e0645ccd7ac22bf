//! What the analyst UI reads and keeps: sign-in sessions, the review queue, and decision
//! counts by time and score for the overview. Time ranges are id ranges: decision ids are
//! UUIDv7, so `id >= lower bound of a time` selects by time on the primary key, on both engines.

use chrono::{DateTime, Utc};

use super::decisions::Row as DecisionRow;
use super::{Decision, DecisionKind, Engine, Result, Store, StoreError, on_pool};
use crate::api_key::Role;

/// A signed-in analyst or admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiSession {
    pub api_key_id: i64,
    pub key_name: String,
    pub role: Role,
    pub csrf: String,
}

/// How finely the overview counts decisions over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Minute,
    Hour,
    Day,
}

impl TimeUnit {
    /// Characters of an ISO timestamp (`2026-12-06T10:15`) that name one bucket.
    fn prefix(self) -> usize {
        match self {
            Self::Minute => 16,
            Self::Hour => 13,
            Self::Day => 10,
        }
    }

    fn postgres_format(self) -> &'static str {
        match self {
            Self::Minute => "YYYY-MM-DD\"T\"HH24:MI",
            Self::Hour => "YYYY-MM-DD\"T\"HH24",
            Self::Day => "YYYY-MM-DD",
        }
    }

    /// The bucket's start from its ISO prefix.
    fn start(self, prefix: &str) -> Option<DateTime<Utc>> {
        let full = match self {
            Self::Minute => format!("{prefix}:00Z"),
            Self::Hour => format!("{prefix}:00:00Z"),
            Self::Day => format!("{prefix}T00:00:00Z"),
        };
        DateTime::parse_from_rfc3339(&full)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// Decisions made in one bucket of time, by kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    pub start: DateTime<Utc>,
    pub approve: i64,
    pub review: i64,
    pub decline: i64,
}

impl Volume {
    pub fn total(&self) -> i64 {
        self.approve + self.review + self.decline
    }
}

/// The smallest decision id made at or after `at` (UUIDv7: 48 bits of Unix milliseconds first).
pub fn id_lower_bound(at: DateTime<Utc>) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0) & 0xffff_ffff_ffff;
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// When the decision with this id was made, from its UUIDv7 timestamp.
pub fn id_time(id: &str) -> Option<DateTime<Utc>> {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    let ms = i64::from_str_radix(&hex, 16).ok()?;
    DateTime::from_timestamp_millis(ms)
}

impl Store {
    pub async fn create_ui_session(
        &self,
        token_hash: &str,
        api_key_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO ui_sessions (token_hash, api_key_id, csrf, expires_at) \
                           VALUES ($1, $2, $3, $4)";
        // Expired sessions go when new ones come, so the table stays the size of its users.
        const PURGE: &str = "DELETE FROM ui_sessions WHERE expires_at <= $1";
        let now = Utc::now().timestamp();
        on_pool!(self, pool => {
            sqlx::query(PURGE).bind(now).execute(pool).await?;
            sqlx::query(SQL)
                .bind(token_hash)
                .bind(api_key_id)
                .bind(csrf)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The live session with this token hash: not expired, its key not revoked.
    pub async fn ui_session(&self, token_hash: &str) -> Result<Option<UiSession>> {
        const SQL: &str = "SELECT k.id, k.name, k.role, s.csrf FROM ui_sessions s \
             JOIN api_keys k ON k.id = s.api_key_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL \
             AND (k.expires_at IS NULL OR k.expires_at > $2)";
        let now = Utc::now().timestamp();
        let row: Option<(i64, String, String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        row.map(|(api_key_id, key_name, role, csrf)| {
            Ok(UiSession {
                role: role
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("api key {api_key_id}: {e}")))?,
                api_key_id,
                key_name,
                csrf,
            })
        })
        .transpose()
    }

    pub async fn delete_ui_session(&self, token_hash: &str) -> Result<()> {
        const SQL: &str = "DELETE FROM ui_sessions WHERE token_hash = $1";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(token_hash).execute(pool).await?;
        });
        Ok(())
    }

    /// Decisions in `review` that no analyst has reviewed yet, oldest first.
    pub async fn review_queue(&self, limit: u32) -> Result<(Vec<Decision>, i64)> {
        const SQL: &str = concat!(
            "SELECT ",
            super::decisions::columns!(),
            " FROM decisions d WHERE decision = 'review' \
              AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.decision_id = d.id) \
              ORDER BY id LIMIT $1"
        );
        const COUNT: &str = "SELECT COUNT(*) FROM decisions d WHERE decision = 'review' \
              AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.decision_id = d.id)";
        let (rows, waiting): (Vec<DecisionRow>, i64) = on_pool!(self, pool => (
            sqlx::query_as(SQL).bind(i64::from(limit)).fetch_all(pool).await?,
            sqlx::query_scalar(COUNT).fetch_one(pool).await?,
        ));
        let decisions = rows
            .into_iter()
            .map(Decision::try_from)
            .collect::<Result<_>>()?;
        Ok((decisions, waiting))
    }

    /// The first and last decision ids at or after `from`, if any.
    pub async fn decision_span(&self, from: DateTime<Utc>) -> Result<Option<(String, String)>> {
        const SQL: &str = "SELECT MIN(id), MAX(id) FROM decisions WHERE id >= $1";
        let bound = id_lower_bound(from);
        let (first, last): (Option<String>, Option<String>) =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(&bound).fetch_one(pool).await)?;
        Ok(first.zip(last))
    }

    /// Decisions made since `from`, counted per `unit` of commit time, oldest first.
    pub async fn decision_volume(
        &self,
        from: DateTime<Utc>,
        unit: TimeUnit,
    ) -> Result<Vec<Volume>> {
        let bucket = match self.engine() {
            Engine::Sqlite => format!("substr(created_at, 1, {})", unit.prefix()),
            Engine::Postgres => format!(
                "to_char(created_at AT TIME ZONE 'UTC', '{}')",
                unit.postgres_format()
            ),
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {bucket} AS bucket, decision, COUNT(*) FROM decisions WHERE id >= $1 \
             GROUP BY bucket, decision ORDER BY bucket"
        ));
        let bound = id_lower_bound(from);
        let rows: Vec<(String, String, i64)> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(&bound).fetch_all(pool).await)?;
        let mut volume: Vec<Volume> = Vec::new();
        for (bucket, kind, count) in rows {
            let Some(start) = unit.start(&bucket) else {
                return Err(StoreError::Corrupt(format!("decision time {bucket}")));
            };
            if volume.last().is_none_or(|v| v.start != start) {
                volume.push(Volume {
                    start,
                    approve: 0,
                    review: 0,
                    decline: 0,
                });
            }
            let last = volume.last_mut().expect("pushed above");
            match DecisionKind::parse(&kind) {
                Some(DecisionKind::Approve) => last.approve += count,
                Some(DecisionKind::Review) => last.review += count,
                Some(DecisionKind::Decline) => last.decline += count,
                None => return Err(StoreError::Corrupt(format!("decision kind {kind}"))),
            }
        }
        Ok(volume)
    }

    /// Decisions made since `from`, counted per band of `width` score points: (band start, count).
    pub async fn score_histogram(
        &self,
        from: DateTime<Utc>,
        width: i32,
    ) -> Result<Vec<(i32, i64)>> {
        const SQL: &str = "SELECT (score / $2) * $2 AS band, COUNT(*) FROM decisions \
             WHERE id >= $1 AND score >= 0 GROUP BY band ORDER BY band";
        let bound = id_lower_bound(from);
        let rows: Vec<(i32, i64)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(&bound)
            .bind(width)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_bound_sorts_with_the_ids_of_its_time() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T10:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let bound = id_lower_bound(at);
        assert_eq!(
            id_time(&format!("{bound}-7000-8000-000000000000")),
            Some(at)
        );
        let earlier = id_lower_bound(at - chrono::Duration::milliseconds(1));
        assert!(earlier < bound);
        let id = crate::uuid7::new();
        let made = id_time(&id).unwrap();
        assert!((Utc::now() - made).num_seconds().abs() < 5, "{id}");
        assert!(id.as_str() >= id_lower_bound(made).as_str());
        assert!(id.as_str() < id_lower_bound(made + chrono::Duration::milliseconds(1)).as_str());
    }
}
