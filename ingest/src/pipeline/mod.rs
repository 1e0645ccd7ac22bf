//! The feature pipeline: fitted on the training split, then applied identically to a batch
//! (Polars) and to one JSON application (the server). Both paths parse with [`crate::parse`] and
//! encode with the same `encode_*` functions (in `apply`), so their `f32` outputs agree bit for
//! bit.

use std::borrow::Cow;
use std::path::Path;

use crate::application::{Application, Field};
use chrono::NaiveDate;
use polars::prelude::PlHashMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::IngestError;
use crate::derive::{Arg, Operand};
use crate::parse::{RawFormat, Value};
use crate::spec::{DatasetSpec, Feature, FeatureKind, MissingPolicy, Monotone, Parser, TimeColumn};
use crate::table::{MISSING_CODE, ParsedColumn};

mod apply; // transform (batch), apply_one (online), apply_batch (raw frames)
mod fit; // fitting on the training split
mod monitor; // monitoring bins and the training split's counts in them

pub use monitor::TOP_LEVELS;

pub use fit::quantile;

pub const FORMAT_VERSION: u32 = 1;
pub const MISSING_LEVEL: &str = "__missing__";
pub const OTHER_LEVEL: &str = "__other__";
/// Quantile bins per numeric feature (edges are deduplicated, so there may be fewer).
pub const BINS: usize = 10;
const DEFAULT_CLIP_QUANTILES: [f64; 2] = [0.005, 0.995];
/// Levels kept at most: a safety net, not a cap a real book reaches (levels are kept by
/// frequency, so thousands of lenders each with enough loans keep their own weight).
const DEFAULT_MAX_LEVELS: usize = 10_000;
/// Training rows a level needs to keep its own weight: 5, or one in 20,000 on large books, so
/// that a level's weight rests on enough loans; rarer levels share `__other__`, which is
/// learnt like any level.
fn default_min_frequency(rows: usize) -> usize {
    (rows / 20_000).max(5)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeaturePipeline {
    pub format_version: u32,
    pub dataset: String,
    pub na_values: Vec<String>,
    /// The application date, read when a feature is a date's age.
    pub time: Option<TimeColumn>,
    pub two_digit_year_pivot: u32,
    pub features: Vec<FittedFeature>,
    /// One entry per output value, in output order, naming the raw feature it comes from.
    pub slots: Vec<Slot>,
    pub input_schema: Vec<InputField>,
    pub fitted_rows: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FittedFeature {
    pub name: String,
    pub column: String,
    pub description: String,
    pub monotone: Option<Monotone>,
    pub missing: MissingPolicy,
    /// The spec's `required`: the server refuses an application without it (bundles written
    /// before it existed have none).
    #[serde(default)]
    pub required: bool,
    pub format: RawFormat,
    pub transform: Transform,
    /// Whether the training rows had missing values: a feature never missing in training
    /// gets no indicator, whose weight could only be noise (bundles written before it
    /// existed have one wherever `missing = "indicator"`).
    #[serde(default = "missing_seen_before")]
    pub missing_seen: bool,
    /// The training split's counts in the monitoring bins ([`FittedFeature::monitor_bin`]):
    /// the baseline live traffic is compared with (empty in bundles written before it).
    #[serde(default)]
    pub baseline: Vec<u64>,
}

fn missing_seen_before() -> bool {
    true
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transform {
    /// Clip to `[lo, hi]`, impute, standardise. `bin_edges` are training quantiles in raw units.
    Numeric {
        lo: f64,
        hi: f64,
        impute: f64,
        mean: f64,
        scale: f64,
        bin_edges: Vec<f64>,
    },
    /// 0/1, missing imputed with the training mode.
    Boolean { impute: f64 },
    /// Level index: 0 `__missing__`, 1 `__other__` (rare or unseen), then by training frequency.
    Categorical {
        levels: Vec<String>,
        // Polars' hasher, not std's SipHash: this is looked up for every categorical field of
        // every application the server scores, and the table holds the model's own levels, so
        // a client cannot choose what collides.
        #[serde(skip)]
        lookup: PlHashMap<String, u32>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Slot {
    pub name: String,
    pub feature: String,
    pub kind: SlotKind,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlotKind {
    /// A standardised number.
    Standardized,
    /// A 0/1 value.
    Binary,
    /// 1 when the raw value was missing.
    MissingIndicator,
    /// A level index in `0..cardinality`, stored as f32.
    CategoryIndex { cardinality: usize },
}

/// One pipeline input of one application, as read ([`FeaturePipeline::parse_one`]): what
/// the encoders take. Text is trimmed; an NA token is missing.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<'a> {
    Missing,
    Number(f64),
    Text(Cow<'a, str>),
}

/// One field the online path accepts, with the JSON types it may take.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InputField {
    pub name: String,
    /// `number`, `string`, `boolean` or `date`; numbers may also come as their raw strings.
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub description: String,
}

// ---- encoding: the one definition both paths use ----

impl FittedFeature {
    /// The raw columns its value comes from: its column, or a derived feature's operands.
    pub fn sources(&self) -> Vec<&str> {
        match &self.format.derive {
            Some(e) => e.columns().iter().map(String::as_str).collect(),
            None => vec![self.column.as_str()],
        }
    }

    /// Numeric and boolean features may add a 0/1 missing slot; categories have `__missing__`.
    fn has_indicator(&self) -> bool {
        self.missing == MissingPolicy::Indicator
            && self.missing_seen
            && !matches!(self.transform, Transform::Categorical { .. })
    }

    fn numeric_params(&self) -> Option<(f64, f64, f64, f64, f64)> {
        match &self.transform {
            Transform::Numeric {
                lo,
                hi,
                impute,
                mean,
                scale,
                ..
            } => Some((*lo, *hi, *impute, *mean, *scale)),
            _ => None,
        }
    }
}

impl FeaturePipeline {
    fn build_slots(&self) -> Vec<Slot> {
        let mut slots = Vec::new();
        for f in &self.features {
            let kind = match &f.transform {
                Transform::Numeric { .. } => SlotKind::Standardized,
                Transform::Boolean { .. } => SlotKind::Binary,
                Transform::Categorical { levels, .. } => SlotKind::CategoryIndex {
                    cardinality: levels.len(),
                },
            };
            slots.push(Slot {
                name: f.name.clone(),
                feature: f.name.clone(),
                kind,
            });
            if f.has_indicator() {
                slots.push(Slot {
                    name: format!("{}__missing", f.name),
                    feature: f.name.clone(),
                    kind: SlotKind::MissingIndicator,
                });
            }
        }
        slots
    }

    fn build_input_schema(&self) -> Vec<InputField> {
        let mut fields: Vec<InputField> = self
            .features
            .iter()
            .filter(|f| f.format.derive.is_none())
            .map(|f| InputField {
                name: f.column.clone(),
                kind: match (f.format.kind, f.format.parser) {
                    (FeatureKind::Categorical, _) => "string",
                    (FeatureKind::Boolean, _) => "boolean",
                    (FeatureKind::Numeric, Parser::Date) => "date",
                    (FeatureKind::Numeric, _) => "number",
                }
                .to_owned(),
                required: f.required || f.missing == MissingPolicy::Reject,
                description: f.description.clone(),
            })
            .collect();
        // A derived feature's operands are fields too, unless a feature reads them already.
        for f in &self.features {
            let Some(expression) = &f.format.derive else {
                continue;
            };
            for column in expression.columns() {
                if fields.iter().any(|field| field.name == *column) {
                    continue;
                }
                fields.push(InputField {
                    name: column.clone(),
                    kind: match expression.operand() {
                        Operand::Number => "number",
                        Operand::Text => "string",
                        Operand::Date => "date",
                    }
                    .to_owned(),
                    required: false,
                    description: format!("Read by `{}` = {expression}", f.name),
                });
            }
        }
        if let Some(time) = self.time_needed() {
            fields.push(InputField {
                name: time.column.clone(),
                kind: "date".into(),
                required: false,
                description: format!("Application date ({})", time.format),
            });
        }
        fields
    }

    fn time_needed(&self) -> Option<&TimeColumn> {
        let needed = self
            .features
            .iter()
            .any(|f| f.format.date_part == Some(crate::spec::DatePart::DaysBeforeApplication));
        self.time.as_ref().filter(|_| needed)
    }

    /// Number of output values per application.
    pub fn width(&self) -> usize {
        self.slots.len()
    }

    pub fn save(&self, path: &Path) -> Result<(), IngestError> {
        crate::error::write_json(path, self)
    }

    pub fn load(path: &Path) -> Result<Self, IngestError> {
        let bytes = std::fs::read(path).map_err(IngestError::io(path))?;
        let mut pipeline: Self =
            serde_json::from_slice(&bytes).map_err(|source| IngestError::Json {
                path: path.display().to_string(),
                source,
            })?;
        if pipeline.format_version != FORMAT_VERSION {
            return Err(IngestError::Input(format!(
                "{}: pipeline format {} is not supported (this build reads {FORMAT_VERSION})",
                path.display(),
                pipeline.format_version
            )));
        }
        pipeline.index();
        Ok(pipeline)
    }

    /// Rebuilds the lookup tables that are not serialised.
    fn index(&mut self) {
        for f in &mut self.features {
            if let Transform::Categorical { levels, lookup } = &mut f.transform {
                *lookup = lookup_of(levels);
            }
        }
    }
}

fn field_error(field: &str, rule: impl Into<String>) -> IngestError {
    IngestError::Field {
        field: field.to_owned(),
        rule: rule.into(),
    }
}

/// Level → index, for the levels after the reserved `__missing__` and `__other__`.
fn lookup_of(levels: &[String]) -> PlHashMap<String, u32> {
    levels
        .iter()
        .enumerate()
        .skip(2)
        .map(|(i, l)| (l.clone(), i as u32))
        .collect()
}
