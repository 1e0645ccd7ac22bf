//! The drift monitor of one server: every decision the champion makes is counted, by minute
//! bucket, in the monitoring bins of each feature and of the score; over the sliding window
//! those counts are compared with the training baseline (PSI) and with each other (approval
//! rates). Counting is a few increments under a lock; the comparison runs when asked. Counts
//! are this server's own: replicas each watch their traffic.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::psi;
use crate::decision::ServedModel;
use crate::store::DecisionKind;

/// `[monitoring]` in the configuration.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorSettings {
    /// The sliding window, and the width of the buckets it moves by.
    pub window_minutes: u32,
    pub bucket_minutes: u32,
    /// PSI from which a feature or the score is a warning, and an alert.
    pub warn_psi: f64,
    pub alert_psi: f64,
    /// Fewer decisions in the window than this: no verdict (PSI on a handful is noise).
    pub min_decisions: u64,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            window_minutes: 24 * 60,
            bucket_minutes: 60,
            warn_psi: 0.10,
            alert_psi: 0.25,
            min_decisions: 500,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    InsufficientData,
    Ok,
    Warning,
    Alert,
}

/// What the window is compared with: the served model's training counts.
#[derive(Debug)]
struct Baseline {
    version: String,
    features: Vec<(String, Vec<u64>)>,
    score: Option<(Vec<f64>, Vec<u64>)>,
}

impl Baseline {
    fn of(model: &ServedModel) -> Self {
        let pipeline = &model.bundle.pipeline;
        Self {
            version: model.version().to_owned(),
            features: pipeline
                .features
                .iter()
                .map(|f| (f.name.clone(), f.baseline.clone()))
                .collect(),
            score: model
                .bundle
                .manifest
                .score_baseline
                .as_ref()
                .map(|b| (b.cuts.clone(), b.counts.clone())),
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    /// Minutes since the Unix epoch at which it starts.
    start: i64,
    features: Vec<Vec<u64>>,
    score: Vec<u64>,
    decisions: [u64; 3],
}

#[derive(Debug, Default)]
struct State {
    baseline: Option<Baseline>,
    buckets: VecDeque<Bucket>,
    /// The last verdict per name (`score`, then features), to log changes once.
    levels: Vec<(String, Level)>,
}

#[derive(Debug, Default)]
pub struct Monitor {
    settings: MonitorSettings,
    state: Mutex<State>,
}

/// One name's comparison with the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Drift {
    pub name: String,
    pub psi: Option<f64>,
    pub level: Level,
}

/// Decisions and approval rate in one bucket.
#[derive(Clone, Debug, Serialize)]
pub struct Rates {
    pub from: chrono::DateTime<chrono::Utc>,
    pub decisions: u64,
    pub approve: f64,
    pub review: f64,
    pub decline: f64,
}

/// Decisions in a bucket below which [`Monitor::history`] gives it no PSI.
pub const HISTORY_MIN_DECISIONS: u64 = 50;

/// PSI per bucket of the window: `names` are `score`, then the features in model order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    pub names: Vec<String>,
    pub buckets: Vec<HistoryBucket>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HistoryBucket {
    pub from: chrono::DateTime<chrono::Utc>,
    pub decisions: u64,
    /// In the order of [`History::names`]; empty when the bucket has too few decisions.
    pub psi: Vec<Option<f64>>,
}

/// The window against the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub model_version: Option<String>,
    pub window_minutes: u32,
    pub decisions: u64,
    /// The worst level of the score and every feature.
    pub level: Level,
    pub score: Drift,
    pub features: Vec<Drift>,
    pub rates: Rates,
    /// Per bucket, oldest first.
    pub trend: Vec<Rates>,
}

fn rates(from: i64, decisions: [u64; 3]) -> Rates {
    let total: u64 = decisions.iter().sum();
    let share = |n: u64| n as f64 / total.max(1) as f64;
    Rates {
        from: chrono::DateTime::from_timestamp(from * 60, 0).unwrap_or_default(),
        decisions: total,
        approve: share(decisions[0]),
        review: share(decisions[1]),
        decline: share(decisions[2]),
    }
}

impl Monitor {
    pub fn new(settings: MonitorSettings) -> Self {
        Self {
            settings,
            state: Mutex::default(),
        }
    }

    /// Counts one decision `model` made; a new model starts a new window.
    pub fn record(&self, model: &ServedModel, bins: &[u16], score: i32, decision: DecisionKind) {
        if bins.is_empty() {
            return;
        }
        let minute = chrono::Utc::now().timestamp() / 60;
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state
            .baseline
            .as_ref()
            .is_none_or(|b| b.version != model.version())
        {
            *state = State {
                baseline: Some(Baseline::of(model)),
                ..State::default()
            };
        }
        let bucket_width = i64::from(self.settings.bucket_minutes.max(1));
        let start = minute - minute.rem_euclid(bucket_width);
        let state = &mut *state;
        let Some(baseline) = &state.baseline else {
            return;
        };
        if state.buckets.back().is_none_or(|b| b.start != start) {
            state.buckets.push_back(Bucket {
                start,
                features: baseline
                    .features
                    .iter()
                    .map(|(_, b)| vec![0; b.len()])
                    .collect(),
                score: baseline
                    .score
                    .as_ref()
                    .map_or(Vec::new(), |(_, c)| vec![0; c.len()]),
                decisions: [0; 3],
            });
        }
        let oldest = start - i64::from(self.settings.window_minutes);
        while state.buckets.front().is_some_and(|b| b.start <= oldest) {
            state.buckets.pop_front();
        }
        let score_cuts = baseline.score.as_ref().map(|(cuts, _)| cuts);
        let Some(bucket) = state.buckets.back_mut() else {
            return;
        };
        for (counts, &bin) in bucket.features.iter_mut().zip(bins) {
            if let Some(c) = counts.get_mut(usize::from(bin)) {
                *c += 1;
            }
        }
        if let Some(cuts) = score_cuts {
            let bin = cuts.partition_point(|&c| c < f64::from(score));
            if let Some(c) = bucket.score.get_mut(bin) {
                *c += 1;
            }
        }
        bucket.decisions[match decision {
            DecisionKind::Approve => 0,
            DecisionKind::Review => 1,
            DecisionKind::Decline => 2,
        }] += 1;
    }

    fn level(&self, psi: Option<f64>, decisions: u64) -> Level {
        match psi {
            _ if decisions < self.settings.min_decisions => Level::InsufficientData,
            None => Level::InsufficientData,
            Some(p) if p >= self.settings.alert_psi => Level::Alert,
            Some(p) if p >= self.settings.warn_psi => Level::Warning,
            Some(_) => Level::Ok,
        }
    }

    /// The window compared with the baseline. Level changes since the last report are logged.
    pub fn report(&self) -> Report {
        let Ok(mut state) = self.state.lock() else {
            return self.empty();
        };
        let Some(baseline) = &state.baseline else {
            return self.empty();
        };
        let oldest = chrono::Utc::now().timestamp() / 60 - i64::from(self.settings.window_minutes);
        let live: Vec<&Bucket> = state.buckets.iter().filter(|b| b.start > oldest).collect();
        let mut total = [0u64; 3];
        for b in &live {
            for (t, d) in total.iter_mut().zip(b.decisions) {
                *t += d;
            }
        }
        let decisions: u64 = total.iter().sum();
        let summed = |pick: &dyn Fn(&Bucket) -> &Vec<u64>, len: usize| -> Vec<u64> {
            let mut sum = vec![0; len];
            for b in &live {
                for (s, c) in sum.iter_mut().zip(pick(b)) {
                    *s += c;
                }
            }
            sum
        };
        let score_psi = baseline
            .score
            .as_ref()
            .and_then(|(_, base)| psi::psi(base, &summed(&|b| &b.score, base.len())));
        let score = Drift {
            name: "score".into(),
            psi: score_psi,
            level: self.level(score_psi, decisions),
        };
        let features: Vec<Drift> = baseline
            .features
            .iter()
            .enumerate()
            .map(|(i, (name, base))| {
                let value = psi::psi(base, &summed(&|b| &b.features[i], base.len()));
                Drift {
                    name: name.clone(),
                    psi: value,
                    level: self.level(value, decisions),
                }
            })
            .collect();
        let level = std::iter::once(&score)
            .chain(&features)
            .map(|d| d.level)
            .max()
            .unwrap_or(Level::InsufficientData);
        let report = Report {
            model_version: Some(baseline.version.clone()),
            window_minutes: self.settings.window_minutes,
            decisions,
            level,
            rates: rates(live.first().map_or(0, |b| b.start), total),
            trend: live.iter().map(|b| rates(b.start, b.decisions)).collect(),
            score,
            features,
        };
        let levels: Vec<(String, Level)> = std::iter::once(&report.score)
            .chain(&report.features)
            .map(|d| (d.name.clone(), d.level))
            .collect();
        for ((name, now), psi) in levels.iter().zip(
            std::iter::once(&report.score)
                .chain(&report.features)
                .map(|d| d.psi),
        ) {
            let before = state
                .levels
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, l)| *l);
            if before.is_some_and(|b| b != *now) || (before.is_none() && *now >= Level::Warning) {
                match now {
                    Level::Alert => {
                        tracing::error!(name, psi, "drift alert: PSI at or above the alert level");
                    }
                    Level::Warning => tracing::warn!(
                        name,
                        psi,
                        "drift warning: PSI at or above the warning level"
                    ),
                    _ => tracing::info!(name, psi, level = ?now, "drift level changed"),
                }
            }
        }
        state.levels = levels;
        report
    }

    /// The width of the window's buckets.
    pub fn bucket_minutes(&self) -> u32 {
        self.settings.bucket_minutes.max(1)
    }

    /// The warning and alert PSI levels.
    pub fn thresholds(&self) -> (f64, f64) {
        (self.settings.warn_psi, self.settings.alert_psi)
    }

    /// PSI of the score and of every feature in each bucket of the window on its own, oldest
    /// first: drift over time. A bucket with fewer than [`HISTORY_MIN_DECISIONS`] decisions has
    /// no values (PSI of a handful is noise).
    pub fn history(&self) -> History {
        let Ok(state) = self.state.lock() else {
            return History::default();
        };
        let Some(baseline) = &state.baseline else {
            return History::default();
        };
        let names = std::iter::once("score".to_owned())
            .chain(baseline.features.iter().map(|(n, _)| n.clone()))
            .collect();
        let buckets = state
            .buckets
            .iter()
            .map(|b| {
                let decisions: u64 = b.decisions.iter().sum();
                let psi = if decisions < HISTORY_MIN_DECISIONS {
                    Vec::new()
                } else {
                    let score = baseline
                        .score
                        .as_ref()
                        .and_then(|(_, base)| psi::psi(base, &b.score));
                    std::iter::once(score)
                        .chain(
                            baseline
                                .features
                                .iter()
                                .zip(&b.features)
                                .map(|((_, base), counts)| psi::psi(base, counts)),
                        )
                        .collect()
                };
                HistoryBucket {
                    from: chrono::DateTime::from_timestamp(b.start * 60, 0).unwrap_or_default(),
                    decisions,
                    psi,
                }
            })
            .collect();
        History { names, buckets }
    }

    fn empty(&self) -> Report {
        let none = |name: &str| Drift {
            name: name.into(),
            psi: None,
            level: Level::InsufficientData,
        };
        Report {
            model_version: None,
            window_minutes: self.settings.window_minutes,
            decisions: 0,
            level: Level::InsufficientData,
            score: none("score"),
            features: Vec::new(),
            rates: rates(0, [0; 3]),
            trend: Vec::new(),
        }
    }
}

impl Report {
    /// The report as Prometheus gauges: PSI per feature and of the score, and the level
    /// (0 insufficient data, 1 ok, 2 warning, 3 alert).
    pub fn prometheus(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let level = |l: Level| l as u8;
        out.push_str("# HELP riskloop_psi PSI over the monitoring window against the training baseline, per feature and of the score.\n# TYPE riskloop_psi gauge\n");
        for d in std::iter::once(&self.score).chain(&self.features) {
            if let Some(psi) = d.psi {
                let _ = writeln!(out, "riskloop_psi{{name=\"{}\"}} {psi}", d.name);
            }
        }
        out.push_str("# HELP riskloop_drift_level 0 insufficient data, 1 ok, 2 warning (PSI at or above the warning level), 3 alert.\n# TYPE riskloop_drift_level gauge\n");
        for d in std::iter::once(&self.score).chain(&self.features) {
            let _ = writeln!(
                out,
                "riskloop_drift_level{{name=\"{}\"}} {}",
                d.name,
                level(d.level)
            );
        }
        let _ = writeln!(
            out,
            "# HELP riskloop_window_approval_rate Share of the window's decisions approved.\n# TYPE riskloop_window_approval_rate gauge\nriskloop_window_approval_rate {}",
            self.rates.approve
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_thresholds_and_need_enough_decisions() {
        let m = Monitor::new(MonitorSettings::default());
        assert_eq!(m.level(Some(0.3), 10), Level::InsufficientData);
        assert_eq!(m.level(Some(0.3), 1000), Level::Alert);
        assert_eq!(m.level(Some(0.12), 1000), Level::Warning);
        assert_eq!(m.level(Some(0.01), 1000), Level::Ok);
        assert_eq!(m.level(None, 1000), Level::InsufficientData);
        let report = m.report();
        assert_eq!(report.level, Level::InsufficientData);
        assert!(
            report
                .prometheus()
                .contains("riskloop_drift_level{name=\"score\"} 0")
        );
    }
}
