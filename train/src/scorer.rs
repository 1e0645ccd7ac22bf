//! From term values to a decision-ready answer: calibrated probability, score, and exact
//! per-feature contributions relative to the training population, with the top reasons.

use serde::{Deserialize, Serialize};

use crate::calibration::{Platt, sigmoid};
use crate::data::Split;
use crate::layout::Layout;
use crate::scorecard::ScoreScale;
use crate::weights::{FloatWeights, Int8Weights, TermValues};

/// A weight form with what turns its term values into an explained probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scorer<W> {
    pub layout: Layout,
    pub weights: W,
    /// Each term's mean value over the training split: contributions are measured from it.
    pub reference: Vec<f64>,
    pub platt: Platt,
    pub scale: ScoreScale,
}

pub type FloatScorer = Scorer<FloatWeights>;
pub type Int8Scorer = Scorer<Int8Weights>;

/// One scored row. `base + Σ contributions = logit` (calibrated logit units).
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub logit: f64,
    pub probability: f64,
    pub score: i32,
    pub base: f64,
    /// One per term, in layout order.
    pub contributions: Vec<f64>,
}

/// A feature that pushed this application's risk up, with how much (logit units). It borrows
/// the model's names: the server lists reasons for every decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reason<'a> {
    pub feature: &'a str,
    pub description: &'a str,
    pub contribution: f64,
}

impl<W: TermValues> Scorer<W> {
    /// Builds a scorer, measuring the reference on `train`.
    pub fn new(layout: Layout, weights: W, train: &Split, platt: Platt, scale: ScoreScale) -> Self {
        let mut reference = vec![0.0; layout.terms.len()];
        let mut values = vec![0.0; layout.terms.len()];
        for i in 0..train.rows {
            weights.term_values(&layout, train.row(i), &mut values);
            for (r, v) in reference.iter_mut().zip(&values) {
                *r += v;
            }
        }
        for r in &mut reference {
            *r /= train.rows.max(1) as f64;
        }
        Self {
            layout,
            weights,
            reference,
            platt,
            scale,
        }
    }

    /// The uncalibrated logit of one row.
    pub fn raw_logit(&self, slots: &[f32], values: &mut [f64]) -> f64 {
        self.weights.term_values(&self.layout, slots, values);
        self.weights.bias() + values.iter().sum::<f64>()
    }

    /// Probability, score and contributions of one row of pipeline slots.
    pub fn score(&self, slots: &[f32]) -> Scored {
        let mut contributions = vec![0.0; self.layout.terms.len()];
        let raw = self.raw_logit(slots, &mut contributions);
        let a = self.platt.a;
        for (c, r) in contributions.iter_mut().zip(&self.reference) {
            *c = a * (*c - r);
        }
        let base = self
            .platt
            .logit(self.weights.bias() + self.reference.iter().sum::<f64>());
        let logit = self.platt.logit(raw);
        let probability = sigmoid(logit);
        Scored {
            logit,
            probability,
            score: self.scale.score(probability),
            base,
            contributions,
        }
    }

    /// Calibrated probabilities of every row of a split.
    pub fn probabilities(&self, split: &Split) -> Vec<f64> {
        let mut values = vec![0.0; self.layout.terms.len()];
        (0..split.rows)
            .map(|i| {
                self.platt
                    .probability(self.raw_logit(split.row(i), &mut values))
            })
            .collect()
    }

    /// The `n` features that raised the risk most, largest first; only positive contributions.
    pub fn reasons(&self, scored: &Scored, n: usize) -> Vec<Reason<'_>> {
        let mut order: Vec<usize> = (0..scored.contributions.len())
            .filter(|&i| scored.contributions[i] > 0.0)
            .collect();
        order.sort_by(|&a, &b| scored.contributions[b].total_cmp(&scored.contributions[a]));
        order
            .into_iter()
            .take(n)
            .map(|i| Reason {
                feature: &self.layout.terms[i].feature,
                description: &self.layout.terms[i].description,
                contribution: scored.contributions[i],
            })
            .collect()
    }
}
