//! The challenger attached to live traffic: attached and detached by an admin (recorded in the
//! audit log), followed by every server from the database like the champion.

use std::sync::Arc;

use super::{RegistryError, Slot, load};
use crate::decision::ServedModel;
use crate::decision::policy::Policy;
use crate::store::{NewAuditEntry, Store, StoreError};

/// The most traffic a challenger may decide: it is not yet trusted with more than half.
pub const MAX_TRAFFIC_PERCENT: u32 = 50;

/// A challenger as served: its model, and the share of requests it decides.
#[derive(Debug)]
pub struct Attached {
    pub model: Arc<ServedModel>,
    pub traffic_percent: u32,
}

pub type ChallengerSlot = Slot<Attached>;

/// Attaches `version` beside the champion: it must load, take the same applications as the
/// champion, fit the policy, and decide at most [`MAX_TRAFFIC_PERCENT`] of requests.
pub async fn attach(
    store: &Store,
    version: &str,
    traffic_percent: u32,
    actor: &str,
    policy: Option<&Policy>,
) -> Result<(), RegistryError> {
    if traffic_percent > MAX_TRAFFIC_PERCENT {
        return Err(RegistryError::Refused(format!(
            "traffic_percent {traffic_percent}: a challenger decides at most \
             {MAX_TRAFFIC_PERCENT}% of requests (promote it to give it all)"
        )));
    }
    let model = store
        .get_model(version)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("model version {version}")))?;
    let served = load(&model)?;
    let champion = store
        .champion()
        .await?
        .ok_or_else(|| RegistryError::Refused("there is no champion to challenge".into()))?;
    if champion.record.version == version {
        return Err(RegistryError::Refused(format!(
            "{version} is the champion; attach another model as its challenger"
        )));
    }
    let champion = load(&champion)?;
    let differences = champion.schema.differences(&served.schema);
    if !differences.is_empty() {
        return Err(RegistryError::Refused(format!(
            "{version} takes other applications than the champion ({}): it could not score \
             the same traffic",
            differences.join("; ")
        )));
    }
    super::fits(policy, &served)?;
    store
        .attach_challenger(version, traffic_percent as i32, actor)
        .await?;
    store
        .audit(&NewAuditEntry {
            actor,
            action: "challenger.attach",
            target: version,
            detail: serde_json::json!({ "traffic_percent": traffic_percent }),
        })
        .await?;
    super::tell_replicas(store, version).await;
    tracing::info!(version, traffic_percent, actor, "challenger attached");
    Ok(())
}

/// Detaches the challenger; the version that was attached, if any.
pub async fn detach(store: &Store, actor: &str) -> Result<Option<String>, RegistryError> {
    let Some(attached) = store.challenger().await? else {
        return Ok(None);
    };
    store.detach_challenger().await?;
    store
        .audit(&NewAuditEntry {
            actor,
            action: "challenger.detach",
            target: &attached.model_version,
            detail: serde_json::json!({}),
        })
        .await?;
    super::tell_replicas(store, &attached.model_version).await;
    tracing::info!(
        version = attached.model_version,
        actor,
        "challenger detached"
    );
    Ok(Some(attached.model_version))
}

/// Brings `slot` in line with the database's challenger. One that fails to load is logged and
/// left out: the champion serves alone.
pub async fn follow(store: &Store, slot: &ChallengerSlot) {
    let wanted = match store.challenger().await {
        Ok(wanted) => wanted,
        Err(err) => {
            tracing::debug!(error = %err, "cannot read the challenger");
            return;
        }
    };
    let current = slot.current();
    let Some(wanted) = wanted else {
        if current.is_some() {
            slot.clear();
            tracing::info!("challenger detached");
        }
        return;
    };
    let percent = wanted.traffic_percent.clamp(0, MAX_TRAFFIC_PERCENT as i32) as u32;
    if current
        .is_some_and(|c| c.model.version() == wanted.model_version && c.traffic_percent == percent)
    {
        return;
    }
    let loaded = match store.get_model(&wanted.model_version).await {
        Ok(Some(model)) => load(&model),
        Ok(None) => return,
        Err(err) => Err(err.into()),
    };
    match loaded {
        Ok(model) => {
            tracing::info!(
                version = wanted.model_version,
                traffic_percent = percent,
                "now scoring beside the champion"
            );
            slot.swap(Arc::new(Attached {
                model: Arc::new(model),
                traffic_percent: percent,
            }));
        }
        Err(err) => {
            tracing::error!(version = wanted.model_version, error = %err, "challenger refused");
        }
    }
}
