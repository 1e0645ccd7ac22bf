//! Score scaling the way credit scorecards do it: a base score at base odds (good:bad), and a
//! fixed number of points to double the odds, clamped to a range.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreScale {
    pub base_score: f64,
    /// Good:bad odds at the base score (50 means 50:1).
    pub base_odds: f64,
    /// Points to double the odds.
    pub pdo: f64,
    pub min: i32,
    pub max: i32,
}

impl Default for ScoreScale {
    fn default() -> Self {
        Self {
            base_score: 600.0,
            base_odds: 50.0,
            pdo: 20.0,
            min: 300,
            max: 900,
        }
    }
}

impl ScoreScale {
    /// The score of a probability of default: higher is safer.
    pub fn score(&self, pd: f64) -> i32 {
        let factor = self.pdo / std::f64::consts::LN_2;
        let offset = self.base_score - factor * self.base_odds.ln();
        let pd = pd.clamp(1e-12, 1.0 - 1e-12);
        let raw = offset + factor * ((1.0 - pd) / pd).ln();
        (raw.round() as i64).clamp(i64::from(self.min), i64::from(self.max)) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::ScoreScale;

    #[test]
    fn base_odds_give_the_base_score_and_doubling_adds_pdo_points() {
        let s = ScoreScale::default();
        assert_eq!(s.score(1.0 / 51.0), 600);
        assert_eq!(s.score(1.0 / 101.0), 620);
        assert_eq!(s.score(1.0 / 26.0), 580);
        assert_eq!(s.score(0.999_999), 300);
        assert_eq!(s.score(1e-9), 900);
    }
}
