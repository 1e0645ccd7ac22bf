//! The hand-written training loop: shuffled mini-batches, weighted binary cross-entropy, AdamW
//! (or LAMB, for large batches) with warm-up and cosine decay, early stopping on validation
//! AUC with the best epoch kept.

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::ElementConversion;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

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
    /// Model replicas that shared each mini-batch.
    pub replicas: usize,
}

/// The epochs of one model, `replicas` replicas sharing each mini-batch (see [`Run::step`]),
/// replica `s` on `devices[s % devices.len()]`; the model itself lives on `devices[0]`.
pub fn fit<B: AutodiffBackend>(
    model_config: &RiskModelConfig,
    [train, valid]: [&Encoded; 2],
    config: &TrainConfig,
    replicas: usize,
    devices: &[B::Device],
    progress: &mut dyn FnMut(&Epoch),
) -> Fitted<B::InnerBackend> {
    let run = Run {
        model_config,
        train,
        valid,
        config,
        replicas: replicas.max(1),
    };
    match config.optimizer {
        OptimizerKind::Adamw => run.epochs(
            AdamWConfig::new()
                .with_weight_decay(config.weight_decay as f32)
                .init::<B, RiskModel<B>>(),
            devices,
            progress,
        ),
        OptimizerKind::Lamb => run.epochs(
            LambConfig::new()
                .with_weight_decay(config.weight_decay)
                .init::<B, RiskModel<B>>(),
            devices,
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
    replicas: usize,
}

impl Run<'_> {
    fn epochs<B: AutodiffBackend, O: Optimizer<RiskModel<B>, B>>(
        &self,
        mut optimizer: O,
        devices: &[B::Device],
        progress: &mut dyn FnMut(&Epoch),
    ) -> Fitted<B::InnerBackend> {
        let device = &devices[0];
        let Self {
            model_config,
            train,
            valid,
            config,
            replicas,
        } = *self;
        B::seed(device, config.seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let mut model: RiskModel<B> = model_config.init(device);
        let bads = train.labels.iter().filter(|&&y| y > 0.5).count();
        let bad_weight = bad_weight(config, train.rows, bads);
        let batch_size = config.batch_size_for(train.rows, replicas);
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
                let (loss, grads) = self.step(&model, chunk, bad_weight, devices);
                loss_sum += loss;
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
            replicas,
        }
    }

    /// One mini-batch's summed loss and its gradients, data-parallel: the rows are cut into
    /// `replicas` contiguous shards, each shard's loss (its share of the batch's weighted mean)
    /// is differentiated on a replica of the model of its own (its own autodiff graph; shard
    /// `s` on `devices[s % devices.len()]`) on the rayon pool, and the shards' gradients,
    /// brought to `devices[0]`, are summed in shard order. The sum is the whole batch's
    /// gradient, and for a given number of replicas it is the same bit for bit however many
    /// threads ran the shards.
    fn step<B: AutodiffBackend>(
        &self,
        model: &RiskModel<B>,
        rows: &[usize],
        bad_weight: f64,
        devices: &[B::Device],
    ) -> (f64, GradientsParams) {
        let (train, replicas) = (self.train, self.replicas);
        let weight = |i: usize| {
            if train.labels[i] > 0.5 {
                bad_weight
            } else {
                1.0
            }
        };
        let total: f64 = rows.iter().map(|&i| weight(i)).sum();
        let shard_rows = rows.len().div_ceil(replicas.max(1));
        let shard = |(s, (part, replica)): (usize, (&[usize], RiskModel<B>))| {
            let device = &devices[s % devices.len()];
            // A fork is a new leaf for each parameter: a graph of its own, with the same ids.
            let replica = replica.fork(device);
            let batch = train.batch::<B>(part, device);
            let logits = replica.forward(batch.dense, batch.levels);
            let y = batch.labels;
            let per_row = (y.clone() * log_sigmoid(logits.clone())
                + y.clone().neg().add_scalar(1.0) * log_sigmoid(logits.neg()))
            .neg();
            let weights = y.mul_scalar(bad_weight - 1.0).add_scalar(1.0);
            let loss = (per_row * weights).sum().div_scalar(total);
            let value = loss.clone().into_scalar().elem::<f64>();
            let mut grads = GradientsParams::from_grads(loss.backward(), &replica);
            if s % devices.len() != 0 {
                grads = grads.to_device(&devices[0], &replica);
            }
            (value, grads)
        };
        let parts: Vec<(&[usize], RiskModel<B>)> = rows
            .chunks(shard_rows.max(1))
            .map(|part| (part, model.clone()))
            .collect();
        let shards: Vec<(f64, GradientsParams)> = if parts.len() == 1 {
            parts.into_iter().enumerate().map(shard).collect()
        } else {
            parts.into_par_iter().enumerate().map(shard).collect()
        };
        let mut sum = GradientsAccumulator::<RiskModel<B>>::new();
        let mut loss = 0.0;
        for (value, grads) in shards {
            loss += value;
            sum.accumulate(model, grads);
        }
        (loss * rows.len() as f64, sum.grads())
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
    let labels = valid.classes();
    riskloop_ingest::stats::auc(&logits(model, valid), &labels).unwrap_or(0.5)
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::backend::ndarray::{NdArray, NdArrayDevice};

    use super::*;

    type Cpu = Autodiff<NdArray>;

    /// 3,000 rows, 6 dense inputs and two categories of 4 levels, bads from a known logit.
    fn data(seed: u64, rows: usize) -> Encoded {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (p, c) = (6, 2);
        let mut dense = Vec::with_capacity(rows * p);
        let mut levels = Vec::with_capacity(rows * c);
        let mut labels = Vec::with_capacity(rows);
        for _ in 0..rows {
            let x: Vec<f32> = (0..p).map(|_| rng.random_range(-1.0..1.0)).collect();
            let (a, b) = (rng.random_range(0..4i64), rng.random_range(0..4i64));
            let logit = 1.5 * x[0] - x[1] + 0.5 * x[2] + 0.4 * a as f32 - 0.3 * b as f32 - 1.0;
            let bad = rng.random::<f32>() < 1.0 / (1.0 + (-logit).exp());
            dense.extend(x);
            levels.extend([a, 4 + b]);
            labels.push(f32::from(u8::from(bad)));
        }
        Encoded {
            rows,
            dense_width: p,
            level_width: c,
            dense,
            levels,
            labels,
        }
    }

    fn model_config() -> RiskModelConfig {
        // Input 0 monotone increasing, input 1 decreasing, the rest free.
        RiskModelConfig::new(6, 8, 2, vec![1.0, -1.0, 0.0, 0.0, 0.0, 0.0]).with_prior(0.3)
    }

    fn epochs(replicas: usize, threads: usize) -> (Vec<f32>, Vec<f32>, f32) {
        let (train, valid) = (data(1, 3_000), data(2, 500));
        let config = TrainConfig {
            batch_size: 96,
            max_epochs: 3,
            refine: false,
            ..TrainConfig::default()
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let fitted = pool.install(|| {
            fit::<Cpu>(
                &model_config(),
                [&train, &valid],
                &config,
                replicas,
                &[NdArrayDevice::Cpu],
                &mut |_| {},
            )
        });
        assert_eq!(fitted.replicas, replicas);
        assert_eq!(fitted.epochs_run, 3);
        fitted.model.raw()
    }

    #[test]
    fn the_replicas_gradients_sum_to_the_whole_batchs() {
        let train = data(3, 1_000);
        let config = TrainConfig::default();
        let device = NdArrayDevice::Cpu;
        let model: RiskModel<Cpu> = model_config().init(&device);
        let rows: Vec<usize> = (0..1_000).rev().step_by(3).collect();
        let step = |replicas: usize| {
            let run = Run {
                model_config: &model_config(),
                train: &train,
                valid: &train,
                config: &config,
                replicas,
            };
            let (loss, mut grads) = run.step(&model, &rows, 2.5, &[device, device]);
            let flat =
                |g: Option<Tensor<NdArray, 2>>| g.unwrap().into_data().to_vec::<f32>().unwrap();
            let (dense_id, levels_id) = model.param_ids();
            let dense = flat(grads.remove::<NdArray, 2>(dense_id));
            let levels = grads.remove::<NdArray, 1>(levels_id).unwrap();
            let levels = levels.into_data().to_vec::<f32>().unwrap();
            (loss, dense, levels)
        };
        let (loss1, dense1, levels1) = step(1);
        assert!(dense1.iter().any(|g| g.abs() > 1e-3), "{dense1:?}");
        for replicas in [2, 3, 7] {
            let (loss, dense, levels) = step(replicas);
            assert!(
                (loss - loss1).abs() < 1e-6 * loss1.abs(),
                "{loss} vs {loss1}"
            );
            for (a, b) in dense
                .iter()
                .chain(&levels)
                .zip(dense1.iter().chain(&levels1))
            {
                assert!((a - b).abs() < 1e-6, "{replicas} replicas: {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_epochs_are_the_same_bit_for_bit_however_many_threads_run_the_replicas() {
        let two_on_one = epochs(2, 1);
        assert_eq!(two_on_one, epochs(2, 2), "2 replicas on 1 and on 2 threads");
        // The same arithmetic as one replica but for the order of the sums.
        let one = epochs(1, 2);
        assert_ne!(one, two_on_one);
        for (a, b) in one
            .0
            .iter()
            .chain(&one.1)
            .zip(two_on_one.0.iter().chain(&two_on_one.1))
        {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

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
