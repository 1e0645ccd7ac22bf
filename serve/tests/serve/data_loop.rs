//! The data loop on a real database: outcomes imported from files (checked like the API,
//! rejects reported, resumable), and a retrain cycle that builds its data from the stored
//! decisions, trains a challenger, judges it against the champion on the most recent decisions
//! and promotes it only when the checks pass, one cycle at a time.

use std::path::Path;

use riskloop_serve::cli::outcomes::{self, Counts, ImportArgs};
use riskloop_serve::decision::policy::Policy;
use riskloop_serve::lifecycle::retrain::{self, Cycle, RetrainError, RetrainSettings};
use riskloop_serve::store::JobStatus;
use serde_json::{Value, json};

use crate::app::{POLICY, TestApp, data, spawn_app};
use crate::helpers::TestDb;

/// The shipped German credit rows as applications (numbers as JSON numbers), with 1 for bad.
pub(crate) fn german() -> Vec<(Value, u8)> {
    let mut reader = csv::Reader::from_path(data("german_credit.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let mut application = serde_json::Map::new();
            let mut bad = 0;
            for (name, value) in header.iter().zip(r.iter()) {
                if name == "creditability" {
                    bad = u8::from(value == "bad");
                    continue;
                }
                let value = value
                    .parse::<f64>()
                    .map_or_else(|_| json!(value), |n| json!(n));
                application.insert(name.to_owned(), value);
            }
            (Value::Object(application), bad)
        })
        .collect()
}

/// Scores every German application; the decision ids with each row's label.
pub(crate) fn score_all(app: &TestApp) -> Vec<(String, u8)> {
    let rows = german();
    let mut decided = Vec::new();
    for (chunk_no, chunk) in rows.chunks(100).enumerate() {
        let items: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, (a, _))| json!({"application_id": format!("G-{}", chunk_no * 100 + i), "application": a}))
            .collect();
        let r = app.post(
            "/v1/score/batch",
            &app.integration,
            &json!({ "applications": items }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for (d, (_, bad)) in r.json()["decisions"].as_array().unwrap().iter().zip(chunk) {
            decided.push((d["decision_id"].as_str().unwrap().to_owned(), *bad));
        }
    }
    decided
}

fn write_outcomes(path: &Path, rows: &[(String, &str)]) {
    let at = chrono::Utc::now().to_rfc3339();
    let mut text = String::from("decision_id,outcome,observed_at\n");
    for (id, outcome) in rows {
        text.push_str(&format!("{id},{outcome},{at}\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn import_args(file: &Path) -> ImportArgs {
    ImportArgs {
        file: file.to_owned(),
        batch_size: 128,
        rejected: None,
        restart: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcomes_file_is_checked_like_the_api_with_rejects_reported_and_resumed() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let dir = tempfile::tempdir().unwrap();
    let decided = score_all(&app);
    let unknown = uuid::Uuid::now_v7().to_string();
    let file = dir.path().join("outcomes.csv");
    let at = chrono::Utc::now().to_rfc3339();
    let mut text = String::from("decision_id,application_id,outcome,observed_at\n");
    text.push_str(&format!("{},,repaid,{at}\n", decided[0].0));
    text.push_str(&format!(",G-1,default,{at}\n"));
    text.push_str(&format!("{unknown},,repaid,{at}\n"));
    text.push_str(&format!("{},,late,{at}\n", decided[2].0));
    text.push_str(&format!("{},,repaid,{at}\n", decided[0].0));
    text.push_str(&format!("{},,repaid,2001-01-01T00:00:00Z\n", decided[3].0));
    std::fs::write(&file, text).unwrap();
    let mut out = Vec::new();
    let counts = outcomes::import(&app.store, &import_args(&file), &mut out)
        .await
        .unwrap();
    assert_eq!(
        counts,
        Counts {
            rows_done: 6,
            stored: 2,
            repeated: 1,
            rejected: 3
        },
        "{}",
        String::from_utf8_lossy(&out)
    );
    let rejects = std::fs::read_to_string(dir.path().join("outcomes.csv.rejected.csv")).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines.len(), 4, "{rejects}");
    assert!(
        lines[1].starts_with("3,") && lines[1].contains("does not exist"),
        "{rejects}"
    );
    assert!(
        lines[2].starts_with("4,") && lines[2].contains("outcome: required: default or repaid"),
        "{rejects}"
    );
    assert!(
        lines[3].starts_with("6,") && lines[3].contains("before the decision"),
        "{rejects}"
    );
    assert_eq!(
        app.store.outcomes_of(&decided[1].0).await.unwrap().len(),
        1,
        "by application id"
    );

    // An import stopped after its second batch resumes there: rows before it are not read.
    let file = dir.path().join("many.csv");
    let rows: Vec<(String, &str)> = decided[..300]
        .iter()
        .map(|(id, bad)| (id.clone(), if *bad == 1 { "default" } else { "repaid" }))
        .collect();
    write_outcomes(&file, &rows);
    let sha256 = riskloop_train::bundle::sha256_file(&file).unwrap();
    let stopped = app
        .store
        .enqueue_job(
            outcomes::JOB_KIND,
            &json!({"sha256": sha256, "counts": {"rows_done": 256, "stored": 256, "repeated": 0, "rejected": 0}}),
        )
        .await
        .unwrap();
    app.store.claim_job(stopped).await.unwrap();
    let mut out = Vec::new();
    let counts = outcomes::import(&app.store, &import_args(&file), &mut out)
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&out);
    assert!(
        printed.contains("Resuming the import") && printed.contains("row 257"),
        "{printed}"
    );
    // Rows 257 to 300 are stored now; the rows before them are not read again.
    assert_eq!(counts.rows_done, 300);
    assert_eq!(
        app.store.outcomes_of(&decided[299].0).await.unwrap().len(),
        1
    );
    assert_eq!(
        app.store.outcomes_of(&decided[5].0).await.unwrap().len(),
        0,
        "skipped on resume"
    );
    let jobs = app
        .store
        .list_jobs(Some(outcomes::JOB_KIND), 10)
        .await
        .unwrap();
    assert_eq!(jobs[0].status, JobStatus::Succeeded);
    assert_eq!(jobs[0].detail["counts"]["rows_done"], 300);

    // A file the import cannot read is named with what is wrong.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "decision,outcome,observed_at\n").unwrap();
    let err = outcomes::import(&app.store, &import_args(&bad), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown column `decision`"), "{err}");
    app.finish().await;
}

/// Settings that promote any challenger that decides the holdout: the checks are tested by
/// tightening one at a time.
pub(crate) fn lenient() -> RetrainSettings {
    RetrainSettings {
        performance_window_days: 0.0,
        min_labelled: 200,
        min_auc_gain: -1.0,
        require_significant: false,
        max_calibration_gap: 1.0,
        max_score_psi: 100.0,
        min_impact_ratio: 0.0,
        accept_drift: true,
        ..RetrainSettings::default()
    }
}

async fn a_retrain_cycle_builds_judges_and_promotes(db: TestDb) {
    let app = spawn_app(db).await;
    let dir = tempfile::tempdir().unwrap();
    let decided = score_all(&app);
    // Outcomes for all but the last 100 decisions: those have none yet.
    let file = dir.path().join("outcomes.csv");
    let rows: Vec<(String, &str)> = decided[..900]
        .iter()
        .map(|(id, bad)| (id.clone(), if *bad == 1 { "default" } else { "repaid" }))
        .collect();
    write_outcomes(&file, &rows);
    outcomes::import(&app.store, &import_args(&file), &mut Vec::new())
        .await
        .unwrap();
    let policy = Policy::parse(POLICY, "test").unwrap();
    let cycle = |settings| Cycle {
        store: &app.store,
        settings,
        models_dir: dir.path().join("models"),
        work_dir: dir.path().join("work"),
        policy: &policy,
        slot: None,
        actor: "test".into(),
        stop: None,
    };

    // Repaid loans count only once their performance window has passed: none has.
    let waiting = RetrainSettings {
        performance_window_days: 30.0,
        min_labelled: 400,
        ..lenient()
    };
    let err = retrain::run(&cycle(&waiting), &|_| {}).await.unwrap_err();
    assert!(matches!(err, RetrainError::NotEnoughData(_)), "{err}");
    assert!(err.to_string().contains("performance window"), "{err}");

    // A challenger that must gain 0.5 AUC is judged, registered and not promoted.
    let strict = RetrainSettings {
        min_auc_gain: 0.5,
        ..lenient()
    };
    let refused = retrain::run(&cycle(&strict), &|_| {}).await.unwrap();
    assert!(!refused.promoted);
    assert!(
        refused.evaluation.refusals[0].contains("AUC"),
        "{:?}",
        refused.evaluation.refusals
    );
    assert_eq!(
        app.store.champion().await.unwrap().unwrap().record.version,
        app.versions[0]
    );

    let settings = lenient();
    let report = retrain::run(&cycle(&settings), &|_| {}).await.unwrap();
    assert!(report.promoted, "{:?}", report.evaluation.refusals);
    assert_eq!(report.champion, app.versions[0]);
    assert_eq!(report.lineage.labelled, 900);
    assert_eq!(
        report.lineage.bad,
        decided[..900].iter().filter(|d| d.1 == 1).count()
    );
    assert_eq!(
        report.lineage.first_decision.as_deref(),
        Some(decided[0].0.as_str())
    );
    assert_eq!(
        report.lineage.last_decision.as_deref(),
        Some(decided[899].0.as_str())
    );
    // The most recent fifth of the labelled decisions is the holdout, decided by both.
    assert_eq!(report.evaluation.holdout_rows, 180);
    assert_eq!(report.evaluation.undecidable, 0);
    let c = report.evaluation.comparison.as_ref().unwrap();
    assert!(c.champion_auc > 0.6 && c.challenger_auc > 0.6, "{c:?}");
    let impact = &report.evaluation.adverse_impact;
    assert_eq!(
        impact.len(),
        3,
        "the spec's three protected attributes: {impact:?}"
    );
    // Each attribute with its own groups (they were once zipped in another order).
    let groups = |name: &str| -> Vec<String> {
        impact
            .iter()
            .find(|i| i.attribute == name)
            .unwrap()
            .groups
            .iter()
            .map(|g| g.group.clone())
            .collect()
    };
    assert!(
        groups("age_in_years")
            .iter()
            .all(|g| g.starts_with('≤') || g.starts_with('>')),
        "{impact:?}"
    );
    assert!(
        groups("foreign_worker")
            .iter()
            .all(|g| g == "yes" || g == "no"),
        "{impact:?}"
    );
    assert!(
        impact
            .iter()
            .all(|i| i.champion_ratio.is_some() || i.ratio.is_none()),
        "{impact:?}"
    );
    let champion = app.store.champion().await.unwrap().unwrap();
    assert_eq!(champion.record.version, report.challenger);
    assert_eq!(
        champion.record.parent_version.as_deref(),
        Some(app.versions[0].as_str())
    );
    let manifest = &champion.record.manifest;
    assert_eq!(
        manifest["dataset"]["rows"]["train"], 540,
        "{}",
        manifest["dataset"]
    );
    assert_eq!(manifest["dataset"]["rows"]["test"], 180);
    let events = app.store.model_events(&report.challenger).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["registered", "evaluated", "promoted"]);
    assert_eq!(events[1].detail["lineage"]["labelled"], 900);
    assert_eq!(events[1].detail["promoted"], true);
    let jobs = app
        .store
        .list_jobs(Some(retrain::JOB_KIND), 10)
        .await
        .unwrap();
    let statuses: Vec<JobStatus> = jobs.iter().map(|j| j.status).collect();
    assert_eq!(
        statuses,
        [
            JobStatus::Succeeded,
            JobStatus::Succeeded,
            JobStatus::Failed
        ]
    );
    assert_eq!(jobs[0].detail["challenger"], report.challenger);

    // The server follows the registry: its next decision is the new champion's.
    let mut served = String::new();
    for _ in 0..50 {
        let r = app.post(
            "/v1/score",
            &app.integration,
            &json!({"application": crate::app::application()}),
        );
        served = r.json()["model_version"].as_str().unwrap().to_owned();
        if served == report.challenger {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(served, report.challenger);

    // One cycle at a time: while another holds the lease, a cycle does not start.
    assert!(
        app.store
            .try_lock(retrain::LOCK, "elsewhere", chrono::TimeDelta::minutes(5))
            .await
            .unwrap()
    );
    let busy = retrain::run(&cycle(&settings), &|_| {}).await.unwrap_err();
    assert!(matches!(busy, RetrainError::Busy), "{busy}");
    app.store.unlock(retrain::LOCK, "elsewhere").await.unwrap();

    // The original training file can join the training split; a time window can leave every
    // decision out.
    let with_file = RetrainSettings {
        include_files: vec![data("german_credit.csv")],
        min_auc_gain: 0.5,
        ..lenient()
    };
    let report = retrain::run(&cycle(&with_file), &|_| {}).await.unwrap();
    assert_eq!(report.lineage.file_rows, 1000);
    let model = app
        .store
        .get_model(&report.challenger)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(model.record.manifest["dataset"]["rows"]["train"], 1540);
    assert_eq!(model.record.manifest["dataset"]["rows"]["test"], 180);
    // A server that stops while a cycle runs: the cycle stops where it is, its job is
    // recorded as interrupted, and the lease is free again.
    let (_stop, stopping) = tokio::sync::watch::channel(true);
    let stopped = Cycle {
        stop: Some(stopping),
        ..cycle(&settings)
    };
    let err = retrain::run(&stopped, &|_| {}).await.unwrap_err();
    assert!(matches!(err, RetrainError::Interrupted), "{err}");
    let jobs = app
        .store
        .list_jobs(Some(retrain::JOB_KIND), 1)
        .await
        .unwrap();
    assert_eq!(jobs[0].status, JobStatus::Failed);
    assert!(
        jobs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("interrupted: the process was stopped"),
        "{:?}",
        jobs[0]
    );
    assert!(
        app.store
            .try_lock(retrain::LOCK, "elsewhere", chrono::TimeDelta::minutes(5))
            .await
            .unwrap()
    );
    app.store.unlock(retrain::LOCK, "elsewhere").await.unwrap();

    // A cycle whose process was killed left its job running; the next cycle marks it failed,
    // even one that stops itself (here: a time window that leaves every decision out).
    let killed = app
        .store
        .enqueue_job(retrain::JOB_KIND, &serde_json::json!({ "actor": "killed" }))
        .await
        .unwrap();
    assert!(app.store.claim_job(killed).await.unwrap());
    let none = RetrainSettings {
        window_days: Some(0.0),
        ..lenient()
    };
    let err = retrain::run(&cycle(&none), &|_| {}).await.unwrap_err();
    assert!(err.to_string().contains("0 decisions"), "{err}");
    let job = app.store.get_job(killed).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.error.as_deref().unwrap_or("").contains("interrupted"),
        "{:?}",
        job.error
    );
    assert!(job.finished_at.is_some());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrain_cycle_builds_judges_and_promotes_on_sqlite() {
    a_retrain_cycle_builds_judges_and_promotes(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrain_cycle_builds_judges_and_promotes_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        a_retrain_cycle_builds_judges_and_promotes(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_outcomes_file_with_a_timestamp_column_is_imported() {
    use polars::prelude::*;
    let app = spawn_app(TestDb::sqlite().await).await;
    let dir = tempfile::tempdir().unwrap();
    let decided = score_all(&app);
    let now = chrono::Utc::now().timestamp_millis();
    let ids: Vec<&str> = decided[..50].iter().map(|d| d.0.as_str()).collect();
    let outcomes: Vec<&str> = decided[..50]
        .iter()
        .map(|d| if d.1 == 1 { "default" } else { "repaid" })
        .collect();
    let at = Series::new("observed_at".into(), vec![now; 50])
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .unwrap();
    let mut df = DataFrame::new_infer_height(vec![
        Series::new("decision_id".into(), ids).into(),
        Series::new("outcome".into(), outcomes).into(),
        at.into(),
    ])
    .unwrap();
    let file = dir.path().join("outcomes.parquet");
    ParquetWriter::new(std::fs::File::create(&file).unwrap())
        .finish(&mut df)
        .unwrap();
    let counts = outcomes::import(&app.store, &import_args(&file), &mut Vec::new())
        .await
        .unwrap();
    assert_eq!(
        (counts.rows_done, counts.stored, counts.rejected),
        (50, 50, 0)
    );
    let stored = app.store.outcomes_of(&decided[7].0).await.unwrap();
    assert_eq!(stored[0].record.observed_at.timestamp_millis(), now);
    app.finish().await;
}

/// The server's scheduler wakes at the schedule's minute and runs a cycle under the lease: here
/// one that finds too little data, recorded as a failed `retrain` job saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_retrains_on_its_schedule() {
    let app = crate::app::spawn_app_retraining(TestDb::sqlite().await, "* * * * *").await;
    let mut jobs = Vec::new();
    for _ in 0..75 {
        jobs = app
            .store
            .list_jobs(Some(retrain::JOB_KIND), 10)
            .await
            .unwrap();
        if jobs.iter().any(|j| j.status == JobStatus::Failed) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let job = jobs
        .first()
        .expect("a scheduled retrain ran within 75 seconds");
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.error
            .as_deref()
            .unwrap_or("")
            .contains("not enough data"),
        "{job:?}"
    );
    assert!(
        job.detail["actor"]
            .as_str()
            .unwrap()
            .starts_with("scheduler@"),
        "{job:?}"
    );
    app.finish().await;
}
