//! A challenger beside the champion on live traffic: attached by an admin, it scores every
//! request the champion decides (stored as shadow scores) and decides its share of the traffic
//! itself; detached, the champion decides alone. And the drift monitor over the same traffic.

use serde_json::{Value, json};

use crate::app::{TestApp, application, spawn_app};
use crate::helpers::TestDb;

fn score_many(app: &TestApp, n: usize) -> Vec<Value> {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"application_id": format!("C-{i}"), "application": application()}))
        .collect();
    let r = app.post(
        "/v1/score/batch",
        &app.integration,
        &json!({ "applications": items }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["decisions"].as_array().unwrap().clone()
}

async fn shadow_scores_of(app: &TestApp, decisions: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in decisions {
        let id = d["decision_id"].as_str().unwrap();
        for s in app.store.shadow_scores_of(id).await.unwrap() {
            out.push((
                d["model_version"].as_str().unwrap().to_owned(),
                s.model_version,
            ));
        }
    }
    out
}

/// Shadow scores are stored off the response path: wait until `n` are.
async fn wait_for_shadow(app: &TestApp, decisions: &[Value], n: usize) -> Vec<(String, String)> {
    for _ in 0..50 {
        let found = shadow_scores_of(app, decisions).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    shadow_scores_of(app, decisions).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenger_scores_in_the_shadow_decides_its_share_and_detaches() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let [champion, challenger] = [&app.versions[0], &app.versions[1]];
    let attach = |body: Value, key: &str| {
        app.post(&format!("/v1/models/{challenger}/challenger"), key, &body)
    };
    assert_eq!(attach(json!({}), &app.analyst).status, 403, "admins only");
    let r = attach(json!({"traffic_percent": 80}), &app.admin);
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (422, json!("traffic_percent"))
    );
    let r = app.post(
        &format!("/v1/models/{champion}/challenger"),
        &app.admin,
        &json!({}),
    );
    assert_eq!(
        r.status, 422,
        "the champion cannot challenge itself: {}",
        r.body
    );

    // Shadow only: the champion decides everything, the challenger scores everything.
    assert_eq!(
        attach(json!({"traffic_percent": 0}), &app.admin).status,
        204
    );
    let decisions = score_many(&app, 20);
    assert!(
        decisions
            .iter()
            .all(|d| d["model_version"] == champion.as_str())
    );
    let shadows = wait_for_shadow(&app, &decisions, 20).await;
    assert_eq!(shadows.len(), 20);
    assert!(shadows.iter().all(|(_, by)| by == challenger));
    let got = app.get("/v1/challenger", Some(&app.analyst)).json();
    assert_eq!(got["version"], challenger.as_str());
    assert!(got["shadow_stored"].as_u64().unwrap() >= 20, "{got}");

    // Half the traffic: each request is decided by one model and shadowed by the other.
    assert_eq!(
        attach(json!({"traffic_percent": 50}), &app.admin).status,
        204
    );
    let decisions = score_many(&app, 100);
    let by_challenger = decisions
        .iter()
        .filter(|d| d["model_version"] == challenger.as_str())
        .count();
    assert!((20..=80).contains(&by_challenger), "{by_challenger} of 100");
    let shadows = wait_for_shadow(&app, &decisions, 100).await;
    assert_eq!(shadows.len(), 100);
    assert!(
        shadows
            .iter()
            .all(|(decided, shadowed)| decided != shadowed)
    );

    let r = app.store.recent_audit(10).await.unwrap();
    assert!(
        r.iter()
            .any(|e| e.action == "challenger.attach" && e.target == *challenger)
    );
    let auth = format!("Bearer {}", app.admin);
    let r = crate::app::http(
        app.port,
        "DELETE",
        "/v1/challenger",
        &[("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let decisions = score_many(&app, 10);
    assert!(
        decisions
            .iter()
            .all(|d| d["model_version"] == champion.as_str())
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(shadow_scores_of(&app, &decisions).await.is_empty());

    // The drift monitor counted the champion's decisions against its training baseline.
    let m = app.get("/v1/monitoring", Some(&app.analyst)).json();
    assert_eq!(m["model_version"], champion.as_str());
    assert!(m["decisions"].as_u64().unwrap() >= 30, "{m}");
    let features = m["features"].as_array().unwrap();
    assert!(!features.is_empty());
    // One application sent again and again is nothing like the training split.
    assert!(
        features
            .iter()
            .any(|f| f["psi"].as_f64().is_some_and(|p| p > 0.25)),
        "{m}"
    );
    assert!(m["score"]["psi"].as_f64().is_some(), "{m}");
    assert_eq!(
        m["level"], "insufficient_data",
        "fewer than 500 decisions: no verdict yet"
    );
    let metrics = app.get("/metrics", None).body;
    assert!(
        metrics.contains("riskloop_psi{name=\"score\"}"),
        "{metrics}"
    );
    app.finish().await;
}
