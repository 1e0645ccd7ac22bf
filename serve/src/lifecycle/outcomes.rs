//! One reported outcome checked before it is stored, the same for the API and for
//! `riskloop outcomes import`: which decision it names (by decision id, or the latest decision
//! for an application id), what happened, and when, which may not precede the decision nor lie
//! in the future.

use chrono::{DateTime, Utc};

use crate::store::{NewOutcome, OutcomeKind, Store, StoreError};

/// An outcome as reported, every value still text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reported {
    pub decision_id: Option<String>,
    pub application_id: Option<String>,
    pub outcome: Option<String>,
    pub observed_at: Option<String>,
}

/// Why a reported outcome was refused.
#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    /// A value is wrong: the field is named.
    #[error("{field}: {rule}")]
    Field { field: &'static str, rule: String },
    /// The decision it names does not exist.
    #[error("{0} does not exist")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How far `observed_at` may be ahead of this server's clock, or behind the decision's time:
/// the bank's clock and ours disagree a little.
pub const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

fn field(field: &'static str, rule: impl Into<String>) -> OutcomeError {
    OutcomeError::Field {
        field,
        rule: rule.into(),
    }
}

/// Checks `reported` against the stored decisions; the outcome to store, without its key.
pub async fn check(store: &Store, reported: &Reported) -> Result<NewOutcome, OutcomeError> {
    let (decision_id, decided_at) = match (
        reported.decision_id.as_deref(),
        reported.application_id.as_deref(),
    ) {
        (Some(id), None) => {
            if !crate::uuid7::is_id(id) {
                return Err(field(
                    "decision_id",
                    "not a decision id (a lowercase hyphenated UUID)",
                ));
            }
            let at = store
                .decision_created_at(id)
                .await?
                .ok_or_else(|| OutcomeError::Unknown(format!("decision {id}")))?;
            (id.to_owned(), at)
        }
        (None, Some(application)) => {
            crate::decision::check::identifier(Some(application), "application_id")
                .map_err(|e| field("application_id", e.rule))?;
            store
                .latest_decision_for_application(application)
                .await?
                .ok_or_else(|| {
                    OutcomeError::Unknown(format!("a decision for application {application}"))
                })?
        }
        _ => {
            return Err(field(
                "decision_id",
                "give exactly one of decision_id and application_id",
            ));
        }
    };
    let outcome = match reported.outcome.as_deref() {
        Some("default") => OutcomeKind::Default,
        Some("repaid") => OutcomeKind::Repaid,
        _ => return Err(field("outcome", "required: default or repaid")),
    };
    let observed_at = reported
        .observed_at
        .as_deref()
        .ok_or_else(|| field("observed_at", "required: an RFC 3339 timestamp"))?;
    let observed_at = DateTime::parse_from_rfc3339(observed_at)
        .map_err(|e| field("observed_at", format!("not an RFC 3339 timestamp: {e}")))?
        .with_timezone(&Utc);
    if observed_at < decided_at - CLOCK_SKEW {
        return Err(field(
            "observed_at",
            format!("before the decision was made ({})", decided_at.to_rfc3339()),
        ));
    }
    if observed_at > Utc::now() + CLOCK_SKEW {
        return Err(field(
            "observed_at",
            "in the future: an outcome is reported once observed",
        ));
    }
    Ok(NewOutcome {
        decision_id,
        outcome,
        observed_at,
        api_key_id: None,
    })
}
