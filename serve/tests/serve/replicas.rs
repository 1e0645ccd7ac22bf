//! Several servers on one PostgreSQL database behave as one service: one in this process, one
//! a real `riskloop serve` process whose database connections go through a proxy the test can
//! cut. A promotion or rollback made through either is served by both within seconds (registry
//! notifications, and the poll behind them), an idempotency key holds across them, one retrain
//! lease is held at a time, and a replica that loses its database refuses writes, then comes
//! back and follows what changed meanwhile.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::{Reply, TestApp, application, get_on, http, post_on, spawn_app};
use crate::helpers::{Outage, TestDb};

/// A `riskloop serve` process on the database at `url`, deciding with `policy`.
struct Replica {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Replica {
    fn start(url: &str, policy: &std::path::Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_riskloop"))
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("RISKLOOP_DATABASE_URL")
            .env("DATABASE_URL", url)
            .env("RISKLOOP_LISTEN", format!("127.0.0.1:{port}"))
            .env("RISKLOOP_POLICY", policy)
            .env("RISKLOOP_WORKERS", "2")
            .env("RISKLOOP_LOG", "info,riskloop_serve=debug,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let replica = Self {
            port,
            child,
            _dir: dir,
        };
        assert!(
            wait_for(Duration::from_secs(60), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && replica.get("/readyz", None).status == 200
            }),
            "the replica did not become ready: {}",
            replica.log()
        );
        replica
    }

    fn get(&self, path: &str, key: Option<&str>) -> Reply {
        get_on(self.port, path, key)
    }

    fn post(&self, path: &str, key: &str, body: &Value, extra: &[(&str, &str)]) -> Reply {
        post_on(self.port, path, key, &body.to_string(), extra)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("serve.log")).unwrap_or_default()
    }

    /// SIGTERM: stops gracefully, committing what it accepted.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "{status}: {}", self.log());
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("the replica did not stop: {}", self.log());
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

fn serving(port: u16) -> String {
    http(port, "GET", "/v1/info", &[], None).json()["model_version"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// How long until the server on `port` serves `version`; fails after 5 s.
fn follows(port: u16, version: &str) -> Duration {
    let started = Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || serving(port) == version),
        "the server on port {port} still serves {} 5 s after {version} was promoted",
        serving(port)
    );
    started.elapsed()
}

fn score(port: u16, key: &str, idempotency_key: Option<&str>) -> Reply {
    let extra: Vec<(&str, &str)> = idempotency_key
        .map(|k| ("Idempotency-Key", k))
        .into_iter()
        .collect();
    let body = json!({"application_id": "replicated", "application": application()});
    post_on(port, "/v1/score", key, &body.to_string(), &extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_postgres_database_behave_as_one_service() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (outage, address) = Outage::start(db.server_address()).await;
    let proxied = db.url_through(&address);
    let a: TestApp = spawn_app(db).await;
    let b = tokio::task::block_in_place(|| Replica::start(&proxied, &a.policy));
    let (v0, v1) = (a.versions[0].clone(), a.versions[1].clone());
    assert_eq!(serving(b.port), v0);

    tokio::task::block_in_place(|| {
        // One idempotency key, sent to both replicas at once, several times: one decision.
        let answers: Vec<Reply> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let port = if i % 2 == 0 { a.port } else { b.port };
                    let key = &a.integration;
                    s.spawn(move || score(port, key, Some("once-across-replicas")))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ids: std::collections::HashSet<String> = answers
            .iter()
            .map(|r| {
                assert_eq!(r.status, 200, "{}", r.body);
                r.json()["decision_id"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1, "{answers:?}");

        // Promoted through the other process, rolled back through this one: both follow.
        let promoted = b.post(
            &format!("/v1/models/{v1}/promote"),
            &a.admin,
            &json!({}),
            &[],
        );
        assert_eq!(promoted.status, 200, "{}", promoted.body);
        let took = follows(a.port, &v1);
        println!("a promotion through one replica was served by the other after {took:?}");
        assert_eq!(
            score(a.port, &a.integration, None).json()["model_version"],
            v1.as_str()
        );
        let rolled = a.post("/v1/models/rollback", &a.admin, &json!({}));
        assert_eq!(rolled.status, 200, "{}", rolled.body);
        let took = follows(b.port, &v0);
        println!("a rollback through one replica was served by the other after {took:?}");
        assert_eq!(
            score(b.port, &a.integration, None).json()["model_version"],
            v0.as_str()
        );
    });
    let keyed = a
        .store
        .list_decisions(&riskloop_serve::store::DecisionFilter {
            application_id: Some("replicated".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.record.idempotency_key.as_deref() == Some("once-across-replicas"))
        .count();
    assert_eq!(keyed, 1, "one row for the key, whichever replica stored it");

    // One retrain lease at a time, whichever replica asks, however many times at once.
    let lease = chrono::TimeDelta::seconds(30);
    for round in 0..10 {
        let (first, second) = (format!("a#{round}"), format!("b#{round}"));
        let (x, y) = tokio::join!(
            a.store.try_lock("retrain", &first, lease),
            a.store.try_lock("retrain", &second, lease)
        );
        assert!(
            x.unwrap() ^ y.unwrap(),
            "round {round}: exactly one holds the lease"
        );
        a.store.unlock("retrain", &first).await.unwrap();
        a.store.unlock("retrain", &second).await.unwrap();
    }

    // The other replica loses its database: it refuses writes and says it is not ready, while
    // this one serves; a promotion meanwhile is followed once it is back.
    outage.cut();
    tokio::task::block_in_place(|| {
        assert!(
            wait_for(Duration::from_secs(10), || b.get("/readyz", None).status
                == 503),
            "the cut replica still says it is ready"
        );
        assert_eq!(score(b.port, &a.integration, None).status, 503);
        assert_eq!(score(a.port, &a.integration, None).status, 200);
        let promoted = a.post(&format!("/v1/models/{v1}/promote"), &a.admin, &json!({}));
        assert_eq!(promoted.status, 200, "{}", promoted.body);
        outage.restore();
        assert!(
            wait_for(Duration::from_secs(15), || b.get("/readyz", None).status
                == 200),
            "the replica did not come back: {}",
            b.log()
        );
        follows(b.port, &v1);
        let r = score(b.port, &a.integration, None);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["model_version"], v1.as_str());
        b.stop();
    });
    crate::chain::assert_chains_intact(&a.store).await;
    a.finish().await;
}
