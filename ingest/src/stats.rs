//! Small statistics shared by the quality report and the model metrics.

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

#[cfg(test)]
mod tests {
    use super::auc;

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
}
