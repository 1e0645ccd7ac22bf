//! `report.html`: one self-contained page (inline SVG, no scripts or downloads) with the
//! metrics table and the ROC, KS, calibration and score-distribution plots of the test split.

use std::fmt::Write;

use crate::bundle::Manifest;
use crate::metrics::Metrics;

/// What the plots are drawn from: the served (int8) model's test predictions.
#[derive(Debug)]
pub struct ReportData<'a> {
    pub probabilities: &'a [f64],
    pub scores: &'a [i32],
    pub labels: &'a [u8],
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
         same top reasons on {:.1}% of rows.</p><h2>Test split</h2>",
        q.auc_drop,
        q.max_auc_drop,
        q.max_abs_probability_delta,
        100.0 * q.reason_set_agreement
    );
    html.push_str(&roc(data));
    html.push_str(&ks_plot(data));
    html.push_str(&calibration(&m.int8_test));
    html.push_str(&score_histogram(data));
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

/// A plot frame with unit axes; `lines` are (colour, points in [0,1]²).
fn frame(title: &str, x_label: &str, y_label: &str, lines: &[(&str, Vec<(f64, f64)>)]) -> String {
    let mut svg = format!(
        "<figure><figcaption>{title}</figcaption><svg width=\"{W}\" height=\"{H}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><rect x=\"{PAD}\" y=\"10\" width=\"{}\" height=\"{}\" \
         fill=\"none\" stroke=\"#999\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{x_label}</text>\
         <text x=\"10\" y=\"{}\" font-size=\"11\" transform=\"rotate(-90 10 {})\" text-anchor=\"middle\">{y_label}</text>",
        W - PAD - 10.0,
        H - PAD - 10.0,
        (W + PAD) / 2.0,
        H - 8.0,
        H / 2.0,
        H / 2.0,
    );
    for (colour, points) in lines {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| {
                let px = PAD + x.clamp(0.0, 1.0) * (W - PAD - 10.0);
                let py = H - PAD - y.clamp(0.0, 1.0) * (H - PAD - 10.0);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// Cumulative shares of bads and goods as the threshold falls from the riskiest row.
fn cumulative(data: &ReportData<'_>) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..data.probabilities.len()).collect();
    order.sort_by(|&a, &b| data.probabilities[b].total_cmp(&data.probabilities[a]));
    let bads = data.labels.iter().filter(|&&y| y == 1).count().max(1) as f64;
    let goods = (data.labels.len() as f64 - bads).max(1.0);
    let step = (order.len() / 400).max(1);
    let (mut b, mut g) = (0.0, 0.0);
    let mut points = vec![(0.0, 0.0)];
    for (k, &i) in order.iter().enumerate() {
        if data.labels[i] == 1 {
            b += 1.0;
        } else {
            g += 1.0;
        }
        if k % step == 0 || k + 1 == order.len() {
            points.push((g / goods, b / bads));
        }
    }
    points
}

fn roc(data: &ReportData<'_>) -> String {
    frame(
        "ROC (int8 model)",
        "false positive rate (goods flagged)",
        "true positive rate (bads caught)",
        &[
            ("#1f77b4", cumulative(data)),
            ("#bbb", vec![(0.0, 0.0), (1.0, 1.0)]),
        ],
    )
}

fn ks_plot(data: &ReportData<'_>) -> String {
    let points = cumulative(data);
    let n = points.len().max(2) as f64 - 1.0;
    let goods = points
        .iter()
        .enumerate()
        .map(|(k, p)| (k as f64 / n, p.0))
        .collect();
    let bads = points
        .iter()
        .enumerate()
        .map(|(k, p)| (k as f64 / n, p.1))
        .collect();
    frame(
        "KS: cumulative share by riskiness rank",
        "share of rows, riskiest first",
        "cumulative share",
        &[("#d62728", bads), ("#2ca02c", goods)],
    )
}

fn calibration(m: &Metrics) -> String {
    let top = m
        .deciles
        .iter()
        .map(|d| d.mean_predicted.max(d.observed_bad_rate))
        .fold(0.05, f64::max);
    let mut points: Vec<(f64, f64)> = m
        .deciles
        .iter()
        .map(|d| (d.mean_predicted / top, d.observed_bad_rate / top))
        .collect();
    points.reverse();
    frame(
        &format!("Calibration by decile (axes 0–{top:.2})"),
        "mean predicted PD",
        "observed bad rate",
        &[("#1f77b4", points), ("#bbb", vec![(0.0, 0.0), (1.0, 1.0)])],
    )
}

fn score_histogram(data: &ReportData<'_>) -> String {
    let (lo, hi) = data
        .scores
        .iter()
        .fold((i32::MAX, i32::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    let bins = 30usize;
    let width = f64::from((hi - lo).max(1)) / bins as f64;
    let mut counts = [vec![0f64; bins], vec![0f64; bins]];
    for (&s, &y) in data.scores.iter().zip(data.labels) {
        let b = ((f64::from(s - lo) / width) as usize).min(bins - 1);
        counts[usize::from(y)][b] += 1.0;
    }
    let line = |c: &Vec<f64>| {
        let total = c.iter().sum::<f64>().max(1.0);
        let peak = c.iter().fold(0.0f64, |a, &v| a.max(v / total)).max(1e-9);
        c.iter()
            .enumerate()
            .map(|(k, &v)| ((k as f64 + 0.5) / bins as f64, v / total / peak))
            .collect::<Vec<_>>()
    };
    frame(
        &format!("Score distribution by outcome ({lo}–{hi}; red bad, green good)"),
        "score",
        "share of class (scaled)",
        &[("#d62728", line(&counts[1])), ("#2ca02c", line(&counts[0]))],
    )
}
