//! The decision writer's ceiling without HTTP: CLIENTS tasks each submit one decision at a time
//! (closed loop) to the real group-commit writer on the real store for SECONDS, so the figure
//! shows what the durable write path allows before any request parsing or scoring.
//! `bench/writer.sh` runs it against a database that `riskloop demo --no-serve` set up:
//! `cargo run --release --example writer_load -- DATABASE_URL CLIENTS SECONDS BODY.json [TASKS]`
//! (TASKS: committing writer tasks on PostgreSQL, default as `writer.tasks`; SQLite has one writer).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use riskloop_serve::api_key::Role;
use riskloop_serve::store::DatabaseSettings;
use riskloop_serve::store::{DecisionKind, JsonText, NewDecision, Reason, Reasons, Store};
use riskloop_serve::telemetry::metrics::Metrics;
use riskloop_serve::writer::{DecisionWriter, WriterSettings};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, clients, seconds, body, tasks) = match args.as_slice() {
        [url, clients, seconds, body] => (url, clients, seconds, body, None),
        [url, clients, seconds, body, tasks] => (url, clients, seconds, body, Some(tasks)),
        _ => anyhow::bail!("usage: writer_load DATABASE_URL CLIENTS SECONDS BODY.json [TASKS]"),
    };
    let settings = WriterSettings {
        tasks: tasks.map_or(Ok(0), |t| t.parse()).context("TASKS")?,
        ..WriterSettings::default()
    };
    let clients: usize = clients.parse().context("CLIENTS")?;
    let seconds: u64 = seconds.parse().context("SECONDS")?;
    let body: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(body)?)?;
    let input = JsonText::encode(&body["application"])?;

    let store =
        Store::connect(&SecretString::from(url.clone()), &DatabaseSettings::pool(8)).await?;
    let model = store
        .champion()
        .await?
        .context("no champion model: run `riskloop demo --no-serve` first")?
        .record
        .version;
    let key = store
        .list_api_keys()
        .await?
        .into_iter()
        .find(|k| k.role == Role::Integration)
        .context("no integration key")?
        .id;
    // What a German credit decision carries: four model reasons.
    let reasons: Vec<Reason> = [
        (
            "status_of_existing_checking_account",
            "Status of existing checking account",
        ),
        ("duration_in_month", "Duration in months"),
        ("credit_history", "Credit history"),
        ("savings_account_and_bonds", "Savings account/bonds"),
    ]
    .into_iter()
    .map(|(feature, description)| Reason {
        feature: feature.into(),
        contribution: 0.123_456_789,
        description: description.into(),
    })
    .collect();
    let template = NewDecision {
        id: String::new(),
        application_id: Some("bench".into()),
        api_key_id: key,
        idempotency_key: None,
        request_sha256: "ab".repeat(32),
        input,
        model_version: model,
        policy_version: "default-1".into(),
        policy_sha256: "cd".repeat(32),
        probability: 0.0633,
        score: 565,
        decision: DecisionKind::Approve,
        reasons: Reasons::new(&reasons)?,
        latency_us: 100,
    };

    let metrics = Arc::new(Metrics::default());
    let (writer, tasks) = DecisionWriter::start(&store, settings, &metrics)?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop = started + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (writer, template, done) = (writer.clone(), template.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < stop {
                let decision = NewDecision {
                    id: NewDecision::new_id(),
                    ..template.clone()
                };
                writer.submit(vec![decision]).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for handle in handles {
        handle.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(writer);
    tasks.flushed().await;

    let text = metrics.render();
    let read = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let batches = read("riskloop_writer_batch_size_count");
    let n = done.load(Ordering::Relaxed) as f64;
    println!(
        "| {} | {clients} | {:.0} | {:.1} | {:.0} |",
        store.target().split("://").next().unwrap_or("?"),
        n / elapsed,
        read("riskloop_writer_batch_size_sum") / batches,
        read("riskloop_writer_commit_duration_seconds_sum") / batches * 1e6,
    );
    store.close().await;
    Ok(())
}
