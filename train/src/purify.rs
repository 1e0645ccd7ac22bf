//! Purifying a GA2M's pair tables (the functional ANOVA's "mass moving": Lengerich, Tan, Chang,
//! Hooker & Caruana, AISTATS 2020). A table fitted next to the main terms may carry part of one
//! feature's own effect in a row or column average, so a feature's main term alone would not
//! tell its whole story. Each table's training-weighted row and then column means are
//! subtracted in turn until every row and column averages to zero over the training rows; what
//! was removed is a function of one feature, and goes to that feature's main term: exactly into
//! a category's levels or a boolean's weight, and for a number (whose bins are steps its
//! piecewise-linear shape cannot follow) by refitting the main terms and the bias with the pure
//! tables held fixed. The model stays a sum of terms, so contributions stay exact.

use crate::data::Encoded;
use crate::layout::{Axis, AxisBins, Layout, TermKind};
use crate::refine::{self, Objective, Params};

/// Sweeps at most; each subtracts every row's, then every column's, weighted mean.
const MAX_SWEEPS: usize = 10_000;
/// A sweep that moves no mean by more than this (logit) has converged.
const TOLERANCE: f64 = 1e-12;

/// What one table gave up: `table = pure + rows[a] + columns[b]` in every cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Marginals {
    pub rows: Vec<f64>,
    pub columns: Vec<f64>,
}

/// Purifies `table` (row-major, `columns` wide) in place, weighting each cell by `counts`
/// (its training rows). A row or column without training rows has no mean (its marginal stays
/// 0); an empty cell moves with its row and column, so the decomposition holds in every cell.
pub fn purify_table(table: &mut [f64], counts: &[f64], columns: usize) -> Marginals {
    let rows = table.len() / columns.max(1);
    let mut out = Marginals {
        rows: vec![0.0; rows],
        columns: vec![0.0; columns],
    };
    for _ in 0..MAX_SWEEPS {
        let mut largest = 0.0f64;
        for (a, moved) in out.rows.iter_mut().enumerate() {
            let cells: Vec<usize> = (a * columns..(a + 1) * columns).collect();
            largest = largest.max(subtract_mean(table, counts, &cells, moved));
        }
        for (b, moved) in out.columns.iter_mut().enumerate() {
            let cells: Vec<usize> = (0..rows).map(|a| a * columns + b).collect();
            largest = largest.max(subtract_mean(table, counts, &cells, moved));
        }
        if largest < TOLERANCE {
            break;
        }
    }
    out
}

/// Subtracts the weighted mean of `cells` from them, adds it to `moved`, returns its size.
fn subtract_mean(table: &mut [f64], counts: &[f64], cells: &[usize], moved: &mut f64) -> f64 {
    let (sum, weight) = cells.iter().fold((0.0, 0.0), |(s, w), &k| {
        (s + table[k] * counts[k], w + counts[k])
    });
    if weight <= 0.0 {
        return 0.0;
    }
    let mean = sum / weight;
    cells.iter().for_each(|&k| table[k] -= mean);
    *moved += mean;
    mean.abs()
}

/// Training rows behind each level weight of `data` (categories' levels and pair cells).
pub fn level_counts(data: &Encoded, levels: usize) -> Vec<f64> {
    let mut counts = vec![0.0; levels];
    for &l in &data.levels {
        counts[l as usize] += 1.0;
    }
    counts
}

/// The largest training-weighted row or column mean of any pair table in `levels`, given
/// [`level_counts`]: zero (but for rounding) once purified.
pub fn largest_marginal(layout: &Layout, levels: &[f64], counts: &[f64]) -> f64 {
    let mut largest = 0.0f64;
    for term in &layout.terms {
        let TermKind::Pair { a, b } = &term.kind else {
            continue;
        };
        let (na, nb) = (a.len(), b.len());
        let cell = |i: usize, j: usize| term.offset + i * nb + j;
        let lines = (0..na)
            .map(|i| (0..nb).map(|j| cell(i, j)).collect::<Vec<_>>())
            .chain((0..nb).map(|j| (0..na).map(|i| cell(i, j)).collect()));
        for line in lines {
            let (sum, weight) = line.iter().fold((0.0, 0.0), |(s, w), &k| {
                (s + levels[k] * counts[k], w + counts[k])
            });
            if weight > 0.0 {
                largest = largest.max((sum / weight).abs());
            }
        }
    }
    largest
}

/// `params` with every pair table purified on `counts` and what each gave up moved into the
/// main terms where it fits exactly (see [`absorb`]); the numeric parts are dropped, for the
/// refit to take. `signs` are the monotone signs of the dense weights.
pub fn purify_tables(layout: &Layout, counts: &[f64], signs: &[f32], params: &Params) -> Params {
    let mut out = params.clone();
    for term in &layout.terms {
        let TermKind::Pair { a, b } = &term.kind else {
            continue;
        };
        let cells = term.offset..term.offset + term.kind.level_width();
        let marginals = purify_table(
            &mut out.levels[cells.clone()],
            &counts[cells.clone()],
            b.len(),
        );
        absorb(layout, a, &marginals.rows, signs, &mut out);
        absorb(layout, b, &marginals.columns, signs, &mut out);
    }
    out
}

/// A GA2M's `params` purified ([`purify_tables`] on the training rows of `objective`), then
/// the main terms and the bias refitted on `objective` with the pair cells held; with the
/// refit's L-BFGS steps.
pub fn purify(layout: &Layout, objective: &Objective<'_>, params: &Params) -> (Params, usize) {
    let counts = level_counts(objective.data, layout.levels);
    let start = purify_tables(layout, &counts, objective.signs, params);
    let n_dense = start.dense.len();
    let mut frozen = vec![false; n_dense + start.levels.len() + 1];
    for term in &layout.terms {
        if matches!(term.kind, TermKind::Pair { .. }) {
            let first = n_dense + term.offset;
            frozen[first..first + term.kind.level_width()].fill(true);
        }
    }
    let held = Objective {
        frozen: &frozen,
        ..*objective
    };
    refine::minimise(&held, &start, refine::MAX_ITERATIONS)
}

/// Adds `marginal` (one value per bin of `axis`) to the main term of the axis' feature where
/// that term carries it exactly: a category's levels (the rarer levels share the "other" bin),
/// or a free boolean's weight and the bias.
fn absorb(layout: &Layout, axis: &Axis, marginal: &[f64], signs: &[f32], params: &mut Params) {
    for term in &layout.terms {
        match (&term.kind, &axis.bins) {
            (TermKind::Categorical { slot, cardinality }, AxisBins::Levels { count })
                if *slot == axis.slot =>
            {
                for level in 0..*cardinality {
                    let bin = if level < *count { level } else { 1 };
                    params.levels[term.offset + level] += marginal[bin];
                }
            }
            (TermKind::Boolean { slot, .. }, AxisBins::Cuts { cuts })
                if *slot == axis.slot
                    && cuts.len() == 1
                    && signs.get(term.offset).is_none_or(|&s| s == 0.0) =>
            {
                params.bias += marginal[0];
                params.dense[term.offset] += marginal[1] - marginal[0];
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use crate::layout::{ModelKind, Term};
    use crate::refine::{Penalty, refine, valid_auc};

    fn term(feature: &str, kind: TermKind, offset: usize) -> Term {
        Term {
            feature: feature.into(),
            description: String::new(),
            monotone: None,
            kind,
            offset,
        }
    }

    /// A number x (slot 0), a category c of 12 levels, the rarest two beyond a pair's 10
    /// (slot 1), and a flag f (slot 2). The bad rate depends on each alone, x through a step
    /// inside a segment, and on x with c and c with f together.
    fn planted(rows: usize, seed: u64) -> (Layout, Split) {
        let knots = vec![-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5];
        let main = Layout {
            kind: ModelKind::Additive,
            slots: 3,
            terms: vec![
                term(
                    "x",
                    TermKind::Numeric {
                        slot: 0,
                        indicator: None,
                        knots,
                    },
                    0,
                ),
                term(
                    "c",
                    TermKind::Categorical {
                        slot: 1,
                        cardinality: 12,
                    },
                    0,
                ),
                term(
                    "f",
                    TermKind::Boolean {
                        slot: 2,
                        indicator: None,
                    },
                    6,
                ),
            ],
            dense: 7,
            levels: 12,
            categorical: 1,
        };
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % 100_000) as f64 / 100_000.0
        };
        let (mut slots, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..rows {
            let x = 3.2 * next() - 1.6;
            let level = (12.0 * next().powi(2)) as usize;
            let flag = next() < 0.4;
            let on = |b: bool| f64::from(u8::from(b));
            let z = -1.0
                + 0.6 * x
                + 0.8 * on(x > 0.25)
                + 0.15 * (level as f64 - 5.0)
                + 0.5 * on(flag)
                + 1.2 * on(x > 0.0 && level.is_multiple_of(3))
                - 0.8 * on(flag && (level == 2 || level == 4));
            labels.push(u8::from(next() < 1.0 / (1.0 + (-z).exp())));
            slots.extend([x as f32, level as f32, f32::from(u8::from(flag))]);
        }
        let split = Split {
            name: "train".into(),
            rows,
            width: 3,
            slots,
            labels,
        };
        (main, split)
    }

    fn zero(layout: &Layout) -> Params {
        Params {
            dense: vec![0.0; layout.dense],
            levels: vec![0.0; layout.levels],
            bias: 0.0,
        }
    }

    #[test]
    fn a_table_splits_exactly_into_a_pure_part_and_weighted_row_and_column_means() {
        // 3 × 4, the last row without training rows and one empty cell in the first.
        let original = [
            0.3, -1.2, 0.7, 2.0, 1.1, 0.4, -0.6, 0.9, -0.8, 0.5, 1.3, -0.2,
        ];
        let counts = [5.0, 0.0, 12.0, 3.0, 40.0, 7.0, 1.0, 9.0, 0.0, 0.0, 0.0, 0.0];
        let mut table = original;
        let m = purify_table(&mut table, &counts, 4);
        for (k, v) in original.iter().enumerate() {
            let (a, b) = (k / 4, k % 4);
            assert!(
                (table[k] + m.rows[a] + m.columns[b] - v).abs() < 1e-12,
                "cell {k}"
            );
        }
        assert_eq!(m.rows[2], 0.0);
        let mean = |cells: &[usize]| {
            let w: f64 = cells.iter().map(|&k| counts[k]).sum();
            cells.iter().map(|&k| table[k] * counts[k]).sum::<f64>() / w
        };
        for a in 0..2 {
            assert!(mean(&[4 * a, 4 * a + 1, 4 * a + 2, 4 * a + 3]).abs() < 1e-12);
        }
        for b in 0..4 {
            assert!(mean(&[b, 4 + b, 8 + b]).abs() < 1e-12);
        }
    }

    #[test]
    fn moving_a_category_and_a_flag_out_of_their_table_keeps_every_logit() {
        let (main, split) = planted(3000, 5);
        let layout = main.with_pairs(&[(1, 2)]);
        let data = Encoded::new(&layout, &split);
        let signs = layout.monotone_signs();
        let mut params = zero(&layout);
        // Arbitrary weights everywhere, the table far from pure.
        for (k, v) in params.levels.iter_mut().enumerate() {
            *v = ((k * 37 % 11) as f64 - 4.0) * 0.1;
        }
        params.dense[6] = 0.3;
        let counts = level_counts(&data, layout.levels);
        let purified = purify_tables(&layout, &counts, &signs, &params);
        let objective = Objective {
            data: &data,
            signs: &signs,
            bad_weight: 1.0,
            l2: 0.0,
            frozen: &[],
        };
        let (before, after) = (
            objective.logits(&params, &data),
            objective.logits(&purified, &data),
        );
        assert!(largest_marginal(&layout, &params.levels, &counts) > 0.1);
        assert!(largest_marginal(&layout, &purified.levels, &counts) < 1e-9);
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            assert!((a - b).abs() < 1e-9, "row {i}: {a} vs {b}");
        }
    }

    #[test]
    fn a_purified_ga2m_has_pure_tables_and_keeps_its_validation_auc() {
        let (main, train) = planted(12_000, 1);
        let (_, valid) = planted(6_000, 2);
        let layout = main.with_pairs(&[(0, 1), (1, 2), (0, 2)]);
        let (train, valid) = (Encoded::new(&layout, &train), Encoded::new(&layout, &valid));
        let signs = layout.monotone_signs();
        let fitted = refine(
            &train,
            &valid,
            &signs,
            1.0,
            &zero(&layout),
            Penalty::Validation,
        );
        let objective = Objective {
            data: &train,
            signs: &signs,
            bad_weight: 1.0,
            l2: fitted.l2,
            frozen: &[],
        };
        let (purified, iterations) = purify(&layout, &objective, &fitted.params);
        let counts = level_counts(&train, layout.levels);
        let (before, after) = (
            largest_marginal(&layout, &fitted.params.levels, &counts),
            largest_marginal(&layout, &purified.levels, &counts),
        );
        let (auc_before, auc_after) = (
            valid_auc(&valid, &signs, &fitted.params),
            valid_auc(&valid, &signs, &purified),
        );
        println!(
            "largest row or column mean {before:.4} → {after:.2e}; valid AUC {auc_before:.4} → \
             {auc_after:.4} ({iterations} refit steps)"
        );
        assert!(
            before > 0.01,
            "the fitted tables were already pure: {before}"
        );
        assert!(after < 1e-9, "{after}");
        assert!((auc_after - auc_before).abs() < 0.005);
        // The refit held the tables where purification left them.
        let tables = purify_tables(&layout, &counts, &signs, &fitted.params);
        assert_eq!(purified.levels[12..], tables.levels[12..]);
    }
}
