//! The Burn model: an additive risk model. Its logit is a bias plus, per feature, a
//! piecewise-linear shape over the dense inputs (see [`crate::layout`]) or a weight per category
//! level, so every prediction splits exactly into per-feature contributions. Monotone features keep
//! the sign of their segment weights through `sign * softplus(raw)`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::softplus;

use crate::layout::Layout;

#[derive(Config, Debug)]
pub struct RiskModelConfig {
    /// Dense inputs `P`.
    pub dense: usize,
    /// Category levels of all categorical features together `L`.
    pub levels: usize,
    /// Categorical features `C` (level indices per row).
    pub categorical: usize,
    /// Per dense input: +1 / -1 for a monotone weight, 0 for a free one.
    pub signs: Vec<f32>,
    /// The training population's bad rate, where the bias starts.
    #[config(default = 0.5)]
    pub prior: f64,
}

impl RiskModelConfig {
    pub fn from_layout(layout: &Layout, prior: f64) -> Self {
        Self::new(
            layout.dense,
            layout.levels,
            layout.categorical,
            layout.monotone_signs(),
        )
        .with_prior(prior)
    }

    /// The model with the given raw parameters (as [`RiskModel::raw`] returns them).
    pub fn init_with<B: Backend>(
        &self,
        dense: Vec<f32>,
        levels: Vec<f32>,
        bias: f32,
        device: &B::Device,
    ) -> RiskModel<B> {
        let mut model = self.init::<B>(device);
        let (p, l) = (dense.len(), levels.len());
        model.dense = Param::from_data(TensorData::new(dense, [p, 1]), device);
        model.levels = Param::from_data(TensorData::new(levels, [l]), device);
        model.bias = Param::from_data(TensorData::new(vec![bias], [1]), device);
        model
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> RiskModel<B> {
        // A monotone weight starts near zero: softplus(-4) ≈ 0.018.
        let raw: Vec<f32> = self
            .signs
            .iter()
            .map(|&s| if s == 0.0 { 0.0 } else { -4.0 })
            .collect();
        let prior = self.prior.clamp(1e-4, 1.0 - 1e-4);
        let bias = (prior / (1.0 - prior)).ln() as f32;
        RiskModel {
            dense: Param::from_data(TensorData::new(raw, [self.dense.max(1), 1]), device),
            levels: Param::from_data(
                TensorData::new(vec![0f32; self.levels.max(1)], [self.levels.max(1)]),
                device,
            ),
            bias: Param::from_data(TensorData::new(vec![bias], [1]), device),
            signs: Tensor::from_data(
                TensorData::new(padded(&self.signs), [self.dense.max(1), 1]),
                device,
            ),
            categorical: self.categorical,
        }
    }
}

/// An empty weight vector still gets one (unused) entry: Burn has no zero-sized parameters.
fn padded(signs: &[f32]) -> Vec<f32> {
    if signs.is_empty() {
        vec![0.0]
    } else {
        signs.to_vec()
    }
}

#[derive(Module, Debug)]
pub struct RiskModel<B: Backend> {
    /// Raw dense weights `[P, 1]`; see [`Self::dense_weights`].
    dense: Param<Tensor<B, 2>>,
    /// One weight per category level `[L]`.
    levels: Param<Tensor<B, 1>>,
    bias: Param<Tensor<B, 1>>,
    /// Constant monotone signs `[P, 1]`.
    signs: Tensor<B, 2>,
    categorical: usize,
}

impl<B: Backend> RiskModel<B> {
    /// The dense weights the model uses `[P, 1]`: free ones as they are, monotone ones as
    /// `sign * softplus(raw)`.
    pub fn dense_weights(&self) -> Tensor<B, 2> {
        let raw = self.dense.val();
        let free = self.signs.clone().abs().neg().add_scalar(1.0);
        raw.clone() * free + softplus(raw, 1.0) * self.signs.clone()
    }

    /// Logits `[B]` from dense inputs `[B, P]` and global level indices `[B * C]`.
    pub fn forward(&self, dense: Tensor<B, 2>, levels: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        let [batch, width] = dense.dims();
        let mut logits = self.bias.val().expand([batch]);
        if width > 0 {
            logits = logits + dense.matmul(self.dense_weights()).reshape([batch]);
        }
        if self.categorical > 0 {
            let picked = self.levels.val().select(0, levels);
            logits = logits
                + picked
                    .reshape([batch, self.categorical])
                    .sum_dim(1)
                    .reshape([batch]);
        }
        logits
    }

    /// The ids the dense and the level weights' gradients are kept under.
    pub fn param_ids(&self) -> (burn::module::ParamId, burn::module::ParamId) {
        (self.dense.id, self.levels.id)
    }

    /// The raw parameters: dense weights before the monotone map `[P]` (one when the model
    /// has no dense input), levels `[L]` (one when none), bias.
    pub fn raw(&self) -> (Vec<f32>, Vec<f32>, f32) {
        let floats = |t: Tensor<B, 1>| {
            t.into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .unwrap_or_default()
        };
        let dense = floats(self.dense.val().reshape([-1]));
        let levels = floats(self.levels.val());
        let bias = floats(self.bias.val()).first().copied().unwrap_or(0.0);
        (dense, levels, bias)
    }

    /// The weights as plain numbers: dense (effective), levels, bias.
    pub fn export(&self) -> (Vec<f32>, Vec<f32>, f32) {
        let floats = |t: Tensor<B, 1>| {
            t.into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .unwrap_or_default()
        };
        let dense = floats(self.dense_weights().reshape([-1]));
        let levels = floats(self.levels.val());
        let bias = floats(self.bias.val()).first().copied().unwrap_or(0.0);
        (dense, levels, bias)
    }
}
