//! The model being served, swapped atomically: a request takes an `Arc` of the current model
//! and finishes on it even if a promotion swaps in another meanwhile. The same slot holds the
//! deciding policy.

use std::path::Path;
use std::sync::{Arc, RwLock};

use riskloop_train::bundle::Bundle;

use crate::decision::schema::InputSchema;

/// A verified bundle ready to score, with the fields an application may carry.
#[derive(Debug)]
pub struct ServedModel {
    pub bundle: Bundle,
    pub schema: InputSchema,
}

impl ServedModel {
    /// Loads and verifies `dir` (checksums first); refuses anything that does not verify.
    pub fn load(dir: &Path) -> Result<Self, riskloop_train::TrainError> {
        let bundle = Bundle::load(dir)?;
        let schema = InputSchema::of(&bundle.pipeline, &bundle.spec()?);
        Ok(Self { bundle, schema })
    }

    pub fn version(&self) -> &str {
        self.bundle.version()
    }
}

/// The current artefact of one kind (the served model, the deciding policy), swapped
/// atomically: a reader takes an `Arc` and keeps it for as long as it needs.
#[derive(Debug)]
pub struct Slot<T> {
    current: RwLock<Option<Arc<T>>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            current: RwLock::new(None),
        }
    }
}

impl<T> Slot<T> {
    pub fn current(&self) -> Option<Arc<T>> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn swap(&self, value: Arc<T>) -> Option<Arc<T>> {
        match self.current.write() {
            Ok(mut guard) => guard.replace(value),
            Err(poisoned) => poisoned.into_inner().replace(value),
        }
    }
}

/// The served model's slot.
pub type ModelSlot = Slot<ServedModel>;
