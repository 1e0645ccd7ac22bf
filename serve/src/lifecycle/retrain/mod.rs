//! One retrain cycle, the same from `riskloop retrain` (cron, a Kubernetes CronJob) and from the
//! server's scheduler: under a database lease (one cycle at a time across every process on the
//! database), build the data from the stored decisions and their matured outcomes, train a
//! challenger with the champion's spec and training configuration, judge both on the most
//! recent labelled decisions, and promote only when every check passes. The run is a `jobs`
//! row with its result; the verdict, with the lineage, a `model_events` row of the challenger.

use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use riskloop_ingest::quality::GateKind;
use serde::{Deserialize, Serialize};

pub mod data; // decisions ⋈ matured outcomes → the raw columns of the champion's spec
pub mod evaluate; // champion against challenger on the out-of-time holdout
pub mod schedule; // the server's scheduler: a cron expression, one cycle at a time

use super::build::{self, Training};
use crate::decision::policy::Policy;
use crate::registry::{self, Guard, ModelSlot, RegistryError};
use crate::store::{Store, StoreError};
use evaluate::{Evaluation, Holdout};

/// The lease every retrain takes, whoever runs it.
pub const LOCK: &str = "retrain";
/// How long a lease lasts unless renewed; the cycle renews it while it runs.
const LEASE: TimeDelta = TimeDelta::minutes(10);
pub const JOB_KIND: &str = "retrain";
/// Applications of the holdout's period the score distributions are compared on, at most.
const POPULATION_LIMIT: u32 = 50_000;

/// `[retrain]` in the configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrainSettings {
    /// A cron expression (`min hour day month weekday`, UTC) for the server's scheduler; none:
    /// the server never retrains by itself (use `riskloop retrain`).
    pub schedule: Option<String>,
    /// Days after a decision before a loan reported as repaid counts as good (a default counts
    /// as bad at once).
    pub performance_window_days: f64,
    /// Only decisions of the last this many days; none: all.
    pub window_days: Option<f64>,
    /// Raw files of the original training data, read with the champion's spec and added to
    /// the training split.
    pub include_files: Vec<PathBuf>,
    /// Reject inference by parceling, with this factor: each declined application (without
    /// an outcome, older than the performance window) trains as bad with probability factor ×
    /// its PD, as good otherwise. None: declined applications are left out. 1 trusts the
    /// champion's PDs; above 1 holds that rejects are riskier than their scores say.
    pub reject_inference: Option<f64>,
    /// The most recent share of labelled decisions that tests both models, and the share
    /// before it that validates.
    pub holdout_share: f64,
    pub valid_share: f64,
    /// Fewer labelled decisions than this: no retrain.
    pub min_labelled: usize,
    /// The challenger's AUC must beat the champion's by more than this on the holdout...
    pub min_auc_gain: f64,
    /// ...with the 95% paired DeLong interval of the gain above zero.
    pub require_significant: bool,
    /// |mean predicted PD − observed default rate| on the holdout may not exceed this, unless
    /// the champion's is as far off.
    pub max_calibration_gap: f64,
    /// PSI of the challenger's scores against the champion's over every application of the
    /// holdout's period (declined ones included), at most this.
    pub max_score_psi: f64,
    /// Lowest over highest approval rate between groups of a protected attribute.
    pub min_impact_ratio: f64,
    /// Promote a challenger whose training data raised drift gates (PSI ≥ 0.25 between its
    /// training and test splits). Off: such a challenger waits for a person to promote it.
    pub accept_drift: bool,
    /// Where challengers' bundles go (a path every server can read); default
    /// `<data_dir>/models`.
    pub models_dir: Option<PathBuf>,
    /// `cpu`, or `cuda` in a build with the cuda feature.
    pub device: String,
}

impl Default for RetrainSettings {
    fn default() -> Self {
        Self {
            schedule: None,
            performance_window_days: 365.0,
            window_days: None,
            include_files: Vec::new(),
            reject_inference: None,
            holdout_share: 0.2,
            valid_share: 0.2,
            min_labelled: 500,
            min_auc_gain: 0.0,
            require_significant: true,
            max_calibration_gap: 0.02,
            max_score_psi: 0.25,
            min_impact_ratio: 0.8,
            accept_drift: false,
            models_dir: None,
            device: "cpu".into(),
        }
    }
}

impl RetrainSettings {
    /// Refuses settings no cycle could run with, naming the key.
    pub fn check(&self) -> Result<(), String> {
        self.schedule()?;
        let share = |name: &str, v: f64| {
            if v > 0.0 && v < 0.5 {
                Ok(())
            } else {
                Err(format!(
                    "retrain.{name} = {v}: must be above 0 and below 0.5"
                ))
            }
        };
        share("holdout_share", self.holdout_share)?;
        share("valid_share", self.valid_share)?;
        if self.performance_window_days < 0.0 || !self.performance_window_days.is_finite() {
            return Err("retrain.performance_window_days: must be 0 or more".into());
        }
        if self
            .reject_inference
            .is_some_and(|f| !(f > 0.0 && f <= 10.0))
        {
            return Err("retrain.reject_inference: a factor above 0, at most 10".into());
        }
        if !(0.0..=1.0).contains(&self.min_impact_ratio) {
            return Err("retrain.min_impact_ratio: must be from 0 to 1".into());
        }
        Ok(())
    }

    /// The parsed `schedule`, if any.
    pub fn schedule(&self) -> Result<Option<schedule::Schedule>, String> {
        self.schedule
            .as_deref()
            .map(|s| s.parse().map_err(|e| format!("retrain.schedule: {e}")))
            .transpose()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    #[error("another retrain holds the lease; this one did not start")]
    Busy,
    #[error("no champion: a retrain starts from the served model's spec and configuration")]
    NoChampion,
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    #[error("building the training data: {0}")]
    Data(String),
    #[error(transparent)]
    Ingest(#[from] riskloop_ingest::IngestError),
    #[error(transparent)]
    Lifecycle(#[from] super::build::LifecycleError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("interrupted: the process was stopped before the cycle finished")]
    Interrupted,
}

impl RetrainError {
    fn io(path: &Path, e: &dyn std::fmt::Display) -> Self {
        Self::Data(format!("{}: {e}", path.display()))
    }
}

/// What a cycle needs besides its settings.
#[derive(Debug)]
pub struct Cycle<'a> {
    pub store: &'a Store,
    pub settings: &'a RetrainSettings,
    /// Where challengers go, and the cycle's working files.
    pub models_dir: PathBuf,
    pub work_dir: PathBuf,
    /// The policy decisions are made with (the file's, or the default).
    pub policy: &'a Policy,
    /// The server's model slot, to serve a promoted challenger at once; `None` from the CLI
    /// (servers follow the registry).
    pub slot: Option<&'a ModelSlot>,
    /// Who runs it, for the lease, the events and the log (`cli`, `scheduler@host`).
    pub actor: String,
    /// The server's stop signal: when it turns true the cycle stops where it is, records its
    /// job as interrupted and gives the lease back (a training still running is left to the
    /// blocking pool, which the process does not wait for). `None`: runs to the end.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

/// How a cycle ended.
#[derive(Debug, Serialize)]
pub struct Report {
    pub job: i64,
    pub champion: String,
    pub challenger: String,
    pub promoted: bool,
    pub lineage: data::Lineage,
    pub evaluation: Evaluation,
}

impl Report {
    /// How the two models compared, in words; `None` when the holdout lacked a class.
    pub fn comparison(&self) -> Option<String> {
        let c = self.evaluation.comparison.as_ref()?;
        Some(format!(
            "on the {} most recent decisions: champion AUC {:.4}, challenger AUC {:.4} \
             (Δ {:+.4}, 95% CI [{:+.4}, {:+.4}])",
            self.evaluation.holdout_rows,
            c.champion_auc,
            c.challenger_auc,
            c.delta,
            c.delta_ci[0],
            c.delta_ci[1]
        ))
    }
}

/// Runs one cycle; `progress` hears each step.
pub async fn run(
    cycle: &Cycle<'_>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Report, RetrainError> {
    let store = cycle.store;
    // The lease's holder is this run, not the actor: two servers on one host (or two runs of
    // `riskloop retrain`) share an actor's name, and must not share the lease.
    let holder = format!("{}#{}", cycle.actor, crate::uuid7::new());
    if !store.try_lock(LOCK, &holder, LEASE).await? {
        return Err(RetrainError::Busy);
    }
    let job = store
        .enqueue_job(JOB_KIND, &serde_json::json!({ "actor": cycle.actor }))
        .await?;
    store.claim_job(job).await?;
    // The lease is ours, so any other retrain still marked running belongs to a process that
    // stopped mid-cycle: say so, rather than show it running for ever.
    let abandoned = store
        .abandon_jobs(
            JOB_KIND,
            job,
            "interrupted: the process running it stopped before the cycle finished",
        )
        .await?;
    if !abandoned.is_empty() {
        tracing::warn!(jobs = ?abandoned, "retrain jobs left running by a stopped process marked failed");
    }
    let renew = {
        let (store, holder) = (store.clone(), holder.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep((LEASE / 3).to_std().unwrap_or_default()).await;
                if !store.try_lock(LOCK, &holder, LEASE).await.unwrap_or(false) {
                    tracing::warn!("the retrain lease could not be renewed");
                }
            }
        })
    };
    // Each step goes to the caller and into the job's log, which is written to its row as
    // the cycle runs (every few seconds) and with its result.
    let log: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = std::sync::Arc::default();
    let logged = |step: &str| {
        progress(step);
        if let Ok(mut log) = log.lock() {
            log.push(serde_json::json!({ "at": chrono::Utc::now().to_rfc3339(), "step": step }));
        }
    };
    let writer = {
        let (store, log, actor) = (store.clone(), log.clone(), cycle.actor.clone());
        tokio::spawn(async move {
            let mut written = 0;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let lines = log.lock().map(|l| l.clone()).unwrap_or_default();
                if lines.len() != written {
                    written = lines.len();
                    let detail = serde_json::json!({ "actor": actor, "log": lines });
                    let _ = store.update_job_detail(job, &detail).await;
                }
            }
        })
    };
    let result = match cycle.stop.clone() {
        None => steps(cycle, job, &logged).await,
        Some(mut stop) => {
            let stopped = async move {
                // A sender gone without saying stop never stops the cycle.
                if stop.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                result = steps(cycle, job, &logged) => result,
                () = stopped => Err(RetrainError::Interrupted),
            }
        }
    };
    renew.abort();
    writer.abort();
    let lines = serde_json::Value::Array(log.lock().map(|l| l.clone()).unwrap_or_default());
    match &result {
        Ok(report) => {
            let mut detail = serde_json::to_value(report).unwrap_or_default();
            if let Some(d) = detail.as_object_mut() {
                d.insert("log".into(), lines);
            }
            store.finish_job(job, Ok(&detail)).await?;
        }
        Err(e) => {
            let detail = serde_json::json!({ "actor": cycle.actor, "log": lines });
            store.update_job_detail(job, &detail).await?;
            store.finish_job(job, Err(&e.to_string())).await?;
        }
    }
    store.unlock(LOCK, &holder).await?;
    result
}

async fn steps(
    cycle: &Cycle<'_>,
    job: i64,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Report, RetrainError> {
    let store = cycle.store;
    let champion = store.champion().await?.ok_or(RetrainError::NoChampion)?;
    let champion_model = registry::load(&champion)?;
    let spec = champion_model
        .bundle
        .spec()
        .map_err(|e| RetrainError::Data(format!("the champion's spec: {e}")))?;
    let work = cycle.work_dir.join(format!("job-{job}"));
    progress("reading decisions with matured outcomes");
    let mut export = data::export(store, &spec, cycle.settings, &work).await?;
    // The challenger's version is `<dataset>-<time>`: naming the dataset after the job keeps
    // it apart from any other bundle of the same data trained in the same second.
    export.spec.name = format!("{}-job{job}", base_name(&export.spec.name));
    let lineage = export.lineage.clone();
    progress(&format!(
        "{} labelled decisions ({} defaults), {} waiting for their performance window; ingesting",
        lineage.labelled, lineage.bad, lineage.immature
    ));
    let dataset = work.join("dataset");
    let step = move |s: &str| tracing::info!(job, "ingest: {s}");
    build::ingest(
        export.spec,
        vec![export.file.clone()],
        dataset.clone(),
        step,
    )
    .await?;
    progress("training the challenger");
    let training = Training {
        data: dataset,
        out: cycle.models_dir.clone(),
        device: cycle
            .settings
            .device
            .parse()
            .map_err(|e: riskloop_train::TrainError| RetrainError::Data(e.to_string()))?,
        config: champion_model.bundle.manifest.training.clone(),
        parent_version: Some(champion.record.version.clone()),
    };
    let trained = build::train(training, move |p| {
        if let riskloop_train::run::Progress::Step(s) = p {
            tracing::info!(job, "train: {s}");
        }
    })
    .await?;
    let challenger = registry::register(store, &trained.dir, &cycle.actor).await?;
    let version = challenger.record.version.clone();
    let challenger_model = registry::load(&challenger)?;
    progress(&format!(
        "judging {version} against {} on {} recent decisions",
        champion.record.version,
        export.holdout.len()
    ));
    let (holdout, population) = holdout_and_period(store, &export.holdout).await?;
    let (old, new, policy, settings) = (
        champion_model,
        challenger_model,
        cycle.policy.clone(),
        cycle.settings.clone(),
    );
    let (mut evaluation, new) = tokio::task::spawn_blocking(move || {
        let e = evaluate::evaluate(&old, &new, &policy, &holdout, &population, &settings);
        (e, new)
    })
    .await
    .map_err(|e| RetrainError::Data(format!("the evaluation stopped: {e}")))?;
    let gates: Vec<String> = new
        .bundle
        .manifest
        .gates
        .iter()
        .filter(|g| g.acknowledged.is_none())
        .filter(|g| !(cycle.settings.accept_drift && g.gate == GateKind::Drift))
        .map(ToString::to_string)
        .collect();
    evaluation
        .refusals
        .extend(gates.iter().map(|g| format!("gate: {g}")));
    let promoted = evaluation.refusals.is_empty();
    let detail = serde_json::json!({
        "job": job, "promoted": promoted, "champion": champion.record.version,
        "lineage": lineage, "evaluation": evaluation,
    });
    store
        .record_model_event(&version, "evaluated", &cycle.actor, &detail)
        .await?;
    if promoted {
        let guard = Guard {
            allow_schema_change: false,
            acknowledge_gates: true,
            policy: Some(cycle.policy),
        };
        registry::promote(store, cycle.slot, &version, &cycle.actor, guard).await?;
        tracing::info!(job, version, "retrained challenger promoted");
    } else {
        tracing::info!(job, version, refusals = ?evaluation.refusals, "challenger not promoted");
    }
    Ok(Report {
        job,
        champion: champion.record.version,
        challenger: version,
        promoted,
        lineage,
        evaluation,
    })
}

/// A dataset name without the `-job<N>` an earlier retrain added.
fn base_name(name: &str) -> &str {
    match name.rsplit_once("-job") {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    }
}

/// The holdout decisions' stored applications, and every application of the holdout's period
/// (declined ones too), read once: the holdout's inputs come from the period's.
async fn holdout_and_period(
    store: &Store,
    rows: &[(String, u8)],
) -> Result<(Vec<Holdout>, Vec<Holdout>), RetrainError> {
    let Some((first, _)) = rows.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let period: Vec<Holdout> = store
        .applications_from(first, POPULATION_LIMIT)
        .await?
        .into_iter()
        .map(|(id, input)| Holdout {
            id,
            input,
            label: 0,
        })
        .collect();
    let inputs: std::collections::HashMap<&str, &str> = period
        .iter()
        .map(|h| (h.id.as_str(), h.input.as_str()))
        .collect();
    let mut holdout = Vec::with_capacity(rows.len());
    for (id, label) in rows {
        // Past the period's limit, a holdout decision is read on its own.
        let input = match inputs.get(id.as_str()) {
            Some(input) => Some((*input).to_owned()),
            None => store
                .get_decision(id)
                .await?
                .map(|d| d.record.input.as_str().to_owned()),
        };
        if let Some(input) = input {
            holdout.push(Holdout {
                id: id.clone(),
                input,
                label: *label,
            });
        }
    }
    Ok((holdout, period))
}

/// The policy a cycle judges with: the configured file, or the default one.
pub fn policy(path: &Path) -> Result<Policy, crate::decision::policy::PolicyError> {
    if path.exists() {
        Policy::load(path)
    } else {
        Policy::parse(
            crate::decision::policy::DEFAULT_POLICY,
            "the default policy",
        )
    }
}
