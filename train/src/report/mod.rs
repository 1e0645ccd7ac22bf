//! `report.html`: one self-contained page (inline SVG, no scripts or downloads) an analyst
//! reads: the gates, the metrics, the candidates compared, the scorecard itself, pair terms as
//! heat maps, the lift table, the features' IV and PSI, and the ROC, KS, calibration and
//! score-distribution plots of the test split.

use std::fmt::Write;

use riskloop_ingest::pipeline::FeaturePipeline;
use serde::Deserialize;

use crate::bundle::Manifest;
use crate::metrics::Metrics;
use crate::scorer::FloatScorer;

mod plots; // SVG frames with scaled axes: ROC, KS, calibration, score distribution
mod tables; // scorecard, pair heat maps, lift, features, candidates

/// What the report is drawn from: the served (int8) model's test predictions, the float
/// model (for the scorecard), the pipeline (for raw values and level names) and the ingest's
/// per-feature measures.
#[derive(Debug)]
pub struct ReportData<'a> {
    pub probabilities: &'a [f64],
    pub scores: &'a [i32],
    pub labels: &'a [u8],
    pub scorer: &'a FloatScorer,
    pub pipeline: &'a FeaturePipeline,
    pub features: &'a [FeatureStat],
}

/// One feature as the ingest's `quality.json` measured it.
#[derive(Clone, Debug, Deserialize)]
pub struct FeatureStat {
    pub name: String,
    pub missing_rate: f64,
    pub iv: Option<f64>,
    pub psi: Option<f64>,
    pub auc: Option<f64>,
}

const W: f64 = 360.0;
const H: f64 = 260.0;
const PAD: f64 = 36.0;

pub fn render(manifest: &Manifest, data: &ReportData<'_>) -> String {
    let m = &manifest.metrics;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>riskloop model {v}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         figure{{display:inline-block;margin:1em}}svg{{background:#fafafa}}</style></head><body>\
         <h1>Model {v}</h1><p>{kind:?} model trained on <b>{ds}</b> ({rows} training rows), \
         created {created}. Served form: int8 ({int8} bytes; float {float} bytes).</p>",
        v = esc(&manifest.version),
        kind = manifest.model,
        ds = esc(&manifest.dataset.name),
        rows = manifest.dataset.rows.get("train").copied().unwrap_or(0),
        created = esc(&manifest.created_at),
        int8 = manifest.quantization.int8_bytes,
        float = manifest.quantization.float_bytes,
    );
    gates(&mut html, manifest);
    html.push_str("<h2>Metrics</h2><table><tr><th></th><th>AUC</th><th>95% CI</th><th>Gini</th><th>KS</th><th>Brier</th><th>log loss</th></tr>");
    for (name, x) in [
        ("float, valid", &m.float_valid),
        ("float, test", &m.float_test),
        ("int8, valid", &m.int8_valid),
        ("int8, test", &m.int8_test),
    ] {
        metrics_row(&mut html, name, x);
    }
    let q = &manifest.quantization;
    let _ = write!(
        html,
        "</table><p>int8 vs float on test: AUC drop {:.5} (limit {}), max |Δp| {:.5}, \
         same top reasons on {:.1}% of rows.</p>",
        q.auc_drop,
        q.max_auc_drop,
        q.max_abs_probability_delta,
        100.0 * q.reason_set_agreement
    );
    tables::candidates(&mut html, manifest);
    tables::scorecard(&mut html, data);
    tables::pairs(&mut html, data);
    tables::lift(&mut html, &m.int8_test);
    tables::features(&mut html, data);
    html.push_str("<h2>Plots (test split)</h2>");
    html.push_str(&plots::roc(data));
    html.push_str(&plots::ks_plot(data));
    html.push_str(&plots::calibration(&m.int8_test));
    html.push_str(&plots::score_histogram(data));
    html.push_str("</body></html>\n");
    html
}

fn metrics_row(html: &mut String, name: &str, m: &Metrics) {
    let _ = write!(
        html,
        "<tr><th>{name}</th><td>{:.4}</td><td>{:.4}–{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
        m.auc, m.auc_ci[0], m.auc_ci[1], m.gini, m.ks, m.brier, m.log_loss
    );
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The ingest's gates on the training data, acknowledged or not, before anything else.
fn gates(html: &mut String, manifest: &Manifest) {
    if manifest.gates.is_empty() {
        html.push_str("<p>Gates: no leakage or drift flagged on the training data.</p>");
        return;
    }
    html.push_str("<h2>Gates</h2><table><tr><th>gate</th><th>feature</th><th>measured</th><th>status</th></tr>");
    for g in &manifest.gates {
        let status = match &g.acknowledged {
            Some(reason) => format!("acknowledged: {}", esc(reason)),
            None => "<b>not acknowledged: models promote refuses this bundle</b>".to_owned(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td><td style=\"text-align:left\">{status}</td></tr>",
            g.gate.as_str(),
            esc(&g.feature),
            esc(&g.detail)
        );
    }
    html.push_str("</table>");
}
