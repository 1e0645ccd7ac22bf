//! Monitoring: PSI of the score and of every feature against the training baseline, over
//! the window and per bucket over time; the approval-rate trend; observed against predicted
//! default rates by score band once outcomes arrive.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::charts::{self, Axis, Format, Rule, Series};
use super::overview::{DriftRow, drift_rows, level_class, level_name};
use super::session::Signed;
use super::{Chrome, UiError, fmt, render};
use crate::http::AppState;
use crate::http::auth::Permission;

/// Score points per band of the default-rate table (as `GET /v1/monitoring`).
const BAND_WIDTH: i32 = 20;
/// Features drawn over time besides the score: the ones that drift most.
const DRAWN_FEATURES: usize = 5;

#[derive(Template)]
#[template(path = "monitoring.html")]
struct Page {
    chrome: Chrome,
    model: String,
    window_minutes: u32,
    decisions: u64,
    level: &'static str,
    level_class: &'static str,
    drift: Vec<DriftRow>,
    psi_chart: String,
    trend_chart: String,
    bands_chart: String,
    bands: Vec<(String, i64, String, String)>,
    warn: f64,
    alert: f64,
}

pub async fn page(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, UiError> {
    signed.require(Permission::Read)?;
    let report = state.monitor.report();
    let history = state.monitor.history();
    let (warn, alert) = state.monitor.thresholds();
    let drift = drift_rows(std::iter::once(&report.score).chain(&report.features));
    // The score and the features that drift most in the window, over time.
    let mut ranked: Vec<(usize, f64)> = report
        .features
        .iter()
        .enumerate()
        .map(|(i, d)| (i + 1, d.psi.unwrap_or(0.0)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let drawn: Vec<usize> = std::iter::once(0)
        .chain(ranked.iter().take(DRAWN_FEATURES).map(|(i, _)| *i))
        .collect();
    let classes = ["s1", "s2", "s3", "s4", "s5", "s6"];
    let series: Vec<Series> = drawn
        .iter()
        .zip(classes)
        .filter_map(|(&k, class)| {
            Some(Series {
                name: history.names.get(k)?.clone(),
                class,
                markers: history.buckets.len() < 40,
                points: history
                    .buckets
                    .iter()
                    .filter_map(|b| Some((charts::seconds(b.from), (*b.psi.get(k)?)?)))
                    .collect(),
            })
        })
        .collect();
    let (x_min, x_max) = match (history.buckets.first(), history.buckets.last()) {
        (Some(a), Some(b)) => (charts::seconds(a.from), charts::seconds(b.from)),
        _ => (0.0, 1.0),
    };
    let peak = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(alert * 1.2, f64::max);
    let time = Axis::time(
        "time (UTC, start of each bucket)",
        x_min,
        x_max,
        60.0 * f64::from(state.monitor.bucket_minutes()),
    );
    let psi_chart = charts::lines(
        "PSI against the training baseline, per bucket",
        &time,
        &Axis::upto("PSI", peak, Format::Number(2)),
        &series,
        &[
            Rule {
                y: warn,
                label: format!("warning {warn}"),
                class: "warn",
            },
            Rule {
                y: alert,
                label: format!("alert {alert}"),
                class: "alert",
            },
        ],
        false,
    );
    let trend_chart = charts::lines(
        "Decision rates per bucket",
        &time,
        &Axis::new("share of decisions", 0.0, 1.0, Format::Percent),
        &[
            ("approve", "good", 0),
            ("review", "s3", 1),
            ("decline", "bad", 2),
        ]
        .iter()
        .map(|(name, class, k)| Series {
            name: (*name).to_owned(),
            class,
            markers: report.trend.len() < 40,
            points: report
                .trend
                .iter()
                .map(|r| {
                    (
                        charts::seconds(r.from),
                        [r.approve, r.review, r.decline][*k],
                    )
                })
                .collect(),
        })
        .collect::<Vec<_>>(),
        &[],
        false,
    );
    let model = state.model.current();
    let bands = match &model {
        Some(m) => state.store.default_rates(m.version(), BAND_WIDTH).await?,
        None => Vec::new(),
    };
    let (lo, hi) = match (bands.first(), bands.last()) {
        (Some(a), Some(b)) => (f64::from(a.from), f64::from(b.from + BAND_WIDTH)),
        _ => (0.0, 1.0),
    };
    let top = bands
        .iter()
        .map(|b| b.predicted.max(b.observed))
        .fold(0.05, f64::max);
    let mid = |b: &crate::store::Band| f64::from(b.from) + f64::from(BAND_WIDTH) / 2.0;
    let bands_chart = charts::lines(
        "Predicted against observed default rate by score band (decisions with an outcome)",
        &Axis::new("score (band midpoint)", lo, hi, Format::Number(0)),
        &Axis::upto("default rate", top.min(1.0), Format::Percent),
        &[
            Series {
                name: "predicted".into(),
                class: "s1",
                markers: true,
                points: bands.iter().map(|b| (mid(b), b.predicted)).collect(),
            },
            Series {
                name: "observed".into(),
                class: "bad",
                markers: true,
                points: bands.iter().map(|b| (mid(b), b.observed)).collect(),
            },
        ],
        &[],
        false,
    );
    render(&Page {
        chrome: signed.chrome("monitoring"),
        model: model.map_or_else(|| "none".to_owned(), |m| m.version().to_owned()),
        window_minutes: report.window_minutes,
        decisions: report.decisions,
        level: level_name(report.level),
        level_class: level_class(report.level),
        drift,
        psi_chart,
        trend_chart,
        bands_chart,
        bands: bands
            .iter()
            .map(|b| {
                (
                    format!("{}–{}", b.from, b.from + BAND_WIDTH - 1),
                    b.decisions,
                    fmt::pct(b.predicted),
                    fmt::pct(b.observed),
                )
            })
            .collect(),
        warn,
        alert,
    })
}
