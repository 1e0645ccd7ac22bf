//! Choosing between two models scored on the same rows: the one comparison the automatic
//! choice between candidates makes, and that promoting a retrained challenger over the
//! champion will make. On AUC, with the paired DeLong interval of the difference, so that a
//! difference smaller than the noise can be seen as such.

use serde::{Deserialize, Serialize};

/// What must hold for the challenger to replace the champion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The AUC must improve by more than this.
    pub margin: f64,
    /// And the 95% interval of the improvement must lie above zero.
    pub significant: bool,
}

impl Rule {
    /// The automatic choice between candidates: the higher validation AUC, ties to the
    /// champion (the first candidate).
    pub const HIGHER_AUC: Self = Self {
        margin: 0.0,
        significant: false,
    };

    /// The automatic choice between candidates: the challenger (the more complex model) only
    /// when its gain is significant, since smaller differences are within what a seed alone
    /// moves.
    pub const SIGNIFICANT: Self = Self {
        margin: 0.0,
        significant: true,
    };
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub champion_auc: f64,
    pub challenger_auc: f64,
    /// Challenger minus champion, and its 95% paired DeLong interval.
    pub delta: f64,
    pub delta_ci: [f64; 2],
    pub rule: Rule,
    pub challenger_wins: bool,
}

/// Compares the challenger's scores with the champion's on the same rows. None when `labels`
/// lack a class.
pub fn compare(
    champion: &[f64],
    challenger: &[f64],
    labels: &[u8],
    rule: Rule,
) -> Option<Comparison> {
    use riskloop_ingest::stats::{auc, auc_difference};
    let (delta, delta_ci) = auc_difference(champion, challenger, labels)?;
    let challenger_wins = delta > rule.margin && (!rule.significant || delta_ci[0] > 0.0);
    Some(Comparison {
        champion_auc: auc(champion, labels)?,
        challenger_auc: auc(challenger, labels)?,
        delta,
        delta_ci,
        rule,
        challenger_wins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_gain_wins_the_plain_rule_but_not_the_significant_one() {
        let labels: Vec<u8> = (0..400).map(|i| u8::from(i % 3 == 0)).collect();
        let champion: Vec<f64> = (0..400)
            .map(|i| f64::from(labels[i]) * 0.3 + ((i * 37) % 100) as f64 / 100.0)
            .collect();
        // The same scores with one bad moved up a little: a gain far inside the noise.
        let mut challenger = champion.clone();
        challenger[3] += 0.05;
        let plain = compare(&champion, &challenger, &labels, Rule::HIGHER_AUC).unwrap();
        assert!(plain.delta > 0.0 && plain.challenger_wins, "{plain:?}");
        let strict = Rule {
            margin: 0.0,
            significant: true,
        };
        let strict = compare(&champion, &challenger, &labels, strict).unwrap();
        assert!(
            !strict.challenger_wins && strict.delta_ci[0] <= 0.0,
            "{strict:?}"
        );
        let same = compare(&champion, &champion, &labels, Rule::HIGHER_AUC).unwrap();
        assert!(!same.challenger_wins, "a tie keeps the champion");
    }
}
