//! The training configuration (`--config train.toml`), saved with every bundle.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::scorecard::ScoreScale;

/// Which models to train: one of them, or each in turn with a more complex one kept only
/// when it is significantly better on validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChoice {
    Auto,
    Logistic,
    Additive,
    /// The additive model with pairs of features (GA2M).
    Ga2m,
}

impl std::str::FromStr for ModelChoice {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, TrainError> {
        match s {
            "auto" => Ok(Self::Auto),
            "logistic" => Ok(Self::Logistic),
            "additive" => Ok(Self::Additive),
            "ga2m" => Ok(Self::Ga2m),
            other => Err(TrainError::Config(format!(
                "model `{other}` is unknown; use `auto`, `logistic`, `additive` or `ga2m`"
            ))),
        }
    }
}

/// The optimizer of the mini-batch epochs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    #[default]
    Adamw,
    /// Layer-wise trust ratios on top of Adam (You et al. 2019): steady with large batches.
    Lamb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Bads weigh `goods / bads`, so both classes count equally in the loss.
    Balanced,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub model: ModelChoice,
    pub seed: u64,
    /// Rows per step, shared by the replicas; 0 picks `rows / 16` within 32..=512 per replica.
    pub batch_size: usize,
    /// Replicas of the model that train side by side during the epochs, each on its share of
    /// every mini-batch, their gradients summed in a fixed order; 0: one per core (on CUDA, one
    /// per GPU). The epochs are the same bit for bit for the same number of replicas.
    pub replicas: usize,
    pub max_epochs: usize,
    /// Epochs without a better validation AUC before stopping.
    pub patience: usize,
    pub learning_rate: f64,
    /// `adamw` or `lamb`.
    pub optimizer: OptimizerKind,
    pub weight_decay: f64,
    /// Share of all steps spent warming the learning rate up, before its cosine decay.
    pub warmup: f64,
    pub class_weight: ClassWeight,
    /// After the epochs, minimise the full-batch objective with L-BFGS along a short L2 path
    /// (see `refine.rs`), so that the model does not depend on where the epochs stopped.
    pub refine: bool,
    /// With fewer than 5,000 validation rows, the refinement's penalty is chosen, and with
    /// `model = "auto"` the candidates are compared, out of fold: train and valid pooled into
    /// this many folds (0 or 1: on the validation split, however small).
    pub choice_folds: usize,
    /// Pairs of features a GA2M may add (0: none, the additive model only).
    pub pairs: usize,
    /// The additive model drops a feature whose contribution's standard deviation over the
    /// training rows is below this (logit units), then refines the rest; 0 keeps every one.
    pub prune_below: f64,
    /// Reasons returned per decision.
    pub reasons: usize,
    /// The int8 model is refused if its test AUC is lower than the float model's by more.
    pub max_auc_drop: f64,
    pub score: ScoreScale,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: ModelChoice::Auto,
            seed: 42,
            batch_size: 0,
            replicas: 0,
            max_epochs: 60,
            patience: 8,
            learning_rate: 0.02,
            optimizer: OptimizerKind::Adamw,
            weight_decay: 1e-3,
            warmup: 0.05,
            class_weight: ClassWeight::Balanced,
            refine: true,
            choice_folds: 5,
            pairs: 8,
            prune_below: 0.01,
            reasons: 4,
            max_auc_drop: 0.002,
            score: ScoreScale::default(),
        }
    }
}

impl TrainConfig {
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
        let config: Self = toml::from_str(&text)
            .map_err(|e| TrainError::Config(format!("{}: {}", path.display(), e.message())))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let fail = |key: &str, rule: &str| Err(TrainError::Config(format!("`{key}` {rule}")));
        if self.max_epochs == 0 {
            return fail("max_epochs", "must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 10.0) {
            return fail("learning_rate", "must be in (0, 10)");
        }
        if !(0.0..1.0).contains(&self.warmup) {
            return fail("warmup", "must be in [0, 1)");
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return fail("weight_decay", "must be >= 0");
        }
        if self.prune_below.is_nan() || self.prune_below < 0.0 {
            return fail("prune_below", "must be >= 0");
        }
        if self.max_auc_drop.is_nan() || self.max_auc_drop < 0.0 {
            return fail("max_auc_drop", "must be >= 0");
        }
        if self.score.pdo <= 0.0 || self.score.base_odds <= 0.0 || self.score.min >= self.score.max
        {
            return fail("score", "needs pdo > 0, base_odds > 0 and min < max");
        }
        Ok(())
    }

    /// Rows per step for `rows` training rows and `replicas` replicas.
    pub fn batch_size_for(&self, rows: usize, replicas: usize) -> usize {
        if self.batch_size > 0 {
            self.batch_size
        } else {
            (rows / 16).clamp(32, 512 * replicas.max(1))
        }
    }

    /// The replicas the epochs run: `replicas`, or one per thread of the pool.
    pub fn replicas_for(&self) -> usize {
        if self.replicas > 0 {
            self.replicas
        } else {
            rayon::current_num_threads().max(1)
        }
    }

    /// Learning rate at `step` of `total`: linear warm-up, then cosine decay to 1% of the peak.
    pub fn learning_rate_at(&self, step: usize, total: usize) -> f64 {
        let warmup = ((total as f64 * self.warmup) as usize).max(1);
        if step < warmup {
            return self.learning_rate * (step + 1) as f64 / warmup as f64;
        }
        let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
        let floor = 0.01 * self.learning_rate;
        floor
            + (self.learning_rate - floor)
                * 0.5
                * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.toml");
        std::fs::write(&path, "learning_rat = 0.1\n").unwrap();
        let err = TrainConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("learning_rat"), "{err}");
        std::fs::write(&path, "max_epochs = 0\n").unwrap();
        let err = TrainConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("max_epochs"), "{err}");
        std::fs::write(&path, "model = \"additive\"\n[score]\npdo = 40.0\n").unwrap();
        let config = TrainConfig::load(&path).unwrap();
        assert_eq!(config.model, ModelChoice::Additive);
        assert_eq!(config.score.pdo, 40.0);
        assert_eq!(config.score.base_score, 600.0);
    }

    #[test]
    fn learning_rate_warms_up_then_decays() {
        let c = TrainConfig::default();
        let total = 1000;
        assert!(c.learning_rate_at(0, total) < c.learning_rate_at(40, total));
        assert!((c.learning_rate_at(50, total) - c.learning_rate).abs() < 1e-9);
        assert!(c.learning_rate_at(999, total) < 0.02 * c.learning_rate);
    }
}
