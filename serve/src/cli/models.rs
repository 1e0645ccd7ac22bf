//! `riskloop models register|list|promote|rollback|challenger|detach-challenger`: the registry from the command line. A
//! running server follows the registry's champion within a second or two.

use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

use super::shared::open_store;
use crate::decision::policy::Policy;
use crate::registry;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Verify a bundle folder and register it.
    Register {
        dir: PathBuf,
        /// Also make it the champion.
        #[arg(long)]
        promote: bool,
        /// With --promote: allow a model that takes other applications than the champion.
        #[arg(long, requires = "promote")]
        allow_schema_change: bool,
        /// With --promote: promote although the bundle carries gates (leakage, drift) that its
        /// dataset spec does not acknowledge.
        #[arg(long, requires = "promote")]
        acknowledge_gates: bool,
    },
    /// List registered models.
    List,
    /// Make a registered version the champion (verified before anything changes; refused when
    /// it takes other applications than the champion, or the policy does not fit it).
    Promote {
        version: String,
        /// Promote even though the model takes other applications than the champion (the
        /// differences are listed when refused): every integration must send what it needs.
        #[arg(long)]
        allow_schema_change: bool,
        /// Promote although the bundle carries gates (leakage, drift; listed when refused)
        /// that its dataset spec does not acknowledge.
        #[arg(long)]
        acknowledge_gates: bool,
    },
    /// Make the previous champion the champion again.
    Rollback,
    /// Attach a registered version beside the champion: it scores every request in the
    /// shadow (stored for comparison) and decides --traffic-percent of them itself.
    Challenger {
        version: String,
        /// Share of requests the challenger decides, 0 to 50 (0: shadow only).
        #[arg(long, default_value_t = 0)]
        traffic_percent: u32,
    },
    /// Detach the challenger: the champion decides everything, and nothing scores beside it.
    DetachChallenger,
}

pub async fn run(
    settings: &Settings,
    command: &ModelsCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    // The policy servers decide with, when there is one: a promotion must fit it.
    let policy_path = settings.policy_path();
    let policy = policy_path
        .exists()
        .then(|| Policy::load(&policy_path))
        .transpose()?;
    let guard = |allow_schema_change: bool, acknowledge_gates: bool| registry::Guard {
        allow_schema_change,
        acknowledge_gates,
        policy: policy.as_ref(),
    };
    match command {
        ModelsCommand::Register {
            dir,
            promote,
            allow_schema_change,
            acknowledge_gates,
        } => {
            let model = registry::register(&store, dir, &actor).await?;
            writeln!(
                out,
                "Registered model {} ({}).",
                model.record.version, model.record.path
            )?;
            if *promote {
                let guard = guard(*allow_schema_change, *acknowledge_gates);
                registry::promote(&store, None, &model.record.version, &actor, guard).await?;
                writeln!(out, "Promoted {} to champion.", model.record.version)?;
            }
        }
        ModelsCommand::List => {
            let models = store.list_models().await?;
            if models.is_empty() {
                writeln!(
                    out,
                    "No models registered. Train one with `riskloop train`, then `riskloop models register DIR`."
                )?;
            }
            for m in models {
                let auc = m
                    .record
                    .manifest
                    .pointer("/metrics/int8_test/auc")
                    .and_then(|v| v.as_f64());
                writeln!(
                    out,
                    "{:<40} {:<10} test AUC {}  registered {}",
                    m.record.version,
                    format!("{:?}", m.stage).to_lowercase(),
                    auc.map_or("-".into(), |a| format!("{a:.4}")),
                    m.registered_at.format("%Y-%m-%d %H:%M:%S")
                )?;
            }
        }
        ModelsCommand::Promote {
            version,
            allow_schema_change,
            acknowledge_gates,
        } => {
            let guard = guard(*allow_schema_change, *acknowledge_gates);
            let previous = registry::promote(&store, None, version, &actor, guard).await?;
            writeln!(
                out,
                "Promoted {version} to champion (previous: {}).",
                previous.as_deref().unwrap_or("none")
            )?;
        }
        ModelsCommand::Challenger {
            version,
            traffic_percent,
        } => {
            registry::challenger::attach(
                &store,
                version,
                *traffic_percent,
                &actor,
                policy.as_ref(),
            )
            .await?;
            writeln!(
                out,
                "{version} now scores beside the champion and decides {traffic_percent}% of                  requests (servers follow within a second or two)."
            )?;
        }
        ModelsCommand::DetachChallenger => {
            match registry::challenger::detach(&store, &actor).await? {
                Some(version) => writeln!(out, "Detached the challenger {version}.")?,
                None => writeln!(out, "No challenger was attached.")?,
            }
        }
        ModelsCommand::Rollback => {
            let version = registry::rollback(&store, None, &actor, policy.as_ref()).await?;
            writeln!(out, "Rolled back: {version} is champion again.")?;
        }
    }
    Ok(())
}
