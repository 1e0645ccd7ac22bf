//! The current artefact of one kind (the served model, the deciding policy), swapped
//! atomically: a request takes an `Arc` of the current one and finishes on it even if a
//! promotion or a policy edit swaps in another meanwhile.

use std::sync::{Arc, RwLock};

use crate::decision::ServedModel;

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

    /// Empties the slot; what it held, if anything.
    pub fn clear(&self) -> Option<Arc<T>> {
        match self.current.write() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
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
