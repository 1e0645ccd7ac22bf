//! The only rows → tensor code: reads a dataset split (the ingest's Parquet), keeps its pipeline
//! slots row-major for the scorers, and encodes the model inputs through [`Layout::encode`].

use std::path::Path;

use burn::prelude::*;
use polars::prelude::*;
use riskloop_ingest::etl::{TARGET, read_split};
use riskloop_ingest::pipeline::FeaturePipeline;

use crate::TrainError;
use crate::layout::Layout;

/// One split: pipeline slots, model inputs and labels, all row-major.
#[derive(Clone, Debug)]
pub struct Split {
    pub name: String,
    pub rows: usize,
    pub width: usize,
    pub slots: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn read(dir: &Path, name: &str, pipeline: &FeaturePipeline) -> Result<Self, TrainError> {
        let frame = read_split(dir, name)?;
        Self::from_frame(&frame, name, pipeline)
    }

    pub fn from_frame(
        frame: &DataFrame,
        name: &str,
        pipeline: &FeaturePipeline,
    ) -> Result<Self, TrainError> {
        let rows = frame.height();
        let width = pipeline.slots.len();
        let mut slots = vec![0f32; rows * width];
        for (j, slot) in pipeline.slots.iter().enumerate() {
            let column = frame
                .column(&slot.name)
                .and_then(|c| c.cast(&DataType::Float32))
                .map_err(TrainError::polars(format!(
                    "{name} split, column `{}`",
                    slot.name
                )))?;
            let values = column.f32().map_err(TrainError::polars(format!(
                "{name} split, column `{}`",
                slot.name
            )))?;
            for (i, v) in values.iter().enumerate() {
                slots[i * width + j] = v.ok_or_else(|| {
                    TrainError::Data(format!("{name} split: `{}` has a null", slot.name))
                })?;
            }
        }
        let labels = match frame.column(TARGET) {
            Ok(column) => column
                .cast(&DataType::Float64)
                .and_then(|c| c.f64().cloned())
                .map_err(TrainError::polars(format!(
                    "{name} split, column `{TARGET}`"
                )))?
                .iter()
                .map(|v| u8::from(v.unwrap_or(0.0) > 0.5))
                .collect(),
            Err(_) => vec![0; rows],
        };
        Ok(Self {
            name: name.to_owned(),
            rows,
            width,
            slots,
            labels,
        })
    }

    /// The rows of `parts`, one after the other.
    pub fn concat(name: &str, parts: &[&Split]) -> Self {
        Self {
            name: name.to_owned(),
            rows: parts.iter().map(|s| s.rows).sum(),
            width: parts.first().map_or(0, |s| s.width),
            slots: parts.iter().flat_map(|s| s.slots.iter().copied()).collect(),
            labels: parts
                .iter()
                .flat_map(|s| s.labels.iter().copied())
                .collect(),
        }
    }

    /// The rows `index` of this split, in that order.
    pub fn subset(&self, name: &str, index: &[usize]) -> Self {
        Self {
            name: name.to_owned(),
            rows: index.len(),
            width: self.width,
            slots: index
                .iter()
                .flat_map(|&i| self.row(i).iter().copied())
                .collect(),
            labels: index.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.slots[i * self.width..(i + 1) * self.width]
    }

    pub fn bad_rate(&self) -> f64 {
        self.labels.iter().map(|&y| f64::from(y)).sum::<f64>() / self.rows.max(1) as f64
    }
}

/// Model inputs of a split, encoded once before training.
#[derive(Clone, Debug)]
pub struct Encoded {
    pub rows: usize,
    pub dense_width: usize,
    pub level_width: usize,
    pub dense: Vec<f32>,
    pub levels: Vec<i64>,
    pub labels: Vec<f32>,
}

impl Encoded {
    pub fn new(layout: &Layout, split: &Split) -> Self {
        let (p, c) = (layout.dense, layout.categorical);
        let mut dense = vec![0f32; split.rows * p];
        let mut levels = vec![0i64; split.rows * c];
        for i in 0..split.rows {
            layout.encode(
                split.row(i),
                &mut dense[i * p..(i + 1) * p],
                &mut levels[i * c..(i + 1) * c],
            );
        }
        Self {
            rows: split.rows,
            dense_width: p,
            level_width: c,
            dense,
            levels,
            labels: split.labels.iter().map(|&y| f32::from(y)).collect(),
        }
    }

    /// Each row's class, 1 for bad, as the AUC and the folds read it.
    pub fn classes(&self) -> Vec<u8> {
        self.labels.iter().map(|&y| u8::from(y > 0.5)).collect()
    }

    /// The rows of several encodings of one layout, one after the other.
    pub fn concat(parts: &[&Self]) -> Self {
        let first = parts[0];
        let mut out = Self {
            rows: 0,
            dense_width: first.dense_width,
            level_width: first.level_width,
            dense: Vec::new(),
            levels: Vec::new(),
            labels: Vec::new(),
        };
        for part in parts {
            assert_eq!(
                (part.dense_width, part.level_width),
                (out.dense_width, out.level_width),
                "encodings of one layout"
            );
            out.rows += part.rows;
            out.dense.extend_from_slice(&part.dense);
            out.levels.extend_from_slice(&part.levels);
            out.labels.extend_from_slice(&part.labels);
        }
        out
    }

    /// The rows `index`, in that order.
    pub fn subset(&self, index: &[usize]) -> Self {
        let (p, c) = (self.dense_width, self.level_width);
        Self {
            rows: index.len(),
            dense_width: p,
            level_width: c,
            dense: index
                .iter()
                .flat_map(|&i| &self.dense[i * p..(i + 1) * p])
                .copied()
                .collect(),
            levels: index
                .iter()
                .flat_map(|&i| &self.levels[i * c..(i + 1) * c])
                .copied()
                .collect(),
            labels: index.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// The tensors of the rows `index` (in that order).
    pub fn batch<B: Backend>(&self, index: &[usize], device: &B::Device) -> Batch<B> {
        let (p, c) = (self.dense_width, self.level_width);
        let mut dense = Vec::with_capacity(index.len() * p);
        let mut levels = Vec::with_capacity(index.len() * c);
        let mut labels = Vec::with_capacity(index.len());
        for &i in index {
            dense.extend_from_slice(&self.dense[i * p..(i + 1) * p]);
            levels.extend_from_slice(&self.levels[i * c..(i + 1) * c]);
            labels.push(self.labels[i]);
        }
        let n = index.len();
        Batch {
            dense: Tensor::from_data(TensorData::new(dense, [n, p]), device),
            levels: Tensor::from_data(TensorData::new(levels, [n * c]), device),
            labels: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

/// One mini-batch: dense inputs `[B, P]`, global level indices flattened `[B * C]`, labels `[B]`.
#[derive(Clone, Debug)]
pub struct Batch<B: Backend> {
    pub dense: Tensor<B, 2>,
    pub levels: Tensor<B, 1, Int>,
    pub labels: Tensor<B, 1>,
}

/// The fold of each row: each class shuffled by `seed` and dealt out in turn, so that every
/// fold has the bad rate of the whole.
pub fn stratified_folds(labels: &[u8], folds: usize, seed: u64) -> Vec<usize> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut fold_of = vec![0; labels.len()];
    // The bads are dealt on from where the goods stopped, so folds differ by one row at most.
    let mut next = 0;
    for class in [0u8, 1] {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rows.shuffle(&mut rng);
        for i in rows {
            fold_of[i] = next % folds;
            next += 1;
        }
    }
    fold_of
}

/// Fold `fold`'s rows (held out) and every other fold's, in row order.
pub fn fold_rows(fold_of: &[usize], fold: usize) -> (Vec<usize>, Vec<usize>) {
    (0..fold_of.len()).partition(|&i| fold_of[i] == fold)
}

/// A fold's held-out rows, and each model's scores of them.
pub type HeldOut = (Vec<usize>, Vec<Vec<f64>>);

/// Each of `models` models' out-of-fold scores of all `rows` rows, put together from every
/// fold's held-out rows.
pub fn out_of_fold_scores(rows: usize, models: usize, folds: Vec<HeldOut>) -> Vec<Vec<f64>> {
    let mut scores = vec![vec![0.0; rows]; models];
    for (held, fold_scores) in folds {
        for (all, part) in scores.iter_mut().zip(fold_scores) {
            for (&i, s) in held.iter().zip(part) {
                all[i] = s;
            }
        }
    }
    scores
}
