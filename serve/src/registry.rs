//! The model registry: register a bundle (verified), promote a version to champion (verified and
//! loaded before anything changes), roll back to the previous champion. A bundle that fails
//! verification is refused and the serving model stays.

use std::path::Path;
use std::sync::Arc;

use crate::served::{ModelSlot, ServedModel};
use crate::store::{Model, NewModel, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("model bundle refused: {0}")]
    Refused(String),
    #[error("no earlier champion to roll back to")]
    NothingToRollBack,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies the bundle at `dir` and records it as a registered model.
pub async fn register(store: &Store, dir: &Path, actor: &str) -> Result<Model, RegistryError> {
    let served = ServedModel::load(dir).map_err(|e| RegistryError::Refused(e.to_string()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| RegistryError::Refused(format!("{}: {e}", dir.display())))?;
    let manifest_path = dir.join(riskloop_train::bundle::MANIFEST);
    let manifest_sha256 = riskloop_train::bundle::sha256_file(&manifest_path)
        .map_err(|e| RegistryError::Refused(e.to_string()))?;
    let manifest = serde_json::to_value(&served.bundle.manifest)
        .map_err(|e| RegistryError::Refused(e.to_string()))?;
    let model = NewModel {
        version: served.version().to_owned(),
        path: dir.display().to_string(),
        manifest_sha256,
        manifest,
        parent_version: served.bundle.manifest.parent_version.clone(),
    };
    Ok(store.register_model(&model, actor).await?)
}

/// Loads and verifies `version`, then makes it the champion, then swaps it in (when `slot` is
/// given: the server; the CLI only changes the registry and servers pick it up).
pub async fn promote(
    store: &Store,
    slot: Option<&ModelSlot>,
    version: &str,
    actor: &str,
) -> Result<Option<String>, RegistryError> {
    let model = store
        .get_model(version)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("model version {version}")))?;
    let served = load(&model)?;
    let previous = store.promote_model(version, actor).await?;
    if let Some(slot) = slot {
        slot.swap(Arc::new(served));
    }
    tracing::info!(version, ?previous, actor, "model promoted");
    Ok(previous)
}

/// Promotes the model that was champion before the current one.
pub async fn rollback(
    store: &Store,
    slot: Option<&ModelSlot>,
    actor: &str,
) -> Result<String, RegistryError> {
    let previous = store
        .previous_champion()
        .await?
        .ok_or(RegistryError::NothingToRollBack)?;
    promote(store, slot, &previous, actor).await?;
    Ok(previous)
}

/// Loads a registered model, refusing it if its manifest is not the one registered.
pub fn load(model: &Model) -> Result<ServedModel, RegistryError> {
    let dir = Path::new(&model.record.path);
    let sha = riskloop_train::bundle::sha256_file(&dir.join(riskloop_train::bundle::MANIFEST))
        .map_err(|e| RegistryError::Refused(e.to_string()))?;
    if sha != model.record.manifest_sha256 {
        return Err(RegistryError::Refused(format!(
            "{}: manifest.json changed since the model was registered",
            dir.display()
        )));
    }
    ServedModel::load(dir).map_err(|e| RegistryError::Refused(e.to_string()))
}

/// Swaps in the registry's champion if it is not the one being served (another process
/// promoted it). A champion that fails to load is logged and the current model keeps serving.
pub async fn follow_champion(store: &Store, slot: &ModelSlot) -> Option<String> {
    let champion = store.champion().await.ok().flatten()?;
    if slot
        .current()
        .is_some_and(|m| m.version() == champion.record.version)
    {
        return None;
    }
    match load(&champion) {
        Ok(served) => {
            slot.swap(Arc::new(served));
            tracing::info!(
                version = champion.record.version,
                "now serving the registry's champion"
            );
            Some(champion.record.version)
        }
        Err(err) => {
            tracing::error!(version = champion.record.version, error = %err, "champion refused; the current model keeps serving");
            None
        }
    }
}
