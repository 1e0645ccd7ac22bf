//! The data-quality report: what each column looked like, how much it says about the target,
//! whether it drifts from train to test, and whether it is too good to be true (leakage).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::IngestError;
use crate::read::Parsed;
use crate::spec::{DatasetSpec, FeatureKind};
use crate::split::Splits;
use crate::table::{MISSING_CODE, ParsedColumn};

/// A feature whose single-feature AUC exceeds this is flagged as probable leakage.
pub const LEAKAGE_AUC: f64 = 0.95;
const QUANTILES: [f64; 9] = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];

#[derive(Debug, Serialize)]
pub struct QualityReport {
    pub dataset: String,
    pub rows_read: usize,
    pub rows_used: usize,
    pub target: TargetSummary,
    pub features: Vec<FeatureQuality>,
    /// Names of features flagged as probable leakage.
    pub probable_leakage: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TargetSummary {
    pub column: String,
    pub bad: usize,
    pub good: usize,
    /// Rows whose target was neither bad nor good (excluded), by raw value.
    pub other: Vec<(String, usize)>,
    /// Rows excluded because a `missing = "reject"` feature had no value, by feature.
    pub rejected_missing: Vec<(String, usize)>,
    pub rows_without_time: usize,
    pub splits: Vec<SplitSummary>,
}

#[derive(Debug, Serialize)]
pub struct SplitSummary {
    pub name: &'static str,
    pub rows: usize,
    pub bad_rate: f64,
}

#[derive(Debug, Serialize)]
pub struct FeatureQuality {
    pub name: String,
    pub column: String,
    pub kind: FeatureKind,
    pub protected: bool,
    pub missing_rate: f64,
    pub parse_failures: usize,
    pub parse_failure_examples: Vec<String>,
    pub distinct: usize,
    /// `(q, value)` over the rows read, numeric features only.
    pub quantiles: Vec<(f64, f64)>,
    /// Training rows and bad rate by level (categorical and boolean), most frequent first.
    pub levels: Vec<LevelStat>,
    /// Information value on the training split.
    pub iv: Option<f64>,
    /// Population stability index, train → test.
    pub psi: Option<f64>,
    /// AUC of the feature alone (its bins' training bad rate as the score), on training rows.
    pub auc: Option<f64>,
    pub probable_leakage: bool,
}

#[derive(Debug, Serialize)]
pub struct LevelStat {
    pub level: String,
    pub rows: usize,
    pub bad_rate: f64,
}

/// What the report is computed from.
#[derive(Debug)]
pub struct Input<'a> {
    pub spec: &'a DatasetSpec,
    /// Parsed stream; `features` in spec order.
    pub parsed: &'a Parsed,
    /// 1 = bad, 0 = good, for every read row (meaningless for rows not in a split).
    pub labels: &'a [u8],
    pub splits: &'a Splits,
    pub target: TargetSummary,
}

pub fn report(input: Input<'_>) -> QualityReport {
    let Input {
        spec,
        parsed,
        labels,
        splits,
        target,
    } = input;
    let features: Vec<FeatureQuality> = spec
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let column = &parsed.features[i];
            let bins = Bins::of(column, &splits.train);
            let iv = information_value(&bins, &splits.train, labels);
            let psi = psi(&bins, &splits.train, &splits.test);
            let single_auc = bins.auc(&splits.train, labels).map(|a| a.max(1.0 - a));
            let probable_leakage = !f.protected && single_auc.is_some_and(|a| a > LEAKAGE_AUC);
            let (distinct, quantiles) = distinct_and_quantiles(column);
            FeatureQuality {
                name: f.name.clone(),
                column: f.column().to_owned(),
                kind: f.kind,
                protected: f.protected,
                missing_rate: if parsed.rows == 0 {
                    0.0
                } else {
                    (0..parsed.rows).filter(|&r| column.is_missing(r)).count() as f64
                        / parsed.rows as f64
                },
                parse_failures: parsed.failures[i],
                parse_failure_examples: parsed.failure_examples[i].clone(),
                distinct,
                quantiles,
                levels: levels(f.kind, column, &splits.train, labels),
                iv,
                psi,
                auc: single_auc,
                probable_leakage,
            }
        })
        .collect();
    QualityReport {
        dataset: spec.name.clone(),
        rows_read: parsed.rows,
        rows_used: splits.train.len() + splits.valid.len() + splits.test.len(),
        target,
        probable_leakage: features
            .iter()
            .filter(|f| f.probable_leakage)
            .map(|f| f.name.clone())
            .collect(),
        features,
    }
}

/// Each row's bin: quantile bins of training values for numbers, levels for text; one bin
/// for missing values. Levels too rare in training share a bin.
struct Bins {
    of_row: Vec<usize>,
    count: usize,
}

impl Bins {
    fn of(column: &ParsedColumn, train: &[usize]) -> Self {
        match column {
            ParsedColumn::Number(values) => {
                let mut present: Vec<f64> = train.iter().filter_map(|&r| values[r]).collect();
                present.sort_unstable_by(f64::total_cmp);
                let mut edges: Vec<f64> = if present.is_empty() {
                    Vec::new()
                } else {
                    (1..10)
                        .map(|b| crate::pipeline::quantile(&present, b as f64 / 10.0))
                        .collect()
                };
                edges.dedup();
                let missing_bin = edges.len() + 1;
                let of_row = values
                    .iter()
                    .map(|v| v.map_or(missing_bin, |v| edges.partition_point(|&e| e < v)))
                    .collect();
                Self {
                    of_row,
                    count: missing_bin + 1,
                }
            }
            ParsedColumn::Text { dict, codes } => {
                let mut counts = vec![0usize; dict.len()];
                for &r in train {
                    if codes[r] != MISSING_CODE {
                        counts[codes[r] as usize] += 1;
                    }
                }
                let min_rows = (train.len() / 200).max(5);
                let mut bin_of_code = vec![0usize; dict.len()]; // 0: rare or unseen
                let mut next = 2; // 1: missing
                for (code, &n) in counts.iter().enumerate() {
                    if n >= min_rows {
                        bin_of_code[code] = next;
                        next += 1;
                    }
                }
                let of_row = codes
                    .iter()
                    .map(|&c| {
                        if c == MISSING_CODE {
                            1
                        } else {
                            bin_of_code[c as usize]
                        }
                    })
                    .collect();
                Self {
                    of_row,
                    count: next,
                }
            }
        }
    }

    fn counts(&self, rows: &[usize], labels: &[u8]) -> (Vec<f64>, Vec<f64>) {
        let (mut bad, mut good) = (vec![0.0; self.count], vec![0.0; self.count]);
        for &r in rows {
            if labels[r] == 1 {
                bad[self.of_row[r]] += 1.0;
            } else {
                good[self.of_row[r]] += 1.0;
            }
        }
        (bad, good)
    }

    /// AUC of scoring each row by its bin's bad rate. Rows in one bin tie, so the AUC follows
    /// from per-bin counts: the same number `stats::auc` gives on the rows, without sorting them.
    fn auc(&self, rows: &[usize], labels: &[u8]) -> Option<f64> {
        let (bad, good) = self.counts(rows, labels);
        let (total_bad, total_good) = (bad.iter().sum::<f64>(), good.iter().sum::<f64>());
        if total_bad == 0.0 || total_good == 0.0 {
            return None;
        }
        let rates: Vec<f64> = bad
            .iter()
            .zip(&good)
            .map(|(b, g)| b / (b + g).max(1.0))
            .collect();
        let mut bins: Vec<usize> = (0..self.count)
            .filter(|&b| bad[b] + good[b] > 0.0)
            .collect();
        bins.sort_by(|&a, &b| rates[a].total_cmp(&rates[b]));
        let (mut wins, mut goods_below) = (0.0, 0.0);
        let mut i = 0;
        while i < bins.len() {
            // Bins with equal rates tie with each other too.
            let mut j = i;
            while j + 1 < bins.len() && rates[bins[j + 1]] == rates[bins[i]] {
                j += 1;
            }
            let (b, g) = bins[i..=j]
                .iter()
                .fold((0.0, 0.0), |(b, g), &k| (b + bad[k], g + good[k]));
            wins += b * goods_below + 0.5 * b * g;
            goods_below += g;
            i = j + 1;
        }
        Some(wins / (total_bad * total_good))
    }
}

/// IV = Σ (bad share − good share) · ln(bad share / good share), half a row added to empty cells.
fn information_value(bins: &Bins, train: &[usize], labels: &[u8]) -> Option<f64> {
    let (bad, good) = bins.counts(train, labels);
    let (total_bad, total_good) = (bad.iter().sum::<f64>(), good.iter().sum::<f64>());
    if total_bad == 0.0 || total_good == 0.0 {
        return None;
    }
    let iv = bad
        .iter()
        .zip(&good)
        .filter(|(b, g)| **b + **g > 0.0)
        .map(|(b, g)| {
            let pb = (b + 0.5) / total_bad;
            let pg = (g + 0.5) / total_good;
            (pb - pg) * (pb / pg).ln()
        })
        .sum();
    Some(iv)
}

/// PSI = Σ (test share − train share) · ln(test share / train share), shares floored at 1e-4.
fn psi(bins: &Bins, train: &[usize], test: &[usize]) -> Option<f64> {
    if train.is_empty() || test.is_empty() {
        return None;
    }
    let share = |rows: &[usize]| {
        let mut s = vec![0.0; bins.count];
        for &r in rows {
            s[bins.of_row[r]] += 1.0;
        }
        s.iter()
            .map(|n| (n / rows.len() as f64).max(1e-4))
            .collect::<Vec<f64>>()
    };
    let (a, b) = (share(train), share(test));
    Some(a.iter().zip(&b).map(|(p, q)| (q - p) * (q / p).ln()).sum())
}

/// Distinct present values and, for numbers, quantiles, over the rows read: one sort serves both.
fn distinct_and_quantiles(column: &ParsedColumn) -> (usize, Vec<(f64, f64)>) {
    match column {
        ParsedColumn::Number(values) => {
            let mut present: Vec<f64> = values.iter().flatten().copied().collect();
            if present.is_empty() {
                return (0, Vec::new());
            }
            present.sort_unstable_by(f64::total_cmp);
            let distinct = present.chunk_by(|a, b| a.to_bits() == b.to_bits()).count();
            let quantiles = QUANTILES
                .iter()
                .map(|&q| (q, crate::pipeline::quantile(&present, q)))
                .collect();
            (distinct, quantiles)
        }
        ParsedColumn::Text { dict, codes } => {
            let mut seen = vec![false; dict.len()];
            codes
                .iter()
                .filter(|&&c| c != MISSING_CODE)
                .for_each(|&c| seen[c as usize] = true);
            (seen.iter().filter(|&&s| s).count(), Vec::new())
        }
    }
}

fn levels(
    kind: FeatureKind,
    column: &ParsedColumn,
    train: &[usize],
    labels: &[u8],
) -> Vec<LevelStat> {
    // Count by code first (no string per row), then name the codes.
    let mut by_code: HashMap<u32, (usize, usize)> = HashMap::new();
    let mut count = |code: u32, r: usize| {
        let e = by_code.entry(code).or_default();
        e.0 += 1;
        e.1 += usize::from(labels[r] == 1);
    };
    let stats: HashMap<String, (usize, usize)> = match (kind, column) {
        (FeatureKind::Categorical, ParsedColumn::Text { dict, codes }) => {
            train.iter().for_each(|&r| count(codes[r], r));
            let name = |c: u32| {
                if c == MISSING_CODE {
                    "__missing__".to_owned()
                } else {
                    dict[c as usize].clone()
                }
            };
            by_code.into_iter().map(|(c, n)| (name(c), n)).collect()
        }
        (FeatureKind::Boolean, ParsedColumn::Number(v)) => {
            train
                .iter()
                .for_each(|&r| count(v[r].map_or(MISSING_CODE, |x| x as u32), r));
            let name = |c: u32| {
                if c == MISSING_CODE {
                    "__missing__".to_owned()
                } else {
                    c.to_string()
                }
            };
            by_code.into_iter().map(|(c, n)| (name(c), n)).collect()
        }
        _ => return Vec::new(),
    };
    let mut out: Vec<LevelStat> = stats
        .into_iter()
        .map(|(level, (rows, bad))| LevelStat {
            level,
            rows,
            bad_rate: bad as f64 / rows as f64,
        })
        .collect();
    out.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.level.cmp(&b.level)));
    out.truncate(25);
    out
}

impl QualityReport {
    pub fn save(&self, path: &Path) -> Result<(), IngestError> {
        crate::error::write_json(path, self)
    }

    /// The report as a fixed-width table for the terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<28} {:<11} {:>8} {:>7} {:>8} {:>6} {:>6} {:>6}  flags",
            "feature", "kind", "missing", "unparsed", "distinct", "IV", "PSI", "AUC"
        );
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
        for f in &self.features {
            let mut flags = Vec::new();
            if f.protected {
                flags.push("protected (not a model input)");
            }
            if f.probable_leakage {
                flags.push("PROBABLE LEAKAGE");
            }
            let _ = writeln!(
                out,
                "{:<28} {:<11} {:>7.1}% {:>8} {:>8} {:>6} {:>6} {:>6}  {}",
                truncate(&f.name, 28),
                format!("{:?}", f.kind).to_lowercase(),
                f.missing_rate * 100.0,
                f.parse_failures,
                f.distinct,
                opt(f.iv),
                opt(f.psi),
                opt(f.auc),
                flags.join(", ")
            );
        }
        out
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Bins;
    use crate::stats::auc;

    #[test]
    fn the_binned_auc_equals_the_auc_of_scoring_rows_by_their_bin_rate() {
        let of_row = vec![0, 1, 1, 2, 2, 2, 3, 0, 1, 2, 3, 3, 0, 2];
        let labels = [0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1];
        let bins = Bins {
            of_row: of_row.clone(),
            count: 5,
        };
        let rows: Vec<usize> = (0..labels.len()).collect();
        let (bad, good) = bins.counts(&rows, &labels);
        let scores: Vec<f64> = of_row
            .iter()
            .map(|&b| bad[b] / (bad[b] + good[b]))
            .collect();
        let expected = auc(&scores, &labels).unwrap();
        let got = bins.auc(&rows, &labels).unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }
}
