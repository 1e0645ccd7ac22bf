//! The model's terms: one per raw feature, read from the fitted pipeline's slots. A numeric
//! feature becomes a piecewise-linear function over knots (its quantile bin edges, or just its
//! range for the logistic scorecard); a boolean a weight; a category one weight per level. The
//! encoding here (slots → dense inputs and level indices) is the only one: Burn training, the
//! float tables and the int8 scorer all read it.

use riskloop_ingest::pipeline::{FeaturePipeline, SlotKind, Transform};
use riskloop_ingest::spec::Monotone;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Which numeric encoding the model uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// One weight per standardised numeric input: a logistic-regression scorecard.
    Logistic,
    /// A piecewise-linear shape per numeric feature over its quantile bins: an additive model.
    Additive,
    /// The additive model plus a table for each of a few pairs of features, chosen on the
    /// additive model's residuals (GA2M; see [`crate::pairs`]).
    Ga2m,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Logistic => "logistic scorecard",
            Self::Additive => "additive model",
            Self::Ga2m => "GA2M (additive with pairs)",
        })
    }
}

impl std::str::FromStr for ModelKind {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, TrainError> {
        match s {
            "logistic" => Ok(Self::Logistic),
            "additive" => Ok(Self::Additive),
            "ga2m" => Ok(Self::Ga2m),
            other => Err(TrainError::Config(format!(
                "model `{other}` is unknown; use `logistic`, `additive` or `ga2m`"
            ))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub feature: String,
    pub description: String,
    pub monotone: Option<Monotone>,
    pub kind: TermKind,
    /// First dense input (numeric/boolean) or first level (categorical) of this term.
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TermKind {
    /// Piecewise linear over `knots` (standardised units, strictly increasing); one dense input
    /// per segment, then the missing indicator's input if any.
    Numeric {
        slot: usize,
        indicator: Option<usize>,
        knots: Vec<f32>,
    },
    Boolean {
        slot: usize,
        indicator: Option<usize>,
    },
    Categorical {
        slot: usize,
        cardinality: usize,
    },
    /// One weight per cell of two features' coarse bins (a GA2M pair), kept with the levels.
    Pair {
        a: Axis,
        b: Axis,
    },
}

/// One side of a pair: how a feature's slot falls into a few bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub feature: String,
    pub slot: usize,
    pub bins: AxisBins,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AxisBins {
    /// Bin `k` holds values in `(cuts[k-1], cuts[k]]` (standardised units, as the slot holds).
    Cuts { cuts: Vec<f32> },
    /// A category's level index, the first `count` levels kept (0 missing, 1 other, then the
    /// most frequent); rarer levels go with "other".
    Levels { count: usize },
}

impl Axis {
    pub fn len(&self) -> usize {
        match &self.bins {
            AxisBins::Cuts { cuts } => cuts.len() + 1,
            AxisBins::Levels { count } => *count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bin of one row's slots.
    pub fn bin(&self, slots: &[f32]) -> usize {
        let z = slots[self.slot];
        match &self.bins {
            AxisBins::Cuts { cuts } => cuts.partition_point(|&c| c < z),
            AxisBins::Levels { count } => {
                let level = z as usize;
                if level < *count { level } else { 1 }
            }
        }
    }
}

impl TermKind {
    /// The cell of a pair term for one row (`a`'s bin major).
    pub fn pair_cell(a: &Axis, b: &Axis, slots: &[f32]) -> usize {
        a.bin(slots) * b.len() + b.bin(slots)
    }

    /// Entries this term keeps among the levels (categories and pairs), else 0.
    pub fn level_width(&self) -> usize {
        match self {
            Self::Categorical { cardinality, .. } => *cardinality,
            Self::Pair { a, b } => a.len() * b.len(),
            _ => 0,
        }
    }

    /// Dense inputs this term owns.
    pub fn dense_width(&self) -> usize {
        match self {
            Self::Numeric {
                knots, indicator, ..
            } => knots.len().saturating_sub(1) + usize::from(indicator.is_some()),
            Self::Boolean { indicator, .. } => 1 + usize::from(indicator.is_some()),
            Self::Categorical { .. } | Self::Pair { .. } => 0,
        }
    }
}

impl Term {
    /// This term's dense inputs (empty for a categorical term, whose offset counts levels).
    pub fn dense<'a>(&self, dense: &'a [f32]) -> &'a [f32] {
        match self.kind {
            TermKind::Categorical { .. } | TermKind::Pair { .. } => &[],
            _ => &dense[self.offset..self.offset + self.kind.dense_width()],
        }
    }

    fn dense_mut<'a>(&self, dense: &'a mut [f32]) -> &'a mut [f32] {
        match self.kind {
            TermKind::Categorical { .. } | TermKind::Pair { .. } => &mut [],
            _ => &mut dense[self.offset..self.offset + self.kind.dense_width()],
        }
    }
}

/// All terms of a model, with the sizes of its dense and level inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub kind: ModelKind,
    pub slots: usize,
    pub terms: Vec<Term>,
    pub dense: usize,
    pub levels: usize,
    pub categorical: usize,
}

impl Layout {
    pub fn new(pipeline: &FeaturePipeline, kind: ModelKind) -> Result<Self, TrainError> {
        let mut terms = Vec::new();
        let (mut dense, mut levels) = (0, 0);
        for feature in &pipeline.features {
            let slot_of = |wanted: fn(&SlotKind) -> bool| {
                pipeline
                    .slots
                    .iter()
                    .position(|s| s.feature == feature.name && wanted(&s.kind))
            };
            let value = slot_of(|k| !matches!(k, SlotKind::MissingIndicator)).ok_or_else(|| {
                TrainError::Data(format!("pipeline has no slot for `{}`", feature.name))
            })?;
            let indicator = slot_of(|k| matches!(k, SlotKind::MissingIndicator));
            let term_kind = match (&feature.transform, &pipeline.slots[value].kind) {
                (Transform::Numeric { .. }, _) => TermKind::Numeric {
                    slot: value,
                    indicator,
                    knots: knots(&feature.transform, kind),
                },
                (Transform::Boolean { .. }, _) => TermKind::Boolean {
                    slot: value,
                    indicator,
                },
                (Transform::Categorical { .. }, SlotKind::CategoryIndex { cardinality }) => {
                    TermKind::Categorical {
                        slot: value,
                        cardinality: *cardinality,
                    }
                }
                _ => {
                    return Err(TrainError::Data(format!(
                        "slot of `{}` does not match its transform",
                        feature.name
                    )));
                }
            };
            let offset = match &term_kind {
                TermKind::Categorical { cardinality, .. } => {
                    levels += cardinality;
                    levels - cardinality
                }
                other => {
                    dense += other.dense_width();
                    dense - other.dense_width()
                }
            };
            terms.push(Term {
                feature: feature.name.clone(),
                description: feature.description.clone(),
                monotone: feature.monotone,
                kind: term_kind,
                offset,
            });
        }
        let categorical = terms
            .iter()
            .filter(|t| matches!(t.kind, TermKind::Categorical { .. }))
            .count();
        Ok(Self {
            kind,
            slots: pipeline.slots.len(),
            terms,
            dense,
            levels,
            categorical,
        })
    }

    /// Writes one row's dense inputs and global level indices. `slots` is the pipeline output.
    pub fn encode(&self, slots: &[f32], dense: &mut [f32], levels: &mut [i64]) {
        let mut c = 0;
        for term in &self.terms {
            let d = term.dense_mut(dense);
            match &term.kind {
                TermKind::Numeric {
                    slot,
                    indicator,
                    knots,
                } => {
                    let z = slots[*slot];
                    for (k, w) in knots.windows(2).enumerate() {
                        d[k] = segment(z, w[0], w[1]);
                    }
                    if let Some(i) = indicator {
                        d[d.len() - 1] = slots[*i];
                    }
                }
                TermKind::Boolean { slot, indicator } => {
                    d[0] = slots[*slot];
                    if let Some(i) = indicator {
                        d[1] = slots[*i];
                    }
                }
                TermKind::Categorical { slot, cardinality } => {
                    let level = (slots[*slot] as usize).min(cardinality - 1);
                    levels[c] = (term.offset + level) as i64;
                    c += 1;
                }
                TermKind::Pair { a, b } => {
                    levels[c] = (term.offset + TermKind::pair_cell(a, b, slots)) as i64;
                    c += 1;
                }
            }
        }
    }

    /// This layout without the terms whose `drop` is true, offsets numbered again.
    pub fn without(&self, drop: &[bool]) -> Self {
        let mut out = Self {
            terms: Vec::new(),
            dense: 0,
            levels: 0,
            categorical: 0,
            ..self.clone()
        };
        for (term, _) in self.terms.iter().zip(drop).filter(|(_, d)| !**d) {
            let mut term = term.clone();
            let levels = term.kind.level_width();
            if matches!(
                term.kind,
                TermKind::Categorical { .. } | TermKind::Pair { .. }
            ) {
                term.offset = out.levels;
                out.levels += levels;
                out.categorical += 1;
            } else {
                term.offset = out.dense;
                out.dense += term.kind.dense_width();
            }
            out.terms.push(term);
        }
        out
    }

    /// This layout with a pair term for each `(i, j)` of main terms (the GA2M), each over
    /// both terms' coarse bins ([`Layout::axis`]).
    pub fn with_pairs(&self, pairs: &[(usize, usize)]) -> Self {
        let mut layout = self.clone();
        layout.kind = ModelKind::Ga2m;
        for &(i, j) in pairs {
            let (Some(a), Some(b)) = (self.axis(i), self.axis(j)) else {
                continue;
            };
            let kind = TermKind::Pair { a, b };
            let width = kind.level_width();
            let (ta, tb) = (&self.terms[i], &self.terms[j]);
            layout.terms.push(Term {
                feature: format!("{} × {}", ta.feature, tb.feature),
                description: format!(
                    "{} together with {}",
                    describe(ta),
                    describe(tb).to_lowercase()
                ),
                monotone: None,
                kind,
                offset: layout.levels,
            });
            layout.levels += width;
            layout.categorical += 1;
        }
        layout
    }

    /// How main term `i` enters a pair: numbers by their model knots (the training deciles),
    /// booleans as 0/1, categories by their most frequent levels; None for a pair term.
    pub fn axis(&self, i: usize) -> Option<Axis> {
        let term = &self.terms[i];
        let (slot, bins) = match &term.kind {
            TermKind::Numeric { slot, knots, .. } => {
                let cuts = knots
                    .get(1..knots.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_vec();
                (*slot, AxisBins::Cuts { cuts })
            }
            TermKind::Boolean { slot, .. } => (*slot, AxisBins::Cuts { cuts: vec![0.5] }),
            TermKind::Categorical { slot, cardinality } => (
                *slot,
                AxisBins::Levels {
                    count: (*cardinality).min(PAIR_LEVELS),
                },
            ),
            TermKind::Pair { .. } => return None,
        };
        Some(Axis {
            feature: term.feature.clone(),
            slot,
            bins,
        })
    }

    /// +1 / -1 for each dense input whose weight must keep a sign (monotone features), else 0.
    pub fn monotone_signs(&self) -> Vec<f32> {
        let mut signs = vec![0.0; self.dense];
        for term in &self.terms {
            let sign = match term.monotone {
                Some(Monotone::Increasing) => 1.0,
                Some(Monotone::Decreasing) => -1.0,
                None => continue,
            };
            let segments = match &term.kind {
                TermKind::Numeric { knots, .. } => knots.len().saturating_sub(1),
                TermKind::Boolean { .. } => 1,
                TermKind::Categorical { .. } | TermKind::Pair { .. } => 0,
            };
            signs[term.offset..term.offset + segments].fill(sign);
        }
        signs
    }
}

/// Levels of a category that keep a bin of their own in a pair (missing, other, and the 8
/// most frequent).
pub const PAIR_LEVELS: usize = 10;

fn describe(term: &Term) -> String {
    if term.description.is_empty() {
        term.feature.clone()
    } else {
        term.description.clone()
    }
}

/// The share of the segment `[lo, hi]` that `z` has passed: 0 below, 1 above.
pub fn segment(z: f32, lo: f32, hi: f32) -> f32 {
    ((z - lo) / (hi - lo)).clamp(0.0, 1.0)
}

fn knots(transform: &Transform, kind: ModelKind) -> Vec<f32> {
    let Transform::Numeric {
        lo,
        hi,
        mean,
        scale,
        bin_edges,
        ..
    } = transform
    else {
        return Vec::new();
    };
    let mut raw = vec![*lo];
    if kind != ModelKind::Logistic {
        raw.extend(bin_edges.iter().copied());
    }
    raw.push(*hi);
    // Knots in the units of the pipeline's slot: `(x - mean) / scale` as f32, as it encodes.
    let mut knots: Vec<f32> = raw.iter().map(|x| ((x - mean) / scale) as f32).collect();
    knots.dedup();
    if knots.len() < 2 {
        return Vec::new();
    }
    knots
}
