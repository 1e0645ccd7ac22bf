//! Model hot swap and durability under concurrency: requests in flight finish on the model they
//! started with, every decision records the version that scored it, a bundle that fails
//! verification is refused while the old one keeps serving, and every 2xx is in the database.

use std::collections::HashSet;

use serde_json::json;

use crate::app::{TestApp, application, spawn_app, spawn_app_with};
use crate::helpers::TestDb;

fn hammer(app: &TestApp, threads: usize, per_thread: usize) -> Vec<(u16, serde_json::Value)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (0..per_thread)
                        .map(|i| {
                            let body = json!({ "application_id": format!("H-{t}-{i}"), "application": application() });
                            let r = app.post("/v1/score", &app.integration, &body);
                            let json = if r.status == 200 { r.json() } else { json!({ "retry_after": r.header("retry-after") }) };
                            (r.status, json)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

async fn every_ok_decision_is_stored(app: &TestApp, replies: &[(u16, serde_json::Value)]) -> usize {
    let mut ok = 0;
    for (status, body) in replies {
        if *status == 200 {
            ok += 1;
            let id = body["decision_id"].as_str().unwrap();
            let stored = app
                .store
                .get_decision(id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("2xx decision {id} is not stored"));
            assert_eq!(
                stored.record.model_version,
                body["model_version"].as_str().unwrap()
            );
        }
    }
    ok
}

async fn swaps_under_load(app: TestApp) {
    let promote = format!("/v1/models/{}/promote", app.versions[1]);
    let (replies, promoted) = std::thread::scope(|s| {
        let load = s.spawn(|| hammer(&app, 4, 25));
        std::thread::sleep(std::time::Duration::from_millis(50));
        let promoted = app.post(&promote, &app.admin, &json!({}));
        (load.join().unwrap(), promoted)
    });
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert_eq!(promoted.json()["previous"], app.versions[0].as_str());
    assert!(
        replies.iter().all(|(s, _)| *s == 200),
        "{:?}",
        replies.iter().find(|(s, _)| *s != 200)
    );
    let versions: HashSet<&str> = replies
        .iter()
        .map(|(_, b)| b["model_version"].as_str().unwrap())
        .collect();
    assert!(
        versions.iter().all(|v| app.versions.iter().any(|k| k == v)),
        "{versions:?}"
    );
    assert_eq!(every_ok_decision_is_stored(&app, &replies).await, 100);
    let after = app
        .post(
            "/v1/score",
            &app.integration,
            &json!({ "application": application() }),
        )
        .json();
    assert_eq!(after["model_version"], app.versions[1].as_str());

    let rollback = app.post("/v1/models/rollback", &app.admin, &json!({}));
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    assert_eq!(rollback.json()["version"], app.versions[0].as_str());
    let listed = app.get("/v1/models", Some(&app.analyst)).json();
    let serving: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["serving"] == true)
        .map(|m| m["version"].as_str().unwrap())
        .collect();
    assert_eq!(serving, vec![app.versions[0].as_str()]);

    // Tamper with the other bundle: promotion is refused and the current model keeps serving.
    let model = app
        .store
        .get_model(&app.versions[1])
        .await
        .unwrap()
        .unwrap();
    let report = std::path::Path::new(&model.record.path).join("report.html");
    let original = std::fs::read(&report).unwrap();
    std::fs::write(&report, b"<html>tampered</html>").unwrap();
    let refused = app.post(&promote, &app.admin, &json!({}));
    std::fs::write(&report, original).unwrap();
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["code"], "model_refused");
    let still = app
        .post(
            "/v1/score",
            &app.integration,
            &json!({ "application": application() }),
        )
        .json();
    assert_eq!(still["model_version"], app.versions[0].as_str());
    assert_eq!(
        app.post("/v1/models/nope/promote", &app.admin, &json!({}))
            .status,
        404
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_concurrent_requests_on_sqlite() {
    swaps_under_load(spawn_app(TestDb::sqlite().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_concurrent_requests_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    swaps_under_load(spawn_app(db).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after_and_loses_nothing() {
    let writer = riskloop_serve::writer::WriterSettings {
        queue: 1,
        max_batch: 1,
        linger_us: Some(0),
        tasks: 1,
    };
    let app = spawn_app_with(TestDb::sqlite().await, writer).await;
    let replies = hammer(&app, 8, 10);
    for (status, body) in &replies {
        assert!(*status == 200 || *status == 503, "{status}");
        if *status == 503 {
            assert_eq!(body["retry_after"], "1");
        }
    }
    let ok = every_ok_decision_is_stored(&app, &replies).await;
    assert_eq!(
        app.store.count_decisions().await.unwrap() as usize,
        ok,
        "stored = acknowledged"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_reloads_without_restart_and_revoked_keys_stop_within_seconds() {
    let app = spawn_app(TestDb::sqlite().await).await;
    app.replace_policy(&crate::app::POLICY.replace("test-1", "test-2"), "test-2");
    let scored = app
        .post(
            "/v1/score",
            &app.integration,
            &json!({ "application": application() }),
        )
        .json();
    assert_eq!(scored["policy_version"], "test-2");

    let key = app
        .store
        .list_api_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.role == riskloop_serve::api_key::Role::Analyst)
        .unwrap();
    assert_eq!(app.get("/v1/decisions", Some(&app.analyst)).status, 200);
    app.store.revoke_api_key(key.id).await.unwrap();
    std::thread::sleep(
        riskloop_serve::http::auth::CACHE_TTL + std::time::Duration::from_millis(200),
    );
    assert_eq!(app.get("/v1/decisions", Some(&app.analyst)).status, 401);
    app.finish().await;
}
