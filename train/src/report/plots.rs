//! The report's plots: inline SVG frames with scaled axes, drawn from the test split.

use std::fmt::Write;

use super::{H, PAD, ReportData, W};
use crate::metrics::Metrics;

/// One axis of a plot: its label and the values its ends stand for.
pub(super) struct Scale<'a> {
    pub(super) label: &'a str,
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl<'a> Scale<'a> {
    pub(super) fn unit(label: &'a str) -> Self {
        Self {
            label,
            lo: 0.0,
            hi: 1.0,
        }
    }

    fn tick(&self, at: f64) -> String {
        let v = self.lo + at * (self.hi - self.lo);
        if (self.hi - self.lo).abs() >= 20.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    }
}

/// A plot frame with ticks every quarter of each axis; `lines` are (colour, points in [0,1]²,
/// mapped onto the scales).
pub(super) fn frame(
    title: &str,
    x: &Scale<'_>,
    y: &Scale<'_>,
    lines: &[(&str, Vec<(f64, f64)>)],
) -> String {
    let (left, bottom) = (PAD + 14.0, PAD + 4.0);
    let (plot_w, plot_h) = (W - left - 10.0, H - bottom - 10.0);
    let mut svg = format!(
        "<figure><figcaption>{title}</figcaption><svg width=\"{W}\" height=\"{H}\" \
         xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{title}\">\
         <rect x=\"{left}\" y=\"10\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#999\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\
         <text x=\"10\" y=\"{}\" font-size=\"11\" transform=\"rotate(-90 10 {})\" text-anchor=\"middle\">{}</text>",
        left + plot_w / 2.0,
        H - 4.0,
        x.label,
        10.0 + plot_h / 2.0,
        10.0 + plot_h / 2.0,
        y.label,
    );
    for k in 0..=4 {
        let at = f64::from(k) / 4.0;
        let (px, py) = (left + at * plot_w, 10.0 + plot_h - at * plot_h);
        let _ = write!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{b:.1}\" x2=\"{px:.1}\" y2=\"{b2:.1}\" stroke=\"#999\"/>\
             <text x=\"{px:.1}\" y=\"{ty:.1}\" font-size=\"9\" text-anchor=\"middle\">{}</text>\
             <line x1=\"{l2:.1}\" y1=\"{py:.1}\" x2=\"{left:.1}\" y2=\"{py:.1}\" stroke=\"#999\"/>\
             <text x=\"{tx:.1}\" y=\"{py3:.1}\" font-size=\"9\" text-anchor=\"end\">{}</text>",
            x.tick(at),
            y.tick(at),
            b = 10.0 + plot_h,
            b2 = 14.0 + plot_h,
            ty = 24.0 + plot_h,
            l2 = left - 4.0,
            tx = left - 6.0,
            py3 = py + 3.0,
        );
    }
    for (colour, points) in lines {
        let path: Vec<String> = points
            .iter()
            .map(|&(px, py)| {
                let px = left + px.clamp(0.0, 1.0) * plot_w;
                let py = 10.0 + plot_h - py.clamp(0.0, 1.0) * plot_h;
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

pub(super) fn roc(data: &ReportData<'_>) -> String {
    frame(
        "ROC (int8 model)",
        &Scale::unit("false positive rate (goods flagged)"),
        &Scale::unit("true positive rate (bads caught)"),
        &[
            ("#1f77b4", cumulative(data)),
            ("#bbb", vec![(0.0, 0.0), (1.0, 1.0)]),
        ],
    )
}

pub(super) fn ks_plot(data: &ReportData<'_>) -> String {
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
        "KS: cumulative share by riskiness rank (red bads, green goods)",
        &Scale::unit("share of rows, riskiest first"),
        &Scale::unit("cumulative share"),
        &[("#d62728", bads), ("#2ca02c", goods)],
    )
}

pub(super) fn calibration(m: &Metrics) -> String {
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
        "Calibration by decile",
        &Scale {
            label: "mean predicted PD",
            lo: 0.0,
            hi: top,
        },
        &Scale {
            label: "observed bad rate",
            lo: 0.0,
            hi: top,
        },
        &[("#1f77b4", points), ("#bbb", vec![(0.0, 0.0), (1.0, 1.0)])],
    )
}

pub(super) fn score_histogram(data: &ReportData<'_>) -> String {
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
        "Score distribution by outcome (red bad, green good)",
        &Scale {
            label: "score",
            lo: f64::from(lo),
            hi: f64::from(hi),
        },
        &Scale::unit("share of class, relative to its peak"),
        &[("#d62728", line(&counts[1])), ("#2ca02c", line(&counts[0]))],
    )
}
