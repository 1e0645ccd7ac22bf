//! The model being served, swapped atomically: a request takes an `Arc` of the current model
//! and finishes on it even if a promotion swaps in another meanwhile.

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

#[derive(Debug, Default)]
pub struct ModelSlot {
    current: RwLock<Option<Arc<ServedModel>>>,
}

impl ModelSlot {
    pub fn current(&self) -> Option<Arc<ServedModel>> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn swap(&self, model: Arc<ServedModel>) -> Option<Arc<ServedModel>> {
        match self.current.write() {
            Ok(mut guard) => guard.replace(model),
            Err(poisoned) => poisoned.into_inner().replace(model),
        }
    }
}
