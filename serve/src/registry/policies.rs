//! Which policy decides: the policy file, read again when it changes, and the current policy
//! in a slot like the served model's. A broken edit is logged and the last good policy keeps
//! deciding; a new one decides only once its text is stored (see `http::app`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::Slot;
use crate::decision::policy::{Policy, PolicyError};
use crate::decision::schema::InputSchema;

/// The live policy. A new one is installed only once its text is stored (the caller's part),
/// so every decision names a stored policy.
#[derive(Debug)]
pub struct PolicyStore {
    path: PathBuf,
    current: Slot<Policy>,
    /// The file's modification time when it was last read.
    seen: RwLock<Option<SystemTime>>,
}

/// A changed policy file, read and checked, not yet deciding.
#[derive(Debug)]
pub struct Pending {
    pub policy: Policy,
    modified: Option<SystemTime>,
}

impl PolicyStore {
    pub fn open(path: &Path) -> Result<Self, PolicyError> {
        let policy = Policy::load(path)?;
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let current = Slot::default();
        current.swap(Arc::new(policy));
        Ok(Self {
            path: path.to_owned(),
            current,
            seen: RwLock::new(modified),
        })
    }

    pub fn current(&self) -> Arc<Policy> {
        self.current
            .current()
            .expect("a policy is installed at open")
    }

    /// The policy file, read again if it changed since it was last read. One that does not
    /// parse, or does not fit `schema` (the served model's), is logged and refused: the
    /// current policy keeps deciding.
    pub fn changed(&self, schema: Option<&InputSchema>) -> Option<Pending> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let seen = *self.seen.read().unwrap_or_else(|e| e.into_inner());
        if modified.is_none() || modified == seen {
            return None;
        }
        let loaded = Policy::load(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|policy| match schema {
                Some(schema) => policy.check_against(schema).map(|()| policy),
                None => Ok(policy),
            });
        match loaded {
            Ok(policy) => Some(Pending { policy, modified }),
            Err(err) => {
                tracing::error!(error = %err, "policy file changed but is refused; keeping the previous policy");
                *self.seen.write().unwrap_or_else(|e| e.into_inner()) = modified;
                None
            }
        }
    }

    /// Makes `pending` the policy that decides (its text stored first, by the caller).
    pub fn install(&self, pending: Pending) -> String {
        let version = pending.policy.version.clone();
        self.current.swap(Arc::new(pending.policy));
        *self.seen.write().unwrap_or_else(|e| e.into_inner()) = pending.modified;
        tracing::info!(version, "policy reloaded");
        version
    }
}
