//! Re-deciding a stored decision as it was made: its stored application, with the model
//! version and the policy text (by its sha256) it names, through the same decision core. Any
//! difference from what was stored is reported. What audit replay builds on.

use std::collections::HashMap;
use std::sync::Arc;

use crate::decision;
use crate::decision::ServedModel;
use crate::decision::policy::Policy;
use crate::registry::{self, RegistryError};
use crate::store::{Decision, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("decision {decision}: model {version} is not registered")]
    NoModel { decision: String, version: String },
    #[error("decision {decision}: policy {sha256} is not stored")]
    NoPolicy { decision: String, sha256: String },
    #[error("decision {decision}: its stored policy does not read back: {reason}")]
    BadPolicy { decision: String, reason: String },
    #[error("decision {decision}: its stored application cannot be decided again: {reason}")]
    Undecidable { decision: String, reason: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Models and policies already loaded, so that replaying many decisions loads each once.
#[derive(Debug, Default)]
pub struct Artefacts {
    models: HashMap<String, Arc<ServedModel>>,
    policies: HashMap<String, Arc<Policy>>,
}

impl Artefacts {
    async fn model(
        &mut self,
        store: &Store,
        d: &Decision,
    ) -> Result<Arc<ServedModel>, ReplayError> {
        let version = &d.record.model_version;
        if let Some(model) = self.models.get(version) {
            return Ok(model.clone());
        }
        let registered = store
            .get_model(version)
            .await?
            .ok_or_else(|| ReplayError::NoModel {
                decision: d.record.id.clone(),
                version: version.clone(),
            })?;
        let model = Arc::new(registry::load(&registered)?);
        self.models.insert(version.clone(), model.clone());
        Ok(model)
    }

    async fn policy(&mut self, store: &Store, d: &Decision) -> Result<Arc<Policy>, ReplayError> {
        let sha256 = &d.record.policy_sha256;
        if let Some(policy) = self.policies.get(sha256) {
            return Ok(policy.clone());
        }
        let stored = store
            .get_policy(sha256)
            .await?
            .ok_or_else(|| ReplayError::NoPolicy {
                decision: d.record.id.clone(),
                sha256: sha256.clone(),
            })?;
        let bad = |reason: String| ReplayError::BadPolicy {
            decision: d.record.id.clone(),
            reason,
        };
        let policy = Policy::parse(&stored.text, &format!("stored policy {sha256}"))
            .map_err(|e| bad(e.to_string()))?;
        if policy.sha256 != *sha256 {
            return Err(bad(format!("its text hashes to {}", policy.sha256)));
        }
        let policy = Arc::new(policy);
        self.policies.insert(sha256.clone(), policy.clone());
        Ok(policy)
    }
}

/// Decides `stored`'s application again with its model and policy; returns what differs from
/// the stored decision (probability, score, decision, reasons), empty when nothing does.
pub async fn redecide(
    store: &Store,
    artefacts: &mut Artefacts,
    stored: &Decision,
) -> Result<Vec<String>, ReplayError> {
    let model = artefacts.model(store, stored).await?;
    let policy = artefacts.policy(store, stored).await?;
    let undecidable = |reason: String| ReplayError::Undecidable {
        decision: stored.record.id.clone(),
        reason,
    };
    let again = decision::decide_stored(
        &model,
        &policy,
        &stored.record.id,
        stored.record.input.as_str(),
    )
    .map_err(undecidable)?;
    let (was, now) = (&stored.record, &again.record);
    let mut differences = Vec::new();
    if was.probability != now.probability {
        differences.push(format!(
            "probability {} → {}",
            was.probability, now.probability
        ));
    }
    if was.score != now.score {
        differences.push(format!("score {} → {}", was.score, now.score));
    }
    if was.decision != now.decision {
        differences.push(format!(
            "decision {} → {}",
            was.decision.as_str(),
            now.decision.as_str()
        ));
    }
    if was.reasons != now.reasons {
        differences.push(format!(
            "reasons {} → {}",
            was.reasons.json().as_str(),
            now.reasons.json().as_str()
        ));
    }
    Ok(differences)
}
