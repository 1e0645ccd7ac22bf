//! The feature pipeline: fitted on the training split, then applied identically to a batch
//! (Polars) and to one JSON application (the server). Both paths parse with [`crate::parse`] and
//! encode with the same `encode_*` functions below, so their `f32` outputs agree bit for bit.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::IngestError;
use crate::parse::{RawFormat, Value, is_na, parse_date};
use crate::spec::{DatasetSpec, Feature, FeatureKind, MissingPolicy, Monotone, Parser, TimeColumn};
use crate::table::{MISSING_CODE, ParsedColumn};

pub const FORMAT_VERSION: u32 = 1;
pub const MISSING_LEVEL: &str = "__missing__";
pub const OTHER_LEVEL: &str = "__other__";
/// Quantile bins per numeric feature (edges are deduplicated, so there may be fewer).
pub const BINS: usize = 10;
const DEFAULT_CLIP_QUANTILES: [f64; 2] = [0.005, 0.995];
const DEFAULT_MAX_LEVELS: usize = 50;
const DEFAULT_MIN_FREQUENCY: usize = 5;

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
    pub format: RawFormat,
    pub transform: Transform,
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
        #[serde(skip)]
        lookup: HashMap<String, u32>,
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

fn encode_numeric(t: (f64, f64, f64, f64, f64), v: Option<f64>) -> f32 {
    let (lo, hi, impute, mean, scale) = t;
    let x = v.map_or(impute, |v| v.clamp(lo, hi));
    ((x - mean) / scale) as f32
}

fn encode_boolean(impute: f64, v: Option<f64>) -> f32 {
    v.unwrap_or(impute) as f32
}

fn encode_level(lookup: &HashMap<String, u32>, v: Option<&str>) -> f32 {
    match v {
        None => 0.0,
        Some(text) => lookup.get(text).copied().unwrap_or(1) as f32,
    }
}

fn encode_indicator(missing: bool) -> f32 {
    if missing { 1.0 } else { 0.0 }
}

impl FittedFeature {
    /// Numeric and boolean features may add a 0/1 missing slot; categories have `__missing__`.
    fn has_indicator(&self) -> bool {
        self.missing == MissingPolicy::Indicator
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
    /// Fits on training rows. `columns[i]` holds the parsed values of `spec.model_features()[i]`.
    pub fn fit(spec: &DatasetSpec, columns: &[ParsedColumn]) -> Result<Self, IngestError> {
        let rows = columns.first().map_or(0, ParsedColumn::len);
        if rows == 0 {
            return Err(IngestError::Input(
                "no training rows to fit the feature pipeline on".into(),
            ));
        }
        // Features fit independently: spread them over the cores.
        let model_features: Vec<&Feature> = spec.model_features().collect();
        let transforms: Vec<Transform> = model_features
            .par_iter()
            .zip(columns)
            .map(|(feature, column)| match (feature.kind, column) {
                (FeatureKind::Numeric, ParsedColumn::Number(values)) => {
                    fit_numeric(feature, values)
                }
                (FeatureKind::Boolean, ParsedColumn::Number(values)) => {
                    let present: Vec<f64> = values.iter().flatten().copied().collect();
                    let ones = present.iter().filter(|&&v| v == 1.0).count();
                    Transform::Boolean {
                        impute: if ones * 2 >= present.len().max(1) {
                            1.0
                        } else {
                            0.0
                        },
                    }
                }
                (FeatureKind::Categorical, ParsedColumn::Text { dict, codes }) => {
                    fit_levels(feature, dict, codes)
                }
                _ => unreachable!("parsed column kind follows the feature kind"),
            })
            .collect();
        let mut features = Vec::new();
        for (feature, transform) in model_features.into_iter().zip(transforms) {
            features.push(FittedFeature {
                name: feature.name.clone(),
                column: feature.column().to_owned(),
                description: feature.description.clone(),
                monotone: feature.monotone,
                missing: feature.missing,
                format: RawFormat::of(feature, &spec.read),
                transform,
            });
        }
        let mut pipeline = Self {
            format_version: FORMAT_VERSION,
            dataset: spec.name.clone(),
            na_values: spec.read.na_values.clone(),
            time: spec.time.clone(),
            two_digit_year_pivot: spec.read.two_digit_year_pivot,
            slots: Vec::new(),
            input_schema: Vec::new(),
            features,
            fitted_rows: rows,
        };
        pipeline.slots = pipeline.build_slots();
        pipeline.input_schema = pipeline.build_input_schema();
        Ok(pipeline)
    }

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
            .map(|f| InputField {
                name: f.column.clone(),
                kind: match (f.format.kind, f.format.parser) {
                    (FeatureKind::Categorical, _) => "string",
                    (FeatureKind::Boolean, _) => "boolean",
                    (FeatureKind::Numeric, Parser::Date) => "date",
                    (FeatureKind::Numeric, _) => "number",
                }
                .to_owned(),
                required: f.missing == MissingPolicy::Reject,
                description: f.description.clone(),
            })
            .collect();
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

    /// Encodes parsed columns (one per pipeline feature) into one `f32` column per slot.
    pub fn transform(&self, columns: &[ParsedColumn]) -> Vec<Vec<f32>> {
        let mut out = Vec::with_capacity(self.slots.len());
        for (f, column) in self.features.iter().zip(columns) {
            match (&f.transform, column) {
                (Transform::Categorical { lookup, .. }, ParsedColumn::Text { dict, codes }) => {
                    let by_code: Vec<f32> =
                        dict.iter().map(|t| encode_level(lookup, Some(t))).collect();
                    let missing = encode_level(lookup, None);
                    out.push(
                        codes
                            .iter()
                            .map(|&c| {
                                if c == MISSING_CODE {
                                    missing
                                } else {
                                    by_code[c as usize]
                                }
                            })
                            .collect(),
                    );
                }
                (Transform::Boolean { impute }, ParsedColumn::Number(values)) => {
                    out.push(values.iter().map(|&v| encode_boolean(*impute, v)).collect());
                }
                (Transform::Numeric { .. }, ParsedColumn::Number(values)) => {
                    let params = f.numeric_params().expect("numeric");
                    out.push(values.iter().map(|&v| encode_numeric(params, v)).collect());
                }
                _ => unreachable!("parsed column kind follows the feature kind"),
            }
            if f.has_indicator() {
                out.push(
                    (0..column.len())
                        .map(|r| encode_indicator(column.is_missing(r)))
                        .collect(),
                );
            }
        }
        out
    }

    /// Encodes one application given as a JSON object. Fields the pipeline does not use are
    /// ignored here (the server rejects unknown fields against `input_schema`).
    pub fn apply_one(&self, application: &Map<String, Json>) -> Result<Vec<f32>, IngestError> {
        let application_date = match self.time_needed() {
            Some(time) => match application.get(&time.column) {
                Some(Json::String(s)) if !is_na(s, &self.na_values) => Some(
                    parse_date(s, &time.format, self.two_digit_year_pivot)
                        .map_err(|rule| field_error(&time.column, rule))?,
                ),
                None | Some(Json::Null) | Some(Json::String(_)) => None,
                Some(_) => return Err(field_error(&time.column, "must be a date string")),
            },
            None => None,
        };
        let mut out = Vec::with_capacity(self.slots.len());
        for f in &self.features {
            let raw = application.get(&f.column);
            let missing = match &f.transform {
                Transform::Categorical { lookup, .. } => {
                    let text = self.online_text(f, raw)?;
                    out.push(encode_level(lookup, text.as_deref()));
                    text.is_none()
                }
                Transform::Boolean { impute } => {
                    let v = self.online_number(f, raw, application_date)?;
                    out.push(encode_boolean(*impute, v));
                    v.is_none()
                }
                Transform::Numeric { .. } => {
                    let v = self.online_number(f, raw, application_date)?;
                    out.push(encode_numeric(f.numeric_params().expect("numeric"), v));
                    v.is_none()
                }
            };
            if missing && f.missing == MissingPolicy::Reject {
                return Err(field_error(&f.column, "is required"));
            }
            if f.has_indicator() {
                out.push(encode_indicator(missing));
            }
        }
        Ok(out)
    }

    fn online_number(
        &self,
        f: &FittedFeature,
        raw: Option<&Json>,
        application_date: Option<NaiveDate>,
    ) -> Result<Option<f64>, IngestError> {
        let boolean = f.format.kind == FeatureKind::Boolean;
        match raw {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Bool(b)) if boolean => Ok(Some(if *b { 1.0 } else { 0.0 })),
            Some(Json::Number(n)) if f.format.parser != Parser::Date => {
                let v = n
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| field_error(&f.column, "must be a finite number"))?;
                if boolean && v != 0.0 && v != 1.0 {
                    return Err(field_error(&f.column, "must be true/false or 1/0"));
                }
                Ok(Some(v))
            }
            Some(Json::String(s)) if is_na(s, &self.na_values) => Ok(None),
            Some(Json::String(s)) => match f.format.parse(s, application_date) {
                Ok(Value::Number(v)) => Ok(Some(v)),
                Ok(_) => Ok(None),
                Err(rule) => Err(field_error(&f.column, rule)),
            },
            Some(_) => Err(field_error(
                &f.column,
                match (boolean, f.format.parser) {
                    (true, _) => "must be a boolean",
                    (false, Parser::Date) => "must be a date string",
                    _ => "must be a number",
                },
            )),
        }
    }

    fn online_text<'a>(
        &self,
        f: &FittedFeature,
        raw: Option<&'a Json>,
    ) -> Result<Option<Cow<'a, str>>, IngestError> {
        match raw {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) if is_na(s, &self.na_values) => Ok(None),
            Some(Json::String(s)) => Ok(Some(Cow::Borrowed(s.trim()))),
            // Codes such as ZIPs may arrive as JSON integers; they are read as their digits.
            Some(Json::Number(n)) if n.is_u64() || n.is_i64() => {
                Ok(Some(Cow::Owned(n.to_string())))
            }
            Some(_) => Err(field_error(&f.column, "must be a string")),
        }
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

/// Nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn fit_numeric(feature: &crate::spec::Feature, values: &[Option<f64>]) -> Transform {
    let [hard_lo, hard_hi] = feature.clip.unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
    let mut present: Vec<f64> = values
        .iter()
        .flatten()
        .map(|v| v.clamp(hard_lo, hard_hi))
        .collect();
    if present.is_empty() {
        return Transform::Numeric {
            lo: hard_lo,
            hi: hard_hi,
            impute: 0.0,
            mean: 0.0,
            scale: 1.0,
            bin_edges: Vec::new(),
        };
    }
    present.sort_unstable_by(f64::total_cmp);
    let [q_lo, q_hi] = feature.clip_quantiles.unwrap_or(DEFAULT_CLIP_QUANTILES);
    let lo = quantile(&present, q_lo).max(hard_lo);
    let hi = quantile(&present, q_hi).min(hard_hi);
    let clipped: Vec<f64> = present.iter().map(|v| v.clamp(lo, hi)).collect();
    let impute = quantile(&clipped, 0.5);
    let missing = values.len() - clipped.len();
    let n = values.len() as f64;
    let mean = (clipped.iter().sum::<f64>() + impute * missing as f64) / n;
    let var = (clipped.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
        + (impute - mean).powi(2) * missing as f64)
        / n;
    let scale = if var > 0.0 { var.sqrt() } else { 1.0 };
    let mut bin_edges: Vec<f64> = (1..BINS)
        .map(|b| quantile(&clipped, b as f64 / BINS as f64))
        .collect();
    bin_edges.dedup();
    bin_edges.retain(|&e| e > lo && e < hi);
    Transform::Numeric {
        lo,
        hi,
        impute,
        mean,
        scale,
        bin_edges,
    }
}

fn fit_levels(feature: &crate::spec::Feature, dict: &[String], codes: &[u32]) -> Transform {
    let mut counts = vec![0usize; dict.len()];
    for &c in codes {
        if c != MISSING_CODE {
            counts[c as usize] += 1;
        }
    }
    let min_frequency = feature.min_frequency.unwrap_or(DEFAULT_MIN_FREQUENCY);
    let max_levels = feature.max_levels.unwrap_or(DEFAULT_MAX_LEVELS);
    let mut ranked: Vec<(usize, &str)> = counts
        .iter()
        .zip(dict)
        .filter(|(n, _)| **n >= min_frequency)
        .map(|(n, t)| (*n, t.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    ranked.truncate(max_levels);
    let mut levels = vec![MISSING_LEVEL.to_owned(), OTHER_LEVEL.to_owned()];
    levels.extend(ranked.into_iter().map(|(_, t)| t.to_owned()));
    let lookup = lookup_of(&levels);
    Transform::Categorical { levels, lookup }
}

/// Level → index, for the levels after the reserved `__missing__` and `__other__`.
fn lookup_of(levels: &[String]) -> HashMap<String, u32> {
    levels
        .iter()
        .enumerate()
        .skip(2)
        .map(|(i, l)| (l.clone(), i as u32))
        .collect()
}

impl FeaturePipeline {
    /// Encodes every row of a raw frame (as read from CSV or Parquet) into one `Float32`
    /// column per slot, parsing with the same functions as [`Self::apply_one`].
    /// Rows whose `reject` features are missing are encoded with imputation; callers that must
    /// refuse them check `missing` on the parsed values first.
    pub fn apply_batch(
        &self,
        raw: polars::prelude::LazyFrame,
    ) -> Result<polars::prelude::DataFrame, IngestError> {
        use polars::prelude::{Column, DataFrame};
        let request = crate::read::Request {
            features: self
                .features
                .iter()
                .map(|f| (f.column.clone(), f.format.clone()))
                .collect(),
            text: Vec::new(),
            time: self.time_needed().cloned(),
            na_values: self.na_values.clone(),
            two_digit_year_pivot: self.two_digit_year_pivot,
        };
        let parsed = crate::read::parse_stream(raw, &request, "applying the feature pipeline")?;
        let encoded = self.transform(&parsed.features);
        let columns: Vec<Column> = self
            .slots
            .iter()
            .zip(encoded)
            .map(|(slot, values)| Column::new(slot.name.as_str().into(), values))
            .collect();
        DataFrame::new(parsed.rows, columns).map_err(IngestError::polars("assembling encoded rows"))
    }
}
