//! The real server on a random loopback port against a fresh database, a tiny blocking HTTP
//! client, and model bundles trained once per test run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use riskloop_serve::api_key::Role;
use riskloop_serve::cli::keys;
use riskloop_serve::http::tls::TlsSettings;
use riskloop_serve::http::{Application, Limits, ScheduledRetrain, ServeConfig};
use riskloop_serve::lifecycle::retrain::RetrainSettings;
use riskloop_serve::registry;
use riskloop_serve::store::Store;
use riskloop_serve::writer::WriterSettings;
use riskloop_train::config::{ModelChoice, TrainConfig};
use riskloop_train::device::DeviceChoice;
use riskloop_train::run::{self, TrainRequest};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::TestDb;

pub(crate) fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

/// Two German credit bundles (different seeds), trained once for the whole test binary.
pub(crate) fn bundles() -> &'static [PathBuf; 2] {
    static BUNDLES: OnceLock<(tempfile::TempDir, [PathBuf; 2])> = OnceLock::new();
    &BUNDLES
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let spec = std::fs::read_to_string(data("german_credit.toml")).unwrap();
            let first = train_bundle(&spec, 1, dir.path());
            let second = train_bundle(&spec, 2, dir.path());
            (dir, [first, second])
        })
        .1
}

/// A German credit bundle whose applications differ: no `telephone`, and `duration_in_month`
/// required. Trained once for the whole test binary.
pub(crate) fn other_schema_bundle() -> &'static Path {
    static BUNDLE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &BUNDLE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let spec = std::fs::read_to_string(data("german_credit.toml")).unwrap();
            let spec = spec
                .replace("name = \"german_credit\"", "name = \"german_credit_other\"")
                .replace(
                    "name = \"duration_in_month\"\nkind = \"numeric\"",
                    "name = \"duration_in_month\"\nkind = \"numeric\"\nrequired = true",
                );
            let start = spec.find("[[feature]]\nname = \"telephone\"").unwrap();
            let end = spec[start + 1..].find("[[feature]]").unwrap() + start + 1;
            let spec = format!("{}{}", &spec[..start], &spec[end..]);
            let bundle = train_bundle(&spec, 3, dir.path());
            (dir, bundle)
        })
        .1
}

/// Ingests the German credit file with `spec` (TOML text) and trains a small logistic bundle.
fn train_bundle(spec: &str, seed: u64, dir: &Path) -> PathBuf {
    let spec = riskloop_ingest::spec::DatasetSpec::from_toml(spec).unwrap();
    let dataset = dir.join(format!("dataset-{seed}"));
    riskloop_ingest::etl::ingest(&spec, &[data("german_credit.csv")], &dataset, &mut |_| {})
        .unwrap();
    let request = TrainRequest {
        data: &dataset,
        out: &dir.join("models"),
        device: DeviceChoice::Cpu,
        config: TrainConfig {
            model: ModelChoice::Logistic,
            max_epochs: 8,
            seed,
            ..TrainConfig::default()
        },
        parent_version: None,
    };
    run::train(&request, &mut |_| {}).unwrap().dir
}

/// Copies a bundle folder (flat: manifest, pipeline, weights, report) under `into`, keeping its
/// name, which is the model version.
pub(crate) fn copy_bundle(bundle: &Path, into: &Path) -> PathBuf {
    let copy = into.join(bundle.file_name().unwrap());
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(bundle).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.file_type().unwrap().is_file(), "{:?}", entry.path());
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    copy
}

pub(crate) struct TestApp {
    pub(crate) port: u16,
    pub(crate) store: Store,
    pub(crate) integration: String,
    pub(crate) analyst: String,
    pub(crate) admin: String,
    pub(crate) versions: Vec<String>,
    pub(crate) policy: PathBuf,
    handle: actix_web::dev::ServerHandle,
    stopped: tokio::task::JoinHandle<std::io::Result<()>>,
    db: Option<TestDb>,
    _dir: tempfile::TempDir,
    _work: Option<tempfile::TempDir>,
}

pub(crate) const POLICY: &str = r#"version = "test-1"
[cutoffs]
approve_min_score = 560
decline_below_score = 520
[[rules]]
code = "UNDERAGE"
description = "Applicant under 18"
decision = "decline"
field = "age_in_years"
op = "<"
value = 18
[[segments]]
name = "large_loans"
field = "credit_amount"
op = ">="
value = 10000
[segments.cutoffs]
approve_min_score = 800
decline_below_score = 780
"#;

/// Starts the server with the first bundle registered and promoted.
pub(crate) async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, WriterSettings::default()).await
}

pub(crate) async fn spawn_app_with(db: TestDb, writer: WriterSettings) -> TestApp {
    spawn_app_limited(db, writer, Limits::default()).await
}

/// [`spawn_app_with`], with the HTTP limits given.
pub(crate) async fn spawn_app_limited(
    db: TestDb,
    writer: WriterSettings,
    limits: Limits,
) -> TestApp {
    // Trained once, with Polars, which must not block the test's runtime.
    let bundles = tokio::task::spawn_blocking(|| bundles().to_vec())
        .await
        .unwrap();
    spawn_app_on(db, writer, limits, &bundles, POLICY).await
}

/// [`spawn_app`], retraining on `schedule` (challengers under a folder of the app's own).
pub(crate) async fn spawn_app_retraining(db: TestDb, schedule: &str) -> TestApp {
    let bundles = tokio::task::spawn_blocking(|| bundles().to_vec())
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = ScheduledRetrain {
        schedule: schedule.parse().unwrap(),
        settings: RetrainSettings::default(),
        models_dir: work.path().join("models"),
        work_dir: work.path().join("work"),
    };
    let mut app = start(
        db,
        WriterSettings::default(),
        Limits::default(),
        &bundles,
        POLICY,
        Some(plan),
        None,
    )
    .await;
    app._work = Some(work);
    app
}

/// Starts the server with copies of `bundles` registered, the first promoted, deciding with
/// the policy `policy`.
pub(crate) async fn spawn_app_on(
    db: TestDb,
    writer: WriterSettings,
    limits: Limits,
    bundles: &[PathBuf],
    policy: &str,
) -> TestApp {
    start(db, writer, limits, bundles, policy, None, None).await
}

/// [`spawn_app`], serving HTTPS with `tls`.
pub(crate) async fn spawn_app_tls(db: TestDb, tls: TlsSettings) -> TestApp {
    let bundles = tokio::task::spawn_blocking(|| bundles().to_vec())
        .await
        .unwrap();
    start(
        db,
        WriterSettings::default(),
        Limits::default(),
        &bundles,
        POLICY,
        None,
        Some(tls),
    )
    .await
}

async fn start(
    db: TestDb,
    writer: WriterSettings,
    limits: Limits,
    bundles: &[PathBuf],
    policy: &str,
    retrain: Option<ScheduledRetrain>,
    tls: Option<TlsSettings>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().to_owned();
    // Each app registers its own copies: a test that tampers with a bundle must not race the
    // verification of the same files in another test.
    let originals = bundles.to_vec();
    let bundles = tokio::task::spawn_blocking(move || {
        originals
            .iter()
            .map(|b| copy_bundle(b, &private.join("models")))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let store = db.store.clone();
    let mut versions = Vec::new();
    for b in &bundles {
        versions.push(
            registry::register(&store, b, "test")
                .await
                .unwrap()
                .record
                .version,
        );
    }
    registry::promote(
        &store,
        None,
        &versions[0],
        "test",
        registry::Guard::default(),
    )
    .await
    .unwrap();
    let key = |role| {
        let store = store.clone();
        async move {
            keys::issue(&store, "test", role, "test")
                .await
                .unwrap()
                .1
                .expose_secret()
                .to_owned()
        }
    };
    let (integration, analyst, admin) = (
        key(Role::Integration).await,
        key(Role::Analyst).await,
        key(Role::Admin).await,
    );
    let policy_text = policy;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, policy_text).unwrap();
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        policy: policy.clone(),
        writer,
        limits,
        workers: 2,
        retrain,
        monitoring: Default::default(),
        tls,
    };
    let app = Application::build(store.clone(), config).await.unwrap();
    let port = app.port();
    let handle = app.handle();
    let stopped = tokio::spawn(app.run_until_stopped());
    TestApp {
        port,
        store,
        integration,
        analyst,
        admin,
        versions,
        policy,
        handle,
        stopped,
        db: Some(db),
        _dir: dir,
        _work: None,
    }
}

impl TestApp {
    /// Stops gracefully (every accepted decision committed) and drops a PostgreSQL database.
    pub(crate) async fn finish(mut self) {
        self.handle.stop(true).await;
        self.stopped.await.unwrap().unwrap();
        if let Some(db) = self.db.take() {
            db.finish().await;
        }
    }

    /// Writes `text` to the policy file and waits until the server decides with `version`.
    pub(crate) fn replace_policy(&self, text: &str, version: &str) {
        // A file's modification time may have a one-second grain: the edit must be seen.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&self.policy, text).unwrap();
        let mut serving = String::new();
        for _ in 0..40 {
            serving = self.get("/v1/info", None).json()["policy_version"]
                .as_str()
                .unwrap()
                .to_owned();
            if serving == version {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the server still decides with policy {serving}, not {version}");
    }

    pub(crate) fn get(&self, path: &str, key: Option<&str>) -> Reply {
        get_on(self.port, path, key)
    }

    pub(crate) fn post(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.post_with(path, key, &body.to_string(), &[])
    }

    pub(crate) fn post_with(
        &self,
        path: &str,
        key: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        post_on(self.port, path, key, body, extra)
    }
}

/// A GET to the server on `port`, with the key's bearer token if any.
pub(crate) fn get_on(port: u16, path: &str, key: Option<&str>) -> Reply {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http(port, "GET", path, &headers, None)
}

/// A JSON POST to the server on `port` with the key's bearer token and `extra` headers.
pub(crate) fn post_on(
    port: u16,
    path: &str,
    key: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let auth = format!("Bearer {key}");
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    http(port, "POST", path, &headers, Some(body))
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), blocking.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

/// A German credit application as a bank would send it (the first row of the shipped file).
pub(crate) fn application() -> Value {
    serde_json::json!({
        "status_of_existing_checking_account": "... < 0 DM",
        "duration_in_month": 6,
        "credit_history": "critical account/ other credits existing (not at this bank)",
        "purpose": "radio/television",
        "credit_amount": 1169,
        "savings_account_and_bonds": "unknown/ no savings account",
        "present_employment_since": "... >= 7 years",
        "installment_rate_in_percentage_of_disposable_income": 4,
        "personal_status_and_sex": "male : divorced/separated",
        "other_debtors_or_guarantors": "none",
        "present_residence_since": 4,
        "property": "real estate",
        "age_in_years": 67,
        "other_installment_plans": "none",
        "housing": "own",
        "number_of_existing_credits_at_this_bank": 2,
        "job": "skilled employee / official",
        "number_of_people_being_liable_to_provide_maintenance_for": 1,
        "telephone": "yes, registered under the customers name",
        "foreign_worker": "yes"
    })
}
