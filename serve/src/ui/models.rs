//! The model registry: every model's metrics side by side, one model's charts (ROC and
//! calibration from its test deciles, its score distribution), lineage and events; promote
//! and roll back after a confirmation page, for admins only.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::charts::{self, Axis, Format, Series};
use super::session::{CsrfForm, Signed};
use super::{Chrome, UiError, fmt, render, see_other, url_escape};
use crate::http::AppState;
use crate::http::auth::Permission;
use crate::http::error::ApiError;
use crate::registry;
use crate::store::{Model, ModelStage};

fn num(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_owned(), |x| format!("{x:.decimals$}"))
}

fn ci(v: &Value) -> String {
    match (v[0].as_f64(), v[1].as_f64()) {
        (Some(a), Some(b)) => format!("[{a:.3}, {b:.3}]"),
        _ => String::new(),
    }
}

fn stage(s: ModelStage) -> &'static str {
    s.as_str()
}

/// A model as a row of the registry table.
#[derive(Debug)]
pub struct ModelRow {
    pub version: String,
    pub stage: &'static str,
    pub registered: String,
    pub parent: String,
    pub kind: String,
    pub auc: String,
    pub auc_ci: String,
    pub ks: String,
    pub brier: String,
    pub int8_auc: String,
    pub rows: String,
    /// The model serving now.
    pub current: bool,
}

fn model_row(m: &Model, champion: Option<&str>) -> ModelRow {
    let man = &m.record.manifest;
    let test = &man["metrics"]["float_test"];
    ModelRow {
        version: m.record.version.clone(),
        stage: stage(m.stage),
        registered: fmt::time(&m.registered_at),
        parent: m.record.parent_version.clone().unwrap_or_default(),
        kind: man["model"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| man["model"].to_string()),
        auc: num(&test["auc"], 4),
        auc_ci: ci(&test["auc_ci"]),
        ks: num(&test["ks"], 3),
        brier: num(&test["brier"], 4),
        int8_auc: num(&man["metrics"]["int8_test"]["auc"], 4),
        rows: man["dataset"]["rows"]["train"].to_string(),
        current: champion == Some(m.record.version.as_str()),
    }
}

#[derive(Template)]
#[template(path = "models.html")]
struct List {
    chrome: Chrome,
    models: Vec<ModelRow>,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    promoted: Option<String>,
    rolled_back: Option<String>,
}

fn notice(q: &Notice) -> Option<String> {
    let ok = |v: &String| crate::decision::check::identifier(Some(v.as_str()), "version").is_ok();
    match (&q.promoted, &q.rolled_back) {
        (Some(v), _) if ok(v) => Some(format!(
            "{v} is now the champion: every new decision uses it."
        )),
        (_, Some(v)) if ok(v) => Some(format!("Rolled back: {v} is the champion again.")),
        _ => None,
    }
}

pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    query: web::Query<Notice>,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let mut models = state.store.list_models().await?;
    models.sort_by_key(|m| std::cmp::Reverse(m.registered_at));
    let champion = state.model.current().map(|m| m.version().to_owned());
    render(&List {
        chrome: signed.chrome("models"),
        models: models
            .iter()
            .map(|m| model_row(m, champion.as_deref()))
            .collect(),
        notice: notice(&query),
    })
}

/// (name, float valid, float test, int8 valid, int8 test) per metric.
type MetricRow = (String, String, String, String, String);

fn metric_rows(man: &Value) -> Vec<MetricRow> {
    let m = &man["metrics"];
    let pick = |key: &str, metric: &str, d: usize| num(&m[key][metric], d);
    [
        ("AUC", "auc", 4),
        ("Gini", "gini", 4),
        ("KS", "ks", 4),
        ("Brier", "brier", 4),
        ("log loss", "log_loss", 4),
        ("bad rate", "bad_rate", 4),
        ("rows", "rows", 0),
    ]
    .iter()
    .map(|(name, metric, d)| {
        (
            (*name).to_owned(),
            pick("float_valid", metric, *d),
            pick("float_test", metric, *d),
            pick("int8_valid", metric, *d),
            pick("int8_test", metric, *d),
        )
    })
    .chain(std::iter::once((
        "AUC 95% interval".to_owned(),
        ci(&m["float_valid"]["auc_ci"]),
        ci(&m["float_test"]["auc_ci"]),
        ci(&m["int8_valid"]["auc_ci"]),
        ci(&m["int8_test"]["auc_ci"]),
    )))
    .collect()
}

/// ROC at the decile cut-offs, and calibration per decile, from the test deciles.
fn decile_charts(man: &Value) -> Option<(String, String)> {
    let deciles = man["metrics"]["float_test"]["deciles"].as_array()?;
    let mut rows: Vec<(f64, f64, f64)> = deciles
        .iter()
        .filter_map(|d| {
            Some((
                d["mean_predicted"].as_f64()?,
                d["observed_bad_rate"].as_f64()?,
                d["rows"].as_f64()?,
            ))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let bads: f64 = rows.iter().map(|(_, r, n)| r * n).sum();
    let goods: f64 = rows.iter().map(|(_, r, n)| (1.0 - r) * n).sum();
    let mut roc = vec![(0.0, 0.0)];
    let (mut b, mut g) = (0.0, 0.0);
    for (_, rate, n) in &rows {
        b += rate * n;
        g += (1.0 - rate) * n;
        roc.push((g / goods.max(1e-9), b / bads.max(1e-9)));
    }
    let roc_chart = charts::lines(
        "ROC on the test split, at each decile's cut-off",
        &Axis::new(
            "false positive rate (goods declined)",
            0.0,
            1.0,
            Format::Percent,
        ),
        &Axis::new(
            "true positive rate (bads caught)",
            0.0,
            1.0,
            Format::Percent,
        ),
        &[Series {
            name: "model".into(),
            class: "s1",
            points: roc,
            markers: true,
        }],
        &[],
        true,
    );
    let top = rows
        .iter()
        .map(|(p, r, _)| p.max(*r))
        .fold(0.0f64, f64::max);
    let axis = |label| {
        let a = Axis::upto(label, top.max(0.05), Format::Percent);
        Axis::new(label, 0.0, a.max.min(1.0), Format::Percent)
    };
    let calibration_chart = charts::lines(
        "Calibration on the test split: predicted against observed default rate per decile",
        &axis("mean predicted probability of default"),
        &axis("observed default rate"),
        &[Series {
            name: "deciles".into(),
            class: "s2",
            points: rows.iter().rev().map(|(p, r, _)| (*p, *r)).collect(),
            markers: true,
        }],
        &[],
        true,
    );
    Some((roc_chart, calibration_chart))
}

fn score_chart(man: &Value) -> Option<String> {
    let baseline = &man["score_baseline"];
    let cuts: Vec<f64> = baseline["cuts"]
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let counts: Vec<f64> = baseline["counts"]
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    if counts.is_empty() {
        return None;
    }
    let labels: Vec<String> = (0..counts.len())
        .map(
            |i| match (i.checked_sub(1).and_then(|j| cuts.get(j)), cuts.get(i)) {
                (None, Some(hi)) => format!("≤{hi:.0}"),
                (Some(lo), None) => format!(">{lo:.0}"),
                (Some(lo), Some(_)) => format!(">{lo:.0}"),
                (None, None) => String::new(),
            },
        )
        .collect();
    let total: f64 = counts.iter().sum::<f64>().max(1.0);
    let shares: Vec<f64> = counts.iter().map(|c| c / total).collect();
    let peak = shares.iter().copied().fold(0.0, f64::max);
    Some(charts::bars(
        "Score distribution of the training split (the drift baseline)",
        &labels,
        &shares,
        "s1",
        "score bin",
        &Axis::upto("share of applications", peak, Format::Percent),
    ))
}

#[derive(Debug)]
pub struct EventRow {
    pub event: String,
    pub actor: String,
    pub at: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "model.html")]
struct Detail {
    chrome: Chrome,
    m: ModelRow,
    is_champion: bool,
    metrics: Vec<MetricRow>,
    roc_chart: String,
    calibration_chart: String,
    score_chart: String,
    lift: Vec<(usize, String, String, String, String)>,
    dataset: Vec<(String, String)>,
    gates: Vec<String>,
    events: Vec<EventRow>,
}

async fn find(state: &AppState, version: &str) -> Result<Model, UiError> {
    crate::decision::check::identifier(Some(version), "version")?;
    state
        .store
        .get_model(version)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("model {version}")))
}

pub async fn detail(
    state: web::Data<AppState>,
    signed: Signed,
    version: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let model = find(&state, &version).await?;
    let man = &model.record.manifest;
    let (roc_chart, calibration_chart) = decile_charts(man).unwrap_or_default();
    let lift = man["metrics"]["float_test"]["deciles"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .enumerate()
                .map(|(i, d)| {
                    (
                        i + 1,
                        d["rows"].to_string(),
                        fmt::pct(d["mean_predicted"].as_f64().unwrap_or(0.0)),
                        fmt::pct(d["observed_bad_rate"].as_f64().unwrap_or(0.0)),
                        num(&d["lift"], 2),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ds = &man["dataset"];
    let mut dataset = vec![
        (
            "name".to_owned(),
            ds["name"].as_str().unwrap_or("").to_owned(),
        ),
        (
            "source".to_owned(),
            ds["source"].as_str().unwrap_or("").to_owned(),
        ),
        (
            "parent version".to_owned(),
            model
                .record
                .parent_version
                .clone()
                .unwrap_or_else(|| "none (first model)".into()),
        ),
        (
            "trained".to_owned(),
            man["created_at"].as_str().unwrap_or("").to_owned(),
        ),
        ("bundle".to_owned(), model.record.path.clone()),
        (
            "manifest sha256".to_owned(),
            model.record.manifest_sha256.clone(),
        ),
    ];
    if let Some(rows) = ds["rows"].as_object() {
        for (split, n) in rows {
            let bad = num(&ds["bad_rate"][split], 4);
            dataset.push((format!("{split} rows (bad rate)"), format!("{n} ({bad})")));
        }
    }
    let gates = man["gates"]
        .as_array()
        .map(|g| g.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    let events = state
        .store
        .model_events(&model.record.version)
        .await?
        .into_iter()
        .map(|e| EventRow {
            event: e.event,
            actor: e.actor,
            at: fmt::time(&e.created_at),
            detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                serde_json::to_string_pretty(&e.detail).unwrap_or_default()
            },
        })
        .collect();
    let champion = state.model.current().map(|m| m.version().to_owned());
    render(&Detail {
        chrome: signed.chrome("models"),
        is_champion: champion.as_deref() == Some(model.record.version.as_str()),
        m: model_row(&model, champion.as_deref()),
        metrics: metric_rows(man),
        roc_chart,
        calibration_chart,
        score_chart: score_chart(man).unwrap_or_default(),
        lift,
        dataset,
        gates,
        events,
    })
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct Confirm {
    chrome: Chrome,
    title: String,
    question: String,
    action: String,
    button: String,
    cancel: String,
    promote: bool,
}

pub async fn confirm_promote(
    state: web::Data<AppState>,
    signed: Signed,
    version: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::ManageModels)?;
    let model = find(&state, &version).await?;
    let current = state.model.current().map(|m| m.version().to_owned());
    let v = &model.record.version;
    render(&Confirm {
        chrome: signed.chrome("models"),
        title: format!("Promote {v}"),
        question: match current {
            Some(c) => format!(
                "Promote {v} to champion? It replaces {c} for every new decision, on every server, within seconds. {c} stays registered: you can roll back."
            ),
            None => format!("Promote {v} to champion? Every new decision will use it."),
        },
        action: format!("/ui/models/{}/promote", url_escape(v)),
        button: "Promote".into(),
        cancel: format!("/ui/models/{}", url_escape(v)),
        promote: true,
    })
}

#[derive(Debug, Deserialize)]
pub struct PromoteForm {
    csrf: String,
    acknowledge_gates: Option<String>,
    allow_schema_change: Option<String>,
}

pub async fn promote(
    state: web::Data<AppState>,
    signed: Signed,
    version: web::Path<String>,
    form: web::Form<PromoteForm>,
) -> Result<HttpResponse, UiError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Permission::ManageModels)?;
    let model = find(&state, &version).await?;
    let policy = state.policy.current();
    let guard = registry::Guard {
        allow_schema_change: form.allow_schema_change.is_some(),
        acknowledge_gates: form.acknowledge_gates.is_some(),
        policy: Some(&policy),
    };
    let v = model.record.version;
    registry::promote(&state.store, Some(&state.model), &v, &signed.actor(), guard)
        .await
        .map_err(ApiError::from)?;
    state.metrics.model(&v);
    Ok(see_other(&format!(
        "/ui/models?promoted={}",
        url_escape(&v)
    )))
}

pub async fn confirm_rollback(
    state: web::Data<AppState>,
    signed: Signed,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::ManageModels)?;
    let previous = state
        .store
        .previous_champion()
        .await?
        .ok_or_else(|| UiError::field("rollback", "no earlier champion to roll back to"))?;
    let current = state
        .model
        .current()
        .map_or_else(|| "none".to_owned(), |m| m.version().to_owned());
    render(&Confirm {
        chrome: signed.chrome("models"),
        title: "Roll back the champion".into(),
        question: format!(
            "Roll back from {current} to {previous}? Every new decision will use {previous}."
        ),
        action: "/ui/rollback".into(),
        button: "Roll back".into(),
        cancel: "/ui/models".into(),
        promote: false,
    })
}

pub async fn rollback(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Permission::ManageModels)?;
    let policy = state.policy.current();
    let v = registry::rollback(
        &state.store,
        Some(&state.model),
        &signed.actor(),
        Some(&policy),
    )
    .await
    .map_err(ApiError::from)?;
    state.metrics.model(&v);
    Ok(see_other(&format!(
        "/ui/models?rolled_back={}",
        url_escape(&v)
    )))
}
