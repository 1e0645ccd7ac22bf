//! Decisions: the filtered, paged list; one decision's page (the application, how the model
//! read and weighed it, reasons, versions, reviews, outcome, the challenger's view); the
//! review queue; and an analyst's review, which adds a row and never changes the decision.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use super::charts;
use super::session::Signed;
use super::{Chrome, UiError, fmt, render, see_other, url_escape};
use crate::decision::{self, ServedModel};
use crate::http::AppState;
use crate::http::auth::Permission;
use crate::http::routes::decisions::{decision_id, stored};
use crate::registry;
use crate::store::{Decision, DecisionFilter, DecisionKind, NewReview, id_lower_bound};

const PAGE: u32 = 50;
/// Decisions the review queue shows at once, each with its form.
const QUEUE_PAGE: u32 = 20;

/// A decision as a row of a table.
#[derive(Debug)]
pub struct Row {
    pub id: String,
    pub time: String,
    pub application_id: String,
    pub decision: &'static str,
    pub score: i32,
    pub probability: String,
    pub model_version: String,
    pub top_reason: String,
}

fn row(d: &Decision) -> Row {
    let r = &d.record;
    let reasons = r.reasons.json().value();
    let top_reason = reasons
        .as_array()
        .and_then(|a| a.first())
        .and_then(|x| x["description"].as_str().or(x["feature"].as_str()))
        .unwrap_or("")
        .to_owned();
    Row {
        id: r.id.clone(),
        time: fmt::time(&d.created_at),
        application_id: r.application_id.clone().unwrap_or_default(),
        decision: r.decision.as_str(),
        score: r.score,
        probability: format!("{:.3}", r.probability),
        model_version: r.model_version.clone(),
        top_reason,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    decision: Option<String>,
    min_score: Option<String>,
    max_score: Option<String>,
    model_version: Option<String>,
    application_id: Option<String>,
    before: Option<String>,
}

/// An empty form field is no filter.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn date(field: &str, v: &Option<String>) -> Result<Option<NaiveDate>, UiError> {
    given(v)
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| UiError::field(field, format!("`{s}` is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

fn score(field: &str, v: &Option<String>) -> Result<Option<i32>, UiError> {
    given(v)
        .map(|s| {
            s.parse::<i32>()
                .map_err(|_| UiError::field(field, format!("`{s}` is not a whole number")))
        })
        .transpose()
}

fn filter(q: &ListQuery) -> Result<DecisionFilter, UiError> {
    let start =
        |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    let decision = match given(&q.decision) {
        None => None,
        Some("approve") => Some(DecisionKind::Approve),
        Some("review") => Some(DecisionKind::Review),
        Some("decline") => Some(DecisionKind::Decline),
        Some(other) => {
            return Err(UiError::field(
                "decision",
                format!("`{other}`: expected approve, review or decline"),
            ));
        }
    };
    let text = |field: &str, v: &Option<String>| -> Result<Option<String>, UiError> {
        match given(v) {
            Some(s) if s.len() > 200 => Err(UiError::field(field, "at most 200 characters")),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let before = text("before", &q.before)?;
    if let Some(b) = &before
        && !crate::uuid7::is_id(b)
    {
        return Err(UiError::field("before", "not a decision id"));
    }
    Ok(DecisionFilter {
        before,
        decision,
        model_version: text("model_version", &q.model_version)?,
        application_id: text("application_id", &q.application_id)?,
        from_id: date("from", &q.from)?.map(|d| id_lower_bound(start(d))),
        to_id: date("to", &q.to)?.map(|d| id_lower_bound(start(d) + chrono::Duration::days(1))),
        min_score: score("min_score", &q.min_score)?,
        max_score: score("max_score", &q.max_score)?,
        limit: PAGE,
    })
}

#[derive(Template)]
#[template(path = "decisions.html")]
struct List {
    chrome: Chrome,
    q: ListQuery,
    error: Option<String>,
    rows: Vec<Row>,
    next: Option<String>,
    paged: bool,
    /// (value, selected) of the decision and model selects.
    kinds: Vec<(&'static str, bool)>,
    versions: Vec<(String, bool)>,
}

pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let q = query.into_inner();
    let chosen_version = given(&q.model_version).map(str::to_owned);
    let versions = state
        .store
        .list_models()
        .await?
        .into_iter()
        .map(|m| {
            let selected = chosen_version.as_deref() == Some(m.record.version.as_str());
            (m.record.version, selected)
        })
        .collect();
    let kinds = ["approve", "review", "decline"]
        .into_iter()
        .map(|k| (k, given(&q.decision) == Some(k)))
        .collect();
    let (rows, next, error) = match filter(&q) {
        Ok(filter) => {
            let found = state.store.list_decisions(&filter).await?;
            let next = (found.len() == PAGE as usize)
                .then(|| found.last().map(|d| next_link(&q, &d.record.id)))
                .flatten();
            (found.iter().map(row).collect(), next, None)
        }
        Err(e) => (Vec::new(), None, Some(e.to_string())),
    };
    let mut response = render(&List {
        chrome: signed.chrome("decisions"),
        paged: q.before.is_some(),
        q,
        error: error.clone(),
        rows,
        next,
        kinds,
        versions,
    })?;
    if error.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// The list's next page: the same filters, before the last id shown.
fn next_link(q: &ListQuery, last: &str) -> String {
    let mut parts = Vec::new();
    for (name, v) in [
        ("from", &q.from),
        ("to", &q.to),
        ("decision", &q.decision),
        ("min_score", &q.min_score),
        ("max_score", &q.max_score),
        ("model_version", &q.model_version),
        ("application_id", &q.application_id),
    ] {
        if let Some(v) = given(v) {
            parts.push(format!("{name}={}", url_escape(v)));
        }
    }
    parts.push(format!("before={last}"));
    format!("/ui/decisions?{}", parts.join("&"))
}

/// The model that made a decision: the one served if it is that version, else from its bundle.
async fn model_of(state: &AppState, version: &str) -> Result<Arc<ServedModel>, String> {
    if let Some(m) = state.model.current().filter(|m| m.version() == version) {
        return Ok(m);
    }
    if let Some(c) = state
        .challenger
        .current()
        .filter(|c| c.model.version() == version)
    {
        return Ok(c.model.clone());
    }
    let registered = state
        .store
        .get_model(version)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("model {version} is not registered"))?;
    tokio::task::spawn_blocking(move || registry::load(&registered).map(Arc::new))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub value: String,
}

#[derive(Debug)]
pub struct ReviewRow {
    pub decision: String,
    pub note: String,
    pub by: String,
    pub at: String,
}

#[derive(Debug)]
pub struct ShadowRow {
    pub version: String,
    pub decision: &'static str,
    pub score: i32,
    pub probability: String,
}

/// (column, value as read, imputed, contribution of its feature's terms).
type ReadInput = (String, String, bool, String);

#[derive(Template)]
#[template(path = "decision.html")]
struct Detail {
    chrome: Chrome,
    d: Row,
    policy_version: String,
    latency_ms: String,
    application: Vec<Field>,
    reasons: Vec<(String, String, String)>,
    /// Each input as read, and the contributions chart.
    explained: Option<(Vec<ReadInput>, String)>,
    explain_error: Option<String>,
    logit: String,
    reviews: Vec<ReviewRow>,
    outcomes: Vec<(String, String)>,
    shadow: Vec<ShadowRow>,
    reviewable: bool,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    reviewed: Option<String>,
}

pub async fn detail(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
    query: web::Query<DetailQuery>,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let store = &state.store;
    let d = stored(&state, &id).await?;
    let input = d.record.input.value();
    let application = input
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| Field {
                    name: k.clone(),
                    value: match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let reasons = d
        .record
        .reasons
        .json()
        .value()
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["feature"].as_str().unwrap_or("").to_owned(),
                        r["description"].as_str().unwrap_or("").to_owned(),
                        format!("{:+.3}", r["contribution"].as_f64().unwrap_or(0.0)),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let (explained, explain_error, logit) = match model_of(&state, &d.record.model_version).await {
        Ok(model) => match decision::explain(&model, d.record.input.as_str()) {
            Ok(e) => {
                let chart = charts::contributions(
                    "What moved this application's risk, term by term",
                    &e.terms
                        .iter()
                        .take(20)
                        .map(|(_, term, c)| (term.clone(), *c))
                        .collect::<Vec<_>>(),
                );
                // Each input with the sum of the terms of its feature (pairs count for both).
                let inputs = e
                    .inputs
                    .iter()
                    .map(|(name, column, value, imputed)| {
                        let terms: Vec<f64> = e
                            .terms
                            .iter()
                            .filter(|(f, _, _)| f == name || f.split(" × ").any(|p| p == name))
                            .map(|t| t.2)
                            .collect();
                        let contribution = if terms.is_empty() {
                            String::new()
                        } else {
                            format!("{:+.3}", terms.iter().sum::<f64>())
                        };
                        (column.clone(), value.clone(), *imputed, contribution)
                    })
                    .collect();
                let logit = format!(
                    "base {:+.3} + contributions {:+.3} = log-odds {:+.3} → probability {:.3}, score {}",
                    e.base,
                    e.logit - e.base,
                    e.logit,
                    e.probability,
                    e.score
                );
                (Some((inputs, chart)), None, logit)
            }
            Err(err) => (None, Some(err), String::new()),
        },
        Err(err) => (None, Some(err), String::new()),
    };
    let mut reviews = Vec::new();
    for r in store.reviews_of(&id).await? {
        let by = match store.find_api_key(&r.api_key_id.to_string()).await {
            Ok(k) => format!("{} ({})", k.name, k.role),
            Err(_) => format!("key {}", r.api_key_id),
        };
        reviews.push(ReviewRow {
            decision: r.decision.as_str().to_owned(),
            note: r.note,
            by,
            at: fmt::time(&r.created_at),
        });
    }
    let outcomes = store
        .outcomes_of(&id)
        .await?
        .into_iter()
        .map(|o| {
            (
                o.record.outcome.as_str().to_owned(),
                fmt::time(&o.record.observed_at),
            )
        })
        .collect();
    let shadow = store
        .shadow_scores_of(&id)
        .await?
        .into_iter()
        .map(|s| ShadowRow {
            version: s.model_version,
            decision: s.decision.as_str(),
            score: s.score,
            probability: format!("{:.3}", s.probability),
        })
        .collect();
    let notice = query
        .reviewed
        .as_ref()
        .map(|_| "Your review is stored. The decision itself is unchanged.".to_owned());
    render(&Detail {
        chrome: signed.chrome("decisions"),
        reviewable: d.record.decision == DecisionKind::Review,
        policy_version: d.record.policy_version.clone(),
        latency_ms: format!("{:.2}", d.record.latency_us as f64 / 1000.0),
        d: row(&d),
        application,
        reasons,
        explained,
        explain_error,
        logit,
        reviews,
        outcomes,
        shadow,
        notice,
    })
}

#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    csrf: String,
    decision: Option<String>,
    note: Option<String>,
    back: Option<String>,
}

pub async fn review(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<ReviewForm>,
) -> Result<HttpResponse, UiError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Permission::Review)?;
    decision_id(&id)?;
    let decision = match form.decision.as_deref() {
        Some("approve") => DecisionKind::Approve,
        Some("decline") => DecisionKind::Decline,
        _ => return Err(UiError::field("decision", "choose approve or decline")),
    };
    let note = form.note.as_deref().map(str::trim).unwrap_or("");
    if note.is_empty() {
        return Err(UiError::field(
            "note",
            "a comment is required: say why you approve or decline",
        ));
    }
    if note.len() > 4096 {
        return Err(UiError::field("note", "at most 4096 bytes"));
    }
    let stored = state
        .store
        .insert_review(&NewReview {
            decision_id: &id,
            api_key_id: signed.session.api_key_id,
            decision,
            note,
        })
        .await?;
    tracing::info!(review = stored.id, "review stored from the UI");
    let back = match form.back.as_deref() {
        Some("queue") => format!("/ui/review?reviewed={id}"),
        _ => format!("/ui/decisions/{id}?reviewed=1"),
    };
    Ok(see_other(&back))
}

#[derive(Template)]
#[template(path = "review.html")]
struct Queue {
    chrome: Chrome,
    rows: Vec<Row>,
    waiting: i64,
    reviewed: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    reviewed: Option<String>,
}

pub async fn queue(
    state: web::Data<AppState>,
    signed: Signed,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let (found, waiting) = state.store.review_queue(QUEUE_PAGE).await?;
    render(&Queue {
        chrome: signed.chrome("review"),
        rows: found.iter().map(row).collect(),
        waiting,
        reviewed: query
            .into_inner()
            .reviewed
            .filter(|id| crate::uuid7::is_id(id)),
    })
}
