//! The store suite: every test runs on SQLite, and on PostgreSQL when its URL is set.

use chrono::{TimeZone, Utc};
use riskloop_serve::api_key::{GeneratedKey, Role};
use riskloop_serve::store::DatabaseSettings;
use riskloop_serve::store::{
    DecisionKind, JobStatus, JsonText, ModelStage, NewAuditEntry, NewDecision, NewModel,
    NewOutcome, NewReview, OutcomeKind, Reason, Reasons, Store, StoreError,
};
use secrecy::SecretString;

/// Generates `sqlite::<name>` and `postgres::<name>` tests from one async fn taking `&Store`.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::helpers::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::helpers::TestDb::postgres().await else { return };
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_both_engines!(
    migrate_creates_every_table_and_is_harmless_to_repeat,
    a_decision_round_trips_with_its_input_reasons_and_versions,
    the_database_refuses_to_update_a_decision,
    the_database_refuses_to_delete_a_decision,
    reviews_outcomes_model_events_and_audit_entries_are_append_only,
    an_idempotency_key_is_written_once_per_api_key_and_a_failed_batch_writes_nothing,
    api_keys_are_found_by_hash_until_revoked,
    outcomes_attach_to_existing_decisions_only,
    reviews_are_new_rows_that_approve_or_decline,
    promoting_a_model_swaps_the_champion_and_records_both_events,
    a_job_is_claimed_once_and_finishes_with_its_result,
    audit_entries_are_listed_newest_first,
    the_writer_commits_each_submission_whole_even_above_its_batch_size,
    a_submission_the_database_refuses_fails_alone_not_the_batch_it_was_gathered_in,
    a_decision_references_a_stored_key_and_model_and_neither_is_ever_removed,
);

const TABLES: [&str; 15] = [
    "api_keys",
    "audit_log",
    "challenger",
    "decisions",
    "jobs",
    "ledger",
    "locks",
    "model_events",
    "models",
    "outcomes",
    "policies",
    "reviews",
    "shadow_scores",
    "ui_sessions",
    "write_probes",
];

async fn create_key(store: &Store, name: &str, role: Role) -> (i64, GeneratedKey) {
    let generated = GeneratedKey::generate().unwrap();
    // In plain SQL of the first schema: some tests run it on a database migrated part way.
    store
        .execute_raw(&format!(
            "INSERT INTO api_keys (name, role, prefix, key_hash) VALUES ('{name}', '{}', '{}', '{}')",
            role.as_str(),
            generated.prefix,
            generated.hash
        ))
        .await
        .unwrap();
    let id = store.api_key_id(&generated.prefix).await.unwrap().unwrap();
    (id, generated)
}

async fn register(store: &Store, version: &str) {
    store
        .register_model(
            &NewModel {
                version: version.into(),
                path: format!("models/{version}"),
                manifest_sha256: "ab".repeat(32),
                manifest: serde_json::json!({ "version": version, "metrics": { "auc": 0.78 } }),
                parent_version: None,
            },
            "test",
        )
        .await
        .unwrap();
}

/// A stored API key and a registered model, which every decision references.
pub(crate) async fn seed(store: &Store) -> i64 {
    register(store, "m1").await;
    create_key(store, "bank", Role::Integration).await.0
}

pub(crate) fn decision(api_key_id: i64, idempotency_key: Option<&str>) -> NewDecision {
    NewDecision {
        id: NewDecision::new_id(),
        application_id: Some("app-42".into()),
        api_key_id,
        idempotency_key: idempotency_key.map(str::to_owned),
        request_sha256: "cd".repeat(32),
        input: JsonText::encode(
            &serde_json::json!({ "income": 60000.5, "purpose": "car (new)", "age": 31 }),
        )
        .unwrap(),
        model_version: "m1".into(),
        policy_version: "p1".into(),
        policy_sha256: "ef".repeat(32),
        probability: 0.123_456_789,
        score: 612,
        decision: DecisionKind::Review,
        reasons: Reasons::new(&[
            Reason {
                feature: "duration",
                contribution: 0.41,
                description: "Loan term",
            },
            Reason {
                feature: "savings",
                contribution: 0.2,
                description: "Savings",
            },
        ])
        .unwrap(),
        latency_us: 850,
    }
}

async fn migrate_creates_every_table_and_is_harmless_to_repeat(store: &Store) {
    assert_eq!(store.tables().await.unwrap(), TABLES);
    assert_eq!(
        store.migrate().await.unwrap(),
        0,
        "a second migrate applies nothing"
    );
    assert_eq!(store.tables().await.unwrap(), TABLES);
}

async fn a_decision_round_trips_with_its_input_reasons_and_versions(store: &Store) {
    let key = seed(store).await;
    let d = decision(key, None);
    let before = Utc::now() - chrono::Duration::seconds(5);
    let created = store
        .insert_decisions(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    let stored = store
        .get_decision(&d.id)
        .await
        .unwrap()
        .expect("stored decision");
    assert_eq!(stored.record, d);
    assert_eq!(Some(stored.created_at), created[0]);
    assert!(stored.created_at > before && stored.created_at <= Utc::now());
    assert!(store.get_decision("no-such-id").await.unwrap().is_none());
    assert_eq!(store.count_decisions().await.unwrap(), 1);
}

async fn the_database_refuses_to_update_a_decision(store: &Store) {
    let key = seed(store).await;
    let d = decision(key, None);
    store
        .insert_decisions(std::slice::from_ref(&d))
        .await
        .unwrap();
    let err = store
        .execute_raw(&format!(
            "UPDATE decisions SET score = 999, decision = 'approve' WHERE id = '{}'",
            d.id
        ))
        .await
        .expect_err("UPDATE of a decision must fail");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(store.get_decision(&d.id).await.unwrap().unwrap().record, d);
}

async fn the_database_refuses_to_delete_a_decision(store: &Store) {
    let key = seed(store).await;
    let d = decision(key, None);
    store
        .insert_decisions(std::slice::from_ref(&d))
        .await
        .unwrap();
    for sql in [
        format!("DELETE FROM decisions WHERE id = '{}'", d.id),
        "DELETE FROM decisions".into(),
    ] {
        let err = store
            .execute_raw(&sql)
            .await
            .expect_err("DELETE of a decision must fail");
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if store.engine() == riskloop_serve::store::Engine::Postgres {
        let err = store
            .execute_raw("TRUNCATE decisions CASCADE")
            .await
            .expect_err("TRUNCATE must fail");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(store.count_decisions().await.unwrap(), 1);
}

async fn reviews_outcomes_model_events_and_audit_entries_are_append_only(store: &Store) {
    let key = seed(store).await;
    let d = decision(key, None);
    store
        .insert_decisions(std::slice::from_ref(&d))
        .await
        .unwrap();
    store
        .insert_review(&NewReview {
            decision_id: &d.id,
            api_key_id: key,
            decision: DecisionKind::Approve,
            note: "ok",
        })
        .await
        .unwrap();
    store
        .insert_outcomes(&[NewOutcome {
            decision_id: d.id.clone(),
            outcome: OutcomeKind::Repaid,
            observed_at: Utc::now(),
            api_key_id: Some(key),
        }])
        .await
        .unwrap();
    store
        .audit(&NewAuditEntry {
            actor: "cli",
            action: "test",
            target: "x",
            detail: serde_json::json!({}),
        })
        .await
        .unwrap();
    for (table, column) in [
        ("reviews", "note"),
        ("outcomes", "outcome"),
        ("model_events", "actor"),
        ("audit_log", "actor"),
    ] {
        let update = format!("UPDATE {table} SET {column} = 'changed'");
        let err = store.execute_raw(&update).await.expect_err(&update);
        assert!(err.to_string().contains("append-only"), "{update}: {err}");
        let delete = format!("DELETE FROM {table}");
        let err = store.execute_raw(&delete).await.expect_err(&delete);
        assert!(err.to_string().contains("append-only"), "{delete}: {err}");
    }
    assert_eq!(store.reviews_of(&d.id).await.unwrap()[0].note, "ok");
}

async fn a_decision_references_a_stored_key_and_model_and_neither_is_ever_removed(store: &Store) {
    let key = seed(store).await;
    let fine = decision(key, None);
    for wrong in [
        NewDecision {
            model_version: "no-such-model".into(),
            ..decision(key, None)
        },
        NewDecision {
            api_key_id: key + 1000,
            ..decision(key, None)
        },
    ] {
        let err = store
            .insert_decisions(&[fine.clone(), wrong.clone()])
            .await
            .expect_err("an unknown reference must be refused");
        let text = err.to_string();
        assert!(
            text.contains("FOREIGN KEY") || text.contains("does not exist"),
            "{text}"
        );
        assert!(
            store.get_decision(&fine.id).await.unwrap().is_none(),
            "the batch is atomic"
        );
    }
    store
        .insert_decisions(std::slice::from_ref(&fine))
        .await
        .unwrap();
    for sql in [
        "DELETE FROM api_keys".to_owned(),
        "DELETE FROM models".to_owned(),
        "UPDATE models SET version = 'm1-renamed'".to_owned(),
        format!("UPDATE api_keys SET name = 'renamed' WHERE id = {key}"),
    ] {
        let changed = store.execute_raw(&sql).await;
        if sql.contains("name =") {
            assert_eq!(changed.unwrap(), 1, "other columns of a key may change");
        } else {
            let err = changed.expect_err(&sql).to_string();
            assert!(err.contains("never removed or renamed"), "{sql}: {err}");
        }
    }
    assert_eq!(store.count_decisions().await.unwrap(), 1);
}

async fn an_idempotency_key_is_written_once_per_api_key_and_a_failed_batch_writes_nothing(
    store: &Store,
) {
    let key = seed(store).await;
    let (other_key, _) = create_key(store, "other bank", Role::Integration).await;
    let first = decision(key, Some("retry-1"));
    store
        .insert_decisions(std::slice::from_ref(&first))
        .await
        .unwrap();
    // The same idempotency key under another API key is a different request.
    store
        .insert_decisions(&[decision(other_key, Some("retry-1"))])
        .await
        .unwrap();
    // Requests without a key never collide.
    store
        .insert_decisions(&[decision(key, None), decision(key, None)])
        .await
        .unwrap();

    // A reused idempotency key is skipped, not written twice; the rest of the batch is written.
    let fresh = decision(key, Some("retry-2"));
    let retry = decision(key, Some("retry-1"));
    let written = store
        .insert_decisions(&[fresh.clone(), retry.clone(), decision(key, Some("retry-2"))])
        .await
        .unwrap();
    assert!(written[0].is_some());
    assert_eq!(written[1], None, "already stored");
    assert_eq!(written[2], None, "repeated within the batch");
    assert!(store.get_decision(&fresh.id).await.unwrap().is_some());
    assert!(store.get_decision(&retry.id).await.unwrap().is_none());
    assert_eq!(store.count_decisions().await.unwrap(), 5);

    // A clashing primary key fails the whole statement: nothing of the batch is written.
    let new_one = decision(key, Some("retry-3"));
    let clash = NewDecision {
        idempotency_key: Some("retry-9".into()),
        ..first.clone()
    };
    let err = store
        .insert_decisions(&[new_one.clone(), clash])
        .await
        .expect_err("a duplicate id must be refused");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        store.get_decision(&new_one.id).await.unwrap().is_none(),
        "the batch is atomic"
    );

    let found = store
        .decision_by_idempotency_key(key, "retry-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.record.id, first.id);
    assert!(
        store
            .decision_by_idempotency_key(key, "retry-3")
            .await
            .unwrap()
            .is_none()
    );
    let recent = store.recent_decisions(10).await.unwrap();
    assert_eq!(recent.len(), 5);
    assert!(
        recent
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at && w[0].record.id > w[1].record.id)
    );
}

async fn api_keys_are_found_by_hash_until_revoked(store: &Store) {
    let (id, generated) = create_key(store, "analyst anna", Role::Analyst).await;
    let (other, _) = create_key(store, "ops", Role::Admin).await;
    let found = store
        .active_api_key_by_hash(&generated.hash)
        .await
        .unwrap()
        .expect("active key");
    assert_eq!(
        (found.id, found.role, found.name.as_str()),
        (id, Role::Analyst, "analyst anna")
    );
    assert!(
        store
            .active_api_key_by_hash(&"0".repeat(64))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.find_api_key(&generated.prefix).await.unwrap().id, id);
    assert_eq!(
        store.find_api_key(&id.to_string()).await.unwrap().prefix,
        generated.prefix
    );
    assert!(matches!(
        store.find_api_key("rk_missing").await,
        Err(StoreError::NotFound(_))
    ));

    let used_at = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
    store.touch_api_keys(&[(id, used_at)]).await.unwrap();
    assert_eq!(
        store
            .find_api_key(&id.to_string())
            .await
            .unwrap()
            .last_used_at,
        Some(used_at)
    );

    assert!(store.revoke_api_key(id).await.unwrap());
    assert!(
        !store.revoke_api_key(id).await.unwrap(),
        "a second revoke changes nothing"
    );
    assert!(
        store
            .active_api_key_by_hash(&generated.hash)
            .await
            .unwrap()
            .is_none()
    );
    let keys = store.list_api_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .find(|k| k.id == id)
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        keys.iter()
            .find(|k| k.id == other)
            .unwrap()
            .revoked_at
            .is_none()
    );
}

async fn outcomes_attach_to_existing_decisions_only(store: &Store) {
    let key = seed(store).await;
    let d = decision(key, None);
    store
        .insert_decisions(std::slice::from_ref(&d))
        .await
        .unwrap();
    let observed = Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).unwrap();
    let outcome = |id: &str, kind| NewOutcome {
        decision_id: id.to_owned(),
        outcome: kind,
        observed_at: observed,
        api_key_id: Some(key),
    };
    let ids = store
        .insert_outcomes(&[outcome(&d.id, OutcomeKind::Repaid)])
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    let err = store
        .insert_outcomes(&[
            outcome(&d.id, OutcomeKind::Default),
            outcome("missing", OutcomeKind::Default),
        ])
        .await
        .expect_err("an outcome for a missing decision must fail");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let stored = store.outcomes_of(&d.id).await.unwrap();
    assert_eq!(stored.len(), 1, "the failed batch wrote nothing");
    assert_eq!(stored[0].record, outcome(&d.id, OutcomeKind::Repaid));
}

async fn reviews_are_new_rows_that_approve_or_decline(store: &Store) {
    let key = seed(store).await;
    let (analyst, _) = create_key(store, "anna", Role::Analyst).await;
    let d = decision(key, None);
    store
        .insert_decisions(std::slice::from_ref(&d))
        .await
        .unwrap();
    let review = |decision, note| NewReview {
        decision_id: &d.id,
        api_key_id: analyst,
        decision,
        note,
    };
    store
        .insert_review(&review(DecisionKind::Decline, "thin file"))
        .await
        .unwrap();
    store
        .insert_review(&review(DecisionKind::Approve, "documents received"))
        .await
        .unwrap();
    assert!(
        store
            .insert_review(&review(DecisionKind::Review, ""))
            .await
            .is_err()
    );
    let reviews = store.reviews_of(&d.id).await.unwrap();
    let kinds: Vec<_> = reviews.iter().map(|r| r.decision).collect();
    assert_eq!(kinds, [DecisionKind::Decline, DecisionKind::Approve]);
    assert_eq!(
        store
            .get_decision(&d.id)
            .await
            .unwrap()
            .unwrap()
            .record
            .decision,
        DecisionKind::Review
    );
}

async fn promoting_a_model_swaps_the_champion_and_records_both_events(store: &Store) {
    register(store, "m1").await;
    register(store, "m2").await;
    let dup = store
        .register_model(
            &NewModel {
                version: "m1".into(),
                path: "elsewhere".into(),
                manifest_sha256: String::new(),
                manifest: serde_json::json!({}),
                parent_version: None,
            },
            "test",
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert!(store.champion().await.unwrap().is_none());

    assert_eq!(store.promote_model("m1", "cli").await.unwrap(), None);
    assert_eq!(
        store.promote_model("m2", "cli").await.unwrap(),
        Some("m1".into())
    );
    assert_eq!(
        store.champion().await.unwrap().unwrap().record.version,
        "m2"
    );
    assert_eq!(
        store.get_model("m1").await.unwrap().unwrap().stage,
        ModelStage::Registered
    );
    assert!(matches!(
        store.promote_model("m9", "cli").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.champion().await.unwrap().unwrap().record.version,
        "m2",
        "failed promote changes nothing"
    );

    let events: Vec<String> = store
        .model_events("m1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["registered", "promoted", "demoted"]);
    let m2 = store.get_model("m2").await.unwrap().unwrap();
    assert_eq!(m2.record.manifest["metrics"]["auc"], 0.78);
    assert_eq!(store.list_models().await.unwrap().len(), 2);
}

async fn a_job_is_claimed_once_and_finishes_with_its_result(store: &Store) {
    let id = store
        .enqueue_job("retrain", &serde_json::json!({ "trigger": "schedule" }))
        .await
        .unwrap();
    assert_eq!(
        store.get_job(id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(store.claim_job(id).await.unwrap());
    assert!(!store.claim_job(id).await.unwrap(), "a job is claimed once");
    store
        .finish_job(id, Ok(&serde_json::json!({ "model": "m3" })))
        .await
        .unwrap();
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.detail["model"], "m3");
    assert!(job.started_at.is_some() && job.finished_at.is_some());
    assert!(
        store.finish_job(id, Err("again")).await.is_err(),
        "a finished job stays finished"
    );

    let failing = store
        .enqueue_job("retrain", &serde_json::json!({}))
        .await
        .unwrap();
    store.claim_job(failing).await.unwrap();
    store
        .finish_job(failing, Err("no outcomes yet"))
        .await
        .unwrap();
    let job = store.get_job(failing).await.unwrap().unwrap();
    assert_eq!(
        (job.status, job.error.as_deref()),
        (JobStatus::Failed, Some("no outcomes yet"))
    );
}

async fn audit_entries_are_listed_newest_first(store: &Store) {
    for action in ["key.create", "key.revoke"] {
        store
            .audit(&NewAuditEntry {
                actor: "cli",
                action,
                target: "rk_1",
                detail: serde_json::json!({ "n": 1 }),
            })
            .await
            .unwrap();
    }
    let entries = store.recent_audit(10).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.revoke", "key.create"]);
    assert_eq!(entries[0].detail["n"], 1);
}

async fn the_writer_commits_each_submission_whole_even_above_its_batch_size(store: &Store) {
    use riskloop_serve::writer::{DecisionWriter, WriterSettings, Written};
    let key = seed(store).await;
    let settings = WriterSettings {
        max_batch: 2,
        ..WriterSettings::default()
    };
    let metrics = std::sync::Arc::new(riskloop_serve::telemetry::metrics::Metrics::default());
    let (writer, tasks) = DecisionWriter::start(store, settings, &metrics).unwrap();

    let good: Vec<NewDecision> = (0..5).map(|_| decision(key, None)).collect();
    let written = writer.submit(good.clone()).await.unwrap();
    assert_eq!(written.len(), 5);
    assert!(written.iter().all(|w| matches!(w, Written::Committed(_))));

    // The last of five clashes with a stored id: the first four, though more than one batch's
    // worth, must not be stored either.
    let mut bad: Vec<NewDecision> = (0..4).map(|_| decision(key, None)).collect();
    bad.push(good[0].clone());
    assert!(writer.submit(bad.clone()).await.is_err());
    for d in &bad[..4] {
        assert!(store.get_decision(&d.id).await.unwrap().is_none());
    }
    assert_eq!(store.count_decisions().await.unwrap(), 5);
    drop(writer);
    tasks.flushed().await;
}

async fn a_submission_the_database_refuses_fails_alone_not_the_batch_it_was_gathered_in(
    store: &Store,
) {
    use riskloop_serve::writer::{DecisionWriter, WriterSettings, Written};
    let key = seed(store).await;
    let stored = decision(key, None);
    store
        .insert_decisions(std::slice::from_ref(&stored))
        .await
        .unwrap();
    // One writer lingering long enough that all four submissions are gathered into one batch
    // (the metrics below check that they were).
    let settings = WriterSettings {
        linger_us: Some(300_000),
        tasks: 1,
        ..WriterSettings::default()
    };
    let metrics = std::sync::Arc::new(riskloop_serve::telemetry::metrics::Metrics::default());
    let (writer, tasks) = DecisionWriter::start(store, settings, &metrics).unwrap();

    let first: Vec<NewDecision> = (0..2).map(|_| decision(key, None)).collect();
    let clash = vec![decision(key, None), stored.clone()];
    let out_of_range = vec![NewDecision {
        probability: 1.5,
        ..decision(key, None)
    }];
    let last = vec![decision(key, Some("last"))];
    let (a, b, c, d) = tokio::join!(
        writer.submit(first.clone()),
        writer.submit(clash.clone()),
        writer.submit(out_of_range.clone()),
        writer.submit(last.clone()),
    );
    let committed = |w: Vec<Written>| w.iter().all(|w| matches!(w, Written::Committed(_)));
    assert!(committed(a.unwrap()), "an innocent submission is committed");
    assert!(committed(d.unwrap()), "an innocent submission is committed");
    assert!(b.is_err(), "a clashing id is refused");
    assert!(c.is_err(), "a probability above 1 is refused");
    for d in first.iter().chain(&last) {
        assert!(store.get_decision(&d.id).await.unwrap().is_some());
    }
    assert!(
        store.get_decision(&clash[0].id).await.unwrap().is_none(),
        "a refused submission is stored whole or not at all"
    );
    assert!(
        store
            .get_decision(&out_of_range[0].id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_decisions().await.unwrap(), 4);

    // One gathered batch of 6: SQLite rolls the refused submissions back to their savepoints
    // within it; PostgreSQL then commits each of the 4 submissions again on its own.
    let text = metrics.render();
    let (count, sum) = match store.engine() {
        riskloop_serve::store::Engine::Sqlite => (1, 6),
        riskloop_serve::store::Engine::Postgres => (5, 12),
    };
    assert!(
        text.contains(&format!("riskloop_writer_batch_size_count {count}"))
            && text.contains(&format!("riskloop_writer_batch_size_sum {sum}")),
        "{text}"
    );
    drop(writer);
    tasks.flushed().await;
}

/// SQLite's writer commits on a connection of its own that never checkpoints by itself: a
/// background thread copies pages, and the writer completes a checkpoint every 4,096 decisions
/// (unit-tested in `writer::sqlite_sink`). Through the whole path, every decision is stored
/// and the WAL stays bounded (without checkpoints, 20,480 decisions take about 45 MB).
#[tokio::test]
async fn sqlite_sustained_writes_are_all_stored_and_the_wal_stays_bounded() {
    use riskloop_serve::writer::{DecisionWriter, WriterSettings};
    let db = crate::helpers::TestDb::sqlite().await;
    let store = &db.store;
    let key = seed(store).await;
    let metrics = std::sync::Arc::new(riskloop_serve::telemetry::metrics::Metrics::default());
    let (writer, tasks) =
        DecisionWriter::start(store, WriterSettings::default(), &metrics).unwrap();
    let wal = store.sqlite_file().unwrap().with_extension("db-wal");
    let mut largest = 0;
    for _ in 0..40 {
        let submissions: Vec<_> = (0..4)
            .map(|_| {
                let (writer, batch) = (writer.clone(), (0..128).map(|_| decision(key, None)));
                let batch: Vec<NewDecision> = batch.collect();
                tokio::spawn(async move { writer.submit(batch).await })
            })
            .collect();
        for submission in submissions {
            assert_eq!(submission.await.unwrap().unwrap().len(), 128);
        }
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    drop(writer);
    tasks.flushed().await;
    assert_eq!(store.count_decisions().await.unwrap(), 40 * 4 * 128);
    assert!(largest > 0, "the writer writes through the WAL");
    assert!(
        largest < 40 << 20,
        "the WAL reached {largest} bytes: it does not start over"
    );
    db.finish().await;
}

/// Migrations 15 and 16 rebuild SQLite's `decisions` table: a CHECK without an `IN` list (which
/// SQLite checked by building a temporary b-tree per row), then the idempotency rule as an index
/// of keyed decisions only. A database from before them keeps every row, the rows that point at
/// them, and every rule, the idempotency rule included; the writer's insert no longer opens a
/// temporary table, and decisions without a key are not in the idempotency index.
#[tokio::test]
async fn sqlite_decisions_rebuilds_keep_rows_references_and_rules() {
    const REBUILD: &str = "20261203000015";
    let dir = tempfile::tempdir().unwrap();
    let older = dir.path().join("migrations");
    std::fs::create_dir(&older).unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    for entry in std::fs::read_dir(&all).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().as_ref() < REBUILD {
            std::fs::copy(entry.path(), older.join(entry.file_name())).unwrap();
        }
    }
    let url = format!("sqlite://{}", dir.path().join("riskloop.db").display());
    // One connection: the one that runs the migration must enforce foreign keys afterwards.
    let store = Store::connect(&SecretString::from(url.clone()), &DatabaseSettings::pool(1))
        .await
        .unwrap();
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let pool = sqlx::SqlitePool::connect_with(options.foreign_keys(true))
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(older.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();

    // Written as the server of that schema wrote them (today's writes link each row into the
    // hash chains of a later migration).
    store
        .execute_raw(
            "INSERT INTO models (version, path, manifest_sha256, manifest) \
             VALUES ('m1', 'models/m1', 'abab', '{}')",
        )
        .await
        .unwrap();
    let key = create_key(&store, "bank", Role::Integration).await.0;
    let mut decisions: Vec<NewDecision> = (0..3).map(|_| decision(key, None)).collect();
    decisions.push(decision(key, Some("retry-1")));
    for d in &decisions {
        sqlx::query(
            "INSERT INTO decisions (id, application_id, api_key_id, idempotency_key, \
             request_sha256, input, model_version, policy_version, policy_sha256, probability, \
             score, decision, reasons, latency_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&d.id)
        .bind(&d.application_id)
        .bind(d.api_key_id)
        .bind(&d.idempotency_key)
        .bind(&d.request_sha256)
        .bind(d.input.as_str())
        .bind(&d.model_version)
        .bind(&d.policy_version)
        .bind(&d.policy_sha256)
        .bind(d.probability)
        .bind(d.score)
        .bind(d.decision.as_str())
        .bind(d.reasons.json().as_str())
        .bind(d.latency_us)
        .execute(&pool)
        .await
        .unwrap();
    }
    let before: Vec<_> =
        futures_util::future::join_all(decisions.iter().map(|d| store.get_decision(&d.id))).await;
    let (analyst, _) = create_key(&store, "anna", Role::Analyst).await;
    sqlx::query("INSERT INTO reviews (decision_id, api_key_id, decision, note) VALUES ($1, $2, 'approve', 'kept')")
        .bind(&decisions[0].id)
        .bind(analyst)
        .execute(&pool)
        .await
        .unwrap();
    // Reported twice, as a retry did before reports were idempotent: migration 18's rule
    // leaves such rows alone.
    let observed = Utc::now();
    for _ in 0..2 {
        sqlx::query(
            "INSERT INTO outcomes (decision_id, outcome, observed_at, api_key_id) \
             VALUES ($1, 'repaid', $2, $3)",
        )
        .bind(&decisions[1].id)
        .bind(observed)
        .bind(key)
        .execute(&pool)
        .await
        .unwrap();
    }

    assert_eq!(store.pending_migrations().await, 10);
    assert_eq!(
        store.migrate().await.unwrap(),
        10,
        "only the rebuilds and the eight after them were left"
    );
    assert_eq!(store.outcomes_of(&decisions[1].id).await.unwrap().len(), 2);
    assert_eq!(store.pending_migrations().await, 0);

    for (d, was) in decisions.iter().zip(before) {
        let now = store.get_decision(&d.id).await.unwrap().unwrap();
        assert_eq!(Some(now), was.unwrap(), "decision {} changed", d.id);
    }
    assert_eq!(store.reviews_of(&decisions[0].id).await.unwrap().len(), 1);
    let broken: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(broken.is_empty(), "dangling references: {broken:?}");
    let dangling = store
        .insert_outcomes(&[NewOutcome {
            decision_id: "missing".into(),
            outcome: OutcomeKind::Default,
            observed_at: Utc::now(),
            api_key_id: Some(key),
        }])
        .await;
    assert!(
        dangling.is_err(),
        "the migration turns foreign keys back on"
    );
    for refused in ["UPDATE decisions SET score = 1", "DELETE FROM decisions"] {
        assert!(
            sqlx::query(refused).execute(&pool).await.is_err(),
            "{refused}"
        );
    }
    let out_of_set = sqlx::query(
        "INSERT INTO decisions (id, api_key_id, request_sha256, input, model_version, \
         policy_version, policy_sha256, probability, score, decision, reasons, latency_us) \
         SELECT 'x', api_key_id, request_sha256, input, model_version, policy_version, \
         policy_sha256, probability, score, 'maybe', reasons, latency_us FROM decisions LIMIT 1",
    )
    .execute(&pool)
    .await;
    assert!(out_of_set.is_err(), "the decision CHECK still holds");

    // The idempotency rule holds for a key stored before the rebuild; keyless decisions repeat.
    let retry = decision(key, Some("retry-1"));
    let keyless = [decision(key, None), decision(key, None)];
    assert_eq!(store.insert_decisions(&[retry]).await.unwrap(), [None]);
    assert!(
        store
            .insert_decisions(&keyless)
            .await
            .unwrap()
            .iter()
            .all(Option::is_some)
    );
    let (indexed,): (i64,) =
        sqlx::query_as("SELECT SUM(ncell) FROM dbstat WHERE name = 'decisions_idempotency_key'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        indexed, 1,
        "the keyed decision alone is in the idempotency index"
    );
    // Rows from before the hash chains carry no links and are counted apart; later ones chain.
    let report = store.verify_chains(&|_| {}).await.unwrap();
    assert!(report.intact(), "{:#?}", report.broken);
    assert_eq!(report.decisions_before_chaining, 4);
    assert_eq!(report.decisions_linked, 2);
    let autoindexes: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE tbl_name = 'decisions' \
         AND name LIKE 'sqlite_autoindex%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        autoindexes.len(),
        1,
        "the id's index alone: {autoindexes:?}"
    );
    let lookup: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT id FROM decisions WHERE api_key_id = ?1 AND idempotency_key = ?2",
    )
    .bind(key)
    .bind("retry-1")
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        lookup
            .iter()
            .any(|(.., detail)| detail.contains("decisions_idempotency_key")),
        "the lookup by key uses the index: {lookup:?}"
    );
    let plan: Vec<(i64, String)> = sqlx::query_as(
        "EXPLAIN INSERT INTO decisions (id, api_key_id, request_sha256, input, model_version, \
         policy_version, policy_sha256, probability, score, decision, reasons, latency_us) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!plan.is_empty());
    assert!(
        plan.iter().all(|(_, op)| op != "OpenEphemeral"),
        "an insert still builds a temporary table"
    );
    pool.close().await;
    store.close().await;
}
