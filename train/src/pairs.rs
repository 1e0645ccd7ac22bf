//! Choosing the pairs of a GA2M: FAST (Lou, Caruana, Gehrke & Hooker, KDD 2013) ranks every
//! pair of features by how much a lookup table over their two coarse binnings would lower the
//! fitted additive model's loss, measured on its residuals, and keeps the best few. With the
//! logistic loss, a table's gain is the Newton step's: for each cell, `G² / H` over the cell's
//! summed gradients `G = Σ w (p − y)` and curvatures `H = Σ w p (1 − p)`; the gain of the two
//! features' own bins (what main effects already reach) is subtracted, so a pair scores only
//! for what the two features do together.

use rayon::prelude::*;

use crate::data::Split;
use crate::layout::{Axis, Layout, TermKind};

/// A pair of main terms (their indices in the layout) and its gain.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub a: usize,
    pub b: usize,
    pub gain: f64,
}

/// The pairs of `layout`'s main terms ranked by FAST gain on `train`, given the fitted
/// additive model's logit for each row; at most `keep`, each with a positive gain.
/// Monotone features are left out: a pair table could break their direction.
pub fn select(
    layout: &Layout,
    train: &Split,
    logits: &[f64],
    bad_weight: f64,
    keep: usize,
) -> Vec<Candidate> {
    let axes: Vec<(usize, Axis)> = (0..layout.terms.len())
        .filter(|&i| layout.terms[i].monotone.is_none())
        .filter(|&i| !matches!(layout.terms[i].kind, TermKind::Pair { .. }))
        .filter_map(|i| layout.axis(i).map(|a| (i, a)))
        .filter(|(_, a)| a.len() > 1)
        .collect();
    // Each row's gradient, curvature and bin on every axis, computed once.
    let (g, h): (Vec<f64>, Vec<f64>) = (0..train.rows)
        .map(|i| {
            let p = 1.0 / (1.0 + (-logits[i]).exp());
            let y = f64::from(train.labels[i]);
            let w = if y > 0.5 { bad_weight } else { 1.0 };
            (w * (p - y), w * p * (1.0 - p))
        })
        .unzip();
    let bins: Vec<Vec<u8>> = axes
        .iter()
        .map(|(_, axis)| {
            (0..train.rows)
                .map(|i| axis.bin(train.row(i)) as u8)
                .collect()
        })
        .collect();
    // A cell needs the curvature of a few rows before its table entry means anything.
    let prior = 10.0 * h.iter().sum::<f64>() / train.rows.max(1) as f64;
    let pairs: Vec<(usize, usize)> = (0..axes.len())
        .flat_map(|x| (x + 1..axes.len()).map(move |y| (x, y)))
        .collect();
    let mut ranked: Vec<Candidate> = pairs
        .par_iter()
        .map(|&(x, y)| {
            let (nx, ny) = (axes[x].1.len(), axes[y].1.len());
            let mut cells = vec![(0.0, 0.0); nx * ny];
            for i in 0..train.rows {
                let c = &mut cells[usize::from(bins[x][i]) * ny + usize::from(bins[y][i])];
                c.0 += g[i];
                c.1 += h[i];
            }
            let gain = |sums: &mut dyn Iterator<Item = (f64, f64)>| {
                sums.map(|(g, h)| g * g / (h + prior)).sum::<f64>()
            };
            let rows = (0..nx).map(|r| {
                cells[r * ny..(r + 1) * ny]
                    .iter()
                    .fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1))
            });
            let columns = (0..ny).map(|k| {
                (0..nx).fold((0.0, 0.0), |a, r| {
                    let c = cells[r * ny + k];
                    (a.0 + c.0, a.1 + c.1)
                })
            });
            let table = gain(&mut cells.iter().copied());
            let main = gain(&mut rows.into_iter()) + gain(&mut columns.into_iter());
            Candidate {
                a: axes[x].0,
                b: axes[y].0,
                gain: (table - main) / train.rows.max(1) as f64,
            }
        })
        .filter(|c| c.gain > 0.0)
        .collect();
    ranked.sort_by(|p, q| q.gain.total_cmp(&p.gain).then((p.a, p.b).cmp(&(q.a, q.b))));
    ranked.truncate(keep);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{ModelKind, Term};

    /// Three boolean features; the label depends on x0 AND x1 (an interaction), and on x2 alone.
    fn planted(rows: usize) -> (Layout, Split) {
        let term = |name: &str, slot: usize| Term {
            feature: name.into(),
            description: String::new(),
            monotone: None,
            kind: TermKind::Boolean {
                slot,
                indicator: None,
            },
            offset: slot,
        };
        let layout = Layout {
            kind: ModelKind::Additive,
            slots: 3,
            terms: vec![term("x0", 0), term("x1", 1), term("x2", 2)],
            dense: 3,
            levels: 0,
            categorical: 0,
        };
        let mut state = 3u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % 1000) as f64 / 1000.0
        };
        let mut slots = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..rows {
            let x: Vec<f32> = (0..3).map(|_| f32::from(u8::from(next() < 0.5))).collect();
            let z = -1.0 + 2.5 * f64::from(x[0] * x[1]) + 0.8 * f64::from(x[2]);
            labels.push(u8::from(next() < 1.0 / (1.0 + (-z).exp())));
            slots.extend(x);
        }
        let split = Split {
            name: "train".into(),
            rows,
            width: 3,
            slots,
            labels,
        };
        (layout, split)
    }

    #[test]
    fn fast_finds_the_planted_pair_first() {
        let (layout, split) = planted(20_000);
        // Residuals of a model that knows only the mean: the marginal signal of x0, x1 and x2
        // is subtracted by the gain, so only the pair's joint effect ranks.
        let rate = split.labels.iter().map(|&y| f64::from(y)).sum::<f64>() / split.rows as f64;
        let logits = vec![(rate / (1.0 - rate)).ln(); split.rows];
        let ranked = select(&layout, &split, &logits, 1.0, 3);
        assert_eq!((ranked[0].a, ranked[0].b), (0, 1), "{ranked:?}");
        assert!(
            ranked
                .iter()
                .skip(1)
                .all(|c| c.gain < ranked[0].gain / 10.0),
            "{ranked:?}"
        );
    }

    #[test]
    fn monotone_features_are_never_paired() {
        let (mut layout, split) = planted(2_000);
        layout.terms[0].monotone = Some(riskloop_ingest::spec::Monotone::Increasing);
        let logits = vec![0.0; split.rows];
        let ranked = select(&layout, &split, &logits, 1.0, 3);
        assert!(ranked.iter().all(|c| c.a != 0 && c.b != 0), "{ranked:?}");
    }
}
