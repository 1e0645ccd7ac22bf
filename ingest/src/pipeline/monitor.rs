//! Monitoring bins: where a feature's parsed value falls among a few bins fitted on the
//! training split (the numeric bin edges, the boolean's two values, the most frequent levels),
//! plus one for missing. The training split's counts are the baseline kept in the pipeline;
//! the server bins live applications the same way and compares (PSI).

use super::*;

/// Levels a categorical feature's bins name one by one; rarer ones share a bin.
pub const TOP_LEVELS: usize = 20;

impl FittedFeature {
    /// How many bins [`Self::monitor_bin`] uses.
    pub fn monitor_bins(&self) -> usize {
        match &self.transform {
            Transform::Numeric { bin_edges, .. } => bin_edges.len() + 2,
            Transform::Boolean { .. } => 3,
            // Missing, other, the top levels, then the rest together.
            Transform::Categorical { levels, .. } => levels.len().min(TOP_LEVELS + 3),
        }
    }

    /// The bin of one parsed value: numbers by the bin edges then missing last; booleans 0, 1,
    /// missing; categories by level index (0 is missing, 1 other), rare levels together.
    pub fn monitor_bin(&self, input: &Input<'_>) -> usize {
        match (&self.transform, input) {
            (Transform::Numeric { bin_edges, .. }, Input::Number(v)) if !v.is_nan() => {
                bin_edges.partition_point(|&e| e < *v)
            }
            (Transform::Numeric { bin_edges, .. }, _) => bin_edges.len() + 1,
            (Transform::Boolean { .. }, Input::Number(v)) => usize::from(*v == 1.0),
            (Transform::Boolean { .. }, _) => 2,
            (Transform::Categorical { lookup, .. }, Input::Text(t)) => {
                let level = lookup.get(t.as_ref()).copied().unwrap_or(1) as usize;
                level.min(self.monitor_bins() - 1)
            }
            (Transform::Categorical { .. }, _) => 0,
        }
    }

    /// The bins' counts over a parsed training column.
    pub(super) fn monitor_counts(&self, column: &ParsedColumn) -> Vec<u64> {
        let mut counts = vec![0u64; self.monitor_bins()];
        match column {
            ParsedColumn::Number(values) => {
                for v in values {
                    let input = v.map_or(Input::Missing, Input::Number);
                    counts[self.monitor_bin(&input)] += 1;
                }
            }
            ParsedColumn::Text { dict, codes } => {
                for &c in codes {
                    let input = if c == MISSING_CODE {
                        Input::Missing
                    } else {
                        Input::Text(Cow::Borrowed(dict[c as usize].as_str()))
                    };
                    counts[self.monitor_bin(&input)] += 1;
                }
            }
        }
        counts
    }
}
