//! The two forms a trained model is evaluated in, outside Burn: the float weights (the source
//! of truth, exported from Burn) and their int8 quantization. Both turn one row of pipeline
//! slots into one value per term; [`crate::scorer`] turns those into a probability and reasons.

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, TermKind, segment};

/// What a scorer needs from a weight form.
pub trait TermValues {
    fn bias(&self) -> f64;
    /// Writes each term's value (its part of the raw logit) for one row of slots.
    fn term_values(&self, layout: &Layout, slots: &[f32], out: &mut [f64]);
}

/// Float weights as Burn trained them: effective dense weights, level weights, bias.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatWeights {
    pub dense: Vec<f32>,
    pub levels: Vec<f32>,
    pub bias: f32,
}

impl TermValues for FloatWeights {
    fn bias(&self) -> f64 {
        f64::from(self.bias)
    }

    fn term_values(&self, layout: &Layout, slots: &[f32], out: &mut [f64]) {
        for (term, value) in layout.terms.iter().zip(out.iter_mut()) {
            let w = term.dense(&self.dense);
            *value = match &term.kind {
                TermKind::Numeric {
                    slot,
                    indicator,
                    knots,
                } => {
                    let z = slots[*slot];
                    let shape: f64 = knots
                        .windows(2)
                        .zip(w)
                        .map(|(k, &w)| f64::from(w) * f64::from(segment(z, k[0], k[1])))
                        .sum();
                    shape + indicator.map_or(0.0, |i| f64::from(w[w.len() - 1] * slots[i]))
                }
                TermKind::Boolean { slot, indicator } => {
                    f64::from(w[0] * slots[*slot])
                        + indicator.map_or(0.0, |i| f64::from(w[1] * slots[i]))
                }
                TermKind::Categorical { slot, cardinality } => {
                    let level = (slots[*slot] as usize).min(cardinality - 1);
                    f64::from(self.levels[term.offset + level])
                }
                TermKind::Pair { a, b } => {
                    f64::from(self.levels[term.offset + TermKind::pair_cell(a, b, slots)])
                }
            };
        }
    }
}

/// One term in int8: `value = offset + scale · (table lookup or interpolation) + scale · indicator`,
/// where table entries are int8 and the interpolation runs in integers (fractions in 1/256).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Int8Table {
    pub offset: f32,
    pub scale: f32,
    /// Knot values (numeric), the values at 0 and 1 (boolean), or one per level (categorical).
    pub values: Vec<i8>,
    /// The missing indicator's weight, on the same scale (0 without an indicator).
    pub indicator: i8,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Int8Weights {
    pub bias: f64,
    pub tables: Vec<Int8Table>,
}

const FRACTION_ONE: i32 = 256;

impl Int8Weights {
    /// Per-term symmetric quantization around the middle of the term's range.
    pub fn quantize(layout: &Layout, float: &FloatWeights) -> Self {
        let tables = layout
            .terms
            .iter()
            .map(|term| {
                let w = term.dense(&float.dense);
                let (values, indicator): (Vec<f64>, f64) = match &term.kind {
                    TermKind::Numeric {
                        knots, indicator, ..
                    } => {
                        let segments = knots.len().saturating_sub(1);
                        let mut knot_values = vec![0.0];
                        for &wk in &w[..segments] {
                            knot_values.push(knot_values[knot_values.len() - 1] + f64::from(wk));
                        }
                        (
                            knot_values,
                            indicator.map_or(0.0, |_| f64::from(w[w.len() - 1])),
                        )
                    }
                    TermKind::Boolean { indicator, .. } => (
                        vec![0.0, f64::from(w[0])],
                        indicator.map_or(0.0, |_| f64::from(w[1])),
                    ),
                    TermKind::Categorical { .. } | TermKind::Pair { .. } => (
                        float.levels[term.offset..term.offset + term.kind.level_width()]
                            .iter()
                            .map(|&v| f64::from(v))
                            .collect(),
                        0.0,
                    ),
                };
                quantize_table(&values, indicator)
            })
            .collect();
        Self {
            bias: f64::from(float.bias),
            tables,
        }
    }

    /// Bytes of the int8 form: one per entry and indicator, two f32 per table, the f64 bias.
    pub fn size_bytes(&self) -> usize {
        8 + self
            .tables
            .iter()
            .map(|t| t.values.len() + 1 + 8)
            .sum::<usize>()
    }
}

fn quantize_table(values: &[f64], indicator: f64) -> Int8Table {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if values.is_empty() {
        (0.0, 0.0)
    } else {
        (lo, hi)
    };
    // Stored as f32; quantize against the stored values so the scorer sees exactly them.
    let offset = f64::from(((lo + hi) / 2.0) as f32);
    let scale = ((hi - lo) / 254.0).max(indicator.abs() / 127.0) as f32;
    let scale = f64::from(if scale > 0.0 { scale } else { 1.0 });
    let q = |v: f64| (v / scale).round().clamp(-127.0, 127.0) as i8;
    Int8Table {
        offset: offset as f32,
        scale: scale as f32,
        values: values.iter().map(|&v| q(v - offset)).collect(),
        indicator: q(indicator),
    }
}

impl TermValues for Int8Weights {
    fn bias(&self) -> f64 {
        self.bias
    }

    fn term_values(&self, layout: &Layout, slots: &[f32], out: &mut [f64]) {
        for ((term, table), value) in layout.terms.iter().zip(&self.tables).zip(out.iter_mut()) {
            let q = &table.values;
            let (accumulator, indicator_slot) = match &term.kind {
                TermKind::Numeric {
                    slot,
                    indicator,
                    knots,
                } => (interpolate(q, knots, slots[*slot]), *indicator),
                TermKind::Boolean { slot, indicator } => (
                    i32::from(q[usize::from(slots[*slot] >= 0.5)]) * FRACTION_ONE,
                    *indicator,
                ),
                TermKind::Categorical { slot, cardinality } => (
                    i32::from(q[(slots[*slot] as usize).min(cardinality - 1)]) * FRACTION_ONE,
                    None,
                ),
                TermKind::Pair { a, b } => (
                    i32::from(q[TermKind::pair_cell(a, b, slots)]) * FRACTION_ONE,
                    None,
                ),
            };
            let missing = indicator_slot.is_some_and(|i| slots[i] >= 0.5);
            let accumulator = accumulator
                + if missing {
                    i32::from(table.indicator) * FRACTION_ONE
                } else {
                    0
                };
            *value = f64::from(table.offset)
                + f64::from(table.scale) * f64::from(accumulator) / f64::from(FRACTION_ONE);
        }
    }
}

/// Linear interpolation between int8 knot values, in integers: the result is in 1/256 units.
fn interpolate(q: &[i8], knots: &[f32], z: f32) -> i32 {
    if knots.len() < 2 {
        return q.first().map_or(0, |&v| i32::from(v) * FRACTION_ONE);
    }
    let k = knots[1..]
        .iter()
        .position(|&t| z <= t)
        .unwrap_or(knots.len() - 2)
        + 1;
    let fraction = (segment(z, knots[k - 1], knots[k]) * FRACTION_ONE as f32).round() as i32;
    let (a, b) = (i32::from(q[k - 1]), i32::from(q[k]));
    a * FRACTION_ONE + fraction * (b - a)
}
