//! The landing page (volume and decision rates over time, the score distribution, what is
//! served, drift, the latest retrain) and the jobs pages.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};

use super::charts::{self, Axis, Format, Series};
use super::session::Signed;
use super::{Chrome, UiError, fmt, render};
use crate::http::AppState;
use crate::http::auth::Permission;
use crate::monitoring::Level;
use crate::monitoring::window::Drift;
use crate::store::{Job, JobStatus, TimeUnit, id_time};

/// How far back the overview looks.
const OVERVIEW_DAYS: i64 = 30;
/// Score points per bar of the score distribution.
const SCORE_BAND: i32 = 20;

#[derive(Debug)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: &'static str,
    pub created: String,
    pub duration: String,
    pub summary: String,
}

fn status(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Succeeded => "succeeded",
        JobStatus::Failed => "failed",
    }
}

/// One line on what a job came to.
fn summary(job: &Job) -> String {
    if let Some(error) = &job.error {
        return error.clone();
    }
    let d = &job.detail;
    match job.kind.as_str() {
        "retrain" if d.get("challenger").is_some() => {
            let verdict = if d["promoted"].as_bool() == Some(true) {
                "promoted".to_owned()
            } else {
                let refusals: Vec<&str> = d["evaluation"]["refusals"]
                    .as_array()
                    .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                format!("not promoted: {}", refusals.join("; "))
            };
            format!(
                "challenger {}: {verdict}",
                d["challenger"].as_str().unwrap_or("?")
            )
        }
        "outcomes_import" => {
            let c = &d["counts"];
            format!(
                "{} rows read, {} stored, {} rejected",
                c["rows_done"], c["stored"], c["rejected"]
            )
        }
        _ => String::new(),
    }
}

pub fn job_row(job: &Job) -> JobRow {
    let duration = match (job.started_at, job.finished_at) {
        (Some(s), Some(f)) => format!("{:.1} s", (f - s).num_milliseconds() as f64 / 1000.0),
        (Some(s), None) => format!("running for {} s", (Utc::now() - s).num_seconds()),
        _ => "–".to_owned(),
    };
    JobRow {
        id: job.id,
        kind: job.kind.clone(),
        status: status(job.status),
        created: fmt::time(&job.created_at),
        duration,
        summary: summary(job),
    }
}

pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::InsufficientData => "insufficient data",
        Level::Ok => "ok",
        Level::Warning => "warning",
        Level::Alert => "alert",
    }
}

pub fn level_class(level: Level) -> &'static str {
    match level {
        Level::InsufficientData => "muted",
        Level::Ok => "ok",
        Level::Warning => "warn",
        Level::Alert => "alert",
    }
}

#[derive(Debug)]
pub struct DriftRow {
    pub name: String,
    pub psi: String,
    pub level: &'static str,
    pub class: &'static str,
}

/// Rows of a drift table, the highest PSI first.
pub fn drift_rows<'a>(drifts: impl Iterator<Item = &'a Drift>) -> Vec<DriftRow> {
    let mut drifts: Vec<&Drift> = drifts.collect();
    drifts.sort_by(|a, b| b.psi.unwrap_or(-1.0).total_cmp(&a.psi.unwrap_or(-1.0)));
    drifts
        .into_iter()
        .map(|d| DriftRow {
            name: d.name.clone(),
            psi: fmt::opt(d.psi, 3),
            level: level_name(d.level),
            class: level_class(d.level),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    chrome: Chrome,
    model: Option<String>,
    policy: String,
    challenger: Option<(String, u32)>,
    unit: &'static str,
    total: i64,
    rates: [String; 3],
    volume_chart: String,
    rate_chart: String,
    score_chart: String,
    monitor_level: &'static str,
    monitor_class: &'static str,
    monitor_decisions: u64,
    drifting: Vec<DriftRow>,
    waiting: i64,
    job: Option<JobRow>,
}

pub async fn page(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let store = &state.store;
    let from = Utc::now() - Duration::days(OVERVIEW_DAYS);
    let span = store.decision_span(from).await?;
    let unit = match span
        .as_ref()
        .and_then(|(a, b)| Some((id_time(a)?, id_time(b)?)))
    {
        Some((a, b)) if b - a <= Duration::hours(3) => TimeUnit::Minute,
        Some((a, b)) if b - a <= Duration::days(4) => TimeUnit::Hour,
        _ => TimeUnit::Day,
    };
    let volume = store.decision_volume(from, unit).await?;
    let label_format = match unit {
        TimeUnit::Minute => "%H:%M",
        TimeUnit::Hour => "%d %b %Hh",
        TimeUnit::Day => "%d %b",
    };
    let labels: Vec<String> = volume
        .iter()
        .map(|v| v.start.format(label_format).to_string())
        .collect();
    let stacks: Vec<Vec<f64>> = volume
        .iter()
        .map(|v| vec![v.approve as f64, v.review as f64, v.decline as f64])
        .collect();
    let peak = volume.iter().map(|v| v.total()).max().unwrap_or(0) as f64;
    let kinds = [("approve", "good"), ("review", "s3"), ("decline", "bad")];
    let volume_chart = charts::stacked_bars(
        "Decisions per time bucket, by outcome",
        &labels,
        &stacks,
        &kinds,
        &format!("time (UTC, per {})", unit.label()),
        &Axis::upto("decisions", peak, Format::Number(0)),
    );
    let total: i64 = volume.iter().map(|v| v.total()).sum();
    let share = |n: i64| fmt::pct(n as f64 / total.max(1) as f64);
    let sum = |f: fn(&crate::store::Volume) -> i64| volume.iter().map(f).sum::<i64>();
    let rates = [
        share(sum(|v| v.approve)),
        share(sum(|v| v.review)),
        share(sum(|v| v.decline)),
    ];
    let rate_series: Vec<Series> = kinds
        .iter()
        .enumerate()
        .map(|(k, (name, class))| Series {
            name: (*name).to_owned(),
            class,
            markers: volume.len() < 30,
            points: volume
                .iter()
                .map(|v| {
                    let n = [v.approve, v.review, v.decline][k];
                    (charts::seconds(v.start), n as f64 / v.total().max(1) as f64)
                })
                .collect(),
        })
        .collect();
    let (x_min, x_max) = match (volume.first(), volume.last()) {
        (Some(a), Some(b)) => (charts::seconds(a.start), charts::seconds(b.start)),
        _ => (0.0, 1.0),
    };
    let bucket = match unit {
        TimeUnit::Minute => 60.0,
        TimeUnit::Hour => 3_600.0,
        TimeUnit::Day => 86_400.0,
    };
    let rate_chart = charts::lines(
        "Share of each decision over time",
        &Axis::time("time (UTC, start of each bucket)", x_min, x_max, bucket),
        &Axis::new("share of decisions", 0.0, 1.0, Format::Percent),
        &rate_series,
        &[],
        false,
    );
    let histogram = store.score_histogram(from, SCORE_BAND).await?;
    let score_peak = histogram.iter().map(|(_, n)| *n).max().unwrap_or(0) as f64;
    let score_chart = charts::bars(
        "Scores of the decisions",
        &histogram
            .iter()
            .map(|(band, _)| format!("{band}"))
            .collect::<Vec<_>>(),
        &histogram.iter().map(|(_, n)| *n as f64).collect::<Vec<_>>(),
        "s1",
        &format!("score (bands of {SCORE_BAND} points, labelled by their lower end)"),
        &Axis::upto("decisions", score_peak, Format::Number(0)),
    );
    let report = state.monitor.report();
    let drifting = drift_rows(
        std::iter::once(&report.score)
            .chain(&report.features)
            .filter(|d| d.level >= Level::Warning),
    );
    let (_, waiting) = store.review_queue(0).await?;
    let job = store
        .list_jobs(Some("retrain"), 1)
        .await?
        .first()
        .map(job_row);
    let challenger = state
        .challenger
        .current()
        .map(|c| (c.model.version().to_owned(), c.traffic_percent));
    render(&Overview {
        chrome: signed.chrome("overview"),
        model: state.model.current().map(|m| m.version().to_owned()),
        policy: state.policy.current().version.clone(),
        challenger,
        unit: unit.label(),
        total,
        rates,
        volume_chart,
        rate_chart,
        score_chart,
        monitor_level: level_name(report.level),
        monitor_class: level_class(report.level),
        monitor_decisions: report.decisions,
        drifting,
        waiting,
        job,
    })
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct Jobs {
    chrome: Chrome,
    jobs: Vec<JobRow>,
}

pub async fn jobs(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let jobs = state.store.list_jobs(None, 200).await?;
    render(&Jobs {
        chrome: signed.chrome("jobs"),
        jobs: jobs.iter().map(job_row).collect(),
    })
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    chrome: Chrome,
    job: JobRow,
    started: String,
    finished: String,
    error: Option<String>,
    log: Vec<(String, String)>,
    /// A retrain's checks: (check, challenger, champion, passes).
    checks: Vec<(String, String, String, bool)>,
    refusals: Vec<String>,
    detail: String,
}

fn ratio(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_owned(), |r| format!("{r:.3}"))
}

/// The checks of a retrain's evaluation, as table rows.
fn retrain_checks(d: &serde_json::Value) -> Vec<(String, String, String, bool)> {
    let ev = &d["evaluation"];
    let mut rows = Vec::new();
    let c = &ev["comparison"];
    if c.is_object() {
        rows.push((
            format!("AUC on {} recent decisions", ev["holdout_rows"]),
            format!(
                "{} (Δ {:+.4}, 95% CI [{:+.4}, {:+.4}])",
                ratio(&c["challenger_auc"]),
                c["delta"].as_f64().unwrap_or(0.0),
                c["delta_ci"][0].as_f64().unwrap_or(0.0),
                c["delta_ci"][1].as_f64().unwrap_or(0.0)
            ),
            ratio(&c["champion_auc"]),
            c["challenger_wins"].as_bool() == Some(true),
        ));
    }
    let cal = &ev["calibration"];
    if cal.is_object() {
        rows.push((
            format!(
                "mean PD against the observed default rate {}",
                ratio(&cal["observed_bad_rate"])
            ),
            ratio(&cal["challenger_mean_pd"]),
            ratio(&cal["champion_mean_pd"]),
            cal["holds"].as_bool() == Some(true),
        ));
    }
    if let Some(psi) = ev["score_psi"].as_f64() {
        rows.push((
            "score PSI against the champion's scores".to_owned(),
            format!("{psi:.3}"),
            String::new(),
            !ev["refusals"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|x| x.as_str().is_some_and(|t| t.starts_with("score PSI")))
            }),
        ));
    }
    for i in ev["adverse_impact"].as_array().into_iter().flatten() {
        rows.push((
            format!(
                "approval-rate ratio by {} (four-fifths rule)",
                i["attribute"].as_str().unwrap_or("?")
            ),
            ratio(&i["ratio"]),
            ratio(&i["champion_ratio"]),
            i["holds"].as_bool() == Some(true),
        ));
    }
    rows
}

pub async fn job(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let id: i64 = id
        .parse()
        .map_err(|_| UiError::field("id", "not a job number"))?;
    let job = state
        .store
        .get_job(id)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("job {id}")))?;
    let log: Vec<(String, String)> = job.detail["log"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    (
                        l["at"].as_str().unwrap_or("").to_owned(),
                        l["step"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let log = log
        .into_iter()
        .map(|(at, step): (String, String)| {
            let at = chrono::DateTime::parse_from_rfc3339(&at)
                .map_or(at, |t| t.format("%H:%M:%S%.3f").to_string());
            (at, step)
        })
        .collect();
    let checks = if job.kind == "retrain" {
        retrain_checks(&job.detail)
    } else {
        Vec::new()
    };
    let refusals = job.detail["evaluation"]["refusals"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut detail = job.detail.clone();
    if let Some(d) = detail.as_object_mut() {
        d.remove("log");
    }
    render(&JobPage {
        chrome: signed.chrome("jobs"),
        job: job_row(&job),
        started: job.started_at.as_ref().map_or("–".into(), fmt::time),
        finished: job.finished_at.as_ref().map_or("–".into(), fmt::time),
        error: job.error.clone(),
        log,
        checks,
        refusals,
        detail: serde_json::to_string_pretty(&detail).unwrap_or_default(),
    })
}
