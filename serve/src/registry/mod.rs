//! The model registry: register a bundle (verified), promote a version to champion (verified and
//! loaded before anything changes), roll back to the previous champion. A bundle that fails
//! verification is refused and the serving model stays. A promotion is also refused when the
//! new model takes other applications than the champion (unless allowed explicitly: every
//! integration would have to change), and when the policy does not fit the new model's fields.

use std::path::Path;
use std::sync::Arc;

pub mod challenger; // the model scoring beside the champion: attach, detach, follow
mod policies; // which policy decides: the file, read again when it changes
mod slot; // the current artefact of one kind, swapped atomically

pub use policies::{Pending, PolicyStore};
pub use slot::{ModelSlot, Slot};

use crate::decision::ServedModel;
use crate::decision::policy::Policy;
use crate::store::{Model, NewModel, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("model bundle refused: {0}")]
    Refused(String),
    #[error("no earlier champion to roll back to")]
    NothingToRollBack,
    #[error(
        "model {version} takes other applications than the champion {champion}: {}; promote \
         it with --allow-schema-change (API: \"allow_schema_change\": true) once every \
         integration sends what it needs",
        differences.join("; ")
    )]
    SchemaChanged {
        version: String,
        champion: String,
        differences: Vec<String>,
    },
    #[error(
        "model {version} was trained on data with gates nobody acknowledged: {}; look at its \
         report, then acknowledge them in the dataset spec and train again, or promote with \
         --acknowledge-gates (API: \"acknowledge_gates\": true)",
        gates.join("; ")
    )]
    Gated { version: String, gates: Vec<String> },
    #[error("the policy does not fit model {version}: {reason}")]
    PolicyMismatch { version: String, reason: String },
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

/// What a promotion checks besides the bundle itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Guard<'a> {
    /// Promote even when the new model takes other applications than the champion.
    pub allow_schema_change: bool,
    /// Promote even though the bundle carries gates (leakage, drift) its spec does not
    /// acknowledge; the promotion's actor owns that decision.
    pub acknowledge_gates: bool,
    /// The policy that will decide with the new model: every rule must read a field it has.
    pub policy: Option<&'a Policy>,
}

/// Loads and verifies `version`, checks it against the champion and the policy (`guard`), then
/// makes it the champion, then swaps it in (when `slot` is given: the server; the CLI only
/// changes the registry and servers pick it up).
pub async fn promote(
    store: &Store,
    slot: Option<&ModelSlot>,
    version: &str,
    actor: &str,
    guard: Guard<'_>,
) -> Result<Option<String>, RegistryError> {
    let model = store
        .get_model(version)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("model version {version}")))?;
    let served = load(&model)?;
    let gates: Vec<String> = served
        .bundle
        .manifest
        .gates
        .iter()
        .filter(|g| g.acknowledged.is_none())
        .map(ToString::to_string)
        .collect();
    if !gates.is_empty() {
        if !guard.acknowledge_gates {
            return Err(RegistryError::Gated {
                version: version.to_owned(),
                gates,
            });
        }
        tracing::warn!(
            version,
            actor,
            ?gates,
            "model promoted with its gates acknowledged at promotion"
        );
    }
    if !guard.allow_schema_change {
        let champion = match slot.and_then(ModelSlot::current) {
            Some(current) => Some(current),
            None => match store.champion().await? {
                Some(champion) => Some(Arc::new(load(&champion)?)),
                None => None,
            },
        };
        if let Some(champion) = champion.filter(|c| c.version() != version) {
            let differences = champion.schema.differences(&served.schema);
            if !differences.is_empty() {
                return Err(RegistryError::SchemaChanged {
                    version: version.to_owned(),
                    champion: champion.version().to_owned(),
                    differences,
                });
            }
        }
    }
    fits(guard.policy, &served)?;
    let previous = store.promote_model(version, actor).await?;
    if let Some(slot) = slot {
        slot.swap(Arc::new(served));
    }
    tell_replicas(store, version).await;
    tracing::info!(version, ?previous, actor, "model promoted");
    Ok(previous)
}

/// Tells every other server to follow the registry now; if that fails they still do within a
/// second (they poll it), so the change stands.
pub(crate) async fn tell_replicas(store: &Store, what: &str) {
    if let Err(err) = store.notify_registry(what).await {
        tracing::warn!(error = %err, "cannot notify the other servers; they follow within a second");
    }
}

/// Whether `policy` (if any) reads only fields `model` has.
fn fits(policy: Option<&Policy>, model: &ServedModel) -> Result<(), RegistryError> {
    match policy {
        Some(policy) => {
            policy
                .check_against(&model.schema)
                .map_err(|reason| RegistryError::PolicyMismatch {
                    version: model.version().to_owned(),
                    reason,
                })
        }
        None => Ok(()),
    }
}

/// Promotes the model that was champion before the current one. It served before, so a
/// schema change back to it is allowed; the policy must still fit it.
pub async fn rollback(
    store: &Store,
    slot: Option<&ModelSlot>,
    actor: &str,
    policy: Option<&Policy>,
) -> Result<String, RegistryError> {
    let previous = store
        .previous_champion()
        .await?
        .ok_or(RegistryError::NothingToRollBack)?;
    // It served before: its gates were accepted when it was first promoted.
    let guard = Guard {
        allow_schema_change: true,
        acknowledge_gates: true,
        policy,
    };
    promote(store, slot, &previous, actor, guard).await?;
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
/// promoted it). A champion that fails to load, or that `policy` does not fit, is logged and
/// the current model keeps serving.
pub async fn follow_champion(store: &Store, slot: &ModelSlot, policy: &Policy) -> Option<String> {
    let champion = store.champion().await.ok().flatten()?;
    if slot
        .current()
        .is_some_and(|m| m.version() == champion.record.version)
    {
        return None;
    }
    match load(&champion).and_then(|served| fits(Some(policy), &served).map(|()| served)) {
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
