//! The report's tables: the scorecard itself (points per feature and bin or level), pair terms
//! as heat maps, the lift table, the features' IV, PSI and single-feature AUC, and the
//! candidates compared.

use std::fmt::Write;

use riskloop_ingest::pipeline::{FeaturePipeline, Transform};

use super::{ReportData, esc};
use crate::bundle::Manifest;
use crate::layout::{Axis, AxisBins, Term, TermKind, segment};
use crate::metrics::Metrics;
use crate::weights::TermValues;

/// Points a change of `logit` (calibrated, of bad) is worth: minus, since a higher score is safer.
fn points(data: &ReportData<'_>, raw_logit: f64) -> f64 {
    let s = &data.scorer.scale;
    -s.pdo / std::f64::consts::LN_2 * data.scorer.platt.a * raw_logit
}

/// The scorecard: per term, the points each bin or level adds to the score against the
/// average training applicant (the base points), numbers at their knots (points in between
/// are interpolated).
pub(super) fn scorecard(html: &mut String, data: &ReportData<'_>) {
    let scorer = data.scorer;
    let s = &scorer.scale;
    let factor = s.pdo / std::f64::consts::LN_2;
    let offset = s.base_score - factor * s.base_odds.ln();
    let mean_logit = scorer
        .platt
        .logit(scorer.weights.bias() + scorer.reference.iter().sum::<f64>());
    let _ = write!(
        html,
        "<h2>Scorecard</h2><p>Base points {:.0} (the average training applicant); each row adds \
         its points (rounded here; the served score adds them unrounded, then rounds and clamps \
         to {}–{}). Numbers: points at each value, interpolated in between.</p>\
         <table><tr><th>feature</th><th style=\"text-align:left\">value or level</th><th>points</th></tr>",
        offset - factor * mean_logit,
        s.min,
        s.max
    );
    for (t, term) in scorer.layout.terms.iter().enumerate() {
        if matches!(term.kind, TermKind::Pair { .. }) {
            continue;
        }
        let rows = term_rows(data, term, t);
        for (k, (label, value)) in rows.iter().enumerate() {
            let name = if k == 0 {
                format!("<th rowspan=\"{}\">{}</th>", rows.len(), esc(&term.feature))
            } else {
                String::new()
            };
            let _ = write!(
                html,
                "<tr>{name}<td style=\"text-align:left\">{}</td><td>{}</td></tr>",
                esc(label),
                signed(points(data, value - scorer.reference[t]))
            );
        }
    }
    html.push_str("</table>");
}

/// A main term's values: at each knot (numbers, in raw units), per value (booleans), per level.
fn term_rows(data: &ReportData<'_>, term: &Term, t: usize) -> Vec<(String, f64)> {
    let w = &data.scorer.weights;
    let dense = term.dense(&w.dense);
    let feature = data
        .pipeline
        .features
        .iter()
        .find(|f| f.name == term.feature);
    let mut rows = Vec::new();
    match &term.kind {
        TermKind::Numeric {
            knots, indicator, ..
        } => {
            let raw = |z: f32| raw_value(feature.map(|f| &f.transform), z);
            let mut value = 0.0;
            for (k, &z) in knots.iter().enumerate() {
                if k > 0 {
                    value +=
                        f64::from(dense[k - 1]) * f64::from(segment(z, knots[k - 1], knots[k]));
                }
                let edge = match k {
                    0 => format!("≤ {}", raw(z)),
                    _ if k + 1 == knots.len() => format!("≥ {}", raw(z)),
                    _ => raw(z),
                };
                rows.push((edge, value));
            }
            if indicator.is_some() {
                // Missing: imputed value's shape plus the indicator's weight; shown as the
                // indicator's own effect on top of the shape.
                rows.push((
                    "missing (added to the imputed value's points)".to_owned(),
                    f64::from(dense[dense.len() - 1]) + data.scorer.reference[t],
                ));
            }
        }
        TermKind::Boolean { indicator, .. } => {
            rows.push(("no / 0".to_owned(), 0.0));
            rows.push(("yes / 1".to_owned(), f64::from(dense[0])));
            if indicator.is_some() {
                rows.push((
                    "missing (added to the imputed value's points)".to_owned(),
                    f64::from(dense[1]) + data.scorer.reference[t],
                ));
            }
        }
        TermKind::Categorical { cardinality, .. } => {
            let names: Vec<String> = match feature.map(|f| &f.transform) {
                Some(Transform::Categorical { levels, .. }) => levels.clone(),
                _ => (0..*cardinality).map(|l| l.to_string()).collect(),
            };
            for (l, name) in names.iter().enumerate().take(*cardinality) {
                rows.push((name.clone(), f64::from(w.levels[term.offset + l])));
            }
        }
        TermKind::Pair { .. } => {}
    }
    rows
}

/// Each pair term as a heat map: points per cell, red where it adds risk.
pub(super) fn pairs(html: &mut String, data: &ReportData<'_>) {
    let scorer = data.scorer;
    let pairs: Vec<(usize, &Term)> = scorer
        .layout
        .terms
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.kind, TermKind::Pair { .. }))
        .collect();
    if pairs.is_empty() {
        return;
    }
    html.push_str(
        "<h2>Pairs of features</h2><p>Points each combination adds against the average \
         applicant, on top of the two features' own points in the scorecard (red: riskier, \
         blue: safer). The tables are purified: each row and each column averages to zero \
         over the training rows, so what a feature does alone is in its own points in the \
         scorecard and a table shows only what the two do together.</p>",
    );
    for (t, term) in pairs {
        let TermKind::Pair { a, b } = &term.kind else {
            continue;
        };
        let cells = &scorer.weights.levels[term.offset..term.offset + term.kind.level_width()];
        let values: Vec<f64> = cells
            .iter()
            .map(|&v| points(data, f64::from(v) - scorer.reference[t]))
            .collect();
        let peak = values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let _ = write!(
            html,
            "<figure><figcaption>{}</figcaption><table><tr><th>{} \\ {}</th>",
            esc(&term.feature),
            esc(&a.feature),
            esc(&b.feature)
        );
        for j in 0..b.len() {
            let _ = write!(html, "<th>{}</th>", esc(&axis_label(data.pipeline, b, j)));
        }
        html.push_str("</tr>");
        for i in 0..a.len() {
            let _ = write!(
                html,
                "<tr><th>{}</th>",
                esc(&axis_label(data.pipeline, a, i))
            );
            for j in 0..b.len() {
                // Points below 0 (riskier) in red, above in blue, by size; none, no colour.
                let v = values[i * b.len() + j].round();
                let strength = (v.abs() / peak * 0.6 + 0.1).min(0.7);
                let (colour, text) = match v {
                    v if v < 0.0 => (format!("rgba(214,39,40,{strength:.2})"), format!("{v}")),
                    v if v > 0.0 => (format!("rgba(31,119,180,{strength:.2})"), format!("+{v}")),
                    _ => ("transparent".to_owned(), "0".to_owned()),
                };
                let _ = write!(html, "<td style=\"background:{colour}\">{text}</td>");
            }
            html.push_str("</tr>");
        }
        html.push_str("</table></figure>");
    }
}

/// What bin `k` of an axis holds, in raw units or level names.
fn axis_label(pipeline: &FeaturePipeline, axis: &Axis, k: usize) -> String {
    let feature = pipeline.features.iter().find(|f| f.name == axis.feature);
    match (&axis.bins, feature.map(|f| &f.transform)) {
        (AxisBins::Levels { count }, Some(Transform::Categorical { levels, .. })) => {
            let name = levels.get(k).cloned().unwrap_or_default();
            if k == 1 && levels.len() > *count {
                format!("{name} (and rarer)")
            } else {
                name
            }
        }
        (AxisBins::Cuts { cuts }, transform) => {
            let raw = |z: f32| raw_value(transform, z);
            match (k.checked_sub(1).map(|i| cuts[i]), cuts.get(k)) {
                (None, Some(hi)) => format!("≤ {}", raw(*hi)),
                (Some(lo), Some(hi)) => format!("{}–{}", raw(lo), raw(*hi)),
                (Some(lo), None) => format!("> {}", raw(lo)),
                (None, None) => "all".to_owned(),
            }
        }
        _ => k.to_string(),
    }
}

/// Points rounded, with their sign (`+3`, `-2`, `0`).
fn signed(points: f64) -> String {
    match points.round() {
        p if p > 0.0 => format!("+{p}"),
        p if p < 0.0 => format!("{p}"),
        _ => "0".to_owned(),
    }
}

/// A standardised value back in raw units, to four significant digits (`362`, not
/// `362.0001`: the round trip through f32 is not exact).
fn raw_value(transform: Option<&Transform>, z: f32) -> String {
    let Some(Transform::Numeric { mean, scale, .. }) = transform else {
        return format!("{z:.2} (standardised)");
    };
    let v = f64::from(z) * scale + mean;
    let digits = if v == 0.0 {
        0
    } else {
        (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The lift table of the test split, riskiest decile first.
pub(super) fn lift(html: &mut String, m: &Metrics) {
    html.push_str(
        "<h2>Lift by decile (int8, test split)</h2><table><tr><th>decile</th><th>rows</th>\
         <th>mean predicted PD</th><th>observed bad rate</th><th>lift</th>\
         <th>cumulative share of bads</th></tr>",
    );
    for (k, d) in m.deciles.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.2}</td><td>{:.1}%</td></tr>",
            k + 1,
            d.rows,
            d.mean_predicted,
            d.observed_bad_rate,
            d.lift,
            100.0 * d.cumulative_capture
        );
    }
    html.push_str("</table>");
}

/// The features as the ingest measured them.
pub(super) fn features(html: &mut String, data: &ReportData<'_>) {
    if data.features.is_empty() {
        return;
    }
    html.push_str(
        "<h2>Features (ingest)</h2><table><tr><th>feature</th><th>missing</th><th>IV</th>\
         <th>PSI train → test</th><th>AUC alone</th></tr>",
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"));
    for f in data.features {
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f.name),
            100.0 * f.missing_rate,
            opt(f.iv),
            opt(f.psi),
            opt(f.auc)
        );
    }
    html.push_str("</table>");
}

/// Every candidate trained, and how the kept one was chosen.
pub(super) fn candidates(html: &mut String, manifest: &Manifest) {
    let folds = manifest
        .candidates
        .iter()
        .find_map(|c| c.cross_validated.as_ref());
    html.push_str("<h2>Candidates</h2><table><tr><th>model</th>");
    if folds.is_some() {
        html.push_str("<th>out-of-fold AUC</th>");
    }
    html.push_str("<th>valid AUC</th><th>test AUC</th><th>test 95% CI</th></tr>");
    for c in &manifest.candidates {
        let kept = if c.model == manifest.model {
            " (kept)"
        } else {
            ""
        };
        let _ = write!(html, "<tr><th>{:?}{kept}</th>", c.model);
        if let Some(cv) = &c.cross_validated {
            let _ = write!(html, "<td>{:.4}</td>", cv.auc);
        }
        let _ = write!(
            html,
            "<td>{:.4}</td><td>{:.4}</td><td>{:.4}–{:.4}</td></tr>",
            c.valid_auc, c.test_auc, c.test_auc_ci[0], c.test_auc_ci[1]
        );
    }
    html.push_str("</table>");
    if let Some(cv) = folds {
        let _ = write!(
            html,
            "<p>The validation split is small, so the candidates were compared out of fold: \
             the {} train and valid rows pooled into {} stratified folds, each candidate fitted \
             again without each fold and scored on it.</p>",
            cv.rows, cv.folds
        );
    }
    if let Some(r) = &manifest.run.refine {
        let _ = write!(
            html,
            "<p>The kept model's L2 penalty: {} (the L-BFGS refinement took {} steps; valid AUC \
             {:.4} → {:.4}).",
            r.l2, r.iterations, r.valid_auc_start, r.valid_auc
        );
        match &r.cross_validated {
            Some(cv) => {
                let path: Vec<String> = cv
                    .aucs
                    .iter()
                    .map(|(l2, auc)| format!("{l2}: {auc:.4}"))
                    .collect();
                let _ = write!(
                    html,
                    " Chosen out of fold on the {} train and valid rows ({} folds), the strongest \
                     within 0.001 of the best out-of-fold AUC; each strength's: {}.</p>",
                    cv.rows,
                    cv.folds,
                    path.join(", ")
                );
            }
            None => html.push_str(
                " Chosen on the validation split: the strongest within 0.001 of the best AUC.</p>",
            ),
        }
    }
    if !manifest.run.pruned.is_empty() {
        html.push_str("<p>Dropped before the final refinement, their terms contributing nothing: ");
        let dropped: Vec<String> = manifest
            .run
            .pruned
            .iter()
            .map(|p| {
                format!(
                    "{} (contribution's standard deviation {:.4} logit, below {})",
                    esc(&p.feature),
                    p.contribution_sd,
                    p.threshold
                )
            })
            .collect();
        html.push_str(&dropped.join("; "));
        html.push_str(".</p>");
    }
    if let Some(p) = &manifest.run.purified {
        let _ = write!(
            html,
            "<p>The pair tables were purified and the main terms refitted around them: \
             validation AUC {:.4} → {:.4}.</p>",
            p.valid_auc_before, p.valid_auc
        );
    }
    if let Some(c) = &manifest.choice {
        let _ = write!(
            html,
            "<p>Last comparison {}: AUC {:.4} → {:.4}, gain {:+.4} (95% paired DeLong \
             interval {:+.4} to {:+.4}); the more complex model is kept only when the interval \
             lies above zero.</p>",
            if folds.is_some() {
                "out of fold"
            } else {
                "on validation"
            },
            c.champion_auc,
            c.challenger_auc,
            c.delta,
            c.delta_ci[0],
            c.delta_ci[1]
        );
    }
}
