//! What an application may carry for one served model: its inputs (the pipeline's schema) and
//! its protected attributes (never model inputs, kept for monitoring and policy rules), each
//! with its JSON type, whether it is required, and how its raw text is read. The one owner of
//! the field rules: the request check, the parse and the policy's load-time check read it.

use std::collections::BTreeMap;
use std::fmt;

use riskloop_ingest::application::name_order;
use riskloop_ingest::parse::RawFormat;
use riskloop_ingest::pipeline::FeaturePipeline;
use riskloop_ingest::spec::{DatasetSpec, FeatureKind};

/// One field an application may carry.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRule {
    pub name: String,
    pub kind: FieldKind,
    pub required: bool,
    /// A protected attribute: never a model input.
    pub protected: bool,
    /// Where its parsed value is kept; `None` for a field only read to parse others (the
    /// application date).
    pub position: Option<Position>,
}

/// The JSON a field takes (numbers and booleans may also come as text, parsed as the spec says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Number,
    String,
    Boolean,
    Date,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Date => "date",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "string" => Self::String,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            _ => Self::Number,
        }
    }

    /// Whether its parsed value is a number (compared with `<`, `>=`, …).
    pub fn is_numeric(self) -> bool {
        !matches!(self, Self::String)
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every field of a served model's applications.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSchema {
    /// In the order an application keeps its own fields ([`name_order`]), so that checking
    /// an application pairs each field with its rule in one walk.
    pub fields: Vec<FieldRule>,
    /// Protected attributes with how to read them, in spec order.
    pub protected: Vec<(String, RawFormat)>,
}

/// Where a field's parsed value is kept (see [`super::Inputs`]): the pipeline's feature order
/// for model inputs, the order of `protected` for protected attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Model(usize),
    Protected(usize),
}

impl InputSchema {
    pub fn of(pipeline: &FeaturePipeline, spec: &DatasetSpec) -> Self {
        let mut fields: BTreeMap<String, FieldRule> = pipeline
            .input_schema
            .iter()
            .map(|f| {
                let position = pipeline
                    .features
                    .iter()
                    .position(|p| p.column == f.name)
                    .map(Position::Model);
                let rule = FieldRule {
                    name: f.name.clone(),
                    kind: FieldKind::parse(&f.kind),
                    required: f.required,
                    protected: false,
                    position,
                };
                (f.name.clone(), rule)
            })
            .collect();
        let mut protected = Vec::new();
        for f in spec.features.iter().filter(|f| f.protected) {
            let position = Position::Protected(protected.len());
            protected.push((f.column().to_owned(), RawFormat::of(f, &spec.read)));
            let kind = match f.kind {
                FeatureKind::Numeric => FieldKind::Number,
                FeatureKind::Categorical => FieldKind::String,
                FeatureKind::Boolean => FieldKind::Boolean,
            };
            fields
                .entry(f.column().to_owned())
                .or_insert_with(|| FieldRule {
                    name: f.column().to_owned(),
                    kind,
                    required: f.required,
                    protected: true,
                    position: Some(position),
                });
        }
        let mut fields: Vec<FieldRule> = fields.into_values().collect();
        fields.sort_unstable_by(|a, b| name_order(&a.name, &b.name));
        Self { fields, protected }
    }

    /// A schema of model inputs only, in the given order, for tests.
    #[cfg(test)]
    pub(crate) fn from_fields(fields: Vec<(&str, FieldKind, bool)>) -> Self {
        let mut fields: Vec<FieldRule> = fields
            .into_iter()
            .enumerate()
            .map(|(i, (name, kind, required))| FieldRule {
                name: name.to_owned(),
                kind,
                required,
                protected: false,
                position: Some(Position::Model(i)),
            })
            .collect();
        fields.sort_unstable_by(|a, b| name_order(&a.name, &b.name));
        Self {
            fields,
            protected: Vec::new(),
        }
    }

    pub fn position(&self, name: &str) -> Option<Position> {
        self.field(name)?.position
    }

    pub fn field(&self, name: &str) -> Option<&FieldRule> {
        self.fields
            .binary_search_by(|f| name_order(&f.name, name))
            .ok()
            .map(|i| &self.fields[i])
    }

    /// What differs from `other`, one line per field; empty when the two accept the same
    /// applications.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let mut out = Vec::new();
        // Positions are how this build keeps values, not what an application may send.
        let describe = |f: &FieldRule| {
            format!(
                "{}{}{}",
                f.kind,
                if f.required { ", required" } else { "" },
                if f.protected { ", protected" } else { "" }
            )
        };
        for f in &self.fields {
            match other.field(&f.name) {
                None => out.push(format!(
                    "`{}` ({}) is no longer accepted",
                    f.name,
                    describe(f)
                )),
                Some(g) if describe(g) != describe(f) => out.push(format!(
                    "`{}` was {}, is now {}",
                    f.name,
                    describe(f),
                    describe(g)
                )),
                Some(_) => {}
            }
        }
        for g in &other.fields {
            if self.field(&g.name).is_none() {
                out.push(format!("`{}` ({}) is new", g.name, describe(g)));
            }
        }
        out
    }
}
