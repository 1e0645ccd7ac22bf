//! The decision core: the policy reads the values the model reads, required fields are
//! required, and a model that takes other applications is promoted only on purpose. Called
//! directly (no server) and through the API.

use std::time::Instant;

use riskloop_ingest::application::Application;
use riskloop_serve::decision::ServedModel;
use riskloop_serve::decision::policy::Policy;
use riskloop_serve::decision::{self, DecideError, FieldError};
use riskloop_serve::store::DecisionKind;
use serde_json::{Value, json};

use crate::app::{POLICY, application, bundles, copy_bundle, other_schema_bundle, spawn_app};
use crate::helpers::TestDb;

fn decide_directly(
    model: &ServedModel,
    policy: &Policy,
    application: &Value,
) -> Result<decision::Decided, DecideError> {
    let text = application.to_string();
    let raw = serde_json::value::RawValue::from_string(text).unwrap();
    let parsed = Application::parse(raw.get()).unwrap();
    let request = decision::Request {
        decision_id: None,
        application_id: Some("core-1".into()),
        raw: &raw,
        api_key_id: 1,
        idempotency_key: None,
        request_sha256: String::new(),
        started: Instant::now(),
    };
    decision::decide(model, policy, &parsed, request)
}

fn with(field: &str, value: Value) -> Value {
    let mut a = application();
    a[field] = value;
    a
}

/// Without a server: what the model reads as 17 the policy reads as 17, `"$12,000.00"` is a
/// large loan for the policy as it is 12,000 for the model, required fields are refused when
/// missing, and the imputed inputs are named.
#[test]
fn the_core_decides_on_the_values_the_model_reads() {
    let model = ServedModel::load(&bundles()[0]).unwrap();
    let policy = Policy::parse(POLICY, "test").unwrap();
    policy.check_against(&model.schema).unwrap();
    for age in [
        json!(17),
        json!("17"),
        json!("$17"),
        json!("€17"),
        json!("1,7"),
    ] {
        let decided = decide_directly(&model, &policy, &with("age_in_years", age.clone()))
            .unwrap_or_else(|e| panic!("{age}: {e}"));
        assert_eq!(decided.record.decision, DecisionKind::Decline, "{age}");
        assert!(
            decided
                .record
                .reasons
                .json()
                .as_str()
                .contains("policy:UNDERAGE"),
            "{age}"
        );
    }
    let plain = decide_directly(&model, &policy, &with("credit_amount", json!(12000))).unwrap();
    let text =
        decide_directly(&model, &policy, &with("credit_amount", json!("$12,000.00"))).unwrap();
    assert_eq!(
        text.record.score, plain.record.score,
        "the model reads both as 12,000"
    );
    assert_eq!(text.record.decision, plain.record.decision);
    assert_eq!(
        plain.record.decision,
        DecisionKind::Decline,
        "the large-loan segment's cutoffs (800/780) decide"
    );

    let refused = |application: Value| match decide_directly(&model, &policy, &application) {
        Err(DecideError::Field(FieldError { field, rule })) => format!("{field}: {rule}"),
        other => panic!("{application}: {other:?}"),
    };
    // The first in the order fields are walked (shorter names first).
    assert_eq!(
        refused(json!({})),
        "age_in_years: required field is missing"
    );
    let mut no_amount = application();
    no_amount.as_object_mut().unwrap().remove("credit_amount");
    assert_eq!(
        refused(no_amount),
        "credit_amount: required field is missing"
    );
    assert_eq!(
        refused(with("age_in_years", Value::Null)),
        "age_in_years: required field is missing"
    );
    let mut absent = application();
    absent.as_object_mut().unwrap().remove("age_in_years");
    assert_eq!(refused(absent), "age_in_years: required field is missing");
    assert_eq!(
        refused(with("age_in_years", json!("$-4"))),
        "age_in_years: -4 is out of range: must be within [0, 130]"
    );

    let mut sparse = application();
    sparse.as_object_mut().unwrap().remove("purpose");
    sparse["savings_account_and_bonds"] = Value::Null;
    let decided = decide_directly(&model, &policy, &sparse).unwrap();
    assert_eq!(decided.imputed, ["purpose", "savings_account_and_bonds"]);
}

/// A policy rule on a field the model does not have, or of another type, is refused when the
/// policy is loaded against the model.
#[test]
fn a_policy_that_reads_what_the_model_lacks_is_refused() {
    let model = ServedModel::load(&bundles()[0]).unwrap();
    let missing = POLICY.replace("field = \"age_in_years\"", "field = \"age\"");
    let err = Policy::parse(&missing, "t")
        .unwrap()
        .check_against(&model.schema)
        .unwrap_err();
    assert!(
        err.contains("rule `UNDERAGE`")
            && err.contains("field `age` is not one the served model reads"),
        "{err}"
    );
    let wrong_type = POLICY.replace("field = \"age_in_years\"", "field = \"purpose\"");
    let err = Policy::parse(&wrong_type, "t")
        .unwrap()
        .check_against(&model.schema)
        .unwrap_err();
    assert!(err.contains("field `purpose` is a string"), "{err}");
    // A code written as an integer compares with a category's digits; a fraction cannot.
    let codes = |value: &str| {
        let text = POLICY.replace(
            "field = \"age_in_years\"\nop = \"<\"\nvalue = 18",
            &format!("field = \"purpose\"\nop = \"in\"\nvalue = {value}"),
        );
        Policy::parse(&text, "t")
            .unwrap()
            .check_against(&model.schema)
    };
    assert!(codes("[\"car (new)\", 12]").is_ok());
    assert!(codes("[\"car (new)\", 1.5]").is_err());
}

/// Through the API: the same regressions, and `imputed` in the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_decides_on_parsed_values_and_requires_what_the_spec_requires() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let score = |application: Value| {
        app.post(
            "/v1/score",
            &app.integration,
            &json!({ "application": application }),
        )
    };
    let minor = score(with("age_in_years", json!("$17")));
    assert_eq!(minor.status, 200, "{}", minor.body);
    assert_eq!(minor.json()["decision"], "decline");
    assert_eq!(minor.json()["reasons"][0]["feature"], "policy:UNDERAGE");
    let large = score(with("credit_amount", json!("$12,000.00")));
    assert_eq!(large.json()["decision"], "decline", "{}", large.body);
    let empty = score(json!({}));
    assert_eq!(
        (empty.status, empty.json()["field"].as_str()),
        (422, Some("application.age_in_years"))
    );
    let no_age = score(with("age_in_years", Value::Null));
    assert_eq!(
        (no_age.status, no_age.json()["field"].as_str()),
        (422, Some("application.age_in_years"))
    );
    let mut sparse = application();
    sparse["purpose"] = json!("");
    let r = score(sparse);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["imputed"], json!(["purpose"]), "{}", r.body);
    assert_eq!(app.store.count_decisions().await.unwrap(), 3);
    app.finish().await;
}

/// A model whose applications differ from the champion's is promoted only with
/// `allow_schema_change`, and the refusal lists the differences; a policy that does not fit a
/// model keeps it from being promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_takes_other_applications_is_promoted_only_on_purpose() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = copy_bundle(other_schema_bundle(), dir.path());
    let other = riskloop_serve::registry::register(&app.store, &bundle, "test")
        .await
        .unwrap()
        .record
        .version;
    let promote = format!("/v1/models/{other}/promote");
    let refused = app.post(&promote, &app.admin, &json!({}));
    assert_eq!(refused.status, 409, "{}", refused.body);
    let detail = refused.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("`telephone`"), "{detail}");
    assert!(
        detail.contains("`duration_in_month` was number, is now number, required"),
        "{detail}"
    );
    assert!(detail.contains("allow_schema_change"), "{detail}");
    // The same model version as the champion's schema: promoted without a flag.
    let same = app.post(
        &format!("/v1/models/{}/promote", app.versions[1]),
        &app.admin,
        &json!({}),
    );
    assert_eq!(same.status, 200, "{}", same.body);
    // A policy that reads `telephone`, which that model lacks, keeps it out even when allowed.
    let phones = Policy::parse(
        &format!(
            "{POLICY}[[rules]]\ncode = \"NO_PHONE\"\ndescription = \"No telephone\"\n\
             decision = \"review\"\nfield = \"telephone\"\nop = \"==\"\nvalue = \"none\"\n"
        ),
        "t",
    )
    .unwrap();
    let guard = riskloop_serve::registry::Guard {
        allow_schema_change: true,
        policy: Some(&phones),
        ..Default::default()
    };
    let err = riskloop_serve::registry::promote(&app.store, None, &other, "test", guard)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            riskloop_serve::registry::RegistryError::PolicyMismatch { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("`telephone`"), "{err}");
    let allowed = app.post(&promote, &app.admin, &json!({"allow_schema_change": true}));
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let served = app.get("/v1/info", None).json();
    assert_eq!(served["model_version"], other.as_str());
    let bad = app.post(&promote, &app.admin, &json!({"allow_schema_change": "yes"}));
    assert_eq!(
        (bad.status, bad.json()["field"].as_str()),
        (422, Some("allow_schema_change"))
    );
    app.finish().await;
}

/// A bundle trained on data with a gate its spec does not acknowledge (here drift, written
/// into a copy's manifest as `riskloop train` writes it) is refused by a promotion, which
/// names the gate, until the promotion acknowledges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_with_an_unacknowledged_gate_is_promoted_only_on_purpose() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_bundle(&bundles()[1], dir.path());
    // A version of its own: the original is registered already.
    let bundle = dir.path().join("german-gated");
    std::fs::rename(&copy, &bundle).unwrap();
    let manifest_path = bundle.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["version"] = json!("german-gated");
    manifest["gates"] = json!([
        {"gate": "drift", "feature": "purpose", "detail": "PSI 0.41 train → test", "acknowledged": null},
        {"gate": "leakage", "feature": "telephone", "detail": "IV 1.2", "acknowledged": "checked"}
    ]);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let version = riskloop_serve::registry::register(&app.store, &bundle, "test")
        .await
        .unwrap()
        .record
        .version;
    let promote = format!("/v1/models/{version}/promote");
    let refused = app.post(&promote, &app.admin, &json!({}));
    assert_eq!(refused.status, 409, "{}", refused.body);
    let detail = refused.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("drift on `purpose`: PSI 0.41") && !detail.contains("telephone"),
        "only the unacknowledged gate is named: {detail}"
    );
    assert!(detail.contains("acknowledge_gates"), "{detail}");
    assert_eq!(
        app.get("/v1/info", None).json()["model_version"],
        app.versions[0].as_str()
    );
    let bad = app.post(&promote, &app.admin, &json!({"acknowledge_gates": 1}));
    assert_eq!(
        (bad.status, bad.json()["field"].as_str()),
        (422, Some("acknowledge_gates"))
    );
    let allowed = app.post(&promote, &app.admin, &json!({"acknowledge_gates": true}));
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(
        app.get("/v1/info", None).json()["model_version"],
        version.as_str()
    );
    app.finish().await;
}

/// Decisions made under two policies (the file edited while serving) and two models (one
/// promoted while serving) are each decided again, from the policy text stored by its sha256
/// and the model version stored with it, exactly as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_decisions_are_decided_again_exactly_across_policy_edits_and_promotions() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let mix = |round: u32| -> Vec<Value> {
        (0..6)
            .map(|i| {
                let mut a = application();
                a["age_in_years"] = json!(if i == 0 {
                    "$17".into()
                } else {
                    json!(20 + i * 7)
                });
                a["credit_amount"] = json!(["1169", "$12,000.00", "2500", "800"][(i % 4) as usize]);
                a["duration_in_month"] = json!(6 + i * 4 + round);
                json!({ "application_id": format!("R-{round}-{i}"), "application": a })
            })
            .collect()
    };
    let score_all = |round| {
        for body in mix(round) {
            let r = app.post("/v1/score", &app.integration, &body);
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    score_all(0);
    // A new policy: other cutoffs, and the large-loan segment gone.
    let edited = POLICY
        .replace("test-1", "test-2")
        .replace("approve_min_score = 560", "approve_min_score = 540");
    app.replace_policy(&edited[..edited.find("[[segments]]").unwrap()], "test-2");
    score_all(1);
    let promoted = app.post(
        &format!("/v1/models/{}/promote", app.versions[1]),
        &app.admin,
        &json!({}),
    );
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    score_all(2);

    let stored = app.store.recent_decisions(100).await.unwrap();
    assert_eq!(stored.len(), 18);
    let policies: std::collections::HashSet<_> = stored
        .iter()
        .map(|d| d.record.policy_sha256.clone())
        .collect();
    let models: std::collections::HashSet<_> = stored
        .iter()
        .map(|d| d.record.model_version.clone())
        .collect();
    assert_eq!((policies.len(), models.len()), (2, 2));
    let mut artefacts = riskloop_serve::lifecycle::replay::Artefacts::default();
    for d in &stored {
        let differences =
            riskloop_serve::lifecycle::replay::redecide(&app.store, &mut artefacts, d)
                .await
                .unwrap();
        assert!(differences.is_empty(), "{}: {differences:?}", d.record.id);
    }
    // And the stored texts are the policies that decided.
    for sha in &policies {
        let text = app.store.get_policy(sha).await.unwrap().unwrap().text;
        assert_eq!(riskloop_serve::digest::sha256_hex(text.as_bytes()), *sha);
    }
    app.finish().await;
}

/// `riskloop score --policy` decides files through the same core: a `$17` age is declined on
/// the UNDERAGE rule, a `$12,000.00` loan falls in the large-loan segment, a row without its
/// credit amount is refused naming the field, and every other row gets a decision.
#[test]
fn score_with_a_policy_decides_files_as_the_server_would() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(crate::app::data("german_credit.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().take(21).map(str::to_owned).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (age, amount) = (column("age_in_years"), column("credit_amount"));
    // Rows 1 and 2 have no quoted field before these columns, so a split on commas is exact.
    let edit = |line: &str, at: usize, value: &str| {
        let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        cells[at] = value.to_owned();
        cells.join(",")
    };
    lines[1] = edit(&lines[1], age, "$17");
    lines[2] = edit(&lines[2], amount, "\"$12,000.00\"");
    lines[3] = edit(&lines[3], amount, "");
    std::fs::write(dir.path().join("book.csv"), lines.join("\n") + "\n").unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_riskloop"))
        .current_dir(dir.path())
        .args(["score", "--model"])
        .arg(&bundles()[0])
        .args([
            "--input",
            "book.csv",
            "--out",
            "decided.parquet",
            "--policy",
            "policy.toml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("Decided 20 application(s) (1 refused)"),
        "{printed}"
    );
    let frame =
        ParquetReader::new(std::fs::File::open(dir.path().join("decided.parquet")).unwrap())
            .finish()
            .unwrap();
    let text = |name: &str, row: usize| -> Option<String> {
        frame
            .column(name)
            .unwrap()
            .str()
            .unwrap()
            .get(row)
            .map(str::to_owned)
    };
    assert_eq!(text("decision", 0).as_deref(), Some("decline"));
    assert_eq!(text("reason_1", 0).as_deref(), Some("policy:UNDERAGE"));
    assert_eq!(
        text("decision", 1).as_deref(),
        Some("decline"),
        "the large-loan segment"
    );
    assert_eq!(text("decision", 2), None);
    assert_eq!(
        text("refused", 2).as_deref(),
        Some("credit_amount: required field is missing")
    );
    for row in 3..20 {
        assert!(text("decision", row).is_some(), "row {row}");
        assert_eq!(text("refused", row), None);
    }
}
