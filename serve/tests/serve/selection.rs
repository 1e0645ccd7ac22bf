//! Selection bias on the synthetic world, where every applicant's true probability of default
//! is known: a champion declines its riskiest applicants, so outcomes arrive only for the ones
//! it approved. A retrain on those outcomes alone learns nothing of the declined; reject
//! inference (parceling with the champion's PDs) gives the retrain rows where the champion
//! never lent. Judged on the declined applicants: how far each retrained model's mean PD is
//! from their mean true PD.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use riskloop_ingest::spec::{DatasetSpec, FeatureKind, Parser};
use riskloop_ingest::synth::{self, SynthOptions};
use riskloop_serve::cli::outcomes::{self, ImportArgs};
use riskloop_serve::decision::policy::Policy;
use riskloop_serve::decision::{self, ServedModel};
use riskloop_serve::http::Limits;
use riskloop_serve::lifecycle::retrain::{self, Cycle, RetrainSettings};
use riskloop_serve::registry;
use riskloop_serve::writer::WriterSettings;
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::device::DeviceChoice;
use riskloop_train::run::{self, TrainRequest};
use serde_json::{Value, json};

use crate::app::{TestApp, data, spawn_app_on};
use crate::helpers::TestDb;

const CHAMPION_ROWS: usize = 4000;

fn spec() -> DatasetSpec {
    DatasetSpec::from_toml(&std::fs::read_to_string(data("synthetic_loans.toml")).unwrap()).unwrap()
}

/// The synthetic book as raw text rows (what a bank's file holds), with each row's true PD.
fn book(dir: &Path, rows: usize) -> (PathBuf, Vec<HashMap<String, String>>, Vec<f64>) {
    let opts = SynthOptions {
        rows,
        seed: 11,
        ..SynthOptions::default()
    };
    let mut df = synth::generate(&opts).unwrap();
    let path = dir.join("book.csv");
    synth::write(&mut df, &path).unwrap();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    let (mut out, mut pds) = (Vec::new(), Vec::new());
    for r in reader.records() {
        let r = r.unwrap();
        let row: HashMap<String, String> = header
            .iter()
            .zip(r.iter())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        pds.push(row["true_pd"].parse().unwrap());
        out.push(row);
    }
    (path, out, pds)
}

/// A raw row as an application: the fields the spec reads, a plain number as a JSON number.
fn application(spec: &DatasetSpec, row: &HashMap<String, String>) -> Value {
    let mut app = serde_json::Map::new();
    let time = spec.time.as_ref().map(|t| t.column.as_str());
    for f in &spec.features {
        let numeric = f.kind == FeatureKind::Numeric && f.parser() == Parser::Number;
        for c in f.sources().into_iter().chain(time) {
            let Some(v) = row.get(c).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            let value = match v.trim().parse::<f64>() {
                Ok(n) if numeric => json!(n),
                _ => json!(v),
            };
            app.insert(c.to_owned(), value);
        }
    }
    Value::Object(app)
}

fn train_champion(dir: &Path, book: &Path) -> PathBuf {
    let head = dir.join("champion.csv");
    let text = std::fs::read_to_string(book).unwrap();
    let lines: Vec<&str> = text.lines().take(CHAMPION_ROWS + 1).collect();
    std::fs::write(&head, lines.join("\n")).unwrap();
    let dataset = dir.join("champion-data");
    riskloop_ingest::etl::ingest(&spec(), &[head], &dataset, &mut |_| {}).unwrap();
    let request = TrainRequest {
        data: &dataset,
        out: &dir.join("models"),
        device: DeviceChoice::Cpu,
        config: TrainConfig {
            model: ModelChoice::Additive,
            max_epochs: 10,
            seed: 1,
            ..TrainConfig::default()
        },
        parent_version: None,
    };
    run::train(&request, &mut |_| {}).unwrap().dir
}

/// The score below which the champion declines `share` of `applications`.
fn cutoff(bundle: &Path, applications: &[Value], share: f64) -> i32 {
    let model = ServedModel::load(bundle).unwrap();
    let mut scores: Vec<i32> = applications.iter().map(|a| decide(&model, a).1).collect();
    scores.sort_unstable();
    scores[(scores.len() as f64 * share) as usize]
}

fn decide(model: &ServedModel, application: &Value) -> (f64, i32) {
    let policy = Policy::parse(decision::policy::DEFAULT_POLICY, "default").unwrap();
    let text = application.to_string();
    let raw = serde_json::value::RawValue::from_string(text).unwrap();
    let parsed = riskloop_ingest::application::Application::parse(raw.get()).unwrap();
    let request = decision::Request {
        decision_id: None,
        application_id: None,
        raw: &raw,
        api_key_id: 0,
        idempotency_key: None,
        request_sha256: String::new(),
        started: std::time::Instant::now(),
    };
    let d = decision::decide(model, &policy, &parsed, request)
        .unwrap()
        .record;
    (d.probability, d.score)
}

/// Scores every application; each one's decision id and decision.
fn score_all(app: &TestApp, applications: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in applications.chunks(100) {
        let items: Vec<Value> = chunk.iter().map(|a| json!({ "application": a })).collect();
        let r = app.post(
            "/v1/score/batch",
            &app.integration,
            &json!({ "applications": items }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for d in r.json()["decisions"].as_array().unwrap() {
            out.push((
                d["decision_id"].as_str().unwrap().to_owned(),
                d["decision"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// Mean PD the model gives the applications, minus their mean true PD.
fn bias(model: &ServedModel, applications: &[&Value], true_pd: &[f64]) -> f64 {
    let predicted: f64 = applications.iter().map(|a| decide(model, a).0).sum();
    (predicted - true_pd.iter().sum::<f64>()) / applications.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_inference_reduces_the_bias_of_a_retrain_on_approved_loans_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec();
    let (path, rows, pds) = book(dir.path(), 12_000);
    let champion = train_champion(dir.path(), &path);
    let live: Vec<Value> = rows[CHAMPION_ROWS..]
        .iter()
        .map(|r| application(&spec, r))
        .collect();
    let live_pd = &pds[CHAMPION_ROWS..];
    let cut = cutoff(&champion, &live, 0.4);
    let policy = format!(
        "version = \"declines-40\"\n[cutoffs]\napprove_min_score = {cut}\ndecline_below_score = {cut}\n"
    );
    let app = spawn_app_on(
        TestDb::sqlite().await,
        WriterSettings::default(),
        Limits::default(),
        std::slice::from_ref(&champion),
        &policy,
    )
    .await;
    let decided = score_all(&app, &live);
    // Outcomes arrive for the approved only: bad with the applicant's true PD.
    let mut text = String::from("decision_id,outcome,observed_at\n");
    let at = chrono::Utc::now().to_rfc3339();
    for (i, ((id, kind), pd)) in decided.iter().zip(live_pd).enumerate() {
        if kind == "approve" {
            let bad = decision::draw(&format!("applicant {i}")) < *pd;
            text.push_str(&format!(
                "{id},{},{at}\n",
                if bad { "default" } else { "repaid" }
            ));
        }
    }
    let file = dir.path().join("outcomes.csv");
    std::fs::write(&file, text).unwrap();
    let args = ImportArgs {
        file,
        batch_size: 1000,
        rejected: None,
        restart: false,
    };
    outcomes::import(&app.store, &args, &mut Vec::new())
        .await
        .unwrap();

    let policy = Policy::parse(&policy, "test").unwrap();
    let never_promote = RetrainSettings {
        performance_window_days: 0.0,
        min_labelled: 500,
        min_auc_gain: 1.0,
        accept_drift: true,
        ..RetrainSettings::default()
    };
    let with_inference = RetrainSettings {
        reject_inference: Some(1.0),
        ..never_promote.clone()
    };
    let mut biases = Vec::new();
    for settings in [&never_promote, &with_inference] {
        let cycle = Cycle {
            store: &app.store,
            settings,
            models_dir: dir.path().join("retrained"),
            work_dir: dir.path().join("work"),
            policy: &policy,
            slot: None,
            actor: "test".into(),
            stop: None,
        };
        let report = retrain::run(&cycle, &|_| {}).await.unwrap();
        assert!(!report.promoted);
        let model = app
            .store
            .get_model(&report.challenger)
            .await
            .unwrap()
            .unwrap();
        let model = registry::load(&model).unwrap();
        let (declined, declined_pd): (Vec<&Value>, Vec<f64>) = decided
            .iter()
            .zip(live.iter().zip(live_pd))
            .filter(|((_, kind), _)| kind == "decline")
            .map(|(_, (a, pd))| (a, *pd))
            .unzip();
        biases.push((
            bias(&model, &declined, &declined_pd),
            report.lineage.inferred,
        ));
    }
    let ((naive, none), (inferred, rows)) = (biases[0], biases[1]);
    let (declined, declined_pd): (Vec<&Value>, Vec<f64>) = decided
        .iter()
        .zip(live.iter().zip(live_pd))
        .filter(|((_, kind), _)| kind == "decline")
        .map(|(_, (a, pd))| (a, *pd))
        .unzip();
    let champion_bias = bias(
        &ServedModel::load(&champion).unwrap(),
        &declined,
        &declined_pd,
    );
    println!(
        "bias on the {} declined: champion (trained before selection) {champion_bias:+.4}, \
         retrained on approved only {naive:+.4}, with reject inference {inferred:+.4} \
         ({rows} inferred rows)",
        declined.len()
    );
    assert_eq!(none, 0);
    assert!(rows > 3000, "{rows}");
    assert!(
        naive.abs() > 0.01,
        "the approved-only retrain is biased on the declined: {naive}"
    );
    assert!(
        inferred.abs() < naive.abs() * 0.75,
        "reject inference cuts the bias by at least a quarter: {inferred} against {naive}"
    );
    app.finish().await;
}
