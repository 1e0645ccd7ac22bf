//! The `riskloop` command line: what each command takes. Only commands that work are listed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::api_key::Role;
use crate::commands;
use crate::settings::Settings;

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

/// The service configuration, for the commands that open the database or serve.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (TOML); RISKLOOP_* environment variables override it.
    #[arg(
        long = "config",
        global = true,
        env = "RISKLOOP_CONFIG",
        value_name = "FILE"
    )]
    pub file: Option<PathBuf>,
}

impl ConfigArg {
    pub fn settings(&self) -> Result<Settings, crate::settings::SettingsError> {
        Settings::load(self.file.as_deref())
    }
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
    /// Read raw loan files as a dataset spec says; write a model-ready dataset folder.
    Ingest(IngestArgs),
    /// Write a synthetic loan book with a known true probability of default.
    Synth(SynthArgs),
    /// Train a risk model on a dataset folder and write a versioned model bundle.
    Train(TrainArgs),
    /// Score raw application files offline with a model bundle (int8 model, same pipeline).
    Score(ScoreArgs),
}

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
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on (overrides the configuration and RISKLOOP_LISTEN).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

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
    },
    /// Make the previous champion the champion again.
    Rollback,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset folder written by `riskloop ingest`.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Folder that receives the bundle `<dataset>-<timestamp>/`.
    #[arg(long, value_name = "DIR", default_value = "models")]
    pub out: PathBuf,
    /// `cpu`, or `cuda` in a build with `--features cuda` on a machine with an NVIDIA GPU.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// `auto` (train both, keep the better on validation AUC), `additive` or `logistic`.
    #[arg(long)]
    pub model: Option<String>,
    /// Seed for initialisation and shuffling (overrides the config file).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Training configuration (TOML, the keys of `train.toml`); defaults apply to keys it
    /// leaves out. Not the service configuration: training opens no database.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Model bundle folder.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Raw CSV or Parquet files, read as the bundle's dataset spec says.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// Output Parquet file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The dataset spec (TOML).
    #[arg(long, value_name = "SPEC")]
    pub spec: PathBuf,
    /// Raw CSV or Parquet files; globs such as `loans/*.csv` are expanded.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// Folder for train|valid|test.parquet, pipeline.json, quality.json and spec.toml.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of applications.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Output file; `.csv` or `.parquet`.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Applications from this date (YYYY-MM-DD) on follow a shifted risk relationship.
    #[arg(long, value_name = "DATE")]
    pub drift_after: Option<chrono::NaiveDate>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create(CreateKey),
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id or prefix; it stops working at once.
    Revoke {
        /// The key's numeric id or its `rk_…` prefix, as `keys list` shows them.
        key: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateKey {
    /// A name saying who or what uses the key.
    #[arg(long)]
    pub name: String,
    /// What the key may do.
    #[arg(long, value_enum)]
    pub role: Role,
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match self.command {
            Command::Migrate { config } => {
                commands::migrate::run(&config.settings()?, &mut out).await
            }
            Command::Keys { config, command } => {
                let settings = config.settings()?;
                match command {
                    KeysCommand::Create(args) => {
                        commands::keys::create(&settings, &args, &mut out).await
                    }
                    KeysCommand::List => commands::keys::list(&settings, &mut out).await,
                    KeysCommand::Revoke { key } => {
                        commands::keys::revoke(&settings, &key, &mut out).await
                    }
                }
            }
            Command::Demo(args) => {
                commands::demo::run(&args.config.settings()?, &args, &mut out).await
            }
            Command::Serve(args) => {
                commands::serve::run(&args.config.settings()?, &args, &mut out).await
            }
            Command::Models { config, command } => {
                commands::models::run(&config.settings()?, &command, &mut out).await
            }
            Command::Ingest(args) => commands::ingest::run(&args, &mut out),
            Command::Synth(args) => commands::synth::run(&args, &mut out),
            Command::Train(args) => commands::train::run(&args, &mut out),
            Command::Score(args) => commands::score::run(&args, &mut out),
        }
    }
}
