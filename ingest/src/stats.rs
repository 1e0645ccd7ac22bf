//! Small statistics shared by the quality report and the model metrics, the AUC among them: one
//! implementation (Mann–Whitney, by midranks), with its DeLong interval and the paired DeLong
//! comparison of two models scored on the same rows, which choosing between models uses.

/// Area under the ROC curve of `scores` for binary `labels` (1 = bad), with ties counted half
/// (Mann–Whitney). None when one class is absent.
pub fn auc(scores: &[f64], labels: &[u8]) -> Option<f64> {
    let positives = labels.iter().filter(|&&y| y == 1).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Tied scores are grouped below, so their order among themselves does not matter.
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Tied scores share the mean of ranks i+1 ..= j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += rank * order[i..=j].iter().filter(|&&k| labels[k] == 1).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Midranks (1-based, ties share their mean rank) of `values`.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// DeLong's placement values (Sun & Xu, 2014): for each bad, the share of goods it outranks;
/// for each good, the share of bads that outrank it (ties half). Their means are the AUC.
struct Placements {
    bads: Vec<f64>,
    goods: Vec<f64>,
}

impl Placements {
    fn of(scores: &[f64], labels: &[u8]) -> Option<Self> {
        let class = |c: u8| -> Vec<f64> {
            scores
                .iter()
                .zip(labels)
                .filter(|(_, y)| **y == c)
                .map(|(s, _)| *s)
                .collect()
        };
        let (bads, goods) = (class(1), class(0));
        if bads.is_empty() || goods.is_empty() {
            return None;
        }
        let (m, n) = (bads.len() as f64, goods.len() as f64);
        let all: Vec<f64> = bads.iter().chain(&goods).copied().collect();
        let all_ranks = midranks(&all);
        let (bad_ranks, good_ranks) = (midranks(&bads), midranks(&goods));
        Some(Self {
            bads: (0..bads.len())
                .map(|i| (all_ranks[i] - bad_ranks[i]) / n)
                .collect(),
            goods: (0..goods.len())
                .map(|j| 1.0 - (all_ranks[bads.len() + j] - good_ranks[j]) / m)
                .collect(),
        })
    }
}

/// Sample covariance of two series of the same length (the variance when they are one).
fn covariance(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 {
        return 0.0;
    }
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (n - 1.0)
}

/// [`auc`] and its 95% DeLong interval. None when one class is absent.
pub fn auc_with_ci(scores: &[f64], labels: &[u8]) -> Option<(f64, [f64; 2])> {
    let value = auc(scores, labels)?;
    let p = Placements::of(scores, labels)?;
    let se = (covariance(&p.bads, &p.bads) / p.bads.len() as f64
        + covariance(&p.goods, &p.goods) / p.goods.len() as f64)
        .sqrt();
    Some((
        value,
        [(value - 1.96 * se).max(0.0), (value + 1.96 * se).min(1.0)],
    ))
}

/// How much better `challenger` ranks than `champion`, both scored on the same rows: the AUC
/// difference (challenger − champion) and its 95% paired DeLong interval (DeLong et al.,
/// 1988), which accounts for the two scores being correlated. None when one class is absent.
pub fn auc_difference(
    champion: &[f64],
    challenger: &[f64],
    labels: &[u8],
) -> Option<(f64, [f64; 2])> {
    let delta = auc(challenger, labels)? - auc(champion, labels)?;
    let (a, b) = (
        Placements::of(champion, labels)?,
        Placements::of(challenger, labels)?,
    );
    let diff = |x: &[f64], y: &[f64]| -> Vec<f64> { y.iter().zip(x).map(|(y, x)| y - x).collect() };
    let (db, dg) = (diff(&a.bads, &b.bads), diff(&a.goods, &b.goods));
    let se =
        (covariance(&db, &db) / db.len() as f64 + covariance(&dg, &dg) / dg.len() as f64).sqrt();
    Some((delta, [delta - 1.96 * se, delta + 1.96 * se]))
}

#[cfg(test)]
mod tests {
    use super::{auc, auc_difference, auc_with_ci};

    /// The definition: the share of (bad, good) pairs ranked correctly, ties counting half.
    fn brute_force(scores: &[f64], labels: &[u8]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &yi) in labels.iter().enumerate() {
            for (j, &yj) in labels.iter().enumerate() {
                if yi == 1 && yj == 0 {
                    pairs += 1.0;
                    wins += if scores[i] > scores[j] {
                        1.0
                    } else if scores[i] == scores[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn auc_matches_the_pairwise_definition_with_ties() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.05, 0.6, 0.6];
        let labels = [0, 0, 1, 1, 1, 0, 1, 0, 0, 1];
        let got = auc(&scores, &labels).unwrap();
        assert!((got - brute_force(&scores, &labels)).abs() < 1e-12, "{got}");
    }

    #[test]
    fn auc_is_one_for_a_perfect_ranking_and_none_without_both_classes() {
        assert_eq!(auc(&[0.1, 0.2, 0.9], &[0, 0, 1]), Some(1.0));
        assert_eq!(auc(&[0.1, 0.2], &[1, 1]), None);
    }

    /// A deterministic sample: scores with some signal, some ties.
    fn sample(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<u8>) {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let (mut a, mut b, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let label = u8::from(next() < 0.3);
            let signal = f64::from(label) * 0.6;
            a.push(((signal + next()) * 20.0).round() / 20.0);
            b.push(signal * 1.3 + next());
            y.push(label);
        }
        (a, b, y)
    }

    #[test]
    fn the_interval_holds_the_auc_and_a_model_against_itself_differs_by_nothing() {
        let (a, b, y) = sample(500, 3);
        let (value, [lo, hi]) = auc_with_ci(&a, &y).unwrap();
        assert_eq!(value, auc(&a, &y).unwrap());
        assert!(
            lo < value && value < hi && hi - lo < 0.2,
            "{lo} {value} {hi}"
        );
        let (same, [dlo, dhi]) = auc_difference(&a, &a, &y).unwrap();
        assert_eq!((same, dlo, dhi), (0.0, 0.0, 0.0));
        let (delta, [lo, hi]) = auc_difference(&a, &b, &y).unwrap();
        assert!((delta - (auc(&b, &y).unwrap() - auc(&a, &y).unwrap())).abs() < 1e-12);
        assert!(lo < delta && delta < hi);
        // Paired: narrower than the two intervals taken apart would make it.
        let (_, [alo, ahi]) = auc_with_ci(&a, &y).unwrap();
        let (_, [blo, bhi]) = auc_with_ci(&b, &y).unwrap();
        assert!(hi - lo < (ahi - alo) + (bhi - blo));
    }
}
