//! Credit-risk metrics, computed here and tested against their brute-force definitions: AUC with
//! a DeLong confidence interval (`riskloop_ingest::stats`, the one AUC implementation), Gini,
//! KS, Brier, log loss, and calibration and lift by decile. Labels are 1 = bad (default), 0 =
//! good; higher predictions mean more risk.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: usize,
    pub bad_rate: f64,
    pub auc: f64,
    /// 95% DeLong confidence interval of the AUC.
    pub auc_ci: [f64; 2],
    pub gini: f64,
    pub ks: f64,
    pub brier: f64,
    pub log_loss: f64,
    pub deciles: Vec<Decile>,
}

/// One tenth of the rows, riskiest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decile {
    pub rows: usize,
    pub mean_predicted: f64,
    pub observed_bad_rate: f64,
    /// Observed bad rate over the population's bad rate.
    pub lift: f64,
    /// Share of all bads in this and the riskier deciles.
    pub cumulative_capture: f64,
}

impl Metrics {
    /// All metrics of probabilities `p` against `labels`. None when one class is absent.
    pub fn compute(p: &[f64], labels: &[u8]) -> Option<Self> {
        let (auc, [lo, hi]) = riskloop_ingest::stats::auc_with_ci(p, labels)?;
        let n = p.len() as f64;
        let bad_rate = labels.iter().map(|&y| f64::from(y)).sum::<f64>() / n;
        let brier = p
            .iter()
            .zip(labels)
            .map(|(p, &y)| (p - f64::from(y)).powi(2))
            .sum::<f64>()
            / n;
        let log_loss = -p
            .iter()
            .zip(labels)
            .map(|(&p, &y)| {
                let p = p.clamp(1e-15, 1.0 - 1e-15);
                if y == 1 { p.ln() } else { (1.0 - p).ln() }
            })
            .sum::<f64>()
            / n;
        Some(Self {
            rows: p.len(),
            bad_rate,
            auc,
            auc_ci: [lo, hi],
            gini: 2.0 * auc - 1.0,
            ks: ks(p, labels),
            brier,
            log_loss,
            deciles: deciles(p, labels, bad_rate),
        })
    }
}

/// Kolmogorov–Smirnov: the largest gap between the bads' and goods' cumulative distributions
/// of the prediction, taken only between distinct values.
pub fn ks(p: &[f64], labels: &[u8]) -> f64 {
    let bads = labels.iter().filter(|&&y| y == 1).count() as f64;
    let goods = labels.len() as f64 - bads;
    if bads == 0.0 || goods == 0.0 {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (mut cum_bad, mut cum_good, mut best) = (0.0, 0.0, 0.0f64);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] == 1 {
            cum_bad += 1.0;
        } else {
            cum_good += 1.0;
        }
        let boundary = order.get(k + 1).is_none_or(|&next| p[next] != p[i]);
        if boundary {
            best = best.max((cum_bad / bads - cum_good / goods).abs());
        }
    }
    best
}

fn deciles(p: &[f64], labels: &[u8], bad_rate: f64) -> Vec<Decile> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let total_bads = labels.iter().filter(|&&y| y == 1).count().max(1) as f64;
    let mut captured = 0.0;
    (0..10)
        .map(|d| {
            let rows = &order[d * p.len() / 10..(d + 1) * p.len() / 10];
            let count = rows.len().max(1) as f64;
            let bads = rows.iter().filter(|&&i| labels[i] == 1).count() as f64;
            captured += bads;
            let observed = bads / count;
            Decile {
                rows: rows.len(),
                mean_predicted: rows.iter().map(|&i| p[i]).sum::<f64>() / count,
                observed_bad_rate: observed,
                lift: if bad_rate > 0.0 {
                    observed / bad_rate
                } else {
                    0.0
                },
                cumulative_capture: captured / total_bads,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn sample(n: usize, seed: u64) -> (Vec<f64>, Vec<u8>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let labels: Vec<u8> = (0..n).map(|_| u8::from(rng.random_bool(0.3))).collect();
        // Rounded so that ties happen.
        let p = labels
            .iter()
            .map(|&y| ((rng.random::<f64>() * 0.7 + 0.3 * f64::from(y)) * 20.0).round() / 20.0)
            .collect();
        (p, labels)
    }

    /// DeLong's definition: ψ placements averaged over all (bad, good) pairs.
    fn brute_delong(p: &[f64], y: &[u8]) -> (f64, f64) {
        let bads: Vec<f64> = p
            .iter()
            .zip(y)
            .filter(|t| *t.1 == 1)
            .map(|t| *t.0)
            .collect();
        let goods: Vec<f64> = p
            .iter()
            .zip(y)
            .filter(|t| *t.1 == 0)
            .map(|t| *t.0)
            .collect();
        let psi = |a: f64, b: f64| {
            if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            }
        };
        let v10: Vec<f64> = bads
            .iter()
            .map(|&a| goods.iter().map(|&b| psi(a, b)).sum::<f64>() / goods.len() as f64)
            .collect();
        let v01: Vec<f64> = goods
            .iter()
            .map(|&b| bads.iter().map(|&a| psi(a, b)).sum::<f64>() / bads.len() as f64)
            .collect();
        let auc = v10.iter().sum::<f64>() / v10.len() as f64;
        let var = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
        };
        (
            auc,
            (var(&v10) / bads.len() as f64 + var(&v01) / goods.len() as f64).sqrt(),
        )
    }

    #[test]
    fn auc_and_delong_interval_match_the_pairwise_definition() {
        let (p, y) = sample(400, 1);
        let (auc, [lo, hi]) = riskloop_ingest::stats::auc_with_ci(&p, &y).unwrap();
        let (brute_auc, brute_se) = brute_delong(&p, &y);
        assert!((auc - brute_auc).abs() < 1e-12);
        assert!(
            (hi - lo - 2.0 * 1.96 * brute_se).abs() < 1e-9,
            "{lo} {hi} {brute_se}"
        );
        assert!(auc > 0.6 && lo < auc && auc < hi);
    }

    #[test]
    fn ks_matches_the_largest_gap_over_every_threshold() {
        let (p, y) = sample(300, 2);
        let bads = y.iter().filter(|&&v| v == 1).count() as f64;
        let goods = y.len() as f64 - bads;
        let brute = p
            .iter()
            .map(|&t| {
                let fb = p
                    .iter()
                    .zip(&y)
                    .filter(|(s, l)| **s <= t && **l == 1)
                    .count() as f64
                    / bads;
                let fg = p
                    .iter()
                    .zip(&y)
                    .filter(|(s, l)| **s <= t && **l == 0)
                    .count() as f64
                    / goods;
                (fb - fg).abs()
            })
            .fold(0.0, f64::max);
        assert!((ks(&p, &y) - brute).abs() < 1e-12);
    }

    #[test]
    fn brier_log_loss_and_deciles_follow_their_definitions() {
        let p = [0.1, 0.9, 0.8, 0.2, 0.5, 0.4, 0.3, 0.7, 0.45, 0.05];
        let y = [0, 1, 1, 0, 1, 0, 0, 1, 0, 0];
        let m = Metrics::compute(&p, &y).unwrap();
        let brier: f64 = p
            .iter()
            .zip(y)
            .map(|(p, y)| (p - f64::from(y)).powi(2))
            .sum::<f64>()
            / 10.0;
        assert!((m.brier - brier).abs() < 1e-12);
        let ll: f64 = -p
            .iter()
            .zip(y)
            .map(|(p, y)| if y == 1 { p.ln() } else { (1.0 - p).ln() })
            .sum::<f64>()
            / 10.0;
        assert!((m.log_loss - ll).abs() < 1e-12);
        assert_eq!(m.deciles.len(), 10);
        assert_eq!(m.deciles[0].mean_predicted, 0.9);
        assert_eq!(m.deciles[0].lift, 2.5);
        assert_eq!(m.deciles[9].cumulative_capture, 1.0);
        assert_eq!(m.auc, 1.0);
        assert_eq!(m.gini, 1.0);
        assert_eq!(m.ks, 1.0);
        assert!(Metrics::compute(&p, &[0; 10]).is_none());
    }
}
