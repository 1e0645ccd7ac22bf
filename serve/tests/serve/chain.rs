//! Tamper evidence: every decision is a link of its writer's hash chain and every other record
//! a link of the ledger; `riskloop audit verify` walks them all and names the first broken
//! link. Each test edits rows behind the server's back (its triggers dropped) and sees it caught.

use riskloop_serve::store::{DatabaseSettings, Store};
use riskloop_serve::writer::{DecisionWriter, WriterSettings, Written};
use secrecy::SecretString;
use serde_json::json;

use crate::app::spawn_app;
use crate::cli::riskloop;
use crate::helpers::TestDb;
use crate::store::{decision, seed};

/// Every chain intact, with a link for every decision.
pub(crate) async fn assert_chains_intact(store: &Store) {
    let report = store.verify_chains(&|_| {}).await.unwrap();
    assert!(report.intact(), "{:#?}", report.broken);
    let linked: i64 = report.chains.iter().map(|c| c.length).sum();
    assert_eq!(linked, store.count_decisions().await.unwrap());
}

/// `riskloop audit verify` on the database at `url`: whether it passed, and what it printed.
fn verify(url: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = riskloop(dir.path(), Some(url), &["audit", "verify"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn records_are_chained_and_tampering_is_caught(db: TestDb) {
    let postgres = db.sqlite_path().is_none();
    let url = db.url.clone();
    let app = spawn_app(db).await;
    let decided = crate::data_loop::score_all(&app);
    // The same idempotency key twice at once: one is stored, both answered with it.
    let body = json!({"application_id": "retry-1", "application": crate::data_loop::german()[0].0});
    let retries: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    app.post_with(
                        "/v1/score",
                        &app.integration,
                        &body.to_string(),
                        &[("Idempotency-Key", "k-1")],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &retries {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let (first, second) = (&decided[0].0, &decided[1].0);
    let review = app.post(
        &format!("/v1/decisions/{first}/review"),
        &app.analyst,
        &json!({"decision": "approve", "note": "income verified"}),
    );
    assert_eq!(review.status, 201, "{}", review.body);
    let at = chrono::Utc::now().to_rfc3339();
    let outcome = app.post(
        "/v1/outcomes",
        &app.integration,
        &json!({"decision_id": second, "outcome": "repaid", "observed_at": at}),
    );
    assert_eq!(outcome.status, 201, "{}", outcome.body);
    let promoted = app.post(
        &format!("/v1/models/{}/promote", app.versions[1]),
        &app.admin,
        &json!({}),
    );
    assert_eq!(promoted.status, 200, "{}", promoted.body);

    assert_chains_intact(&app.store).await;
    let (ok, text) = verify(&url);
    assert!(ok, "{text}");
    assert!(text.contains("1001 decision link(s)"), "{text}");
    assert!(text.contains("every chain is intact"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let heads = dir.path().join("heads.json");
    let out = riskloop(
        dir.path(),
        Some(&url),
        &["audit", "verify", "--json", heads.to_str().unwrap()],
    );
    assert!(out.status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&heads).unwrap()).unwrap();
    let linked: i64 = report["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["length"].as_i64().unwrap())
        .sum();
    assert_eq!(linked, 1001, "{report}");
    assert!(report["ledger_links"].as_u64().unwrap() >= 5, "{report}");

    let store = &app.store;
    let (drop_decision_triggers, drop_review_trigger) = if postgres {
        (
            "DROP TRIGGER decisions_refuse_change ON decisions",
            "DROP TRIGGER reviews_refuse_change ON reviews",
        )
    } else {
        (
            "DROP TRIGGER decisions_refuse_update; DROP TRIGGER decisions_refuse_delete",
            "DROP TRIGGER reviews_refuse_update",
        )
    };
    store.execute_raw(drop_decision_triggers).await.unwrap();
    store.execute_raw(drop_review_trigger).await.unwrap();

    // A score changed: that decision's link is named.
    let victim = &decided[500].0;
    store
        .execute_raw(&format!(
            "UPDATE decisions SET score = score + 40 WHERE id = '{victim}'"
        ))
        .await
        .unwrap();
    let (ok, text) = verify(&url);
    assert!(!ok, "{text}");
    assert!(
        text.contains(victim.as_str()) && text.contains("was changed"),
        "{text}"
    );
    assert!(text.contains("1 broken link(s)"), "{text}");

    // A review's note rewritten: the ledger names it.
    store
        .execute_raw("UPDATE reviews SET note = 'no verification needed'")
        .await
        .unwrap();
    // A decision removed: the gap is named.
    let removed = &decided[700].0;
    store
        .execute_raw(&format!("DELETE FROM decisions WHERE id = '{removed}'"))
        .await
        .unwrap();
    // An outcome added without riskloop: it is not in the ledger.
    store
        .execute_raw(&format!(
            "INSERT INTO outcomes (decision_id, outcome, observed_at) \
             VALUES ('{first}', 'default', '2026-12-01T00:00:00Z')"
        ))
        .await
        .unwrap();
    // A decision added without riskloop: it carries no link.
    let forged = riskloop_serve::store::NewDecision::new_id();
    store
        .execute_raw(&format!(
            "INSERT INTO decisions (id, application_id, api_key_id, request_sha256, input, \
             model_version, policy_version, policy_sha256, probability, score, decision, \
             reasons, latency_us) SELECT '{forged}', application_id, api_key_id, \
             request_sha256, input, model_version, policy_version, policy_sha256, probability, \
             score, 'approve', reasons, latency_us FROM decisions WHERE id = '{second}'"
        ))
        .await
        .unwrap();
    let report = store.verify_chains(&|_| {}).await.unwrap();
    let problems: Vec<String> = report
        .broken
        .iter()
        .map(|b| format!("{} {} {}", b.chain, b.row, b.problem))
        .collect();
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains(forged.as_str()) && p.contains("carries no link")),
        "{problems:#?}"
    );
    assert!(problems[0].contains(victim.as_str()), "{problems:#?}");
    assert!(
        problems.iter().any(|p| p.contains("a decision is missing")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("ledger review:") && p.contains("was changed")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("ledger outcome:") && p.contains("behind riskloop's back")),
        "{problems:#?}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_chained_and_tampering_is_caught_on_sqlite() {
    records_are_chained_and_tampering_is_caught(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_chained_and_tampering_is_caught_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    records_are_chained_and_tampering_is_caught(db).await;
}

/// Writers started, stopped and started again, with idempotent repeats inside and across
/// batches: SQLite's one chain goes on where it stopped; each PostgreSQL writer task keeps a
/// chain of its own; every link holds, and every stored decision has one.
async fn chains_go_on_across_restarts_and_repeats(db: TestDb) {
    let key = seed(&db.store).await;
    let store = Store::connect(
        &SecretString::from(db.url.clone()),
        &DatabaseSettings::pool(4),
    )
    .await
    .unwrap();
    let metrics = std::sync::Arc::new(riskloop_serve::telemetry::metrics::Metrics::default());
    for round in 0..2 {
        let settings = WriterSettings {
            tasks: 2,
            linger_us: Some(2000),
            ..WriterSettings::default()
        };
        let (writer, tasks) = DecisionWriter::start(&store, settings, &metrics).unwrap();
        let repeated = format!("again-{round}");
        let mut submissions = Vec::new();
        for i in 0..40 {
            let idem = (i % 7 == 0).then_some(repeated.as_str());
            let batch = vec![decision(key, idem), decision(key, None)];
            let writer = writer.clone();
            submissions.push(tokio::spawn(async move { writer.submit(batch).await }));
        }
        let mut repeats = 0;
        for s in submissions {
            let written = s.await.unwrap().unwrap();
            repeats += written
                .iter()
                .filter(|w| matches!(w, Written::Duplicate))
                .count();
        }
        assert_eq!(repeats, 5, "six submissions share one idempotency key");
        drop(writer);
        tasks.flushed().await;
    }
    assert_eq!(store.count_decisions().await.unwrap(), 2 * (80 - 5));
    assert_chains_intact(&store).await;
    let report = store.verify_chains(&|_| {}).await.unwrap();
    if db.sqlite_path().is_some() {
        assert_eq!(report.chains.len(), 1, "{:?}", report.chains);
        assert_eq!(report.chains[0].chain, "sqlite");
    } else {
        assert!(report.chains.len() >= 2, "{:?}", report.chains);
    }
    store.close().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_go_on_across_restarts_and_repeats_on_sqlite() {
    chains_go_on_across_restarts_and_repeats(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_go_on_across_restarts_and_repeats_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    chains_go_on_across_restarts_and_repeats(db).await;
}
