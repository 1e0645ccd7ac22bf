//! Request and response bodies of the scoring and decision routes, as the OpenAPI description
//! shows them.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::store::{Decision, JsonText, NewDecision};

/// One application to score.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ScoreRequest {
    /// The bank's own id for the application (optional, at most 128 bytes).
    application_id: Option<String>,
    /// The applicant's fields, as the served model's input schema names them, each name once.
    /// Stored with the decision exactly as sent.
    #[schema(value_type = Object)]
    application: Map<String, Value>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BatchScoreRequest {
    applications: Vec<ScoreRequest>,
}

/// One reason, as stored with the decision (see `DecisionBody::reasons`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ReasonBody {
    feature: String,
    /// How much this feature raised the log-odds of default, relative to the training population.
    contribution: f64,
    description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionBody {
    pub decision_id: String,
    pub application_id: Option<String>,
    pub model_version: String,
    pub policy_version: String,
    pub probability_of_default: f64,
    pub score: i32,
    /// `approve`, `review` or `decline`.
    pub decision: String,
    /// Why: the policy rules that fired (`policy:CODE`), then the model's strongest features.
    /// Exactly as stored with the decision.
    // The stored JSON itself: what the bank is told is byte for byte what the record says, and
    // the reasons are encoded once per decision, not once more for the answer.
    #[schema(value_type = Vec<ReasonBody>)]
    pub reasons: JsonText,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// The model inputs the application left out (absent, `null` or an NA token), which the
    /// model imputed from the training data. On the answer to a new decision; not on an
    /// idempotent replay or a decision read back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imputed: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchDecisionBody {
    pub decisions: Vec<DecisionBody>,
}

impl From<&Decision> for DecisionBody {
    fn from(d: &Decision) -> Self {
        Self::new(&d.record, d.created_at)
    }
}

impl DecisionBody {
    pub(crate) fn new(r: &NewDecision, created_at: DateTime<Utc>) -> Self {
        Self {
            decision_id: r.id.clone(),
            application_id: r.application_id.clone(),
            model_version: r.model_version.clone(),
            policy_version: r.policy_version.clone(),
            probability_of_default: r.probability,
            score: r.score,
            decision: r.decision.as_str().to_owned(),
            reasons: r.reasons.json().clone(),
            created_at,
            imputed: None,
        }
    }
}

/// A time exactly as chrono's `Serialize` writes it (RFC 3339, `Z`, and 0, 3, 6 or 9 fraction
/// digits, as few as the time needs), without going through `fmt`: chrono's way cost about
/// 2,400 instructions of every answer (callgrind, `bench/HISTORY.md`, 2026-12-03).
fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let year = t.year();
    let nanos = t.nanosecond();
    // Years of other than four digits and leap seconds: chrono's own path.
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.serialize(s);
    }
    let mut out = *b"0000-00-00T00:00:00.000000000Z";
    digits(&mut out[0..4], year as u32);
    digits(&mut out[5..7], t.month());
    digits(&mut out[8..10], t.day());
    digits(&mut out[11..13], t.hour());
    digits(&mut out[14..16], t.minute());
    digits(&mut out[17..19], t.second());
    let (fraction, width) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let mut end = 19;
    if width > 0 {
        digits(&mut out[20..20 + width], fraction);
        end = 20 + width;
    }
    out[end] = b'Z';
    s.serialize_str(std::str::from_utf8(&out[..=end]).expect("ASCII digits"))
}

/// Writes `value`'s last `out.len()` decimal digits into `out`, zero-padded.
fn digits(out: &mut [u8], mut value: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        #[derive(Serialize)]
        struct Ours(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);
        let base = Utc.with_ymd_and_hms(2026, 12, 3, 7, 5, 9).unwrap();
        let mut times = vec![
            base,
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 0, 0).unwrap(),
        ];
        let nanos = [1, 7, 1_000, 120_000, 1_000_000, 5_000_000, 123_456_789];
        for nanos in nanos {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A leap second, which chrono keeps as 1,000,000,000 ns or more.
        times.push(
            Utc.from_utc_datetime(
                &chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                    .unwrap()
                    .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                    .unwrap(),
            ),
        );
        for t in times {
            assert_eq!(
                serde_json::to_string(&Ours(t)).unwrap(),
                serde_json::to_string(&t).unwrap()
            );
        }
    }
}
