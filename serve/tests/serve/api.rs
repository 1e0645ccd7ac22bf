//! The scoring API end to end: every endpoint and role rule, each validation error class,
//! idempotent retries, and that every 2xx decision is in the database. Each test runs against
//! SQLite and, when its URL is set, PostgreSQL.

use serde_json::{Value, json};

use crate::app::{TestApp, application, spawn_app};

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = crate::app::spawn_app(crate::helpers::TestDb::sqlite().await).await;
                    super::$name(&app).await;
                    app.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::helpers::TestDb::postgres().await else { return };
                    let app = crate::app::spawn_app(db).await;
                    super::$name(&app).await;
                    app.finish().await;
                }
            )*
        }
    };
}

on_both_engines!(
    score_returns_a_stored_decision_with_versions_and_reasons,
    an_idempotent_retry_returns_the_original_and_a_changed_body_is_a_conflict,
    every_validation_error_class_is_a_problem_naming_the_field,
    roles_are_enforced_per_route_with_401_and_403_apart,
    analysts_list_read_and_review_decisions,
    outcomes_are_accepted_by_decision_or_application_id,
    a_hard_policy_rule_declines_with_its_own_reason,
    batch_scoring_is_answered_whole_or_refused,
);

fn score_body(app_id: &str) -> Value {
    json!({ "application_id": app_id, "application": application() })
}

async fn score_returns_a_stored_decision_with_versions_and_reasons(app: &TestApp) {
    // Laid out as no JSON encoder here would write it: the record keeps it as sent.
    let sent = serde_json::to_string_pretty(&application()).unwrap();
    let sent = sent.replacen("{\n", "{ ", 1);
    let body = format!("{{\"application_id\":\"A-1\",  \"application\" : {sent}\n}}");
    let reply = app.post_with("/v1/score", &app.integration, &body, &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["application_id"], "A-1");
    assert_eq!(body["model_version"], app.versions[0].as_str());
    assert_eq!(body["policy_version"], "test-1");
    let pd = body["probability_of_default"].as_f64().unwrap();
    assert!(pd > 0.0 && pd < 1.0);
    assert!(["approve", "review", "decline"].contains(&body["decision"].as_str().unwrap()));
    let reasons = body["reasons"].as_array().unwrap();
    assert!(reasons.len() <= 4);
    assert!(
        reasons
            .iter()
            .all(|r| r["contribution"].as_f64().unwrap() > 0.0 && r["description"].is_string())
    );
    assert!(reply.header("x-request-id").is_some());
    let id = body["decision_id"].as_str().unwrap();
    let stored = app
        .store
        .get_decision(id)
        .await
        .unwrap()
        .expect("a 2xx decision is in the database");
    assert_eq!(stored.record.probability, pd);
    assert_eq!(stored.record.input.value()["age_in_years"], 67);
    assert_eq!(
        stored.record.input.as_str(),
        sent,
        "the application is stored as sent"
    );
    assert_eq!(stored.record.policy_sha256.len(), 64);
    let stored_reasons = format!("\"reasons\":{}", stored.record.reasons.json().as_str());
    assert!(
        reply.body.contains(&stored_reasons),
        "the reasons answered are the reasons stored, byte for byte: {stored_reasons} in {}",
        reply.body
    );
}

async fn an_idempotent_retry_returns_the_original_and_a_changed_body_is_a_conflict(app: &TestApp) {
    let body = score_body("A-2").to_string();
    let key = [("Idempotency-Key", "retry-me")];
    let first = app.post_with("/v1/score", &app.integration, &body, &key);
    assert_eq!(first.status, 200, "{}", first.body);
    let again = app.post_with("/v1/score", &app.integration, &body, &key);
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json()["decision_id"], again.json()["decision_id"]);
    assert_eq!(
        app.store.count_decisions().await.unwrap(),
        1,
        "a retry writes nothing"
    );
    // The same JSON value in other bytes (indented, members reordered) is the same request.
    let mut reordered = score_body("A-2");
    let application = reordered["application"].take();
    let reordered = format!(
        "{{\n  \"application\" : {},\n  \"application_id\": \"A-2\"\n}}",
        serde_json::to_string_pretty(&application).unwrap()
    );
    assert_ne!(reordered, body);
    let again = app.post_with("/v1/score", &app.integration, &reordered, &key);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json()["decision_id"], again.json()["decision_id"]);
    let changed = score_body("A-3").to_string();
    let conflict = app.post_with("/v1/score", &app.integration, &changed, &key);
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert_eq!(conflict.json()["code"], "conflict");
    assert_eq!(app.store.count_decisions().await.unwrap(), 1);
}

async fn every_validation_error_class_is_a_problem_naming_the_field(app: &TestApp) {
    let check =
        |body: &str, content_type: Option<&str>, status: u16, code: &str, field: Option<&str>| {
            let reply = match content_type {
                None => app.post_with("/v1/score", &app.integration, body, &[]),
                Some(ct) => crate::app::http(
                    app.port,
                    "POST",
                    "/v1/score",
                    &[
                        ("Authorization", &format!("Bearer {}", app.integration)),
                        ("Content-Type", ct),
                    ],
                    Some(body),
                ),
            };
            assert_eq!(reply.status, status, "{body}: {}", reply.body);
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json")
            );
            let problem = reply.json();
            assert_eq!(problem["code"], code, "{}", reply.body);
            assert!(problem["request_id"].as_str().is_some_and(|r| r.len() > 8));
            if let Some(field) = field {
                assert_eq!(problem["field"], field, "{}", reply.body);
                assert!(problem["rule"].as_str().is_some_and(|r| !r.is_empty()));
            }
        };
    let with = |f: &str, v: Value| {
        let mut a = application();
        a[f] = v;
        json!({ "application": a }).to_string()
    };
    check("{\"application\": {", None, 400, "malformed_json", None);
    check(
        "{\"application\": {\"credit_amount\": NaN}}",
        None,
        400,
        "malformed_json",
        None,
    );
    check(
        &score_body("x").to_string(),
        Some("text/plain"),
        415,
        "unsupported_media_type",
        None,
    );
    check(
        &json!({ "application": application(), "extra": 1 }).to_string(),
        None,
        422,
        "invalid_field",
        Some("extra"),
    );
    check(
        &json!({ "application_id": "x" }).to_string(),
        None,
        422,
        "invalid_field",
        Some("application"),
    );
    // A name sent twice has two readings (JSON parsers keep either one): refused, at each level.
    let application_text = application().to_string();
    let twice = format!(
        "{{\"application\": {},\"age_in_years\": 15}}}}",
        application_text.trim_end_matches('}')
    );
    check(
        &twice,
        None,
        422,
        "invalid_field",
        Some("application.age_in_years"),
    );
    check(
        &format!("{{\"application\": {application_text}, \"application\": {application_text}}}"),
        None,
        422,
        "invalid_field",
        Some("application"),
    );
    check("[1, 2]", None, 422, "invalid_field", Some("body"));
    check(
        &json!({ "application": [1] }).to_string(),
        None,
        422,
        "invalid_field",
        Some("application"),
    );
    check(
        &with("favourite_colour", json!("red")),
        None,
        422,
        "invalid_field",
        Some("application.favourite_colour"),
    );
    check(
        &with("credit_amount", json!([1])),
        None,
        422,
        "invalid_field",
        Some("application.credit_amount"),
    );
    check(
        &with("credit_amount", json!(1e300)),
        None,
        422,
        "invalid_field",
        Some("application.credit_amount"),
    );
    // Outside the spec's plausible values: a model input, and a protected attribute the
    // pipeline never reads (as a number and as text).
    check(
        &with("duration_in_month", json!(0)),
        None,
        422,
        "invalid_field",
        Some("application.duration_in_month"),
    );
    check(
        &with("age_in_years", json!(-4)),
        None,
        422,
        "invalid_field",
        Some("application.age_in_years"),
    );
    check(
        &with("age_in_years", json!("200")),
        None,
        422,
        "invalid_field",
        Some("application.age_in_years"),
    );
    check(
        &with("duration_in_month", json!("six")),
        None,
        422,
        "invalid_field",
        Some("application.duration_in_month"),
    );
    check(
        &json!({ "application_id": 7, "application": application() }).to_string(),
        None,
        422,
        "invalid_field",
        Some("application_id"),
    );
    // Beyond f64's range: out of range, named, not malformed JSON.
    check(
        &with("credit_amount", json!(0)).replace("\"credit_amount\":0", "\"credit_amount\":1e400"),
        None,
        422,
        "invalid_field",
        Some("application.credit_amount"),
    );
    // Text no engine may store (PostgreSQL's text holds no NUL): refused by name, on both.
    check(
        &json!({ "application_id": "A\u{0}1", "application": application() }).to_string(),
        None,
        422,
        "invalid_field",
        Some("application_id"),
    );
    check(
        &with("purpose", json!("car\u{0}")),
        None,
        422,
        "invalid_field",
        Some("application.purpose"),
    );
    let huge =
        json!({ "application": application(), "application_id": "x".repeat(70_000) }).to_string();
    check(&huge, None, 413, "body_too_large", None);
    assert_eq!(
        app.store.count_decisions().await.unwrap(),
        0,
        "nothing refused is stored"
    );
}

async fn roles_are_enforced_per_route_with_401_and_403_apart(app: &TestApp) {
    let body = score_body("R-1");
    assert_eq!(app.post("/v1/score", "rk_00000000_nope", &body).status, 401);
    assert_eq!(
        crate::app::http(
            app.port,
            "POST",
            "/v1/score",
            &[("Content-Type", "application/json")],
            Some(&body.to_string())
        )
        .status,
        401
    );
    assert_eq!(app.post("/v1/score", &app.analyst, &body).status, 403);
    assert_eq!(app.post("/v1/score", &app.admin, &body).status, 200);
    assert_eq!(app.get("/v1/decisions", Some(&app.integration)).status, 403);
    assert_eq!(app.get("/v1/decisions", Some(&app.analyst)).status, 200);
    assert_eq!(app.get("/v1/decisions", None).status, 401);
    let promote = format!("/v1/models/{}/promote", app.versions[1]);
    assert_eq!(app.post(&promote, &app.analyst, &json!({})).status, 403);
    assert_eq!(app.post(&promote, &app.integration, &json!({})).status, 403);
    let nul = app.post("/v1/models/a%00b/promote", &app.admin, &json!({}));
    assert_eq!(
        (nul.status, nul.json()["field"].as_str()),
        (422, Some("version"))
    );
    assert_eq!(
        app.post("/v1/outcomes", &app.analyst, &json!({})).status,
        403
    );
    for open in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/info",
    ] {
        assert_eq!(app.get(open, None).status, 200, "{open}");
    }
    assert_eq!(app.get("/nowhere", None).status, 404);
}

async fn analysts_list_read_and_review_decisions(app: &TestApp) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = app.post(
            "/v1/score",
            &app.integration,
            &score_body(&format!("L-{i}")),
        );
        ids.push(r.json()["decision_id"].as_str().unwrap().to_owned());
    }
    let page = app.get("/v1/decisions?limit=2", Some(&app.analyst)).json();
    let first: Vec<&str> = page["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        vec![ids[4].as_str(), ids[3].as_str()],
        "newest first"
    );
    let next = page["next_before"].as_str().unwrap();
    let page2 = app
        .get(
            &format!("/v1/decisions?limit=2&before={next}"),
            Some(&app.analyst),
        )
        .json();
    assert_eq!(page2["decisions"][0]["decision_id"], ids[2].as_str());
    let by_app = app
        .get("/v1/decisions?application_id=L-1", Some(&app.analyst))
        .json();
    assert_eq!(by_app["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/v1/decisions?limit=0", Some(&app.analyst)).status,
        422
    );
    assert_eq!(
        app.get("/v1/decisions?decision=maybe", Some(&app.analyst))
            .status,
        422
    );

    let detail = app.get(&format!("/v1/decisions/{}", ids[0]), Some(&app.analyst));
    assert_eq!(detail.status, 200);
    assert_eq!(detail.json()["input"]["credit_amount"], 1169);
    let field = |path: &str| {
        let r = app.get(path, Some(&app.analyst));
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        (
            r.status,
            r.json()["field"].as_str().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(field("/v1/decisions/nope"), (422, "id".into()));
    assert_eq!(field("/v1/decisions/%00"), (422, "id".into()));
    assert_eq!(
        app.get(
            "/v1/decisions/01890a5d-ac96-774b-bcce-b302099a8057",
            Some(&app.analyst)
        )
        .status,
        404
    );
    assert_eq!(field("/v1/decisions?before=zzz"), (422, "before".into()));
    assert_eq!(
        field("/v1/decisions?application_id=%00"),
        (422, "application_id".into())
    );
    assert_eq!(
        field("/v1/decisions?model_version=a%00b"),
        (422, "model_version".into())
    );

    let review = app.post(
        &format!("/v1/decisions/{}/review", ids[0]),
        &app.analyst,
        &json!({"decision": "approve", "note": "income verified"}),
    );
    assert_eq!(review.status, 201, "{}", review.body);
    let detail = app
        .get(&format!("/v1/decisions/{}", ids[0]), Some(&app.analyst))
        .json();
    assert_eq!(detail["reviews"][0]["note"], "income verified");
    assert_eq!(
        app.post(
            &format!("/v1/decisions/{}/review", ids[0]),
            &app.analyst,
            &json!({"decision": "review"})
        )
        .status,
        422
    );
    let unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
    let review = |id: &str, body: Value| {
        let r = app.post(&format!("/v1/decisions/{id}/review"), &app.analyst, &body);
        (
            r.status,
            r.json()["field"].as_str().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(
        review("nope", json!({"decision": "decline"})),
        (422, "id".into())
    );
    assert_eq!(review(unknown, json!({"decision": "decline"})).0, 404);
    assert_eq!(
        review(&ids[0], json!({"decision": "decline", "note": "a\u{0}b"})),
        (422, "note".into())
    );
    assert_eq!(app.store.reviews_of(&ids[0]).await.unwrap().len(), 1);
}

async fn outcomes_are_accepted_by_decision_or_application_id(app: &TestApp) {
    let d = app
        .post("/v1/score", &app.integration, &score_body("O-1"))
        .json();
    let id = d["decision_id"].as_str().unwrap();
    // Outcomes are observed after the decision; these within seconds of it.
    let at = |seconds: i64| (chrono::Utc::now() + chrono::TimeDelta::seconds(seconds)).to_rfc3339();
    let first = json!({"decision_id": id, "outcome": "repaid", "observed_at": at(1)});
    let one = app.post("/v1/outcomes", &app.integration, &first);
    assert_eq!(one.status, 201, "{}", one.body);
    assert_eq!(one.json()["repeated"], 0);
    let many = app.post(
        "/v1/outcomes",
        &app.integration,
        &json!({"outcomes": [
            {"application_id": "O-1", "outcome": "default", "observed_at": at(2)},
            {"decision_id": id, "outcome": "repaid", "observed_at": at(3)}
        ]}),
    );
    assert_eq!(many.status, 201, "{}", many.body);
    assert_eq!(many.json()["accepted"], 2);
    assert_eq!(app.store.outcomes_of(id).await.unwrap().len(), 3);

    // A retry of a report stores nothing new and names the stored row.
    let retry = app.post("/v1/outcomes", &app.integration, &first);
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.json()["repeated"], 1);
    assert_eq!(retry.json()["ids"], one.json()["ids"]);
    assert_eq!(app.store.outcomes_of(id).await.unwrap().len(), 3);

    let refused = |body: Value| {
        let r = app.post("/v1/outcomes", &app.integration, &body);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        (
            r.status,
            r.json()["field"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
    assert_eq!(
        refused(json!({"decision_id": unknown, "outcome": "repaid", "observed_at": at(1)})).0,
        404
    );
    assert_eq!(
        refused(json!({"decision_id": "nope", "outcome": "repaid", "observed_at": at(1)})),
        (422, "decision_id".into())
    );
    assert_eq!(
        refused(json!({"decision_id": "a\u{0}", "outcome": "repaid", "observed_at": at(1)})),
        (422, "decision_id".into())
    );
    assert_eq!(
        refused(json!({"application_id": "O\u{0}1", "outcome": "repaid", "observed_at": at(1)})),
        (422, "application_id".into())
    );
    assert_eq!(
        refused(
            json!({"outcomes": [{"decision_id": id, "outcome": "late", "observed_at": at(1)}]})
        ),
        (422, "outcomes[0].outcome".into())
    );
    for observed_at in [
        "yesterday",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-01-01T00:00:00Z",
    ] {
        assert_eq!(
            refused(json!({"decision_id": id, "outcome": "repaid", "observed_at": observed_at})),
            (422, "observed_at".into()),
            "{observed_at}"
        );
    }
    // Which of the two would count? Neither: refused.
    let twice = format!(
        "{{\"outcomes\": [{{\"decision_id\": \"{id}\", \"outcome\": \"repaid\", \"outcome\": \"default\", \"observed_at\": \"{}\"}}]}}",
        at(1)
    );
    let bad = app.post_with("/v1/outcomes", &app.integration, &twice, &[]);
    assert_eq!(
        (bad.status, bad.json()["field"].as_str()),
        (422, Some("outcomes[0].outcome"))
    );
    assert_eq!(
        app.store.outcomes_of(id).await.unwrap().len(),
        3,
        "refused requests store nothing"
    );
}

async fn a_hard_policy_rule_declines_with_its_own_reason(app: &TestApp) {
    let mut a = application();
    a["age_in_years"] = json!(17);
    let r = app.post("/v1/score", &app.integration, &json!({ "application": a }));
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["decision"], "decline");
    assert_eq!(body["reasons"][0]["feature"], "policy:UNDERAGE");
    assert_eq!(body["reasons"][0]["description"], "Applicant under 18");
}

async fn batch_scoring_is_answered_whole_or_refused(app: &TestApp) {
    let items: Vec<Value> = (0..3).map(|i| score_body(&format!("B-{i}"))).collect();
    let r = app.post(
        "/v1/score/batch",
        &app.integration,
        &json!({ "applications": items }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let decisions = r.json()["decisions"].as_array().unwrap().clone();
    assert_eq!(decisions.len(), 3);
    for d in &decisions {
        assert!(
            app.store
                .get_decision(d["decision_id"].as_str().unwrap())
                .await
                .unwrap()
                .is_some()
        );
    }
    let r = app.post(
        "/v1/score/batch",
        &app.integration,
        &json!({ "applications": items_with_bad_second() }),
    );
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("applications[1].application.credit_amount"))
    );
    assert_eq!(
        app.store.count_decisions().await.unwrap(),
        3,
        "a refused batch stores nothing"
    );
    let too_many: Vec<Value> = (0..101).map(|i| score_body(&format!("T-{i}"))).collect();
    assert_eq!(
        app.post(
            "/v1/score/batch",
            &app.integration,
            &json!({ "applications": too_many })
        )
        .status,
        422
    );
}

fn items_with_bad_second() -> Vec<Value> {
    let mut a = application();
    a["credit_amount"] = json!("lots");
    vec![score_body("C-0"), json!({ "application": a })]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_lists_every_route_and_metrics_count_requests() {
    let app = spawn_app(crate::helpers::TestDb::sqlite().await).await;
    let doc = app.get("/openapi.json", None).json();
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/v1/score",
        "/v1/score/batch",
        "/v1/decisions",
        "/v1/decisions/{id}",
        "/v1/decisions/{id}/review",
        "/v1/outcomes",
        "/v1/models",
        "/v1/models/{version}/promote",
        "/v1/models/rollback",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/info",
    ] {
        assert!(paths.contains(&route), "{route} missing from {paths:?}");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    app.post("/v1/score", &app.integration, &score_body("M-1"));
    let metrics = app.get("/metrics", None).body;
    assert!(
        metrics.contains(
            "riskloop_http_requests_total{route=\"/v1/score\",method=\"POST\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("riskloop_http_request_duration_seconds_bucket{route=\"/v1/score\""));
    assert!(metrics.contains("riskloop_writer_batch_size_count 1"));
    // The commit's WAL frames (two writes each, as SQLite asks) reached the OS gathered.
    let writes = |stage: &str| -> u64 {
        let series = format!("riskloop_sqlite_writes_total{{stage=\"{stage}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {metrics}"))
    };
    assert!(
        writes("made") > 0 && writes("asked") > writes("made"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "riskloop_model_info{{version=\"{}\"}} 1",
        app.versions[0]
    )));
    let info = app.get("/v1/info", None).json();
    assert_eq!(info["model_version"], app.versions[0].as_str());

    // Wrong methods and unknown routes are problems like every other error.
    let wrong = app.get("/v1/score", Some(&app.integration));
    assert_eq!(wrong.status, 405, "{}", wrong.body);
    assert_eq!(wrong.header("allow"), Some("POST"));
    assert_eq!(
        wrong.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(wrong.json()["code"], "method_not_allowed");
    let wrong = crate::app::http(app.port, "DELETE", "/v1/models", &[], None);
    assert_eq!((wrong.status, wrong.header("allow")), (405, Some("GET")));
    let nowhere = app.get("/v2/nothing", None);
    assert_eq!(
        (nowhere.status, nowhere.json()["code"].as_str()),
        (404, Some("not_found"))
    );
    app.finish().await;
}

/// `/openapi.json` passes an OpenAPI validator (openapi-spec-validator, from PyPI, run by the
/// Python that `RISKLOOP_TEST_PYTHON` names; CI installs it), and says what holds for every
/// operation: refusals are problem+json, and every operation that needs a key lists 401 and
/// 403.
#[test]
fn the_openapi_description_is_valid_and_lists_refusals_as_problems() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(riskloop_serve::http::openapi::ApiDoc::openapi()).unwrap();
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(
                operation_ids.insert(id.clone()),
                "{at}: operation id {id} twice"
            );
            let responses = op["responses"].as_object().unwrap();
            if op.get("security").is_some() {
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{at} lacks {status}");
                }
            }
            for (status, response) in responses {
                if status.as_str() >= "400" {
                    let content = response["content"].as_object().unwrap();
                    assert!(
                        content.keys().all(|k| k == "application/problem+json"),
                        "{at} {status}: {content:?}"
                    );
                }
            }
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "path" {
                    assert!(path.contains(&format!("{{{name}}}")), "{at}: {name}");
                }
            }
        }
    }
    let python = match std::env::var("RISKLOOP_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => python,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but RISKLOOP_TEST_PYTHON is unset: the OpenAPI validator must run in CI"
            )
        }
        _ => {
            println!("notice: RISKLOOP_TEST_PYTHON is unset; skipping the OpenAPI validator");
            return;
        }
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let out = std::process::Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("run the OpenAPI validator");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
