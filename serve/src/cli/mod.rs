//! The `riskloop` command line: the commands, and the dispatch to each. Every command's module
//! holds its arguments beside what it does. Only commands that work are listed.

use clap::{Parser, Subcommand};

pub mod audit; // audit replay: stored decisions decided again, differences reported
pub mod decide; // score --policy: files decided row by row through the decision core
pub mod demo; // demo: the whole loop from nothing to a served decision
pub mod ingest; // ingest
pub mod keys; // keys create | list | revoke
pub mod migrate; // migrate
pub mod models; // models register | list | promote | rollback
pub mod outcomes; // outcomes import
pub mod progress; // spinners and heartbeats for long steps
pub mod retrain; // retrain (one cycle)
pub mod score; // score (offline batch scoring)
pub mod serve; // serve
pub mod shared; // the configuration argument, opening the database, addresses
pub mod simulate; // demo's simulated bank: traffic, outcomes, drift, a retrain
pub mod synth; // synth
pub mod train; // train

use audit::AuditCommand;
use demo::DemoArgs;
use ingest::IngestArgs;
use keys::KeysCommand;
use models::ModelsCommand;
use outcomes::OutcomesCommand;
use score::ScoreArgs;
use serve::ServeArgs;
use shared::ConfigArg;
use synth::SynthArgs;
use train::TrainArgs;

#[derive(Debug, Parser)]
#[command(
    name = "riskloop",
    version,
    about = "Credit-risk decisioning: ingest, train, serve, learn."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole loop on the embedded default: migrate, ingest the shipped data, train, promote,
    /// issue a key, and serve the API on 127.0.0.1.
    Demo(DemoArgs),
    /// Serve the scoring API with the champion model.
    Serve(ServeArgs),
    /// The model registry.
    Models {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Create or update the database schema (safe to run again).
    Migrate {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Manage API keys.
    Keys {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// One retrain cycle: train a challenger on the stored decisions and their matured
    /// outcomes, judge it against the champion on the most recent ones, promote it if it wins.
    Retrain {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// What became of past decisions, from files.
    Outcomes {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: OutcomesCommand,
    },
    /// Check the decision record: replay stored decisions with their stored model and policy.
    Audit {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Read raw loan files as a dataset spec says; write a model-ready dataset folder.
    Ingest(IngestArgs),
    /// Write a synthetic loan book with a known true probability of default.
    Synth(SynthArgs),
    /// Train a risk model on a dataset folder and write a versioned model bundle.
    Train(TrainArgs),
    /// Score raw application files offline with a model bundle (int8 model, same pipeline).
    Score(ScoreArgs),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match self.command {
            Command::Migrate { config } => migrate::run(&config.settings()?, &mut out).await,
            Command::Keys { config, command } => {
                let settings = config.settings()?;
                match command {
                    KeysCommand::Create(args) => keys::create(&settings, &args, &mut out).await,
                    KeysCommand::List => keys::list(&settings, &mut out).await,
                    KeysCommand::Revoke { key } => keys::revoke(&settings, &key, &mut out).await,
                    KeysCommand::Rotate { key, grace_hours } => {
                        keys::rotate(&settings, &key, grace_hours, &mut out).await
                    }
                }
            }
            Command::Demo(args) => {
                // Not the locked handle: the demo's simulation prints from another task.
                drop(out);
                demo::run(&args.config.settings()?, &args, &mut std::io::stdout()).await
            }
            Command::Serve(args) => serve::run(&args.config.settings()?, &args, &mut out).await,
            Command::Models { config, command } => {
                models::run(&config.settings()?, &command, &mut out).await
            }
            Command::Retrain { config } => retrain::run(&config.settings()?, &mut out).await,
            Command::Outcomes { config, command } => {
                outcomes::run(&config.settings()?, &command, &mut out).await
            }
            Command::Audit { config, command } => {
                audit::run(&config.settings()?, &command, &mut out).await
            }
            Command::Ingest(args) => ingest::run(&args, &mut out),
            Command::Synth(args) => synth::run(&args, &mut out),
            Command::Train(args) => train::run(&args, &mut out),
            Command::Score(args) => score::run(&args, &mut out),
        }
    }
}
