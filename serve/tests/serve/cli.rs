//! The `riskloop` binary as a user runs it: migrate and keys, on SQLite and PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};

use riskloop_serve::api_key::hash_key;
use riskloop_serve::store::DatabaseSettings;
use riskloop_serve::store::Store;
use secrecy::SecretString;

use crate::helpers::TestDb;

/// `riskloop ARGS` in `dir`, on `database_url` or, without one, the embedded default.
fn command(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riskloop"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("RISKLOOP_DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

pub(crate) fn riskloop(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    command(dir, database_url, args)
        .output()
        .expect("run riskloop")
}

/// The API key a command printed (shown once).
fn printed_key(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("rk_") && w.len() > 20)
        .unwrap_or_else(|| panic!("no key printed: {text}"))
        .to_owned()
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "riskloop failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn migrate_with_no_configuration_creates_the_embedded_sqlite_file_and_repeats_harmlessly() {
    let dir = tempfile::tempdir().unwrap();
    let run = riskloop(dir.path(), None, &["migrate"]);
    let first = stdout_of(&run);
    // Said before the work, which can take minutes on a large database.
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(log.contains("updating the database schema"), "{log}");
    assert!(log.contains("pending=22"), "{log}");
    assert!(first.contains("22 migration(s) applied"), "{first}");
    assert!(dir.path().join("riskloop-data/riskloop.db").is_file());
    let run = riskloop(dir.path(), None, &["migrate"]);
    let second = stdout_of(&run);
    assert!(second.contains("0 migration(s) applied"), "{second}");
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(
        !log.contains("updating the database schema"),
        "nothing to apply: {log}"
    );
    assert!(second.contains("15 tables"), "{second}");
}

#[tokio::test]
async fn migrate_creates_the_schema_on_an_empty_postgres_database_and_repeats_harmlessly() {
    let Some(db) = TestDb::postgres_unmigrated().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = stdout_of(&riskloop(dir.path(), Some(&db.url), &["migrate"]));
    // One more than SQLite: PostgreSQL checks decision references per statement and keeps a
    // decision's JSON as text (SQLite always did); SQLite rebuilt its decisions table for
    // checks without an `IN` list (PostgreSQL evaluates those in place).
    assert!(first.contains("23 migration(s) applied"), "{first}");
    let second = stdout_of(&riskloop(dir.path(), Some(&db.url), &["migrate"]));
    assert!(second.contains("0 migration(s) applied"), "{second}");
    assert_eq!(db.store.tables().await.unwrap().len(), 15);
    db.finish().await;
}

#[test]
fn a_key_is_rotated_with_a_grace_period_and_listed_as_expiring() {
    let dir = tempfile::tempdir().unwrap();
    let created = stdout_of(&riskloop(
        dir.path(),
        None,
        &[
            "keys",
            "create",
            "--name",
            "core banking",
            "--role",
            "integration",
        ],
    ));
    let first = printed_key(&created);
    let rotated = stdout_of(&riskloop(
        dir.path(),
        None,
        &["keys", "rotate", "1", "--grace-hours", "48"],
    ));
    assert!(
        rotated.contains("Rotated API key 1 (core banking, role integration): the new key is 2"),
        "{rotated}"
    );
    let second = printed_key(&rotated);
    assert_ne!(first, second);
    let list = stdout_of(&riskloop(dir.path(), None, &["keys", "list"]));
    let line = |id: &str| list.lines().find(|l| l.starts_with(id)).unwrap().to_owned();
    assert!(line("1 ").contains("expires "), "{list}");
    assert!(line("2 ").contains("active"), "{list}");
    let again = riskloop(dir.path(), None, &["keys", "rotate", "1"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("not already rotated"), "{err}");
    let bad = riskloop(
        dir.path(),
        None,
        &["keys", "rotate", "2", "--grace-hours=-1"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--grace-hours"));
}

#[tokio::test]
async fn keys_are_shown_once_stored_as_hashes_and_revoked_at_once_on_sqlite() {
    let db = TestDb::sqlite().await;
    key_lifecycle(&db.url).await;
    db.finish().await;
}

#[tokio::test]
async fn keys_are_shown_once_stored_as_hashes_and_revoked_at_once_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    key_lifecycle(&db.url).await;
    db.finish().await;
}

async fn key_lifecycle(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let created = stdout_of(&riskloop(
        dir.path(),
        Some(url),
        &[
            "keys",
            "create",
            "--name",
            "core banking",
            "--role",
            "integration",
        ],
    ));
    let key = printed_key(&created);
    let prefix = &key[..11];

    let listed = stdout_of(&riskloop(dir.path(), Some(url), &["keys", "list"]));
    assert!(
        listed.contains("core banking") && listed.contains(prefix) && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "list must never show a key");

    let store = Store::connect(
        &SecretString::from(url.to_owned()),
        &DatabaseSettings::pool(1),
    )
    .await
    .unwrap();
    let active = store
        .active_api_key_by_hash(&hash_key(&key))
        .await
        .unwrap()
        .expect("key works");
    assert_eq!(active.prefix, prefix);
    let secret_part = &key[12..];
    let leaked = store
        .execute_raw(&format!(
            "UPDATE api_keys SET name = name WHERE key_hash LIKE '%{secret_part}%'"
        ))
        .await
        .unwrap();
    assert_eq!(leaked, 0, "the key's secret must not be stored");

    let revoked = stdout_of(&riskloop(
        dir.path(),
        Some(url),
        &["keys", "revoke", prefix],
    ));
    assert!(revoked.contains("Revoked"), "{revoked}");
    assert!(
        store
            .active_api_key_by_hash(&hash_key(&key))
            .await
            .unwrap()
            .is_none(),
        "revoked at once"
    );
    let again = stdout_of(&riskloop(
        dir.path(),
        Some(url),
        &["keys", "revoke", &active.id.to_string()],
    ));
    assert!(again.contains("already revoked"), "{again}");
    let actions: Vec<String> = store
        .recent_audit(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["key.revoke", "key.create"]);
    store.close().await;
}

#[test]
fn revoking_an_unknown_key_fails_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = riskloop(dir.path(), None, &["keys", "revoke", "rk_deadbeef"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rk_deadbeef") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn an_unsupported_database_url_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = riskloop(dir.path(), Some("mysql://root@localhost/x"), &["migrate"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
}

#[test]
fn a_missing_bundle_is_named_once_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.csv");
    std::fs::write(&input, "a,b\n1,2\n").unwrap();
    let output = riskloop(
        dir.path(),
        None,
        &[
            "score",
            "--model",
            "no-such-bundle",
            "--input",
            input.to_str().unwrap(),
            "--out",
            "y.parquet",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-bundle"), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn an_invalid_role_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let output = riskloop(
        dir.path(),
        None,
        &["keys", "create", "--name", "x", "--role", "root"],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("root"));
    assert!(!dir.path().join("riskloop-data").exists());
}

#[test]
fn a_config_file_selects_the_data_directory_by_flag_or_by_riskloop_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("riskloop.toml"), "data_dir = \"state\"\n").unwrap();
    stdout_of(&riskloop(
        dir.path(),
        None,
        &["migrate", "--config", "riskloop.toml"],
    ));
    assert!(dir.path().join("state/riskloop.db").is_file());
    // After a subcommand's own subcommand too.
    stdout_of(&riskloop(
        dir.path(),
        None,
        &["keys", "list", "--config", "riskloop.toml"],
    ));
    std::fs::write(dir.path().join("other.toml"), "data_dir = \"other\"\n").unwrap();
    let by_env = command(dir.path(), None, &["migrate"])
        .env("RISKLOOP_CONFIG", "other.toml")
        .output()
        .unwrap();
    stdout_of(&by_env);
    assert!(dir.path().join("other/riskloop.db").is_file());
}

/// `train --config` is the training configuration, not the service's: its keys are read (here
/// the epochs), and a service setting set by RISKLOOP_CONFIG does not get in the way.
#[test]
fn train_reads_its_own_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::app::data("german_credit.toml");
    let csv = crate::app::data("german_credit.csv");
    stdout_of(&riskloop(
        dir.path(),
        None,
        &[
            "ingest",
            "--spec",
            spec.to_str().unwrap(),
            "--input",
            csv.to_str().unwrap(),
            "--out",
            "german",
        ],
    ));
    std::fs::write(
        dir.path().join("train.toml"),
        "model = \"logistic\"\nmax_epochs = 2\npatience = 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("riskloop.toml"), "data_dir = \"state\"\n").unwrap();
    let trained = command(
        dir.path(),
        None,
        &[
            "train",
            "--data",
            "german",
            "--out",
            "models",
            "--config",
            "train.toml",
        ],
    )
    .env("RISKLOOP_CONFIG", "riskloop.toml")
    .output()
    .unwrap();
    let printed = stdout_of(&trained);
    let bundle = std::fs::read_dir(dir.path().join("models"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["training"]["max_epochs"], 2, "{printed}");
    let bad = riskloop(
        dir.path(),
        None,
        &["train", "--data", "german", "--config", "riskloop.toml"],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("data_dir"),
        "a service key in a training config is named: {}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn demo_sets_up_everything_from_nothing_and_a_second_run_reuses_the_champion() {
    let dir = tempfile::tempdir().unwrap();
    // --no-serve binds nothing: a port already taken is no obstacle, and the example names it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let first = riskloop(
        dir.path(),
        None,
        &["demo", "--no-serve", "--listen", &address],
    );
    let text = stdout_of(&first);
    for expected in [
        "[1/6] database sqlite://riskloop-data/riskloop.db",
        "[3/6] training",
        "test AUC",
        "applicants under 18 declined (reason UNDERAGE)",
        "[6/6] not starting the scoring API (--no-serve)",
        "Authorization: Bearer rk_",
        &format!("curl -s http://{address}/v1/score"),
        &format!("Analyst UI: http://{address}/ui/ ; sign in with admin key rk_"),
        "Set up in",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(dir.path().join("riskloop-data/riskloop.db").is_file());
    assert!(dir.path().join("riskloop-data/policy.toml").is_file());
    let second = stdout_of(&riskloop(
        dir.path(),
        None,
        &["demo", "--no-serve", "--listen", "127.0.0.1:0"],
    ));
    assert!(
        second.contains("reusing champion model german_credit-"),
        "{second}"
    );
    assert!(second.contains("(kept as it is)"), "{second}");
    let policy = std::fs::read_to_string(dir.path().join("riskloop-data/policy.toml")).unwrap();
    assert!(policy.contains("code = \"UNDERAGE\""), "{policy}");
    let models = stdout_of(&riskloop(dir.path(), None, &["models", "list"]));
    assert_eq!(models.matches("champion").count(), 1, "{models}");
}

/// Issue 31's "done when": `riskloop demo` from nothing, with its simulation, promotes a
/// retrained challenger while it serves, every check of the retrain passing at its default limit,
/// and the registry then names that challenger the champion.
#[test]
fn the_demo_simulation_promotes_a_retrained_challenger_while_it_serves() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let (mut demo, received) = spawn_demo(dir.path());
    // The verdict is the simulation's last line; an error stops it and is logged.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut text = String::new();
    let verdict = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((is_stdout, line)) = received.recv_timeout(left) else {
            break None;
        };
        if !is_stdout {
            if line.contains("the demo's simulation stopped") {
                text.push_str(&line);
                break None;
            }
            continue;
        }
        text.push_str(&line);
        text.push('\n');
        if line.contains(" promoted") {
            break Some(line);
        }
    };
    demo.kill().unwrap();
    demo.wait().unwrap();
    let verdict = verdict.unwrap_or_else(|| panic!("no verdict from the simulation:\n{text}"));
    for expected in [
        "[sim] 2/4 the world drifts: new-car loans' odds of default become 4 times",
        "[sim] 4/4 retraining",
        "challenger AUC",
        "checks: calibration gap",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let promoted = verdict
        .trim()
        .strip_prefix("promoted ")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("the challenger was not promoted:\n{text}"));
    assert!(promoted.starts_with("german_credit-job1-"), "{verdict}");
    let models = stdout_of(&riskloop(dir.path(), None, &["models", "list"]));
    let champion = models
        .lines()
        .find(|l| l.contains("champion"))
        .unwrap_or_else(|| panic!("no champion in:\n{models}"));
    assert!(champion.contains(promoted), "{champion}\n{models}");
}

/// `riskloop demo` with its simulation in `dir`, and both its streams line by line: stdout's
/// (true) for the steps, stderr's for the log.
fn spawn_demo(
    dir: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<(bool, String)>,
) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut demo = command(dir, None, &["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let streams: [(bool, Box<dyn std::io::Read + Send>); 2] = [
        (true, Box::new(demo.stdout.take().unwrap())),
        (false, Box::new(demo.stderr.take().unwrap())),
    ];
    for (is_stdout, stream) in streams {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if lines.send((is_stdout, line)).is_err() {
                    break;
                }
            }
        });
    }
    (demo, received)
}

/// SIGTERM while the demo's retrain is training: the server stops as always (every accepted
/// decision committed), the cycle records its job as interrupted and gives the lease back, and
/// the process exits, abandoning the training rather than holding a stopped server until it
/// ends. The abandoned challenger is never registered.
#[test]
fn sigterm_during_a_retrain_exits_without_waiting_for_the_training() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let (mut demo, received) = spawn_demo(dir.path());
    let mut text = String::new();
    let mut read_until = |needle: &str, within: Duration| -> bool {
        let deadline = Instant::now() + within;
        while let Ok((_, line)) =
            received.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            text.push_str(&line);
            text.push('\n');
            if line.contains(needle) {
                return true;
            }
        }
        false
    };
    // The retrain has started training its candidates: several seconds of work remain.
    let training = read_until(
        "train: training the additive model",
        Duration::from_secs(600),
    );
    let _ = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status();
    assert!(training, "the retrain never trained:\n{text}");
    // Everything it says until it exits (the streams close then).
    read_until("no line says this", Duration::from_secs(120));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = None;
    while status.is_none() && Instant::now() < deadline {
        status = demo.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = demo.kill();
    let _ = demo.wait();
    assert!(status.is_some(), "the demo did not exit:\n{text}");
    assert!(
        text.contains("stopped; every accepted decision is committed"),
        "{text}"
    );
    assert!(
        !text.contains("writing the model bundle"),
        "the process waited for the training:\n{text}"
    );
    let models = stdout_of(&riskloop(dir.path(), None, &["models", "list"]));
    assert!(!models.contains("job1"), "{models}");
    // The cycle said so before the process went: its job is interrupted, not running for
    // ever, and the lease is free for the next one.
    let db = rusqlite::Connection::open(dir.path().join("riskloop-data/riskloop.db")).unwrap();
    let (status, error): (String, Option<String>) = db
        .query_row(
            "SELECT status, error FROM jobs WHERE kind = 'retrain'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "failed", "{error:?}");
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("interrupted: the process was stopped"),
        "{error:?}"
    );
    let leases: i64 = db
        .query_row(
            "SELECT count(*) FROM locks WHERE name = 'retrain'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leases, 0);
}

#[test]
fn training_on_cuda_without_the_feature_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = riskloop(
        dir.path(),
        None,
        &["train", "--data", "nowhere", "--device", "cuda"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    if cfg!(feature = "cuda") {
        assert!(err.contains("error:"), "{err}");
    } else {
        assert!(
            err.contains("--features cuda") && !err.contains("panicked"),
            "{err}"
        );
    }
}

/// `riskloop serve` on a fresh demo database in `dir`, on a port of its own, its log to
/// `stderr`: the process, its port, and an integration key.
fn serve_demo(dir: &Path, stderr: std::process::Stdio) -> (std::process::Child, u16, String) {
    use std::io::{BufRead, BufReader};
    let demo = stdout_of(&riskloop(
        dir,
        None,
        &["demo", "--no-serve", "--listen", "127.0.0.1:0"],
    ));
    let key = printed_key(&demo);
    let mut server = command(dir, None, &["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut serving = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut serving)
        .unwrap();
    let port: u16 = serving
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {serving:?}"));
    (server, port, key)
}

/// A server killed outright (SIGKILL) while it answers: every decision it acknowledged is in the
/// database afterwards, and the database is whole. SQLite's decision writer holds its writes
/// back until the commit's sync (`sqlite-vfs`); none of what it acknowledged may be among them.
#[test]
fn a_killed_server_has_stored_every_decision_it_acknowledged() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::Stdio;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let (mut server, port, key) = serve_demo(dir.path(), Stdio::null());

    let request = {
        let body = serde_json::json!({ "application": crate::app::application() }).to_string();
        format!(
            "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Authorization: Bearer {key}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    // A decision id from a 200 answer; None once the server is gone.
    let score = move |request: &str| -> Option<Option<String>> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        if !answer.starts_with("HTTP/1.1 200") {
            return Some(None);
        }
        let body = answer.split_once("\r\n\r\n")?.1;
        let id = serde_json::from_str::<serde_json::Value>(body).ok()?["decision_id"]
            .as_str()
            .map(str::to_owned);
        Some(id)
    };
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let killed = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (acknowledged, killed, request) =
                (acknowledged.clone(), killed.clone(), request.clone());
            std::thread::spawn(move || {
                while !killed.load(Ordering::Relaxed) {
                    match score(&request) {
                        Some(Some(id)) => acknowledged.lock().unwrap().push(id),
                        Some(None) => {}
                        None => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.kill().unwrap();
    server.wait().unwrap();
    killed.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }

    let acknowledged = acknowledged.lock().unwrap();
    assert!(
        acknowledged.len() > 100,
        "only {} answered",
        acknowledged.len()
    );
    let db = rusqlite::Connection::open(dir.path().join("riskloop-data/riskloop.db")).unwrap();
    let mut stored = db.prepare("SELECT 1 FROM decisions WHERE id = ?1").unwrap();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.exists([id.as_str()]).unwrap())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged decisions missing, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        missing.first()
    );
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// Ctrl-C (SIGINT) under load stops like SIGTERM: requests in flight are answered and every
/// decision committed is one a client was told of; nothing is cut after it was stored. On the
/// way, junk bytes the HTTP parser refuses are counted in `/metrics`, not logged one by one.
#[test]
fn ctrl_c_answers_every_request_in_flight_and_counts_protocol_errors_quietly() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::Stdio;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let (mut server, port, key) = serve_demo(dir.path(), Stdio::from(log));
    let exchange = move |request: &[u8]| -> Result<String, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream
            .write_all(request)
            .map_err(|e| format!("sent: {e}"))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| format!("sent: {e}"))?;
        if answer.is_empty() {
            return Err("sent: no answer".into());
        }
        Ok(answer)
    };

    for _ in 0..20 {
        let answer = exchange(b"\x16\x03\x01\x02\x00 junk\r\n\r\n").unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    let metrics =
        exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("riskloop_http_protocol_errors_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(counted >= 20, "{counted} protocol errors counted");

    // (application id, what became of it)
    let results = Arc::new(Mutex::new(Vec::<(String, Result<String, String>)>::new()));
    let stopped = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (results, stopped, key) = (results.clone(), stopped.clone(), key.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    let application_id = format!("C-{c}-{n}");
                    let body = serde_json::json!({
                        "application_id": application_id,
                        "application": crate::app::application(),
                    })
                    .to_string();
                    let request = format!(
                        "POST /v1/score HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                         Authorization: Bearer {key}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let result = exchange(request.as_bytes());
                    let refused = matches!(&result, Err(e) if !e.starts_with("sent"));
                    results.lock().unwrap().push((application_id, result));
                    if refused && stopped.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let interrupted = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    stopped.store(true, Ordering::Relaxed);
    let exit = server.wait().unwrap();
    for client in clients {
        client.join().unwrap();
    }
    assert!(exit.success(), "{exit:?}");

    let results = results.lock().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("riskloop-data/riskloop.db")).unwrap();
    let mut stored = db
        .prepare("SELECT id FROM decisions WHERE application_id = ?1")
        .unwrap();
    let mut answered = 0;
    for (application_id, result) in results.iter() {
        let row: Option<String> = stored
            .query_row([application_id], |r| r.get(0))
            .map(Some)
            .unwrap_or(None);
        match result {
            Ok(answer) if answer.starts_with("HTTP/1.1 200") => {
                answered += 1;
                let id = row.unwrap_or_else(|| panic!("{application_id}: 200 but not stored"));
                assert!(
                    answer.contains(&id),
                    "{application_id}: answered another id"
                );
            }
            Ok(answer) => assert!(row.is_none(), "{application_id}: {answer} but stored"),
            Err(cut) => assert!(
                row.is_none(),
                "{application_id}: committed but the client got no answer ({cut})"
            ),
        }
    }
    assert!(answered > 100, "only {answered} answered");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("signal=\"SIGINT\""), "{log}");
    assert!(
        log.contains("every accepted decision is committed"),
        "{log}"
    );
    assert!(
        !log.contains("actix_http::h1::dispatcher"),
        "protocol errors were logged one by one: {log}"
    );
}

#[test]
fn retrain_and_outcomes_import_say_what_stops_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = riskloop(dir.path(), None, &["retrain"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no champion"), "{stderr}");

    std::fs::write(
        dir.path().join("outcomes.csv"),
        "decision_id,outcome,observed_at,amount\n",
    )
    .unwrap();
    let run = riskloop(dir.path(), None, &["outcomes", "import", "outcomes.csv"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("unknown column `amount`"), "{stderr}");

    std::fs::write(
        dir.path().join("riskloop.toml"),
        "[retrain]\nschedule = \"0 25 * * *\"\n",
    )
    .unwrap();
    let run = riskloop(dir.path(), None, &["retrain", "--config", "riskloop.toml"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("retrain.schedule") && stderr.contains("hour"),
        "{stderr}"
    );
}

/// Every decision of a run that spans a model promotion and a policy edit replays identically,
/// from the command line and one by one over HTTP; a decision whose stored policy is gone
/// (taken behind the database's back) fails the audit by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_replay_redecides_every_stored_decision_across_a_promotion_and_a_policy_edit() {
    use crate::app::{POLICY, spawn_app};
    use crate::data_loop::score_all;
    let app = spawn_app(TestDb::sqlite().await).await;
    let first = score_all(&app);
    let promoted = app.post(
        &format!("/v1/models/{}/promote", app.versions[1]),
        &app.admin,
        &serde_json::json!({}),
    );
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    let edited = POLICY
        .replace("version = \"test-1\"", "version = \"test-2\"")
        .replace("approve_min_score = 560", "approve_min_score = 540");
    app.replace_policy(&edited, "test-2");
    let second = score_all(&app);
    let url = format!("sqlite://{}", app.store.sqlite_file().unwrap().display());
    let dir = tempfile::tempdir().unwrap();
    let audit = stdout_of(&riskloop(dir.path(), Some(&url), &["audit", "replay"]));
    assert!(
        audit.contains(
            "2000 decision(s) replayed with their stored model and policy: 2000 identical, 0 not"
        ),
        "{audit}"
    );
    let today = chrono::Utc::now().date_naive().to_string();
    let ranged = stdout_of(&riskloop(
        dir.path(),
        Some(&url),
        &["audit", "replay", "--from", &today, "--to", &today],
    ));
    assert!(ranged.contains("2000 identical"), "{ranged}");

    let replay = |id: &str, key: &str| app.get(&format!("/v1/decisions/{id}/replay"), Some(key));
    for id in [&first[0].0, &second[0].0] {
        let r = replay(id, &app.analyst);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["identical"], true, "{}", r.body);
    }
    assert_eq!(replay(&second[0].0, &app.integration).status, 403);
    assert_eq!(replay("not-an-id", &app.analyst).status, 422);

    // The second policy's text removed behind the server's back: those decisions cannot be
    // replayed, and the audit says so and fails.
    app.store
        .execute_raw(
            "DROP TRIGGER policies_refuse_delete; DELETE FROM policies WHERE version = 'test-2'",
        )
        .await
        .unwrap();
    let failed = riskloop(dir.path(), Some(&url), &["audit", "replay"]);
    assert!(!failed.status.success());
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(text.contains("1000 identical, 1000 not"), "{text}");
    assert!(text.contains("is not stored"), "{text}");
    let r = replay(&second[0].0, &app.analyst);
    assert_eq!(r.status, 409, "{}", r.body);
    app.finish().await;
}
