//! Real faults under load: a full disk under SQLite, a PostgreSQL server that goes away, slow
//! clients, and junk that the HTTP parser refuses. In each, every 2xx decision is stored, no
//! decision answered "not stored" is, refusals come fast as problem+json, `/readyz` tells the
//! truth, and the server recovers by itself.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riskloop_serve::http::Limits;
use riskloop_serve::writer::WriterSettings;
use serde_json::json;

use crate::app::{TestApp, application, http, spawn_app, spawn_app_limited};
use crate::helpers::{Outage, TestDb, Tmpfs};

/// One answered score request.
#[derive(Clone, Debug)]
struct Answer {
    application_id: String,
    status: u16,
    code: Option<String>,
    decision_id: Option<String>,
    took: Duration,
    at: Instant,
}

/// Clients scoring in a loop, each application with an id of its own, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(app: &TestApp, clients: usize, pause: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..clients)
            .map(|c| {
                let (stop, answers) = (stop.clone(), answers.clone());
                let (port, key) = (app.port, app.integration.clone());
                std::thread::spawn(move || {
                    let auth = format!("Bearer {key}");
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let application_id = format!("F-{c}-{n}");
                        n += 1;
                        let body =
                            json!({"application_id": application_id, "application": application()});
                        let started = Instant::now();
                        let r = http(
                            port,
                            "POST",
                            "/v1/score",
                            &[
                                ("Authorization", &auth),
                                ("Content-Type", "application/json"),
                            ],
                            Some(&body.to_string()),
                        );
                        let json: serde_json::Value =
                            serde_json::from_str(&r.body).unwrap_or_default();
                        answers.lock().unwrap().push(Answer {
                            application_id,
                            status: r.status,
                            code: json["code"].as_str().map(str::to_owned),
                            decision_id: json["decision_id"].as_str().map(str::to_owned),
                            took: started.elapsed(),
                            at: Instant::now(),
                        });
                        std::thread::sleep(pause);
                    }
                })
            })
            .collect();
        Self {
            stop,
            answers,
            clients,
        }
    }

    fn since(&self, at: Instant) -> Vec<Answer> {
        let answers = self.answers.lock().unwrap();
        answers.iter().filter(|a| a.at >= at).cloned().collect()
    }

    fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
        Arc::try_unwrap(self.answers).unwrap().into_inner().unwrap()
    }
}

/// Polls `check` every 100 ms for up to `within`; true once it holds.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

/// `/readyz`'s status and how long it took to answer.
fn readiness(app: &TestApp) -> (u16, Duration) {
    let started = Instant::now();
    let r = app.get("/readyz", None);
    (r.status, started.elapsed())
}

/// Every 200 is stored under its decision id; nothing answered 503 (nothing written, safe to
/// retry) is stored. Returns how many were answered 200.
async fn answers_match_the_database(app: &TestApp, answers: &[Answer]) -> usize {
    let mut ok = 0;
    for a in answers {
        let stored = app
            .store
            .list_decisions(&riskloop_serve::store::DecisionFilter {
                application_id: Some(a.application_id.clone()),
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        match a.status {
            200 => {
                ok += 1;
                assert_eq!(
                    stored
                        .iter()
                        .map(|d| Some(&d.record.id))
                        .collect::<Vec<_>>(),
                    vec![a.decision_id.as_ref()],
                    "{a:?}: a 2xx decision must be stored, once"
                );
            }
            503 => assert!(stored.is_empty(), "{a:?} was answered 503 but stored"),
            other => panic!("{a:?}: unexpected status {other}"),
        }
    }
    ok
}

/// A full disk under SQLite, under load: decisions are refused at once with 503 (not stored,
/// retry), `/readyz` says not ready within a second, nothing acknowledged is lost, and once
/// space returns, scoring resumes by itself; the database file is whole afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_decisions_fast_loses_none_and_recovers_on_sqlite() {
    let Some(fs) = Tmpfs::mount("20m") else {
        return;
    };
    let db = TestDb::sqlite_at(fs.path()).await;
    let file = db.sqlite_path().unwrap();
    let app = spawn_app(db).await;
    let load = Load::start(&app, 4, Duration::from_millis(20));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let filler = fs.fill();
    let full = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || readiness(&app).0 == 503).await,
        "/readyz still says ready 10 s after the disk filled"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, took) = readiness(&app);
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
    let refused = load.since(full + Duration::from_secs(1));
    assert!(
        refused.iter().filter(|a| a.status == 503).count() > 20,
        "{refused:?}"
    );
    for a in refused.iter().filter(|a| a.status == 503) {
        assert!(
            matches!(a.code.as_deref(), Some("store_unavailable" | "not_stored")),
            "{a:?}"
        );
        assert!(
            a.took < Duration::from_secs(2),
            "a refusal took {:?}",
            a.took
        );
    }

    std::fs::remove_file(filler).unwrap();
    let freed = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || load
            .since(freed)
            .iter()
            .any(|a| a.status == 200))
        .await,
        "scoring did not resume within 10 s of the space returning"
    );
    assert!(eventually(Duration::from_secs(5), || readiness(&app).0 == 200).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = load.finish();
    let ok = answers_match_the_database(&app, &answers).await;
    assert!(ok > 50, "only {ok} of {} answered 200", answers.len());
    // Batches failed mid-write: the chain went on from what was committed.
    crate::chain::assert_chains_intact(&app.store).await;
    app.finish().await;

    let plain = rusqlite::Connection::open(&file).unwrap();
    let check: String = plain
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(plain);
    drop(fs);
}

/// PostgreSQL lost under load (every connection cut, none accepted): scores and lists answer
/// 503 fast, `/readyz` answers 503 within a second, nothing answered 503 is stored, and once
/// the server is back, scoring resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_refused_fast_told_by_readiness_and_recovered_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (outage, address) = Outage::start(db.server_address()).await;
    let db = db.postgres_through(&address).await;
    let app = spawn_app(db).await;
    let load = Load::start(&app, 4, Duration::from_millis(20));
    tokio::time::sleep(Duration::from_secs(1)).await;

    outage.cut();
    let lost = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || readiness(&app).0 == 503).await,
        "/readyz still says ready 5 s after the database went away"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, took) = readiness(&app);
    assert_eq!(status, 503);
    assert!(took < Duration::from_millis(1500), "/readyz took {took:?}");
    let list_started = Instant::now();
    let list = app.get("/v1/decisions?limit=5", Some(&app.analyst));
    assert_eq!(
        (list.status, list.json()["code"].as_str()),
        (503, Some("store_unavailable")),
        "{}",
        list.body
    );
    assert!(list.header("retry-after").is_some());
    assert!(list_started.elapsed() < Duration::from_secs(3));
    let refused: Vec<Answer> = load
        .since(lost + Duration::from_secs(2))
        .into_iter()
        .filter(|a| a.status != 200)
        .collect();
    assert!(refused.len() > 10, "{refused:?}");
    for a in &refused {
        assert_eq!(a.status, 503, "{a:?}");
        assert!(
            a.took < Duration::from_secs(3),
            "a refusal took {:?}",
            a.took
        );
    }

    outage.restore();
    let back = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || load
            .since(back)
            .iter()
            .any(|a| a.status == 200))
        .await,
        "scoring did not resume within 10 s of the database coming back"
    );
    assert!(eventually(Duration::from_secs(5), || readiness(&app).0 == 200).await);
    let answers = load.finish();
    // In flight when the connections were cut: committed or not, it may not be knowable then
    // (500, retry with the same Idempotency-Key). Everything else is a 200 or a 503.
    let unknown: Vec<&Answer> = answers.iter().filter(|a| a.status == 500).collect();
    assert!(unknown.len() <= 8, "{unknown:?}");
    let known: Vec<Answer> = answers.into_iter().filter(|a| a.status != 500).collect();
    let ok = answers_match_the_database(&app, &known).await;
    assert!(ok > 50, "only {ok} answered 200");
    // Commits whose fate was unknown: each writer read its chain's head again.
    crate::chain::assert_chains_intact(&app.store).await;
    app.finish().await;
}

/// Bodies sent too slowly are cut with 408 problem+json; a head sent too slowly too (the HTTP
/// parser's own answer, with a body like every other refusal); connections are capped, so
/// slow clients cannot hold the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_connections_are_capped() {
    let limits = Limits {
        body_timeout_ms: 700,
        header_timeout_ms: 700,
        max_connections: 4,
        ..Limits::default()
    };
    let app = spawn_app_limited(TestDb::sqlite().await, WriterSettings::default(), limits).await;
    let slow_body = |port: u16| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let head = format!(
            "POST /v1/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{",
            app.integration
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream
    };
    let answer_of = |mut stream: TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };

    let started = Instant::now();
    let answer = answer_of(slow_body(app.port));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    stream
        .write_all(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let answer = answer_of(stream);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"head_timeout\""), "{answer}");

    // Four slow clients hold every connection; a fifth request waits until one is cut.
    let held: Vec<TcpStream> = (0..4).map(|_| slow_body(app.port)).collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let r = app.get("/healthz", None);
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered after {:?} while every connection was held",
        started.elapsed()
    );
    for stream in held {
        assert!(answer_of(stream).starts_with("HTTP/1.1 408"));
    }
    assert_eq!(app.store.count_decisions().await.unwrap(), 0);
    app.finish().await;
}

/// What the HTTP parser refuses before any handler runs is answered problem+json too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_parsers_own_refusals_are_problems() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let raw = |bytes: &[u8]| {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
        stream.write_all(bytes).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let answer = raw(b"\x16\x03\x01 not http at all\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.contains("\"code\":\"malformed_request\""),
        "{answer}"
    );
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let answer = raw(huge.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("\"code\":\"head_too_large\""), "{answer}");
    let body: serde_json::Value =
        serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["status"], 431);
    app.finish().await;
}

/// A value PostgreSQL refuses (text with a NUL, which the API refuses before; here submitted to
/// the writer directly) fails only its own submission, not the others gathered with it.
#[tokio::test]
async fn a_value_postgres_refuses_fails_only_its_own_submission() {
    use riskloop_serve::writer::DecisionWriter;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let key = crate::store::seed(&db.store).await;
    let settings = WriterSettings {
        linger_us: Some(300_000),
        tasks: 1,
        ..WriterSettings::default()
    };
    let metrics = Arc::new(riskloop_serve::telemetry::metrics::Metrics::default());
    let (writer, tasks) = DecisionWriter::start(&db.store, settings, &metrics).unwrap();
    let honest: Vec<_> = (0..3)
        .map(|_| vec![crate::store::decision(key, None)])
        .collect();
    let mut bad = crate::store::decision(key, None);
    bad.application_id = Some("A\u{0}1".into());
    let (a, b, c, refused) = tokio::join!(
        writer.submit(honest[0].clone()),
        writer.submit(honest[1].clone()),
        writer.submit(honest[2].clone()),
        writer.submit(vec![bad.clone()]),
    );
    for answer in [a, b, c] {
        answer.expect("an honest submission gathered with a refused one is committed");
    }
    assert!(refused.is_err());
    let ids: HashSet<String> = honest.iter().flatten().map(|d| d.id.clone()).collect();
    for id in &ids {
        assert!(db.store.get_decision(id).await.unwrap().is_some());
    }
    assert!(db.store.get_decision(&bad.id).await.unwrap().is_none());
    assert!(
        !writer.health().is_down(),
        "a refused row says nothing against the database"
    );
    drop(writer);
    tasks.flushed().await;
    db.finish().await;
}
