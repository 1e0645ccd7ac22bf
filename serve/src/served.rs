//! The model being served, swapped atomically: a request takes an `Arc` of the current model
//! and finishes on it even if a promotion swaps in another meanwhile.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use riskloop_ingest::application::name_order;
use riskloop_ingest::parse::RawFormat;
use riskloop_ingest::spec::FeatureKind;
use riskloop_train::bundle::Bundle;

/// One field an application may carry.
#[derive(Debug)]
pub struct FieldRule {
    pub name: String,
    /// `number`, `string`, `boolean` or `date`.
    pub kind: String,
    pub required: bool,
}

/// A verified bundle ready to score, with the fields an application may carry.
#[derive(Debug)]
pub struct ServedModel {
    pub bundle: Bundle,
    /// The fields an application may carry, in the order an [`Application`] keeps its own
    /// ([`name_order`]), so that validation pairs them in one walk.
    ///
    /// [`Application`]: riskloop_ingest::application::Application
    pub fields: Vec<FieldRule>,
    /// Protected attributes (never model inputs, so the pipeline does not read them) that
    /// declare plausible values, with how to read them.
    pub protected: Vec<(String, RawFormat)>,
}

impl ServedModel {
    /// Loads and verifies `dir` (checksums first); refuses anything that does not verify.
    pub fn load(dir: &Path) -> Result<Self, riskloop_train::TrainError> {
        let bundle = Bundle::load(dir)?;
        let mut fields: BTreeMap<String, (String, bool)> = bundle
            .pipeline
            .input_schema
            .iter()
            .map(|f| (f.name.clone(), (f.kind.clone(), f.required)))
            .collect();
        // Protected attributes are never model inputs, but an application may carry them so that
        // they are stored for fairness monitoring and hard policy rules can read them.
        let spec = bundle.spec()?;
        let mut protected = Vec::new();
        for f in spec.features.iter().filter(|f| f.protected) {
            if f.valid.is_some() {
                protected.push((f.column().to_owned(), RawFormat::of(f, &spec.read)));
            }
            let kind = match f.kind {
                FeatureKind::Numeric => "number",
                FeatureKind::Categorical => "string",
                FeatureKind::Boolean => "boolean",
            };
            fields
                .entry(f.column().to_owned())
                .or_insert((kind.to_owned(), false));
        }
        let mut fields: Vec<FieldRule> = fields
            .into_iter()
            .map(|(name, (kind, required))| FieldRule {
                name,
                kind,
                required,
            })
            .collect();
        fields.sort_unstable_by(|a, b| name_order(&a.name, &b.name));
        Ok(Self {
            bundle,
            fields,
            protected,
        })
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
