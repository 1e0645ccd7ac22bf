//! The hand-written training loop: shuffled mini-batches, weighted binary cross-entropy, AdamW
//! (or LAMB, for large batches) with warm-up and cosine decay, early stopping on validation
//! AUC with the best epoch kept.

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::ElementConversion;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::config::{ClassWeight, OptimizerKind, TrainConfig};
use crate::data::Encoded;
use crate::lamb::LambConfig;
use crate::model::{RiskModel, RiskModelConfig};

/// What one finished epoch reports to the progress display.
#[derive(Clone, Debug)]
pub struct Epoch {
    pub epoch: usize,
    pub max_epochs: usize,
    pub loss: f64,
    pub valid_auc: f64,
    pub best_epoch: usize,
    pub samples_per_second: f64,
}

/// The trained model (best epoch) and how training went.
#[derive(Debug)]
pub struct Fitted<B: Backend> {
    pub model: RiskModel<B>,
    pub best_epoch: usize,
    pub best_valid_auc: f64,
    pub epochs_run: usize,
    pub samples_per_second: f64,
}

pub fn fit<B: AutodiffBackend>(
    model_config: &RiskModelConfig,
    train: &Encoded,
    valid: &Encoded,
    config: &TrainConfig,
    device: &B::Device,
    progress: &mut dyn FnMut(&Epoch),
) -> Fitted<B::InnerBackend> {
    let run = Run {
        model_config,
        train,
        valid,
        config,
    };
    match config.optimizer {
        OptimizerKind::Adamw => run.epochs(
            AdamWConfig::new()
                .with_weight_decay(config.weight_decay as f32)
                .init::<B, RiskModel<B>>(),
            device,
            progress,
        ),
        OptimizerKind::Lamb => run.epochs(
            LambConfig::new()
                .with_weight_decay(config.weight_decay)
                .init::<B, RiskModel<B>>(),
            device,
            progress,
        ),
    }
}

/// What the epochs read, whichever optimizer steps.
struct Run<'a> {
    model_config: &'a RiskModelConfig,
    train: &'a Encoded,
    valid: &'a Encoded,
    config: &'a TrainConfig,
}

impl Run<'_> {
    fn epochs<B: AutodiffBackend, O: Optimizer<RiskModel<B>, B>>(
        &self,
        mut optimizer: O,
        device: &B::Device,
        progress: &mut dyn FnMut(&Epoch),
    ) -> Fitted<B::InnerBackend> {
        let Self {
            model_config,
            train,
            valid,
            config,
        } = *self;
        B::seed(device, config.seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let mut model: RiskModel<B> = model_config.init(device);
        let bads = train.labels.iter().filter(|&&y| y > 0.5).count();
        let bad_weight = bad_weight(config, train.rows, bads);
        let batch_size = config.batch_size_for(train.rows);
        let steps_per_epoch = train.rows.div_ceil(batch_size);
        let total_steps = steps_per_epoch * config.max_epochs;
        let mut order: Vec<usize> = (0..train.rows).collect();
        let mut best = (model.valid(), 0usize, f64::NEG_INFINITY);
        let (mut step, mut epochs_run, mut seconds, mut samples) = (0, 0, 0.0, 0usize);
        let mut plateau = Plateau::default();
        for epoch in 1..=config.max_epochs {
            let started = std::time::Instant::now();
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for chunk in order.chunks(batch_size) {
                let batch = train.batch::<B>(chunk, device);
                let logits = model.forward(batch.dense, batch.levels);
                let y = batch.labels;
                let per_row = (y.clone() * log_sigmoid(logits.clone())
                    + y.clone().neg().add_scalar(1.0) * log_sigmoid(logits.neg()))
                .neg();
                let weights = y.mul_scalar(bad_weight - 1.0).add_scalar(1.0);
                let loss = (per_row * weights.clone()).sum() / weights.sum();
                loss_sum += loss.clone().into_scalar().elem::<f64>() * chunk.len() as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let lr = config.learning_rate_at(step, total_steps);
                model = optimizer.step(lr, model, grads);
                step += 1;
            }
            seconds += started.elapsed().as_secs_f64();
            samples += train.rows;
            epochs_run = epoch;
            let inference = model.valid();
            let auc = auc_of(&inference, valid);
            if auc > best.2 {
                best = (inference, epoch, auc);
            }
            let loss = loss_sum / train.rows as f64;
            progress(&Epoch {
                epoch,
                max_epochs: config.max_epochs,
                loss,
                valid_auc: auc,
                best_epoch: best.1,
                samples_per_second: samples as f64 / seconds.max(1e-9),
            });
            // With the refinement to finish the job, the epochs stop once the training loss
            // levels off; validation AUC moves by noise between epochs long after that.
            if epoch - best.1 >= config.patience.max(1) || (config.refine && plateau.reached(loss))
            {
                break;
            }
        }
        Fitted {
            model: best.0,
            best_epoch: best.1,
            best_valid_auc: best.2,
            epochs_run,
            samples_per_second: samples as f64 / seconds.max(1e-9),
        }
    }
}

/// Whether the epochs' training loss has levelled off: two epochs in a row that improve on
/// the best loss so far by less than 0.1%.
#[derive(Debug, Default)]
struct Plateau {
    best: Option<f64>,
    flat: usize,
}

impl Plateau {
    fn reached(&mut self, loss: f64) -> bool {
        match self.best {
            Some(best) if loss > best * (1.0 - 1e-3) => self.flat += 1,
            _ => self.flat = 0,
        }
        self.best = Some(self.best.map_or(loss, |b| b.min(loss)));
        self.flat >= 2
    }
}

/// The weight of a bad row in the loss (goods weigh 1), for `bads` bad rows of `rows`.
pub fn bad_weight(config: &TrainConfig, rows: usize, bads: usize) -> f64 {
    let bads = bads.max(1) as f64;
    match config.class_weight {
        ClassWeight::Balanced => (rows as f64 - bads) / bads,
        ClassWeight::None => 1.0,
    }
}

/// Raw logits of every row, in chunks.
pub fn logits<B: Backend>(model: &RiskModel<B>, data: &Encoded) -> Vec<f64> {
    let device = model.devices().into_iter().next().unwrap_or_default();
    let index: Vec<usize> = (0..data.rows).collect();
    let mut out = Vec::with_capacity(data.rows);
    for chunk in index.chunks(16_384) {
        let batch = data.batch::<B>(chunk, &device);
        let values = model
            .forward(batch.dense, batch.levels)
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .unwrap_or_default();
        out.extend(values);
    }
    out
}

fn auc_of<B: Backend>(model: &RiskModel<B>, valid: &Encoded) -> f64 {
    let labels: Vec<u8> = valid.labels.iter().map(|&y| u8::from(y > 0.5)).collect();
    riskloop_ingest::stats::auc(&logits(model, valid), &labels).unwrap_or(0.5)
}

#[cfg(test)]
mod tests {
    use super::Plateau;

    #[test]
    fn the_plateau_is_two_epochs_that_barely_improve_on_the_best() {
        let mut p = Plateau::default();
        let losses = [0.77, 0.65, 0.636, 0.6275, 0.6254, 0.6250, 0.6252];
        let stops: Vec<bool> = losses.iter().map(|&l| p.reached(l)).collect();
        assert_eq!(stops, [false, false, false, false, false, false, true]);
        // A real improvement resets the count.
        let mut p = Plateau::default();
        for l in [0.7, 0.6999, 0.65, 0.6499] {
            assert!(!p.reached(l), "{l}");
        }
    }
}
