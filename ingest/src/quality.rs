//! The data-quality report: what each column looked like, how much it says about the target,
//! whether it drifts from train to test, and whether it is too good to be true (leakage).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::IngestError;
use crate::read::Parsed;
use crate::spec::{DatasetSpec, FeatureKind};
use crate::split::Splits;
use crate::table::{MISSING_CODE, ParsedColumn};

/// A feature whose single-feature AUC exceeds this is flagged as probable leakage.
pub const LEAKAGE_AUC: f64 = 0.95;
/// Information value above which a feature known at application is too good to be true.
pub const LEAKAGE_IV: f64 = 1.0;
/// Population stability index (train → the most recent split) that flags strong drift.
pub const DRIFT_PSI: f64 = 0.25;
const QUANTILES: [f64; 9] = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];

#[derive(Debug, Serialize)]
pub struct QualityReport {
    pub dataset: String,
    pub rows_read: usize,
    pub rows_used: usize,
    /// When the book had more rows than `[read] fit_rows`: the rows of the uniform sample that
    /// the per-feature statistics (and the pipeline) were computed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled_rows: Option<usize>,
    pub target: TargetSummary,
    pub features: Vec<FeatureQuality>,
    /// Names of features flagged as probable leakage.
    pub probable_leakage: Vec<String>,
    /// Every gate that fired: leakage stops `riskloop train`, and a bundle carrying drift is
    /// refused by `models promote`, unless the spec acknowledges it.
    pub gates: Vec<Gate>,
}

/// A check that fired on one feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub gate: GateKind,
    pub feature: String,
    /// What was measured, in words.
    pub detail: String,
    /// The spec's reason for accepting it, if it does.
    #[serde(default)]
    pub acknowledged: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// The feature separates good from bad too well to be known at application.
    Leakage,
    /// The feature's distribution moved strongly from train to the most recent split.
    Drift,
}

impl GateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leakage => "leakage",
            Self::Drift => "drift",
        }
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on `{}`: {}",
            self.gate.as_str(),
            self.feature,
            self.detail
        )?;
        match &self.acknowledged {
            Some(reason) => write!(f, " (acknowledged: {reason})"),
            None => Ok(()),
        }
    }
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
    /// Usable rows that the split put in no split (`cutoff` before `train_from`, or a value
    /// in no list of a `column` split).
    pub rows_outside_split: usize,
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
    /// AUC of the feature alone on fine bins (exact values where few), their bad rates fitted
    /// on training rows and the AUC measured on validation rows.
    pub fine_auc: Option<f64>,
    pub probable_leakage: bool,
    /// Why it looks like leakage, one line per check that fired.
    pub leakage: Vec<String>,
    /// The bins that moved most from train to test: `(bin, train share, test share)`.
    pub drift_top: Vec<(String, f64, f64)>,
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
    pub totals: Totals,
}

/// Counts over the whole book, when `parsed` holds only a sample of it.
#[derive(Clone, Copy, Debug)]
pub struct Totals {
    pub rows_read: usize,
    pub rows_used: usize,
    pub sampled_rows: Option<usize>,
}

pub fn report(input: Input<'_>) -> QualityReport {
    let Input {
        spec,
        parsed,
        labels,
        splits,
        target,
        totals,
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
            let fine = Bins::fine(column, &splits.train);
            let held_out = if splits.valid.is_empty() {
                &splits.test
            } else {
                &splits.valid
            };
            let fine_auc = fine
                .held_out_auc(&splits.train, held_out, labels)
                .map(|a| a.max(1.0 - a));
            let leakage = if f.protected {
                Vec::new()
            } else {
                leakage_checks(
                    single_auc,
                    fine_auc,
                    iv,
                    fine.separation(&splits.train, labels),
                )
            };
            let probable_leakage = !leakage.is_empty();
            let drift_top = psi
                .filter(|&p| p >= DRIFT_PSI)
                .map(|_| bins.moved_most(&splits.train, &splits.test))
                .unwrap_or_default();
            let (distinct, quantiles) = distinct_and_quantiles(column);
            FeatureQuality {
                name: f.name.clone(),
                column: f.column().to_owned(),
                kind: f.kind,
                protected: f.protected,
                missing_rate: if column.is_empty() {
                    0.0
                } else {
                    (0..column.len()).filter(|&r| column.is_missing(r)).count() as f64
                        / column.len() as f64
                },
                parse_failures: parsed.failures[i],
                parse_failure_examples: parsed.failure_examples[i].clone(),
                distinct,
                quantiles,
                levels: levels(f.kind, column, &splits.train, labels),
                iv,
                psi,
                auc: single_auc,
                fine_auc,
                probable_leakage,
                leakage,
                drift_top,
            }
        })
        .collect();
    let gates = gates_of(spec, &features);
    QualityReport {
        dataset: spec.name.clone(),
        rows_read: totals.rows_read,
        rows_used: totals.rows_used,
        sampled_rows: totals.sampled_rows,
        target,
        probable_leakage: features
            .iter()
            .filter(|f| f.probable_leakage)
            .map(|f| f.name.clone())
            .collect(),
        features,
        gates,
    }
}

/// Why a feature looks like leakage: each check that fired, in words (empty: none did).
fn leakage_checks(
    decile_auc: Option<f64>,
    fine_auc: Option<f64>,
    iv: Option<f64>,
    separation: Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = decile_auc.filter(|&a| a > LEAKAGE_AUC) {
        out.push(format!("AUC alone {a:.3} on deciles (above {LEAKAGE_AUC})"));
    }
    if let Some(a) = fine_auc.filter(|&a| a > LEAKAGE_AUC) {
        out.push(format!(
            "AUC alone {a:.3} on exact values or fine bins, measured on validation rows (above {LEAKAGE_AUC})"
        ));
    }
    if let Some(v) = iv.filter(|&v| v > LEAKAGE_IV) {
        out.push(format!("information value {v:.2} (above {LEAKAGE_IV})"));
    }
    out.extend(separation);
    out
}

/// One gate per check that fired, with the spec's acknowledgement if it has one.
fn gates_of(spec: &DatasetSpec, features: &[FeatureQuality]) -> Vec<Gate> {
    let mut gates = Vec::new();
    for (f, q) in spec.features.iter().zip(features) {
        let mut fire = |gate: GateKind, detail: String| {
            gates.push(Gate {
                gate,
                feature: f.name.clone(),
                detail,
                acknowledged: f.acknowledge.get(gate.as_str()).cloned(),
            });
        };
        if q.probable_leakage {
            fire(GateKind::Leakage, q.leakage.join("; "));
        }
        if !q.drift_top.is_empty() {
            let moved: Vec<String> = q
                .drift_top
                .iter()
                .map(|(bin, a, b)| format!("{bin} {:.1}% → {:.1}%", a * 100.0, b * 100.0))
                .collect();
            fire(
                GateKind::Drift,
                format!(
                    "PSI {:.2} train → test (at least {DRIFT_PSI}); moved most: {}",
                    q.psi.unwrap_or_default(),
                    moved.join(", ")
                ),
            );
        }
    }
    gates
}

/// Each row's bin: quantile bins of training values for numbers, levels for text; one bin
/// for missing values. Levels too rare in training share a bin.
struct Bins {
    of_row: Vec<usize>,
    count: usize,
    /// What each bin holds, in words.
    labels: Vec<String>,
}

/// Most distinct training values a numeric feature may have to be binned by exact value.
const EXACT_VALUES: usize = 200;
/// Quantile bins of a numeric feature with more distinct values than that.
const FINE_BINS: usize = 100;

impl Bins {
    /// Deciles and levels seen at least `max(5, train / 200)` times: the report's bins.
    fn of(column: &ParsedColumn, train: &[usize]) -> Self {
        Self::with(column, train, 10, (train.len() / 200).max(5))
    }

    /// Fine bins, to see a signal deciles hide (say, terms that are not a multiple of 12):
    /// exact values when there are few, else percentiles; every level seen twice.
    fn fine(column: &ParsedColumn, train: &[usize]) -> Self {
        if let ParsedColumn::Number(values) = column {
            let mut present: Vec<f64> = train.iter().filter_map(|&r| values[r]).collect();
            present.sort_unstable_by(f64::total_cmp);
            present.dedup();
            if present.len() <= EXACT_VALUES {
                let edges: Vec<f64> = present.windows(2).map(|w| w[0]).collect();
                return Self::by_edges(values, &edges);
            }
        }
        Self::with(column, train, FINE_BINS, 2)
    }

    fn with(column: &ParsedColumn, train: &[usize], quantiles: usize, min_rows: usize) -> Self {
        match column {
            ParsedColumn::Number(values) => {
                let mut present: Vec<f64> = train.iter().filter_map(|&r| values[r]).collect();
                present.sort_unstable_by(f64::total_cmp);
                let mut edges: Vec<f64> = if present.is_empty() {
                    Vec::new()
                } else {
                    (1..quantiles)
                        .map(|b| crate::pipeline::quantile(&present, b as f64 / quantiles as f64))
                        .collect()
                };
                edges.dedup();
                Self::by_edges(values, &edges)
            }
            ParsedColumn::Text { dict, codes } => {
                let mut counts = vec![0usize; dict.len()];
                for &r in train {
                    if codes[r] != MISSING_CODE {
                        counts[codes[r] as usize] += 1;
                    }
                }
                let mut bin_of_code = vec![0usize; dict.len()]; // 0: rare or unseen
                let mut labels = vec!["other".to_owned(), "missing".to_owned()];
                for (code, &n) in counts.iter().enumerate() {
                    if n >= min_rows {
                        bin_of_code[code] = labels.len();
                        labels.push(format!("{:?}", dict[code]));
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
                    count: labels.len(),
                    labels,
                }
            }
        }
    }

    /// Bin `b` holds values in `(edges[b-1], edges[b]]`; one more bin above, one for missing.
    fn by_edges(values: &[Option<f64>], edges: &[f64]) -> Self {
        let missing_bin = edges.len() + 1;
        let of_row = values
            .iter()
            .map(|v| v.map_or(missing_bin, |v| edges.partition_point(|&e| e < v)))
            .collect();
        let mut labels: Vec<String> = (0..=edges.len())
            .map(
                |b| match (b.checked_sub(1).map(|i| edges[i]), edges.get(b)) {
                    (None, Some(hi)) => format!("≤ {hi}"),
                    (Some(lo), Some(hi)) => format!("({lo}, {hi}]"),
                    (Some(lo), None) => format!("> {lo}"),
                    (None, None) => "all".to_owned(),
                },
            )
            .collect();
        labels.push("missing".to_owned());
        Self {
            of_row,
            count: missing_bin + 1,
            labels,
        }
    }

    /// AUC on `held_out` rows of scoring each by its bin's bad rate on `train` (smoothed
    /// towards the overall rate, so a bin of a few rows says little): what a lookup table of
    /// this feature alone would achieve on rows it has not seen.
    fn held_out_auc(&self, train: &[usize], held_out: &[usize], labels: &[u8]) -> Option<f64> {
        const PRIOR_ROWS: f64 = 10.0;
        let (bad, good) = self.counts(train, labels);
        let total_bad: f64 = bad.iter().sum();
        let prior = total_bad / (total_bad + good.iter().sum::<f64>()).max(1.0);
        let rate: Vec<f64> = bad
            .iter()
            .zip(&good)
            .map(|(b, g)| (b + PRIOR_ROWS * prior) / (b + g + PRIOR_ROWS))
            .collect();
        let scores: Vec<f64> = held_out.iter().map(|&r| rate[self.of_row[r]]).collect();
        let truth: Vec<u8> = held_out.iter().map(|&r| labels[r]).collect();
        crate::stats::auc(&scores, &truth)
    }

    /// A bin of at least 1% of training rows in which (almost) every loan is bad, or every
    /// loan good, where the overall rate would put at least 20 of the other class: a subset
    /// of values that gives the outcome away.
    fn separation(&self, train: &[usize], labels: &[u8]) -> Option<String> {
        let (bad, good) = self.counts(train, labels);
        let rows = train.len() as f64;
        let prior = bad.iter().sum::<f64>() / rows.max(1.0);
        (0..self.count).find_map(|b| {
            let n = bad[b] + good[b];
            if n < (0.01 * rows).max(30.0) {
                return None;
            }
            let (expected_bad, expected_good) = (n * prior, n * (1.0 - prior));
            let class = if expected_bad >= 20.0 && bad[b] <= 0.01 * expected_bad {
                "good"
            } else if expected_good >= 20.0 && good[b] <= 0.01 * expected_good {
                "bad"
            } else {
                return None;
            };
            Some(format!(
                "every loan but {} with values {} ({:.1}% of training rows) is {class}",
                if class == "good" { bad[b] } else { good[b] },
                self.labels[b],
                100.0 * n / rows
            ))
        })
    }

    /// The three bins whose share moved most from `from` to `to`, by their PSI terms.
    fn moved_most(&self, from: &[usize], to: &[usize]) -> Vec<(String, f64, f64)> {
        let (a, b) = (self.shares(from), self.shares(to));
        let mut moved: Vec<(usize, f64)> = (0..self.count)
            .map(|i| (i, (b[i] - a[i]) * (b[i] / a[i]).ln()))
            .collect();
        moved.sort_by(|x, y| y.1.total_cmp(&x.1));
        moved
            .into_iter()
            .take(3)
            .map(|(i, _)| (self.labels[i].clone(), a[i], b[i]))
            .collect()
    }

    /// Each bin's share of `rows`, floored at 1e-4 (PSI's usual floor).
    fn shares(&self, rows: &[usize]) -> Vec<f64> {
        let mut s = vec![0.0; self.count];
        for &r in rows {
            s[self.of_row[r]] += 1.0;
        }
        s.iter()
            .map(|n| (n / rows.len().max(1) as f64).max(1e-4))
            .collect()
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
    let (a, b) = (bins.shares(train), bins.shares(test));
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
            if !f.drift_top.is_empty() {
                flags.push("DRIFT");
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
            labels: (0..5).map(|b| b.to_string()).collect(),
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
