//! Full-batch refinement: after the mini-batch epochs, L-BFGS on the exact objective (the
//! class-weighted log-loss of every training row plus an L2 penalty on the weights) until it
//! stops improving, for each strength of a short penalty path, keeping the one with the best
//! validation AUC (out-of-fold AUC on a small book: see [`Penalty`]). The objective is convex in the model's weights, so the optimum does not
//! depend on the seed the epochs started from; the epochs only bring it closer.
//!
//! The additive model is small (one weight per segment and per level), so its loss and
//! gradient are computed here in f64 over fixed chunks of rows on every core, summed in chunk
//! order: the same result whatever the number of threads.

use rayon::prelude::*;

use crate::data::{Encoded, HeldOut, fold_rows, out_of_fold_scores};

/// Penalty strengths tried, weakest first (warm-started from each other): on a large book
/// the weakest is best and the path stops two strengths later; on a small one it climbs to
/// the best and stops two past it.
pub const L2_PATH: [f64; 7] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];
const CHUNK_ROWS: usize = 4096;
const HISTORY: usize = 10;
/// Validation AUCs this close count as equal when choosing the penalty.
const AUC_TOLERANCE: f64 = 0.001;
/// L-BFGS steps per penalty strength at most; a step that improves the loss by less than a
/// relative 1e-9, or a gradient whose largest entry is below [`GRADIENT_TOLERANCE`], stops it
/// sooner.
pub const MAX_ITERATIONS: usize = 100;
/// The mean loss moves by less than this per unit of any weight: the optimum, for a score.
const GRADIENT_TOLERANCE: f64 = 1e-5;

/// The model's parameters as one vector: raw dense weights (before the monotone map), level
/// weights, then the bias.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub dense: Vec<f64>,
    pub levels: Vec<f64>,
    pub bias: f64,
}

impl Params {
    fn flat(&self) -> Vec<f64> {
        let mut x = Vec::with_capacity(self.dense.len() + self.levels.len() + 1);
        x.extend_from_slice(&self.dense);
        x.extend_from_slice(&self.levels);
        x.push(self.bias);
        x
    }

    fn with_flat(&self, x: &[f64]) -> Self {
        let (p, l) = (self.dense.len(), self.levels.len());
        Self {
            dense: x[..p].to_vec(),
            levels: x[p..p + l].to_vec(),
            bias: x[p + l],
        }
    }
}

/// The training objective of one model on one split.
#[derive(Debug)]
pub struct Objective<'a> {
    pub data: &'a Encoded,
    /// +1 / -1 for monotone dense weights (`sign * softplus(raw)`), 0 for free ones.
    pub signs: &'a [f32],
    /// Weight of a bad row in the loss (goods weigh 1).
    pub bad_weight: f64,
    pub l2: f64,
    /// Parameters (in [`Params`]' flat order) held where they start: their slopes read as 0,
    /// so L-BFGS never moves them. Empty: none held.
    pub frozen: &'a [bool],
}

/// How a refinement went.
#[derive(Clone, Debug, PartialEq)]
pub struct Refined {
    pub params: Params,
    pub l2: f64,
    pub valid_auc: f64,
    pub iterations: usize,
    /// How the penalty was chosen out of fold; `None`: on the validation split.
    pub out_of_fold: Option<OutOfFold>,
}

/// A penalty strength chosen out of fold (see [`Penalty::OutOfFold`]).
#[derive(Clone, Debug, PartialEq)]
pub struct OutOfFold {
    pub folds: usize,
    pub rows: usize,
    pub l2: f64,
    /// The out-of-fold AUC of the strength kept, and of each strength of [`L2_PATH`].
    pub auc: f64,
    pub aucs: Vec<f64>,
}

impl Objective<'_> {
    /// Effective dense weight and its derivative with respect to the raw one.
    fn effective(&self, j: usize, raw: f64) -> (f64, f64) {
        let sign = f64::from(self.signs.get(j).copied().unwrap_or(0.0));
        if sign == 0.0 {
            (raw, 1.0)
        } else {
            (sign * softplus(raw), sign * sigmoid(raw))
        }
    }

    /// Loss at `x` and its gradient into `grad`.
    fn evaluate(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let data = self.data;
        let (p, c) = (data.dense_width, data.level_width);
        // The model keeps one (unused) dense weight when it has none.
        let n_dense = p.max(1);
        let (raw, rest) = x.split_at(n_dense);
        let (levels, bias) = rest.split_at(rest.len() - 1);
        let bias = bias[0];
        let effective: Vec<(f64, f64)> = raw
            .iter()
            .enumerate()
            .map(|(j, &r)| self.effective(j, r))
            .collect();
        let weights: Vec<f64> = effective.iter().map(|&(w, _)| w).collect();
        let bads = data.labels.iter().filter(|&&y| y > 0.5).count() as f64;
        let total_weight = bads * self.bad_weight + (data.rows as f64 - bads);
        let chunks: Vec<(f64, Vec<f64>)> = (0..data.rows.div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map(|chunk| {
                let mut g = vec![0.0; x.len()];
                let mut loss = 0.0;
                let rows = chunk * CHUNK_ROWS..((chunk + 1) * CHUNK_ROWS).min(data.rows);
                for i in rows {
                    let dense = &data.dense[i * p..(i + 1) * p];
                    let picked = &data.levels[i * c..(i + 1) * c];
                    let mut z = bias + dot_inputs(dense, &weights);
                    for &l in picked {
                        z += levels[l as usize];
                    }
                    let y = f64::from(data.labels[i]);
                    let weight = if y > 0.5 { self.bad_weight } else { 1.0 };
                    loss += weight * (softplus(z) - y * z);
                    let r = weight * (sigmoid(z) - y);
                    for (gj, xj) in g[..p].iter_mut().zip(dense) {
                        *gj += r * f64::from(*xj);
                    }
                    for &l in picked {
                        g[n_dense + l as usize] += r;
                    }
                    g[x.len() - 1] += r;
                }
                (loss, g)
            })
            .collect();
        grad.fill(0.0);
        let mut loss = 0.0;
        for (l, g) in chunks {
            loss += l;
            grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
        }
        let scale = 1.0 / total_weight.max(1.0);
        loss *= scale;
        grad.iter_mut().for_each(|v| *v *= scale);
        // The penalty is on the effective weights (a monotone weight's size, not its raw).
        for (j, (w, dw)) in effective.iter().enumerate() {
            loss += 0.5 * self.l2 * w * w;
            grad[j] = grad[j] * dw + self.l2 * w * dw;
        }
        for (k, w) in levels.iter().enumerate() {
            loss += 0.5 * self.l2 * w * w;
            grad[n_dense + k] += self.l2 * w;
        }
        for (g, _) in grad.iter_mut().zip(self.frozen).filter(|(_, f)| **f) {
            *g = 0.0;
        }
        loss
    }

    /// The diagonal of the objective's Hessian at `x` (each weight as if alone: its inputs'
    /// squares weighted by `w p (1 − p)`, plus the penalty): L-BFGS's starting metric, so that
    /// a level seen in 100 rows and an input seen in every row take steps of their own size.
    fn diagonal(&self, x: &[f64]) -> Vec<f64> {
        let data = self.data;
        let (p, c) = (data.dense_width, data.level_width);
        let n_dense = p.max(1);
        let params = Params {
            dense: x[..n_dense].to_vec(),
            levels: x[n_dense..x.len() - 1].to_vec(),
            bias: x[x.len() - 1],
        };
        let logits = self.logits(&params, data);
        let mut d = vec![0.0; x.len()];
        let mut total = 0.0;
        for (i, z) in logits.iter().enumerate() {
            let weight = if data.labels[i] > 0.5 {
                self.bad_weight
            } else {
                1.0
            };
            let q = 1.0 / (1.0 + (-z).exp());
            let h = weight * q * (1.0 - q);
            total += weight;
            for (j, xj) in data.dense[i * p..(i + 1) * p].iter().enumerate() {
                d[j] += h * f64::from(*xj) * f64::from(*xj);
            }
            for &l in &data.levels[i * c..(i + 1) * c] {
                d[n_dense + l as usize] += h;
            }
            d[x.len() - 1] += h;
        }
        let last = d.len() - 1;
        d.iter_mut()
            .enumerate()
            .map(|(k, v)| *v / total.max(1.0) + if k == last { 1e-6 } else { self.l2.max(1e-6) })
            .collect()
    }

    /// Logits of every row of `data` with `params`.
    pub fn logits(&self, params: &Params, data: &Encoded) -> Vec<f64> {
        let (p, c) = (data.dense_width, data.level_width);
        let effective: Vec<f64> = params
            .dense
            .iter()
            .enumerate()
            .map(|(j, &r)| self.effective(j, r).0)
            .collect();
        (0..data.rows)
            .into_par_iter()
            .map(|i| {
                let dense = &data.dense[i * p..(i + 1) * p];
                let mut z = params.bias + dot_inputs(dense, &effective);
                for &l in &data.levels[i * c..(i + 1) * c] {
                    z += params.levels[l as usize];
                }
                z
            })
            .collect()
    }
}

/// Minimises `objective` from `start` with L-BFGS and a backtracking line search; stops when
/// a step improves the loss by less than a relative 1e-9, when no weight's slope reaches
/// [`GRADIENT_TOLERANCE`], or after `max_iterations`.
pub fn minimise(
    objective: &Objective<'_>,
    start: &Params,
    max_iterations: usize,
) -> (Params, usize) {
    let mut x = start.flat();
    let mut g = vec![0.0; x.len()];
    let mut f = objective.evaluate(&x, &mut g);
    let diagonal = objective.diagonal(&x);
    let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::with_capacity(HISTORY);
    let mut iterations = 0;
    let mut trial_g = vec![0.0; x.len()];
    while iterations < max_iterations {
        iterations += 1;
        let direction = two_loop(&g, &history, &diagonal);
        let slope = dot(&direction, &g);
        // Not a descent direction (can happen after a poor curvature pair): start over.
        let (direction, slope) = if slope < 0.0 {
            (direction, slope)
        } else {
            history.clear();
            let d = two_loop(&g, &history, &diagonal);
            let s = dot(&d, &g);
            (d, s)
        };
        if slope.abs() < 1e-16 {
            break;
        }
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            let trial: Vec<f64> = x
                .iter()
                .zip(&direction)
                .map(|(a, d)| a + step * d)
                .collect();
            let trial_f = objective.evaluate(&trial, &mut trial_g);
            if trial_f.is_finite() && trial_f <= f + 1e-4 * step * slope {
                accepted = Some((trial, trial_f));
                break;
            }
            step *= 0.5;
        }
        let Some((next, next_f)) = accepted else {
            break;
        };
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = trial_g.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        // Curvature along the step, however small the step: a pair is kept whenever the
        // loss curves up along it (convex: always, but for rounding).
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if history.len() == HISTORY {
                history.remove(0);
            }
            history.push((s, y, 1.0 / sy));
        }
        let improvement = f - next_f;
        x = next;
        f = next_f;
        g.copy_from_slice(&trial_g);
        let largest_slope = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if improvement <= 1e-9 * f.abs().max(1e-10) || largest_slope < GRADIENT_TOLERANCE {
            break;
        }
    }
    (start.with_flat(&x), iterations)
}

/// The L-BFGS direction `-H g` from the stored curvature pairs, starting from the metric
/// `γ · diag⁻¹` (scaled by the last pair).
fn two_loop(g: &[f64], history: &[(Vec<f64>, Vec<f64>, f64)], diagonal: &[f64]) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let a = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(q, y)| *q -= a * y);
        alphas.push(a);
    }
    let gamma = history.last().map_or(1.0, |(s, y, _)| {
        let y_scaled: f64 = y.iter().zip(diagonal).map(|(y, d)| y * y / d).sum();
        dot(s, y) / y_scaled.max(1e-300)
    });
    q.iter_mut()
        .zip(diagonal)
        .for_each(|(v, d)| *v *= gamma / d);
    for ((s, y, rho), a) in history.iter().zip(alphas.into_iter().rev()) {
        let b = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(q, s)| *q += (a - b) * s);
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

/// Validation AUC of `params`.
pub fn valid_auc(valid: &Encoded, signs: &[f32], params: &Params) -> f64 {
    let objective = Objective {
        data: valid,
        signs,
        bad_weight: 1.0,
        l2: 0.0,
        frozen: &[],
    };
    let labels = valid.classes();
    riskloop_ingest::stats::auc(&objective.logits(params, valid), &labels).unwrap_or(0.5)
}

/// How [`refine`] chooses the penalty strength.
#[derive(Clone, Copy, Debug)]
pub enum Penalty<'a> {
    /// By the validation split's AUC.
    Validation,
    /// Out of fold: `pooled` (the training and validation rows) cut into folds by `fold_of`;
    /// each strength's AUC is that of its out-of-fold scores of every pooled row. On a small
    /// book the validation split alone ranks strengths by noise.
    OutOfFold {
        pooled: &'a Encoded,
        fold_of: &'a [usize],
        folds: usize,
    },
}

/// Refines `start` along [`L2_PATH`] and keeps the strongest penalty whose AUC (see
/// [`Penalty`]) is within [`AUC_TOLERANCE`] of the best.
pub fn refine(
    train: &Encoded,
    valid: &Encoded,
    signs: &[f32],
    bad_weight: f64,
    start: &Params,
    penalty: Penalty<'_>,
) -> Refined {
    let labels = valid.classes();
    let chosen = match penalty {
        Penalty::Validation => None,
        Penalty::OutOfFold {
            pooled,
            fold_of,
            folds,
        } => Some(out_of_fold(
            pooled, fold_of, folds, signs, bad_weight, start,
        )),
    };
    let mut fitted: Vec<Refined> = Vec::with_capacity(L2_PATH.len());
    let mut from = start.clone();
    let mut best_auc = f64::NEG_INFINITY;
    let mut worse = 0;
    for l2 in L2_PATH {
        // Past the best strength, stronger penalties only underfit more: stop after two.
        // Chosen out of fold, the path stops at the strength chosen.
        let past = match &chosen {
            Some(c) => l2 > c.l2,
            None => worse == 2,
        };
        if past {
            break;
        }
        let objective = Objective {
            data: train,
            signs,
            bad_weight,
            l2,
            frozen: &[],
        };
        let (params, iterations) = minimise(&objective, &from, MAX_ITERATIONS);
        let auc =
            riskloop_ingest::stats::auc(&objective.logits(&params, valid), &labels).unwrap_or(0.5);
        if auc > best_auc - AUC_TOLERANCE {
            worse = 0;
        } else {
            worse += 1;
        }
        best_auc = best_auc.max(auc);
        from = params.clone();
        fitted.push(Refined {
            params,
            l2,
            valid_auc: auc,
            iterations,
            out_of_fold: None,
        });
    }
    match chosen {
        Some(c) => {
            let mut kept = fitted.pop().expect("the path reaches the strength chosen");
            kept.out_of_fold = Some(c);
            kept
        }
        // The strongest penalty within the tolerance of the best: the simplest model the
        // validation rows cannot tell from the best (on a small split they rank by noise).
        None => fitted
            .into_iter()
            .rev()
            .find(|r| r.valid_auc >= best_auc - AUC_TOLERANCE)
            .expect("the path is not empty"),
    }
}

/// The penalty chosen out of fold: every fold's other rows refined along the whole path
/// (warm-started from `start`, as the full refinement is), each strength's scores of the fold
/// kept, and the strongest strength whose out-of-fold AUC is within [`AUC_TOLERANCE`] of the
/// best taken. The folds run side by side; each is deterministic.
fn out_of_fold(
    pooled: &Encoded,
    fold_of: &[usize],
    folds: usize,
    signs: &[f32],
    bad_weight: f64,
    start: &Params,
) -> OutOfFold {
    let per_fold: Vec<HeldOut> = (0..folds)
        .into_par_iter()
        .map(|k| {
            let (held, rest) = fold_rows(fold_of, k);
            let (train, test) = (pooled.subset(&rest), pooled.subset(&held));
            let mut from = start.clone();
            let scores = L2_PATH
                .iter()
                .map(|&l2| {
                    let objective = Objective {
                        data: &train,
                        signs,
                        bad_weight,
                        l2,
                        frozen: &[],
                    };
                    let (params, _) = minimise(&objective, &from, MAX_ITERATIONS);
                    let logits = objective.logits(&params, &test);
                    from = params;
                    logits
                })
                .collect();
            (held, scores)
        })
        .collect();
    let scores = out_of_fold_scores(pooled.rows, L2_PATH.len(), per_fold);
    let labels = pooled.classes();
    let aucs: Vec<f64> = scores
        .iter()
        .map(|s| riskloop_ingest::stats::auc(s, &labels).unwrap_or(0.5))
        .collect();
    let best = aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let kept = (0..L2_PATH.len())
        .rev()
        .find(|&i| aucs[i] >= best - AUC_TOLERANCE)
        .expect("the path is not empty");
    OutOfFold {
        folds,
        rows: pooled.rows,
        l2: L2_PATH[kept],
        auc: aucs[kept],
        aucs,
    }
}

fn softplus(z: f64) -> f64 {
    if z > 30.0 {
        z
    } else if z < -30.0 {
        z.exp()
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `Σ x_j w_j` over one row's dense inputs, in eight running sums added up in a fixed order:
/// one running sum waits for each addition to finish before the next, eight keep the floating
/// point units busy, and the fixed order keeps the result the same on every run.
fn dot_inputs(x: &[f32], w: &[f64]) -> f64 {
    let mut sums = [0.0f64; 8];
    let (x8, w8) = (x.chunks_exact(8), w.chunks_exact(8));
    let (x_rest, w_rest) = (x8.remainder(), w8.remainder());
    for (xs, ws) in x8.zip(w8) {
        for ((s, xj), wj) in sums.iter_mut().zip(xs).zip(ws) {
            *s += f64::from(*xj) * wj;
        }
    }
    let mut total =
        ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
    for (xj, wj) in x_rest.iter().zip(w_rest) {
        total += f64::from(*xj) * wj;
    }
    total
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eight_sum_dot_product_is_the_plain_one() {
        for n in 0..30 {
            let x: Vec<f32> = (0..n).map(|j| (j as f32 * 0.37).sin()).collect();
            let w: Vec<f64> = (0..n).map(|j| (j as f64 * 1.3).cos() * 2.0).collect();
            let plain: f64 = x.iter().zip(&w).map(|(a, b)| f64::from(*a) * b).sum();
            assert!((dot_inputs(&x, &w) - plain).abs() < 1e-12, "{n}");
        }
    }

    /// Rows of one dense input and one categorical feature with two levels.
    fn data(rows: usize) -> Encoded {
        let mut dense = Vec::new();
        let mut levels = Vec::new();
        let mut labels = Vec::new();
        let mut state = 7u64;
        for i in 0..rows {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let x = ((state >> 33) % 1000) as f32 / 500.0 - 1.0;
            let level = (i % 2) as i64;
            let z = 1.5 * f64::from(x) + if level == 1 { 0.7 } else { -0.3 } - 0.5;
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let u = ((state >> 33) % 10_000) as f64 / 10_000.0;
            dense.push(x);
            levels.push(level);
            labels.push(if u < sigmoid(z) { 1.0 } else { 0.0 });
        }
        Encoded {
            rows,
            dense_width: 1,
            level_width: 1,
            dense,
            levels,
            labels,
        }
    }

    fn zero() -> Params {
        Params {
            dense: vec![0.0],
            levels: vec![0.0, 0.0],
            bias: 0.0,
        }
    }

    #[test]
    fn the_gradient_matches_finite_differences_for_free_and_monotone_weights() {
        let data = data(500);
        for sign in [0.0f32, 1.0, -1.0] {
            let signs = [sign];
            let objective = Objective {
                data: &data,
                signs: &signs,
                bad_weight: 2.5,
                l2: 0.01,
                frozen: &[],
            };
            let x = [0.3, -0.2, 0.4, 0.1];
            let mut g = vec![0.0; 4];
            objective.evaluate(&x, &mut g);
            for k in 0..4 {
                let (mut up, mut down) = (x, x);
                up[k] += 1e-6;
                down[k] -= 1e-6;
                let mut scratch = vec![0.0; 4];
                let numeric = (objective.evaluate(&up, &mut scratch)
                    - objective.evaluate(&down, &mut scratch))
                    / 2e-6;
                assert!(
                    (numeric - g[k]).abs() < 1e-6,
                    "sign {sign}, param {k}: {numeric} vs {}",
                    g[k]
                );
            }
        }
    }

    #[test]
    fn lbfgs_reaches_the_same_optimum_from_different_starts() {
        let data = data(4000);
        let objective = Objective {
            data: &data,
            signs: &[0.0],
            bad_weight: 1.0,
            l2: 1e-4,
            frozen: &[],
        };
        let far = Params {
            dense: vec![-3.0],
            levels: vec![2.0, -1.0],
            bias: 1.0,
        };
        let (a, _) = minimise(&objective, &zero(), 500);
        let (b, _) = minimise(&objective, &far, 500);
        let close = |u: f64, v: f64| (u - v).abs() < 1e-4;
        assert!(close(a.dense[0], b.dense[0]), "{a:?} vs {b:?}");
        assert!(
            close(a.levels[1] - a.levels[0], b.levels[1] - b.levels[0]),
            "{a:?} vs {b:?}"
        );
        // Near the generating weights: 1.5 for x, 1.0 between the levels.
        assert!((a.dense[0] - 1.5).abs() < 0.25, "{a:?}");
        assert!((a.levels[1] - a.levels[0] - 1.0).abs() < 0.25, "{a:?}");
    }

    #[test]
    fn a_monotone_weight_keeps_its_sign_at_the_optimum() {
        let data = data(2000);
        // The data says x raises risk; a decreasing constraint holds it at (nearly) zero.
        let objective = Objective {
            data: &data,
            signs: &[-1.0],
            bad_weight: 1.0,
            l2: 1e-4,
            frozen: &[],
        };
        let (params, _) = minimise(&objective, &zero(), 500);
        let w = -softplus(params.dense[0]);
        assert!((-0.05..=0.0).contains(&w), "{w}");
    }

    /// `rows` rows of one informative dense input and `noise` pure-noise ones, one
    /// categorical feature with two levels.
    fn noisy(rows: usize, noise: usize) -> Encoded {
        let mut state = 11u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            ((state >> 33) % 1_000_000) as f64 / 1_000_000.0
        };
        let width = 1 + noise;
        let (mut dense, mut levels, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..rows {
            let x = uniform() * 2.0 - 1.0;
            dense.push(x as f32);
            for _ in 0..noise {
                dense.push((uniform() * 2.0 - 1.0) as f32);
            }
            levels.push((i % 2) as i64);
            labels.push(if uniform() < sigmoid(2.5 * x - 0.8) {
                1.0
            } else {
                0.0
            });
        }
        Encoded {
            rows,
            dense_width: width,
            level_width: 1,
            dense,
            levels,
            labels,
        }
    }

    #[test]
    fn out_of_fold_the_penalty_is_stronger_where_noise_inputs_would_overfit() {
        let (train, valid) = (noisy(200, 80), noisy(40, 80));
        let pooled = Encoded::concat(&[&train, &valid]);
        assert_eq!(pooled.rows, 240);
        assert_eq!(pooled.subset(&[200]).dense, valid.subset(&[0]).dense);
        let labels = pooled.classes();
        let fold_of = crate::data::stratified_folds(&labels, 5, 1);
        let signs = vec![0.0; 81];
        let start = Params {
            dense: vec![0.0; 81],
            levels: vec![0.0, 0.0],
            bias: 0.0,
        };
        let penalty = Penalty::OutOfFold {
            pooled: &pooled,
            fold_of: &fold_of,
            folds: 5,
        };
        let refined = refine(&train, &valid, &signs, 1.0, &start, penalty);
        let oof = refined.out_of_fold.clone().expect("chosen out of fold");
        assert_eq!(
            (oof.folds, oof.rows, oof.aucs.len()),
            (5, 240, L2_PATH.len())
        );
        // The kept strength is the one the folds chose, and the path stopped there.
        assert_eq!(refined.l2, oof.l2);
        let best = oof.aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(oof.auc >= best - AUC_TOLERANCE, "{oof:?}");
        // Eighty noise inputs on 200 rows: the weakest penalty overfits them.
        assert!(oof.aucs[0] < best - AUC_TOLERANCE, "{oof:?}");
        assert!(oof.l2 >= 1e-3, "{oof:?}");
        // The weakest strength's out-of-fold AUC, by hand: each fold's other rows fitted from
        // the start, the fold scored.
        let mut scores = vec![0.0; pooled.rows];
        for k in 0..5 {
            let (held, rest) = crate::data::fold_rows(&fold_of, k);
            let part = pooled.subset(&rest);
            let objective = Objective {
                data: &part,
                signs: &signs,
                bad_weight: 1.0,
                l2: L2_PATH[0],
                frozen: &[],
            };
            let (params, _) = minimise(&objective, &start, MAX_ITERATIONS);
            let logits = objective.logits(&params, &pooled.subset(&held));
            for (&i, z) in held.iter().zip(logits) {
                scores[i] = z;
            }
        }
        let by_hand = riskloop_ingest::stats::auc(&scores, &labels).unwrap();
        assert_eq!(oof.aucs[0], by_hand);
        // Deterministic, the folds running side by side.
        assert_eq!(
            refine(&train, &valid, &signs, 1.0, &start, penalty).out_of_fold,
            Some(oof)
        );
    }
}
