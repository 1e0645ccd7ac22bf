//! `riskloop demo`'s simulation: a bank's traffic against the running server, over loopback
//! HTTP like any client. Applications drawn from the German credit book are scored; the loans
//! approved come back as outcomes drawn from a known risk; partway, the world drifts (new-car
//! loans turn riskier and more frequent); the drift monitor sees it; a retrain cycle
//! trains a challenger on the stored decisions and judges it against the champion, and the
//! server serves the winner. Every step is printed.

use std::io::Write;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::decision::draw;
use crate::lifecycle::retrain::{self, Cycle, RetrainSettings};
use crate::store::Store;

/// What the simulation talks to.
#[derive(Debug)]
pub struct Target {
    pub address: std::net::SocketAddr,
    pub integration_key: String,
    pub analyst_key: String,
}

/// Where the retrain cycle finds and puts things (from the settings).
#[derive(Debug)]
pub struct Paths {
    pub retrain: RetrainSettings,
    pub policy: std::path::PathBuf,
    pub models_dir: std::path::PathBuf,
    pub work_dir: std::path::PathBuf,
}

/// One application of the book, and whether the book says it went bad.
type Row = (Map<String, Value>, bool);

/// The chance a loan goes bad: the book's label, blurred; after the drift, new-car loans are
/// much riskier than before and the others safer.
fn true_pd(row: &Row, drifted: bool) -> f64 {
    let base = if row.1 { 0.55 } else { 0.12 };
    match (drifted, in_drifting_segment(row)) {
        (true, true) => (base + 0.3_f64).min(0.95),
        (true, false) => (base - 0.1_f64).max(0.02),
        (false, _) => base,
    }
}

/// The loans the drift is about: new-car loans.
fn in_drifting_segment(row: &Row) -> bool {
    row.0.get("purpose").and_then(Value::as_str) == Some("car (new)")
}

/// The applications of the shipped German credit file.
pub fn book(csv: &[u8]) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::Reader::from_reader(csv);
    let header = reader.headers()?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let mut application = Map::new();
        let mut bad = false;
        for (name, value) in header.iter().zip(record.iter()) {
            if name == "creditability" {
                bad = value == "bad";
            } else {
                let value = value
                    .parse::<f64>()
                    .map_or_else(|_| json!(value), |n| json!(n));
                application.insert(name.to_owned(), value);
            }
        }
        rows.push((application, bad));
    }
    Ok(rows)
}

/// One request on a fresh loopback connection; the status and the body.
async fn call(
    target: &Target,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = tokio::net::TcpStream::connect(target.address).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        target.address,
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Scores `count` applications drawn from `rows` (new-car loans three times as likely when
/// `drifted`) and reports the outcomes of the approved ones; returns (approved, defaults).
async fn phase(
    target: &Target,
    rows: &[Row],
    count: usize,
    drifted: bool,
    seed: &str,
) -> anyhow::Result<(usize, usize)> {
    let weight = |r: &Row| {
        if drifted && in_drifting_segment(r) {
            3.0
        } else {
            1.0
        }
    };
    let total: f64 = rows.iter().map(weight).sum();
    let pick = |i: usize| {
        let mut at = draw(&format!("{seed}/{i}")) * total;
        rows.iter()
            .find(|r| {
                at -= weight(r);
                at < 0.0
            })
            .unwrap_or(&rows[0])
    };
    let (mut approved, mut defaults) = (0, 0);
    for start in (0..count).step_by(100) {
        let chosen: Vec<&Row> = (start..(start + 100).min(count)).map(pick).collect();
        let items: Vec<Value> = chosen.iter().map(|r| json!({"application": r.0})).collect();
        let (status, reply) = call(
            target,
            "POST",
            "/v1/score/batch",
            &target.integration_key,
            Some(&json!({ "applications": items })),
        )
        .await?;
        anyhow::ensure!(status == 200, "scoring answered {status}: {reply}");
        let mut outcomes = Vec::new();
        for (k, (d, row)) in reply["decisions"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(&chosen)
            .enumerate()
        {
            if d["decision"] != "approve" {
                continue;
            }
            let id = d["decision_id"].as_str().unwrap_or_default();
            // Drawn from the applicant's place in the stream: a rerun sees the same world.
            let bad = draw(&format!("{seed}/{}/outcome", start + k)) < true_pd(row, drifted);
            approved += 1;
            defaults += usize::from(bad);
            outcomes.push(json!({
                "decision_id": id,
                "outcome": if bad { "default" } else { "repaid" },
                "observed_at": chrono::Utc::now().to_rfc3339(),
            }));
        }
        if !outcomes.is_empty() {
            let body = json!({ "outcomes": outcomes });
            let (status, reply) = call(
                target,
                "POST",
                "/v1/outcomes",
                &target.integration_key,
                Some(&body),
            )
            .await?;
            anyhow::ensure!(status == 201, "outcomes answered {status}: {reply}");
        }
    }
    Ok((approved, defaults))
}

/// The simulation, start to end, printing as it goes.
pub async fn run(
    paths: &Paths,
    store: Store,
    target: Target,
    csv: &[u8],
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let rows = book(csv)?;
    writeln!(
        out,
        "[sim] 1/4 a bank sends 2,000 applications; the approved loans come back repaid or defaulted"
    )?;
    let (approved, defaults) = phase(&target, &rows, 2000, false, "before").await?;
    writeln!(
        out,
        "      {approved} approved, {defaults} of them defaulted"
    )?;
    writeln!(
        out,
        "[sim] 2/4 the world drifts: new-car loans are three times as frequent and much riskier, the others safer; 3,000 more applications"
    )?;
    let (approved, defaults) = phase(&target, &rows, 3000, true, "after").await?;
    writeln!(
        out,
        "      {approved} approved, {defaults} of them defaulted"
    )?;

    let (_, monitoring) = call(&target, "GET", "/v1/monitoring", &target.analyst_key, None).await?;
    let mut drifted: Vec<(String, f64, String)> = monitoring["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some((
                f["name"].as_str()?.to_owned(),
                f["psi"].as_f64()?,
                f["level"].as_str()?.to_owned(),
            ))
        })
        .collect();
    drifted.sort_by(|a, b| b.1.total_cmp(&a.1));
    writeln!(
        out,
        "[sim] 3/4 the drift monitor (GET /v1/monitoring): {}; score PSI {}",
        drifted
            .iter()
            .take(3)
            .map(|(n, p, l)| format!("{n} PSI {p:.3} ({l})"))
            .collect::<Vec<_>>()
            .join(", "),
        monitoring["score"]["psi"]
            .as_f64()
            .map_or("-".into(), |p| format!("{p:.3}"))
    )?;

    writeln!(
        out,
        "[sim] 4/4 retraining on the stored decisions and their outcomes (riskloop retrain; in the demo every outcome counts at once)"
    )?;
    let demo_retrain = RetrainSettings {
        performance_window_days: 0.0,
        min_labelled: 300,
        holdout_share: 0.25,
        accept_drift: true,
        ..paths.retrain.clone()
    };
    let policy = retrain::policy(&paths.policy)?;
    let cycle = Cycle {
        store: &store,
        settings: &demo_retrain,
        models_dir: paths.models_dir.clone(),
        work_dir: paths.work_dir.clone(),
        policy: &policy,
        slot: None,
        actor: "demo".into(),
    };
    let report = retrain::run(&cycle, &|step| tracing::info!("retrain: {step}")).await?;
    if let Some(comparison) = report.comparison() {
        writeln!(out, "      {comparison}")?;
    }
    if report.promoted {
        for _ in 0..50 {
            let (_, info) = call(&target, "GET", "/v1/info", "", None).await?;
            if info["model_version"] == report.challenger.as_str() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        writeln!(
            out,
            "      promoted {}: the server now decides with it (model events and the job record why)",
            report.challenger
        )?;
    } else {
        writeln!(
            out,
            "      {} not promoted: {}; {} keeps deciding",
            report.challenger,
            report.evaluation.refusals.join("; "),
            report.champion
        )?;
    }
    out.flush()?;
    Ok(())
}
