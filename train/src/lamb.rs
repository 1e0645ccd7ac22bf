//! LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76
//! minutes", ICLR 2020, Algorithm 2), as a Burn `SimpleOptimizer`: Adam's bias-corrected
//! moments, decoupled weight decay, and a per-tensor trust ratio ‖x‖ / ‖update‖ that scales
//! each parameter tensor's step to its size, which keeps large batches (GPU) stable.
//!
//! For each parameter tensor `x` with gradient `g` at step `t`:
//! `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`, `m̂ = m / (1−β1ᵗ)`, `v̂ = v / (1−β2ᵗ)`,
//! `u = m̂ / (√v̂ + ε) + λ·x`, `x ← x − η · (‖x‖ / ‖u‖) · u`, the ratio taken as 1 when either
//! norm is 0 (φ is the identity).

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdaptiveMomentumState, SimpleOptimizer};
use burn::prelude::*;
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;

#[derive(Config, Debug)]
pub struct LambConfig {
    #[config(default = 0.9)]
    pub beta_1: f64,
    #[config(default = 0.999)]
    pub beta_2: f64,
    #[config(default = 1e-6)]
    pub epsilon: f64,
    #[config(default = 0.01)]
    pub weight_decay: f64,
}

#[derive(Clone, Debug)]
pub struct Lamb {
    config: LambConfig,
}

impl LambConfig {
    pub fn build(&self) -> Lamb {
        Lamb {
            config: self.clone(),
        }
    }

    /// The optimizer for a module on an autodiff backend.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(&self) -> OptimizerAdaptor<Lamb, M, B> {
        OptimizerAdaptor::from(self.build())
    }
}

impl<B: Backend> SimpleOptimizer<B> for Lamb {
    type State<const D: usize> = AdaptiveMomentumState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let c = &self.config;
        let state = match state {
            Some(mut s) => {
                s.moment_1 =
                    s.moment_1.mul_scalar(c.beta_1) + grad.clone().mul_scalar(1.0 - c.beta_1);
                s.moment_2 =
                    s.moment_2.mul_scalar(c.beta_2) + grad.square().mul_scalar(1.0 - c.beta_2);
                s.time += 1;
                s
            }
            None => AdaptiveMomentumState::new(
                1,
                grad.clone().mul_scalar(1.0 - c.beta_1),
                grad.square().mul_scalar(1.0 - c.beta_2),
            ),
        };
        let t = state.time as i32;
        let m_hat = state.moment_1.clone().div_scalar(1.0 - c.beta_1.powi(t));
        let v_hat = state.moment_2.clone().div_scalar(1.0 - c.beta_2.powi(t));
        let update =
            m_hat / v_hat.sqrt().add_scalar(c.epsilon) + tensor.clone().mul_scalar(c.weight_decay);
        let norm = |x: &Tensor<B, D>| x.clone().square().sum().sqrt().into_scalar().elem::<f64>();
        let (x_norm, u_norm) = (norm(&tensor), norm(&update));
        let ratio = if x_norm > 0.0 && u_norm > 0.0 {
            x_norm / u_norm
        } else {
            1.0
        };
        (tensor - update.mul_scalar(lr * ratio), Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.moment_1 = state.moment_1.to_device(device);
        state.moment_2 = state.moment_2.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    /// Three steps on one vector, against the paper's rule computed independently in Python
    /// floats (the script below), with β1 = 0.9, β2 = 0.999, ε = 1e-6, λ = 0.01 and η = 0.1.
    ///
    /// ```python
    /// x = [0.5, -1.0, 2.0, 0.0]; m = [0.0] * 4; v = [0.0] * 4
    /// for t, g in enumerate([[0.1, -0.2, 0.3, 0.05], [-0.3, 0.1, 0.2, 0.0], [0.05, 0.05, -0.4, 0.2]], 1):
    ///     m = [0.9 * a + 0.1 * b for a, b in zip(m, g)]
    ///     v = [0.999 * a + 0.001 * b * b for a, b in zip(v, g)]
    ///     u = [(mi / (1 - 0.9**t)) / (math.sqrt(vi / (1 - 0.999**t)) + 1e-6) + 0.01 * xi
    ///          for mi, vi, xi in zip(m, v, x)]
    ///     xn = math.sqrt(sum(a * a for a in x)); un = math.sqrt(sum(a * a for a in u))
    ///     x = [xi - 0.1 * (xn / un if xn > 0 and un > 0 else 1.0) * ui for xi, ui in zip(x, u)]
    /// ```
    #[test]
    fn lamb_follows_the_papers_update_rule() {
        let device = Default::default();
        let optimizer = LambConfig::new().build();
        let mut x = Tensor::<NdArray, 1>::from_floats([0.5, -1.0, 2.0, 0.0], &device);
        let mut state = None;
        let grads = [
            [0.1, -0.2, 0.3, 0.05],
            [-0.3, 0.1, 0.2, 0.0],
            [0.05, 0.05, -0.4, 0.2],
        ];
        let expected: [[f64; 4]; 3] = REFERENCE;
        for (g, want) in grads.iter().zip(expected) {
            let g = Tensor::<NdArray, 1>::from_floats(*g, &device);
            let (next, s) = SimpleOptimizer::<NdArray>::step(&optimizer, 0.1, x, g, state);
            x = next;
            state = s;
            let got: Vec<f32> = x.clone().into_data().to_vec().unwrap();
            for (a, b) in got.iter().zip(want) {
                assert!((f64::from(*a) - b).abs() < 1e-5, "{got:?} vs {want:?}");
            }
        }
    }

    const REFERENCE: [[f64; 4]; 3] = [
        [0.3858646207, -0.8852962095, 1.8841603335, -0.1135664003],
        [0.4646321600, -0.8410893452, 1.7252546602, -0.2210205702],
        [0.5327551910, -0.8236624334, 1.7141326593, -0.4065429062],
    ];
}
