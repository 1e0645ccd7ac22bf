//! `riskloop demo`'s simulation: a bank's traffic against the running server, over loopback
//! HTTP like any client. Applications drawn from the German credit book are scored; the bank
//! grants the loans approved and, its analysts approving them, those referred to review, and
//! reports each loan's outcome, drawn from a known risk: before the drift, the probability of
//! default the serving model gave it (the model is right about the world it was trained for).
//! Partway, the world drifts: the odds of default of new-car loans become four times the odds
//! of that probability, the others' 0.4 times, while applications keep arriving in the book's
//! mix, so the drift monitor, which watches applications and scores, has nothing to see: only
//! the outcomes say who defaults now. A retrain cycle trains a challenger on the stored decisions and their outcomes
//! and judges it against the champion, and the server serves the winner. Every step is printed.

use std::io::Write;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::decision::draw;
use crate::lifecycle::retrain::evaluate::Evaluation;
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

/// One application of the book, as a bank sends it.
type Row = Map<String, Value>;

/// Applications before the drift, and after it.
const BEFORE: usize = 2_000;
const AFTER: usize = 18_500;
/// After the drift, the odds of default of new-car loans and of the others, as multiples of the
/// odds the serving model gives them.
const NEW_CAR_ODDS: f64 = 4.0;
const OTHER_ODDS: f64 = 0.4;

/// The chance a granted loan goes bad: the probability of default `pd` the serving model gave
/// it; after the drift, its odds multiplied by the loan's segment's factor.
fn true_pd(pd: f64, row: &Row, drifted: bool) -> f64 {
    let factor = match (drifted, in_drifting_segment(row)) {
        (false, _) => return pd,
        (true, true) => NEW_CAR_ODDS,
        (true, false) => OTHER_ODDS,
    };
    let pd = pd.clamp(0.0, 1.0 - 1e-9);
    let odds = pd / (1.0 - pd) * factor;
    odds / (1.0 + odds)
}

/// The loans the drift is about: new-car loans.
fn in_drifting_segment(row: &Row) -> bool {
    row.get("purpose").and_then(Value::as_str) == Some("car (new)")
}

/// The applications of the shipped German credit file, without its outcome column.
pub fn book(csv: &[u8]) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::Reader::from_reader(csv);
    let header = reader.headers()?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let mut application = Map::new();
        for (name, value) in header.iter().zip(record.iter()) {
            if name != "creditability" {
                let value = value
                    .parse::<f64>()
                    .map_or_else(|_| json!(value), |n| json!(n));
                application.insert(name.to_owned(), value);
            }
        }
        rows.push(application);
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

/// What one phase of traffic came to.
#[derive(Debug, Default)]
struct Tally {
    approved: usize,
    referred: usize,
    /// Loans granted and how many defaulted: new-car loans, then the others.
    loans: [usize; 2],
    defaults: [usize; 2],
}

impl Tally {
    fn describe(&self) -> String {
        let rate = |k: usize| 100.0 * self.defaults[k] as f64 / self.loans[k].max(1) as f64;
        format!(
            "{} approved, {} referred; {} of the {} loans defaulted \
             (new-car loans {:.1}%, the others {:.1}%)",
            self.approved,
            self.referred,
            self.defaults[0] + self.defaults[1],
            self.loans[0] + self.loans[1],
            rate(0),
            rate(1)
        )
    }
}

/// Scores `count` applications drawn from `rows` and reports the outcomes of the loans granted:
/// those approved and those referred to review.
async fn phase(
    target: &Target,
    rows: &[Row],
    count: usize,
    drifted: bool,
    seed: &str,
) -> anyhow::Result<Tally> {
    let pick = |i: usize| {
        let at = draw(&format!("{seed}/{i}")) * rows.len() as f64;
        &rows[(at as usize).min(rows.len() - 1)]
    };
    let mut tally = Tally::default();
    for start in (0..count).step_by(100) {
        let chosen: Vec<&Row> = (start..(start + 100).min(count)).map(pick).collect();
        let items: Vec<Value> = chosen.iter().map(|r| json!({"application": r})).collect();
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
            match d["decision"].as_str() {
                Some("approve") => tally.approved += 1,
                // The bank's analysts grant every application referred to review. The demo
                // does not file those reviews (`POST /v1/decisions/{id}/review`): thousands of
                // them at the analyst key's rate limit would hold it up for minutes.
                Some("review") => tally.referred += 1,
                _ => continue,
            }
            let id = d["decision_id"].as_str().unwrap_or_default();
            let pd = d["probability_of_default"].as_f64().unwrap_or(1.0);
            // Drawn from the applicant's place in the stream: a rerun sees the same world.
            let bad = draw(&format!("{seed}/{}/outcome", start + k)) < true_pd(pd, row, drifted);
            let segment = usize::from(!in_drifting_segment(row));
            tally.loans[segment] += 1;
            tally.defaults[segment] += usize::from(bad);
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
    Ok(tally)
}

/// The simulation, start to end, printing as it goes.
pub async fn run(
    paths: &Paths,
    store: Store,
    target: Target,
    csv: &[u8],
    stop: tokio::sync::watch::Receiver<bool>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let rows = book(csv)?;
    writeln!(
        out,
        "[sim] 1/4 a bank sends {BEFORE} applications and grants the loans approved or referred to review \
         (its analysts approve those); each comes back repaid or defaulted, as likely to default as the model said"
    )?;
    let tally = phase(&target, &rows, BEFORE, false, "before").await?;
    writeln!(out, "      {}", tally.describe())?;
    writeln!(
        out,
        "[sim] 2/4 the world drifts: new-car loans' odds of default become {NEW_CAR_ODDS} times what the model says, \
         the others' {OTHER_ODDS} times; applications arrive in the same mix; {AFTER} more"
    )?;
    let tally = phase(&target, &rows, AFTER, true, "after").await?;
    writeln!(out, "      {}", tally.describe())?;

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
        "[sim] 3/4 the drift monitor (GET /v1/monitoring): {}; score PSI {} \
         (the applications keep the book's mix: the drift is in who defaults)",
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
        stop: Some(stop),
    };
    let report = retrain::run(&cycle, &|step| tracing::info!("retrain: {step}")).await?;
    if let Some(comparison) = report.comparison() {
        writeln!(out, "      {comparison}")?;
    }
    writeln!(out, "      {}", checks(&report.evaluation, &demo_retrain))?;
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

/// The figures of the checks besides the AUC, against their limits.
fn checks(e: &Evaluation, settings: &RetrainSettings) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &e.calibration {
        parts.push(format!(
            "calibration gap {:.3} (champion {:.3}; at most {} or no worse)",
            c.challenger_gap, c.champion_gap, settings.max_calibration_gap
        ));
    }
    if let Some(psi) = e.score_psi {
        parts.push(format!(
            "score PSI champion → challenger {psi:.3} (at most {})",
            settings.max_score_psi
        ));
    }
    let ratio = |r: Option<f64>| r.map_or_else(|| "–".to_owned(), |r| format!("{r:.3}"));
    let ratios: Vec<String> = e
        .adverse_impact
        .iter()
        .map(|i| {
            format!(
                "{} {} (champion {})",
                i.attribute,
                ratio(i.ratio),
                ratio(i.champion_ratio)
            )
        })
        .collect();
    if !ratios.is_empty() {
        parts.push(format!(
            "approval-rate ratios, at least {}: {}",
            settings.min_impact_ratio,
            ratios.join(", ")
        ));
    }
    format!("checks: {}", parts.join("; "))
}
