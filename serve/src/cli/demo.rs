//! `riskloop demo`: the whole loop on the embedded default, from nothing to a served decision:
//! migrate the SQLite database, ingest the shipped German credit data, train, register and
//! promote the model, issue an integration key with a ready-to-paste `curl`, and serve.

use clap::Args;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use polars::prelude::DataType;
use riskloop_ingest::{read, spec::DatasetSpec};
use riskloop_train::config::TrainConfig;
use riskloop_train::device::DeviceChoice;
use riskloop_train::run::Progress;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::progress::spinner;
use super::shared::{ConfigArg, open_store, url_of};
use super::{keys, serve, simulate};
use crate::api_key::Role;
use crate::lifecycle::build;
use crate::registry;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to serve on (default: the configured `listen`, 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Set everything up, print the key and the example, then stop instead of serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Serve without the simulation (by default, once serving, the demo streams applications
    /// and their outcomes with a drift partway, and retrains while you watch).
    #[arg(long)]
    pub no_simulate: bool,
}

/// The shipped data, compiled in so the demo runs from any directory.
const GERMAN_CSV: &[u8] = include_bytes!("../../../data/german_credit.csv");
const GERMAN_SPEC: &str = include_str!("../../../data/german_credit.toml");

/// The demo's policy: the server's default cutoffs, plus what a lender's policy holds besides a
/// score, on the German credit data's own fields: a hard rule with its own reason code, and a
/// segment with stricter cutoffs.
pub const DEMO_POLICY: &str = r#"# riskloop decision policy for the German credit demo. Edit and save: the server reloads it
# within seconds, and every decision records the version and hash of the policy that made it.
version = "german-credit-demo-1"

[cutoffs]
# Scores use 600 points at 50:1 good:bad odds and 20 points to double the odds.
approve_min_score = 560
decline_below_score = 520

# Hard rules decide before the score, in file order, each with its own reason code.
[[rules]]
code = "UNDERAGE"
description = "Applicant under 18"
decision = "decline"
field = "age_in_years"
op = "<"
value = 18

# The first segment an application falls in replaces the cutoffs above.
[[segments]]
name = "large_loans"
field = "credit_amount"
op = ">="
value = 10000
[segments.cutoffs]
approve_min_score = 580
decline_below_score = 540
"#;

pub async fn run(settings: &Settings, args: &DemoArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let demo_dir = settings.data_dir.join("demo");
    let step = |out: &mut dyn Write, n: u32, text: &str| {
        writeln!(
            out,
            "[{n}/6] {text} ({:.1}s)",
            started.elapsed().as_secs_f64()
        )
    };

    let store = open_store(settings).await?;
    step(out, 1, &format!("database {}", store.target()))?;

    let csv = demo_dir.join("german_credit.csv");
    std::fs::create_dir_all(&demo_dir)?;
    std::fs::write(&csv, GERMAN_CSV)?;
    std::fs::write(demo_dir.join("german_credit.toml"), GERMAN_SPEC)?;
    let spec = DatasetSpec::from_toml(GERMAN_SPEC)?;

    let champion = store.champion().await?;
    if let Some(champion) = &champion {
        step(
            out,
            2,
            &format!(
                "reusing champion model {} (delete {} to start over)",
                champion.record.version,
                settings.data_dir.display()
            ),
        )?;
        step(out, 3, "training skipped")?;
        step(out, 4, "registry unchanged")?;
    } else {
        step(
            out,
            2,
            "ingesting the shipped German credit data (1,000 applications)",
        )?;
        let dataset = demo_dir.join("dataset");
        let bar = spinner();
        let bar_in = bar.clone();
        let ingested = build::ingest(spec.clone(), vec![csv.clone()], dataset.clone(), move |s| {
            bar_in.set_message(s.to_owned());
        })
        .await;
        bar.finish_and_clear();
        let ingested = ingested?;
        writeln!(
            out,
            "      {} rows, {} model inputs",
            ingested.quality.rows_used,
            ingested.pipeline.width()
        )?;

        step(
            out,
            3,
            "training (logistic scorecard, additive model and GA2M; a more complex one is kept only when significantly better, out of fold on a small book)",
        )?;
        let bar = spinner();
        let bar_in = bar.clone();
        let training = build::Training {
            data: dataset,
            out: settings.data_dir.join("models"),
            device: DeviceChoice::Cpu,
            config: TrainConfig::default(),
            parent_version: None,
        };
        let trained = build::train(training, move |p| match p {
            Progress::Step(s) => bar_in.set_message(s.to_owned()),
            Progress::Epoch(kind, e) => bar_in.set_message(format!(
                "{kind:?} epoch {}: valid AUC {:.4}",
                e.epoch, e.valid_auc
            )),
        })
        .await;
        bar.finish_and_clear();
        let trained = trained?;
        let m = &trained.manifest;
        writeln!(
            out,
            "      kept the {}: test AUC {:.4} [{:.4}, {:.4}] (int8, served); bundle {}",
            m.model,
            m.metrics.int8_test.auc,
            m.metrics.int8_test.auc_ci[0],
            m.metrics.int8_test.auc_ci[1],
            trained.dir.display()
        )?;
        for c in &m.candidates {
            let cv = c
                .cross_validated
                .as_ref()
                .map(|cv| format!("out-of-fold AUC {:.4} ({} folds), ", cv.auc, cv.folds))
                .unwrap_or_default();
            writeln!(
                out,
                "      candidate {}: {cv}validation AUC {:.4}, test AUC {:.4} [{:.4}, {:.4}]",
                c.model, c.valid_auc, c.test_auc, c.test_auc_ci[0], c.test_auc_ci[1]
            )?;
        }

        step(out, 4, "registering and promoting the model")?;
        build::register(&store, &trained, "demo", Some(registry::Guard::default())).await?;
    }

    step(out, 5, "issuing an integration API key")?;
    let (key, secret) = keys::issue(
        &store,
        &format!("demo {}", chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")),
        Role::Integration,
        "demo",
    )
    .await?;
    let application = sample_application(&csv, &spec)?;
    let listen = args.listen.unwrap_or(settings.listen);

    let policy = settings.policy_path();
    if policy.exists() {
        writeln!(out, "      policy {} (kept as it is)", policy.display())?;
    } else {
        if let Some(dir) = policy.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&policy, DEMO_POLICY)?;
        writeln!(
            out,
            "      policy {}: cutoffs 560/520, stricter for loans of 10,000 or more; \
             applicants under 18 declined (reason UNDERAGE)",
            policy.display()
        )?;
    }

    // Without a server the example names the address `serve` will listen on.
    let (app, address) = if args.no_serve {
        step(out, 6, "not starting the scoring API (--no-serve)")?;
        (None, listen)
    } else {
        step(out, 6, "starting the scoring API")?;
        let app = serve::build(settings, store.clone(), Some(listen)).await?;
        let address = app.local_addr();
        (Some(app), address)
    };
    let base = url_of(address);
    writeln!(out)?;
    writeln!(
        out,
        "API key {} (integration), shown once:\n    {}",
        key.prefix,
        secret.expose_secret()
    )?;
    writeln!(out)?;
    writeln!(out, "Score an application:")?;
    writeln!(
        out,
        "curl -s {base}/v1/score \\\n  -H 'Authorization: Bearer {}' \\\n  -H 'Content-Type: application/json' \\\n  -H 'Idempotency-Key: demo-1' \\\n  -d '{}'",
        secret.expose_secret(),
        serde_json::json!({ "application_id": "demo-1", "application": application })
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "API description: {base}/openapi.json   metrics: {base}/metrics"
    )?;
    let (ui_key, ui_secret) = keys::issue(&store, "demo UI", Role::Admin, "demo").await?;
    writeln!(
        out,
        "Analyst UI: {base}/ui/ ; sign in with admin key {}, shown once:\n    {}",
        ui_key.prefix,
        ui_secret.expose_secret()
    )?;
    let Some(app) = app else {
        writeln!(
            out,
            "Set up in {:.1}s. `riskloop serve` serves it.",
            started.elapsed().as_secs_f64()
        )?;
        return Ok(());
    };
    writeln!(
        out,
        "Ready in {:.1}s. Ctrl-C stops after committing every accepted decision.",
        started.elapsed().as_secs_f64()
    )?;
    out.flush()?;
    let mut simulation = None;
    if !args.no_simulate {
        writeln!(out)?;
        let (_, analyst) = keys::issue(&store, "demo simulation", Role::Analyst, "demo").await?;
        let target = simulate::Target {
            address,
            integration_key: secret.expose_secret().to_owned(),
            analyst_key: analyst.expose_secret().to_owned(),
        };
        let paths = simulate::Paths {
            retrain: settings.retrain.clone(),
            policy: settings.policy_path(),
            models_dir: settings.models_dir(),
            work_dir: settings.data_dir.join("retrain"),
        };
        let stop = app.stopping();
        simulation = Some(tokio::spawn(async move {
            let mut stdout = std::io::stdout();
            if let Err(err) =
                simulate::run(&paths, store, target, GERMAN_CSV, stop, &mut stdout).await
            {
                tracing::error!(error = %format!("{err:#}"), "the demo's simulation stopped");
            }
        }));
    }
    app.stop_on_signals()?;
    app.run_until_stopped().await?;
    // A retrain in flight records its job as interrupted and gives the lease back.
    if let Some(simulation) = simulation {
        let _ = tokio::time::timeout(crate::http::STOP_GRACE, simulation).await;
    }
    Ok(())
}

/// The first application of the shipped file as a bank would send it.
fn sample_application(csv: &Path, spec: &DatasetSpec) -> anyhow::Result<Map<String, Value>> {
    let frame = read::scan(&[csv.to_owned()], &spec.read)?
        .limit(1)
        .collect()?;
    let mut application = Map::new();
    for feature in &spec.features {
        let Ok(column) = frame.column(feature.column()) else {
            continue;
        };
        let Ok(text) = column.cast(&DataType::String) else {
            continue;
        };
        let Some(value) = text.str().ok().and_then(|s| s.get(0)).map(str::to_owned) else {
            continue;
        };
        let json = match value.trim().parse::<f64>() {
            Ok(x)
                if x.is_finite() && feature.kind == riskloop_ingest::spec::FeatureKind::Numeric =>
            {
                serde_json::json!(x)
            }
            _ => Value::String(value),
        };
        application.insert(feature.column().to_owned(), json);
    }
    Ok(application)
}

#[cfg(test)]
mod tests {
    use riskloop_ingest::pipeline::Input;

    use super::DEMO_POLICY;
    use crate::decision::policy::{Policy, tests::values};
    use crate::store::DecisionKind;

    #[test]
    fn the_demo_policy_declines_minors_on_its_own_rule_and_segments_large_loans() {
        let policy = Policy::parse(DEMO_POLICY, "demo").unwrap();
        let decide = |age: f64, amount: f64, score, pd| {
            let fields = [
                ("age_in_years", Input::Number(age)),
                ("credit_amount", Input::Number(amount)),
            ];
            policy.decide(&values(&fields), score, pd, 1.0)
        };
        let minor = decide(17.0, 1000.0, 700, 0.01);
        assert_eq!(minor.decision, DecisionKind::Decline);
        assert_eq!(minor.rule.unwrap().0, "UNDERAGE");
        let adult = decide(18.0, 1000.0, 570, 0.05);
        assert_eq!((adult.decision, adult.rule), (DecisionKind::Approve, None));
        let large = decide(40.0, 12000.0, 570, 0.05);
        assert_eq!(large.decision, DecisionKind::Review);
        assert_eq!(large.segment.as_deref(), Some("large_loans"));
    }
}
