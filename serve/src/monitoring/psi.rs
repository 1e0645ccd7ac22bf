//! The population stability index between two distributions over the same bins, and the bins
//! themselves: cut points at a reference sample's quantiles.

/// Shares below this count as this, so an empty bin weighs heavily instead of infinitely.
const FLOOR: f64 = 1e-4;

/// PSI = Σ (actual − expected) · ln(actual / expected) over bin shares; `None` when either side
/// is empty.
pub fn psi(expected: &[u64], actual: &[u64]) -> Option<f64> {
    let (e_total, a_total) = (
        expected.iter().sum::<u64>() as f64,
        actual.iter().sum::<u64>() as f64,
    );
    if e_total == 0.0 || a_total == 0.0 {
        return None;
    }
    Some(
        expected
            .iter()
            .zip(actual)
            .map(|(&e, &a)| {
                let (e, a) = (
                    (e as f64 / e_total).max(FLOOR),
                    (a as f64 / a_total).max(FLOOR),
                );
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// Up to `bins − 1` distinct cut points at the quantiles of `values`; bin `k` holds values in
/// `(cuts[k-1], cuts[k]]`.
pub fn quantile_cuts(values: &[f64], bins: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut cuts: Vec<f64> = (1..bins)
        .filter_map(|k| sorted.get(k * sorted.len() / bins).copied())
        .collect();
    cuts.dedup();
    // The largest value as a cut would leave the last bin empty by construction.
    if cuts.last() == sorted.last() {
        cuts.pop();
    }
    cuts
}

/// How many of `values` fall in each bin of `cuts`.
pub fn counts(cuts: &[f64], values: impl IntoIterator<Item = f64>) -> Vec<u64> {
    let mut counts = vec![0; cuts.len() + 1];
    for v in values {
        counts[cuts.partition_point(|&c| c < v)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_distribution_is_stable_and_a_shifted_one_is_not() {
        let reference: Vec<f64> = (0..1000).map(f64::from).collect();
        let cuts = quantile_cuts(&reference, 10);
        assert_eq!(cuts.len(), 9);
        let expected = counts(&cuts, reference.iter().copied());
        assert!(
            expected.iter().all(|c| (99..=101).contains(c)),
            "{expected:?}"
        );
        assert!(psi(&expected, &expected).unwrap().abs() < 1e-12);
        // A quarter of the range shifted up: PSI well past the 0.25 alert.
        let shifted = counts(&cuts, reference.iter().map(|v| v + 250.0));
        assert!(psi(&expected, &shifted).unwrap() > 0.25);
        // Hand-computed: shares 0.5/0.5 against 0.6/0.4.
        let value = psi(&[50, 50], &[60, 40]).unwrap();
        let by_hand = 0.1 * (0.6f64 / 0.5).ln() - 0.1 * (0.4f64 / 0.5).ln();
        assert!((value - by_hand).abs() < 1e-12);
        assert_eq!(psi(&[0, 0], &[1, 2]), None);
    }
}
