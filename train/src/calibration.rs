//! Platt scaling, fitted on the validation split: `p = σ(a · logit + b)`. An affine map of the
//! logit keeps the model additive, so calibrated contributions are the raw ones times `a`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Default for Platt {
    fn default() -> Self {
        Self { a: 1.0, b: 0.0 }
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Platt {
    pub fn logit(&self, raw: f64) -> f64 {
        self.a * raw + self.b
    }

    pub fn probability(&self, raw: f64) -> f64 {
        sigmoid(self.logit(raw))
    }

    /// Maximum-likelihood fit by Newton's method with step halving. With one class only the
    /// identity is returned.
    pub fn fit(logits: &[f64], labels: &[u8]) -> Self {
        let bads = labels.iter().filter(|&&y| y == 1).count();
        if bads == 0 || bads == labels.len() {
            return Self::default();
        }
        let loss = |c: &Self| -> f64 {
            logits
                .iter()
                .zip(labels)
                .map(|(&z, &y)| {
                    let t = c.logit(z);
                    // log(1 + e^t) - y t, computed stably.
                    t.max(0.0) + (-t.abs()).exp().ln_1p() - f64::from(y) * t
                })
                .sum()
        };
        let mut c = Self::default();
        let mut current = loss(&c);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (&z, &y) in logits.iter().zip(labels) {
                let p = c.probability(z);
                let r = p - f64::from(y);
                let w = (p * (1.0 - p)).max(1e-12);
                ga += r * z;
                gb += r;
                haa += w * z * z;
                hab += w * z;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-18 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            let mut step = 1.0;
            let mut improved = false;
            while step > 1e-6 {
                let next = Self {
                    a: c.a - step * da,
                    b: c.b - step * db,
                };
                let l = loss(&next);
                if l <= current {
                    improved = (current - l) > 1e-12 * current.abs().max(1.0);
                    c = next;
                    current = l;
                    break;
                }
                step /= 2.0;
            }
            if !improved {
                break;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn platt_recovers_the_map_that_generated_the_labels() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let truth = Platt { a: 0.5, b: -1.0 };
        let logits: Vec<f64> = (0..20_000)
            .map(|_| rng.random::<f64>() * 8.0 - 4.0)
            .collect();
        let labels: Vec<u8> = logits
            .iter()
            .map(|&z| u8::from(rng.random::<f64>() < truth.probability(z)))
            .collect();
        let fitted = Platt::fit(&logits, &labels);
        assert!((fitted.a - 0.5).abs() < 0.05, "{fitted:?}");
        assert!((fitted.b + 1.0).abs() < 0.08, "{fitted:?}");
        assert_eq!(
            Platt::fit(&logits, &vec![0; logits.len()]),
            Platt::default()
        );
    }
}
