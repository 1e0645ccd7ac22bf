//! A model bundle ready to decide with: verified, with the fields its applications may carry.

use std::path::Path;

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
