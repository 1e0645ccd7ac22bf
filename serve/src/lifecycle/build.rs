//! A model from raw files to champion, as calls: ingest the files as a spec says, train on the
//! dataset, register the bundle, promote it. Ingest and training are long and CPU-bound, so they
//! run on the blocking pool; each reports its progress to the caller's display. `riskloop demo`
//! runs them in turn; the retrain cycle will.

use std::path::PathBuf;

use riskloop_ingest::etl::{self, Ingested};
use riskloop_ingest::spec::DatasetSpec;
use riskloop_train::config::TrainConfig;
use riskloop_train::device::DeviceChoice;
use riskloop_train::run::{self, Progress, TrainRequest, Trained};

use crate::registry::{self, Guard, RegistryError};
use crate::store::{Model, Store};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Ingest(#[from] riskloop_ingest::IngestError),
    #[error(transparent)]
    Train(#[from] riskloop_train::TrainError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the {0} step stopped unexpectedly: {1}")]
    Stopped(&'static str, String),
}

/// Reads `inputs` as `spec` says and writes the dataset folder `out`.
pub async fn ingest(
    spec: DatasetSpec,
    inputs: Vec<PathBuf>,
    out: PathBuf,
    mut progress: impl FnMut(&str) + Send + 'static,
) -> Result<Ingested, LifecycleError> {
    tokio::task::spawn_blocking(move || etl::ingest(&spec, &inputs, &out, &mut progress))
        .await
        .map_err(|e| LifecycleError::Stopped("ingest", e.to_string()))?
        .map_err(LifecycleError::from)
}

/// What to train: a dataset folder, where bundles go, on which device, how.
#[derive(Debug)]
pub struct Training {
    pub data: PathBuf,
    pub out: PathBuf,
    pub device: DeviceChoice,
    pub config: TrainConfig,
    pub parent_version: Option<String>,
}

/// Trains on `training.data` and writes a verified bundle under `training.out`.
pub async fn train(
    training: Training,
    mut progress: impl FnMut(Progress<'_>) + Send + 'static,
) -> Result<Trained, LifecycleError> {
    tokio::task::spawn_blocking(move || {
        let request = TrainRequest {
            data: &training.data,
            out: &training.out,
            device: training.device,
            config: training.config,
            parent_version: training.parent_version,
        };
        run::train(&request, &mut progress)
    })
    .await
    .map_err(|e| LifecycleError::Stopped("training", e.to_string()))?
    .map_err(LifecycleError::from)
}

/// Registers the bundle `trained` wrote and, given a guard, promotes it to champion.
pub async fn register(
    store: &Store,
    trained: &Trained,
    actor: &str,
    promote: Option<Guard<'_>>,
) -> Result<Model, LifecycleError> {
    let model = registry::register(store, &trained.dir, actor).await?;
    if let Some(guard) = promote {
        registry::promote(store, None, &model.record.version, actor, guard).await?;
    }
    Ok(model)
}
