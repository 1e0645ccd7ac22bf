//! Abuse resistance at the HTTP edge: per-key rate limits (429 with `Retry-After`, a bucket
//! per key) and key rotation (the old key works through its grace period, then expires by
//! itself), on a real server over loopback.

use std::time::Duration;

use riskloop_serve::api_key::{GeneratedKey, Role};
use riskloop_serve::http::Limits;
use riskloop_serve::store::NewApiKey;
use riskloop_serve::writer::WriterSettings;
use secrecy::ExposeSecret;

use crate::app::{application, spawn_app, spawn_app_limited};
use crate::helpers::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_do_not() {
    let limits = Limits {
        analyst_per_second: 2.0,
        burst_seconds: 1.0,
        ..Limits::default()
    };
    let app = spawn_app_limited(TestDb::sqlite().await, WriterSettings::default(), limits).await;
    for _ in 0..2 {
        assert_eq!(app.get("/v1/models", Some(&app.analyst)).status, 200);
    }
    let refused = app.get("/v1/models", Some(&app.analyst));
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(refused.json()["code"], "rate_limited");
    // Other keys, and other roles, have buckets of their own.
    assert_eq!(app.get("/v1/models", Some(&app.admin)).status, 200);
    let scored = app.post(
        "/v1/score",
        &app.integration,
        &serde_json::json!({ "application": application() }),
    );
    assert_eq!(scored.status, 200, "{}", scored.body);
    // After the wait it asked for, the key is served again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/v1/models", Some(&app.analyst)).status, 200);
    let metrics = app.get("/metrics", None).body;
    assert!(metrics.contains("status=\"429\""), "{metrics}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_works_through_its_grace_period_then_expires() {
    let app = spawn_app(TestDb::sqlite().await).await;
    let keys = app.store.list_api_keys().await.unwrap();
    let old = keys.iter().find(|k| k.role == Role::Integration).unwrap();
    let generated = GeneratedKey::generate().unwrap();
    let new = app
        .store
        .rotate_api_key(
            old.id,
            &NewApiKey {
                name: &old.name,
                role: old.role,
                prefix: &generated.prefix,
                key_hash: &generated.hash,
            },
            chrono::Duration::seconds(2),
        )
        .await
        .unwrap();
    assert_eq!((new.role, new.name.as_str()), (old.role, old.name.as_str()));
    let body = serde_json::json!({ "application": application() });
    let new_secret = generated.secret.expose_secret().to_owned();
    assert_eq!(app.post("/v1/score", &new_secret, &body).status, 200);
    assert_eq!(app.post("/v1/score", &app.integration, &body).status, 200);
    let rotated = app.store.find_api_key(&old.id.to_string()).await.unwrap();
    assert_eq!(rotated.replaced_by, Some(new.id));
    assert!(rotated.expires_at.is_some());
    // A key is rotated once: its successor is rotated next.
    let again = GeneratedKey::generate().unwrap();
    let refused = app
        .store
        .rotate_api_key(
            old.id,
            &NewApiKey {
                name: &old.name,
                role: old.role,
                prefix: &again.prefix,
                key_hash: &again.hash,
            },
            chrono::Duration::hours(1),
        )
        .await;
    assert!(refused.is_err());
    assert!(
        app.store.find_api_key(&again.prefix).await.is_err(),
        "nothing inserted"
    );
    // Past its grace (and the few seconds keys are cached), the old key is refused by itself.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(app.post("/v1/score", &app.integration, &body).status, 401);
    assert_eq!(app.post("/v1/score", &new_secret, &body).status, 200);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_its_requests_in_flight_waits_for_one_to_end() {
    use std::io::{Read, Write};
    let limits = Limits {
        max_in_flight_per_key: 1,
        ..Limits::default()
    };
    let app = spawn_app_limited(TestDb::sqlite().await, WriterSettings::default(), limits).await;
    let body = serde_json::json!({ "application": application() }).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    // A request whose body is still arriving is in flight.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(
        slow,
        "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        app.integration,
        body.len()
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let refused = app.post("/v1/score", &app.integration, &json);
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.json()["code"], "too_many_in_flight");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // Another key is not held up.
    assert_eq!(app.get("/v1/models", Some(&app.admin)).status, 200);
    // Once the slow request is answered, the key may send again.
    slow.write_all(tail.as_bytes()).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(app.post("/v1/score", &app.integration, &json).status, 200);
    app.finish().await;
}
