//! `riskloop serve`: the scoring API on the configured database, champion model and policy.

use clap::Args;
use std::io::Write;
use std::path::Path;

use super::shared::{ConfigArg, open_store};
use crate::decision::policy::DEFAULT_POLICY;
use crate::http::{Application, ScheduledRetrain, ServeConfig};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on (overrides the configuration and RISKLOOP_LISTEN).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

pub async fn run(
    settings: &Settings,
    args: &ServeArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let app = build(settings, store, args.listen).await?;
    writeln!(
        out,
        "Serving on {}/ (Ctrl-C stops after committing every accepted decision)",
        super::shared::url_of(app.local_addr())
    )?;
    out.flush()?;
    app.stop_on_signals()?;
    app.run_until_stopped().await?;
    Ok(())
}

/// Builds the server from settings, writing the default policy first if there is none.
pub(crate) async fn build(
    settings: &Settings,
    store: crate::store::Store,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<Application> {
    let policy = settings.policy_path();
    ensure_policy(&policy)?;
    if store.champion().await?.is_none() {
        tracing::warn!("no champion model yet: /v1/score answers 503 until one is promoted");
    }
    Application::build(
        store,
        ServeConfig {
            listen: listen.unwrap_or(settings.listen),
            policy,
            writer: settings.writer,
            limits: settings.limits,
            workers: settings.workers,
            retrain: settings
                .retrain
                .schedule()
                .map_err(anyhow::Error::msg)?
                .map(|schedule| ScheduledRetrain {
                    schedule,
                    settings: settings.retrain.clone(),
                    models_dir: settings.models_dir(),
                    work_dir: settings.data_dir.join("retrain"),
                }),
            monitoring: settings.monitoring,
            tls: settings.tls.clone(),
        },
    )
    .await
}

fn ensure_policy(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, DEFAULT_POLICY).map_err(|e| {
            anyhow::anyhow!("cannot write the default policy to {}: {e}", path.display())
        })?;
        tracing::info!(path = %path.display(), "wrote the default policy");
    }
    Ok(())
}
