//! The dataset spec: a TOML file that says how to read one family of raw loan files.
//!
//! Unknown keys are errors and every check names the key at fault, because a silently ignored
//! typo in a spec (say `protcted = true`) would put a protected attribute into a credit model.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::IngestError;
use crate::derive::{Expression, Operand};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Column that identifies an application; kept through the ETL, never a feature.
    pub id_column: Option<String>,
    /// When the application was made: used by time splits and by date features' ages.
    pub time: Option<TimeColumn>,
    pub target: Target,
    #[serde(default)]
    pub read: ReadOptions,
    #[serde(default)]
    pub split: Split,
    /// Columns that must never reach a model, each with the reason (usually leakage).
    #[serde(default, rename = "drop")]
    pub drops: Vec<Drop>,
    /// Columns carried into the dataset files as text, never features (e.g. a known true PD).
    #[serde(default)]
    pub keep: Vec<String>,
    #[serde(rename = "feature")]
    pub features: Vec<Feature>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeColumn {
    pub column: String,
    /// strftime format, e.g. `%Y-%m-%d`, `%d/%m/%y`, or `%Y` for a year alone.
    pub format: String,
    /// Raw values replaced before parsing (e.g. `"1976A" = "1976"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
    /// This column's two-digit-year pivot, when it differs from `read.two_digit_year_pivot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_digit_year_pivot: Option<u32>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub column: String,
    /// Raw values that mean the loan went bad (default, charged off, ...).
    pub bad: Vec<String>,
    /// Raw values that mean it was repaid.
    pub good: Vec<String>,
    /// What to do with a row whose target is neither bad nor good.
    #[serde(default)]
    pub other: OtherTarget,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OtherTarget {
    /// Count the row in the report and leave it out (e.g. loans still running).
    #[default]
    Exclude,
    /// Stop the ingest: the file is not what the spec says.
    Error,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReadOptions {
    /// Raw tokens that mean "no value", compared after trimming spaces.
    pub na_values: Vec<String>,
    /// Decimal separator of numbers: `.` (`1,234.50`) or `,` (`1.234,50`).
    pub decimal: char,
    pub delimiter: char,
    /// Two-digit years below this are 20xx, others 19xx (`%y` in date formats).
    pub two_digit_year_pivot: u32,
    /// A book with more rows is read twice: the pipeline is fitted and the quality report
    /// computed on a uniform sample of about this many rows, and the rows are then encoded and
    /// written batch by batch, so memory is bounded by the sample. 0: hold every row.
    pub fit_rows: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            na_values: [
                "", "NA", "N/A", "n/a", "NaN", "null", "NULL", "None", "-", "?",
            ]
            .map(String::from)
            .to_vec(),
            decimal: '.',
            delimiter: ',',
            two_digit_year_pivot: 50,
            fit_rows: 2_000_000,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Split {
    pub method: SplitMethod,
    /// Shares of the rows for `stratified` and `time`.
    pub valid: f64,
    pub test: f64,
    pub seed: u64,
    /// The column `cutoff` and `column` split by; `cutoff` defaults to the `[time]` column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `cutoff`: rows before `valid_from` train (from `train_from`, if set), rows from
    /// `valid_from` validate, rows from `test_from` test. Dates in the `[time]` format when
    /// the column is the time column, numbers otherwise (`2006`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_from: Option<String>,
    /// `column`: the raw values (trimmed) of `column` that put a row in each split.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub train_values: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub valid_values: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_values: Vec<String>,
}

impl Default for Split {
    fn default() -> Self {
        Self {
            method: SplitMethod::Stratified,
            valid: 0.15,
            test: 0.15,
            seed: 42,
            column: None,
            train_from: None,
            valid_from: None,
            test_from: None,
            train_values: Vec::new(),
            valid_values: Vec::new(),
            test_values: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// Random, with the bad rate kept equal across train, valid and test.
    #[default]
    Stratified,
    /// Oldest applications train, newest test: how a model meets the future.
    Time,
    /// By cut-off values of a column (a date or a number such as a year): out of time with
    /// the boundaries a credit team names (`train ≤ 2005`, `valid = 2006`, `test ≥ 2007`).
    Cutoff,
    /// By the values of a column (`sample = "train" | "valid" | "test"`).
    Column,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Drop {
    pub column: String,
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub name: String,
    /// Raw column name when it differs from `name`.
    pub column: Option<String>,
    pub kind: FeatureKind,
    /// A value computed from raw columns instead of read from one (see [`crate::derive`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derive: Option<Expression>,
    /// How to read raw values; by default `number` for numeric and `text` for categorical.
    pub parse: Option<Parser>,
    /// strftime format for `parse = "date"`.
    pub date_format: Option<String>,
    /// What a date becomes: days before the application date, or its month or year.
    pub date_part: Option<DatePart>,
    /// This column's two-digit-year pivot, when it differs from `read.two_digit_year_pivot`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub two_digit_year_pivot: Option<u32>,
    /// Raw values (trimmed) that mean missing in this column only, besides `read.na_values`
    /// (`"0"` where zero means unknown). For a numeric feature a value matches by number too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_values: Vec<String>,
    /// Raw values (trimmed) replaced before parsing: codes that mean the same thing recoded to
    /// one (`"0" = "N"`). For a numeric feature a key matches by number too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
    #[serde(default)]
    pub missing: MissingPolicy,
    /// Plausible values (numeric): a value outside them is invalid, like one that does not
    /// parse. The ETL counts it and treats it as missing; the server refuses the application,
    /// naming the field. An age of -4 is a data error, not a risk.
    pub valid: Option<[f64; 2]>,
    /// Hard bounds on the parsed value; values outside are clipped to them.
    pub clip: Option<[f64; 2]>,
    /// Quantiles of the training data beyond which values are clipped (numeric).
    pub clip_quantiles: Option<[f64; 2]>,
    pub max_levels: Option<usize>,
    pub min_frequency: Option<usize>,
    /// Direction in which risk moves as the value grows; the model must honour it.
    pub monotone: Option<Monotone>,
    /// The words a reason code uses for this feature.
    #[serde(default)]
    pub description: String,
    /// Kept for fairness monitoring, never a model input.
    #[serde(default)]
    pub protected: bool,
    /// Online, an application must carry it: without it (absent, `null` or an NA token) the
    /// server refuses the application with 422 naming the field, instead of imputing it.
    /// Batch rows missing it are still imputed as `missing` says.
    #[serde(default)]
    pub required: bool,
    /// Gates the ingest may raise on this feature that an analyst has looked at and accepts,
    /// each with the reason: `acknowledge = { leakage = "known at application: ..." }`.
    /// Keys: `leakage`, `drift`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub acknowledge: BTreeMap<String, String>,
}

/// The gates a spec may acknowledge per feature.
pub const GATES: [&str; 2] = ["leakage", "drift"];

impl Feature {
    /// The raw column it reads; a derived feature's own name.
    pub fn column(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.name)
    }

    /// The raw columns its value comes from.
    pub fn sources(&self) -> Vec<&str> {
        match &self.derive {
            Some(e) => e.columns().iter().map(String::as_str).collect(),
            None => vec![self.column()],
        }
    }

    pub fn parser(&self) -> Parser {
        self.parse.unwrap_or(match self.kind {
            FeatureKind::Numeric => Parser::Number,
            FeatureKind::Categorical | FeatureKind::Boolean => Parser::Text,
        })
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    Numeric,
    Categorical,
    Boolean,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Parser {
    /// A number, tolerating currency symbols, thousands separators and stray spaces.
    Number,
    /// `13.5%` → 13.5 (a bare `13.5` is accepted too).
    Percent,
    /// A date by `date_format`, turned into a number by `date_part`.
    Date,
    /// Text as written (categorical features; numeric codes such as ZIPs stay text).
    Text,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DatePart {
    /// Days from this date to the application date (needs `[time]` or `reference_date`).
    DaysBeforeApplication,
    Month,
    Year,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Impute (median / `__missing__`) and add a 0/1 "was missing" input.
    #[default]
    Indicator,
    /// Impute without an indicator.
    Impute,
    /// A row without a value is excluded in batch and refused online.
    Reject,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Monotone {
    /// Higher values mean more risk.
    Increasing,
    /// Higher values mean less risk.
    Decreasing,
}

impl DatasetSpec {
    pub fn from_file(path: &Path) -> Result<Self, IngestError> {
        let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            IngestError::Spec(message) => {
                IngestError::Spec(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, IngestError> {
        let spec: Self = toml::from_str(text).map_err(|e| IngestError::Spec(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Features that are model inputs (everything but the protected ones).
    pub fn model_features(&self) -> impl Iterator<Item = &Feature> {
        self.features.iter().filter(|f| !f.protected)
    }

    fn validate(&self) -> Result<(), IngestError> {
        let fail = |key: &str, reason: &str| Err(IngestError::Spec(format!("`{key}`: {reason}")));
        if self.name.trim().is_empty() {
            return fail("name", "must not be empty");
        }
        if self.target.bad.is_empty() || self.target.good.is_empty() {
            return fail("target", "needs at least one `bad` and one `good` value");
        }
        if let Some(v) = self
            .target
            .bad
            .iter()
            .find(|v| self.target.good.contains(v))
        {
            return fail(
                "target",
                &format!("value {v:?} is listed as both bad and good"),
            );
        }
        self.validate_split()?;
        if !matches!(self.read.decimal, '.' | ',') {
            return fail("read.decimal", "must be \".\" or \",\"");
        }
        if self.read.two_digit_year_pivot > 99 {
            return fail("read.two_digit_year_pivot", "must be 0..=99");
        }
        if self
            .time
            .as_ref()
            .is_some_and(|t| t.two_digit_year_pivot.is_some_and(|p| p > 99))
        {
            return fail("time.two_digit_year_pivot", "must be 0..=99");
        }
        let needs_time = self
            .features
            .iter()
            .any(|f| f.date_part == Some(DatePart::DaysBeforeApplication));
        if needs_time && self.time.is_none() {
            return fail(
                "time",
                "date_part = \"days_before_application\" needs a `[time]` column",
            );
        }
        if self.model_features().next().is_none() {
            return fail(
                "feature",
                "at least one feature must be a model input (not protected)",
            );
        }
        let mut seen = HashSet::new();
        let reserved: Vec<&str> = [Some(self.target.column.as_str()), self.id_column.as_deref()]
            .into_iter()
            .flatten()
            .chain(self.drops.iter().map(|d| d.column.as_str()))
            .chain(self.keep.iter().map(String::as_str))
            .collect();
        // Raw columns read by anything: a derived feature's name must not be one of them, or
        // an application field would mean two things.
        let raw_columns: HashSet<&str> = self
            .features
            .iter()
            .flat_map(Feature::sources)
            .chain(self.time.iter().map(|t| t.column.as_str()))
            .chain(self.split.column.as_deref())
            .collect();
        for (i, f) in self.features.iter().enumerate() {
            let key = format!("feature[{i}] ({})", f.name);
            if f.name.trim().is_empty() || f.name.contains(['[', ']', '=']) {
                return fail(&key, "needs a name without brackets or `=`");
            }
            if !seen.insert(f.name.as_str()) {
                return fail(&key, "is defined twice");
            }
            if let Some(source) = f.sources().into_iter().find(|c| reserved.contains(c)) {
                return fail(
                    &key,
                    &format!("reads `{source}`, the target, the id, a kept or a dropped column"),
                );
            }
            if f.derive.is_some() && raw_columns.contains(f.name.as_str()) {
                return fail(
                    &key,
                    "a derived feature needs a name that is not a raw column's",
                );
            }
            f.validate()
                .map_err(|reason| IngestError::Spec(format!("`{key}`: {reason}")))?;
        }
        for d in &self.drops {
            if d.reason.trim().is_empty() {
                return fail(&format!("drop ({})", d.column), "needs a reason");
            }
        }
        Ok(())
    }
}

impl DatasetSpec {
    fn validate_split(&self) -> Result<(), IngestError> {
        let fail = |key: &str, reason: &str| Err(IngestError::Spec(format!("`{key}`: {reason}")));
        let split = &self.split;
        let fractions = matches!(split.method, SplitMethod::Stratified | SplitMethod::Time);
        let (valid, test) = (split.valid, split.test);
        if fractions
            && (!(0.0..1.0).contains(&valid) || !(0.0..1.0).contains(&test) || valid + test >= 0.9)
        {
            return fail(
                "split",
                "valid and test must be fractions in [0, 1) leaving at least 10% to train",
            );
        }
        let cut =
            split.train_from.is_some() || split.valid_from.is_some() || split.test_from.is_some();
        let listed = !(split.train_values.is_empty()
            && split.valid_values.is_empty()
            && split.test_values.is_empty());
        match split.method {
            SplitMethod::Time if self.time.is_none() => {
                return fail("split.method", "`time` needs a `[time]` column");
            }
            SplitMethod::Cutoff => {
                if split.column.is_none() && self.time.is_none() {
                    return fail(
                        "split.column",
                        "`cutoff` needs a column, or a `[time]` column",
                    );
                }
                if split.valid_from.is_none() || split.test_from.is_none() {
                    return fail("split", "`cutoff` needs `valid_from` and `test_from`");
                }
                let cuts = crate::split::Cutoffs::of(self)
                    .map_err(|reason| IngestError::Spec(format!("`split`: {reason}")))?;
                if cuts.valid_from > cuts.test_from
                    || cuts.train_from.is_some_and(|t| t > cuts.valid_from)
                {
                    return fail("split", "needs train_from <= valid_from <= test_from");
                }
            }
            SplitMethod::Column => {
                if split.column.is_none() {
                    return fail(
                        "split.column",
                        "`column` splits need the column to split by",
                    );
                }
                let lists = [&split.train_values, &split.valid_values, &split.test_values];
                if lists.iter().any(|l| l.is_empty()) {
                    return fail(
                        "split",
                        "`column` needs `train_values`, `valid_values` and `test_values`",
                    );
                }
                for (i, list) in lists.iter().enumerate() {
                    if let Some(v) = list
                        .iter()
                        .find(|v| lists[i + 1..].iter().any(|l| l.contains(v)))
                    {
                        return fail("split", &format!("value {v:?} is listed in two splits"));
                    }
                }
            }
            _ => {}
        }
        if cut && split.method != SplitMethod::Cutoff {
            return fail(
                "split",
                "`train_from`, `valid_from` and `test_from` go with method = \"cutoff\"",
            );
        }
        if listed && split.method != SplitMethod::Column {
            return fail("split", "`*_values` go with method = \"column\"");
        }
        if split.column.is_some()
            && !matches!(split.method, SplitMethod::Cutoff | SplitMethod::Column)
        {
            return fail(
                "split.column",
                "goes with method = \"cutoff\" or \"column\"",
            );
        }
        Ok(())
    }

    /// The column `cutoff` or `column` splits read, if it is not the time column.
    pub fn split_column(&self) -> Option<&str> {
        let column = self.split.column.as_deref()?;
        match (&self.time, self.split.method) {
            (Some(t), SplitMethod::Cutoff) if t.column == column => None,
            (_, SplitMethod::Cutoff | SplitMethod::Column) => Some(column),
            _ => None,
        }
    }

    /// Whether the split reads the application date of every row.
    pub fn splits_by_time(&self) -> bool {
        match self.split.method {
            SplitMethod::Time => true,
            SplitMethod::Cutoff => self.split_column().is_none(),
            _ => false,
        }
    }
}

impl TimeColumn {
    /// The application date of one raw value: its `map` applied, an NA token missing.
    pub fn parse(
        &self,
        raw: &str,
        na_values: &[String],
        default_pivot: u32,
    ) -> Result<Option<chrono::NaiveDate>, String> {
        let raw = raw.trim();
        let raw = self.map.get(raw).map_or(raw, String::as_str);
        if crate::parse::is_na(raw, na_values) {
            return Ok(None);
        }
        let pivot = self.two_digit_year_pivot.unwrap_or(default_pivot);
        crate::parse::parse_date(raw, &self.format, pivot).map(Some)
    }
}

impl Feature {
    fn validate(&self) -> Result<(), String> {
        if let Some(key) = self
            .acknowledge
            .keys()
            .find(|k| !GATES.contains(&k.as_str()))
        {
            return Err(format!(
                "`acknowledge` knows the gates {}, not `{key}`",
                GATES.join(", ")
            ));
        }
        if self
            .acknowledge
            .values()
            .any(|reason| reason.trim().is_empty())
        {
            return Err("each acknowledged gate needs a reason".into());
        }
        if self.two_digit_year_pivot.is_some_and(|p| p > 99) {
            return Err("`two_digit_year_pivot` must be 0..=99".into());
        }
        match &self.derive {
            Some(expression) => self.validate_derived(expression),
            None => self.validate_read(),
        }
    }

    fn validate_derived(&self, expression: &Expression) -> Result<(), String> {
        if self.protected {
            return Err("a protected attribute is kept as sent: it cannot be derived".into());
        }
        if self.column.is_some() || self.parse.is_some() || !self.map.is_empty() {
            return Err("a derived feature reads its expression's columns: omit `column`, `parse` and `map`".into());
        }
        if expression.kind() != self.kind {
            return Err(format!(
                "`{expression}` gives a {} value: set kind = {:?}",
                kind_name(expression.kind()),
                kind_name(expression.kind())
            ));
        }
        match (expression.operand(), &self.date_format, self.date_part) {
            (_, _, Some(_)) => Err("`date_part` goes with parse = \"date\"; a derived feature picks the part with year(), month() or days_between()".into()),
            (Operand::Date, None, _) => Err(format!("`{expression}` reads dates: set `date_format`")),
            (Operand::Number | Operand::Text, Some(_), _) => Err(format!("`{expression}` reads no dates: omit `date_format`")),
            _ => self.validate_ranges(),
        }
    }

    fn validate_read(&self) -> Result<(), String> {
        match (self.kind, self.parse) {
            (_, None) | (FeatureKind::Categorical, Some(Parser::Text)) => {}
            (FeatureKind::Categorical, Some(_)) => {
                return Err("a categorical feature is read as text: omit `parse`".into());
            }
            (FeatureKind::Boolean, Some(_)) => {
                return Err(
                    "a boolean feature reads yes/no, Y/N, true/false, 1/0: omit `parse`".into(),
                );
            }
            (FeatureKind::Numeric, Some(Parser::Text)) => {
                return Err("a numeric feature needs parse = number, percent or date".into());
            }
            (FeatureKind::Numeric, Some(_)) => {}
        }
        match (self.parser(), &self.date_format, self.date_part) {
            (Parser::Date, Some(_), Some(_)) => {}
            (Parser::Date, _, _) => {
                return Err("parse = \"date\" needs `date_format` and `date_part`".into());
            }
            (_, None, None) => {}
            _ => return Err("`date_format` and `date_part` only go with parse = \"date\"".into()),
        }
        self.validate_ranges()
    }

    fn validate_ranges(&self) -> Result<(), String> {
        if let Some([lo, hi]) = self.clip
            && lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less)
        {
            return Err("`clip` needs [low, high] with low < high".into());
        }
        if let Some([lo, hi]) = self.clip_quantiles
            && !(0.0 <= lo && lo < hi && hi <= 1.0)
        {
            return Err("`clip_quantiles` needs [low, high] with 0 <= low < high <= 1".into());
        }
        if let Some([lo, hi]) = self.valid
            && !(lo.is_finite() && hi.is_finite() && lo <= hi)
        {
            return Err("`valid` needs [low, high] with finite low <= high".into());
        }
        let numeric_only =
            self.clip.is_some() || self.clip_quantiles.is_some() || self.valid.is_some();
        if numeric_only && self.kind != FeatureKind::Numeric {
            return Err(
                "`valid`, `clip` and `clip_quantiles` apply to numeric features only".into(),
            );
        }
        let categorical_only = self.max_levels.is_some() || self.min_frequency.is_some();
        if categorical_only && self.kind != FeatureKind::Categorical {
            return Err(
                "`max_levels` and `min_frequency` apply to categorical features only".into(),
            );
        }
        if self.max_levels == Some(0) {
            return Err("`max_levels` must be at least 1".into());
        }
        if self.monotone.is_some() && self.kind == FeatureKind::Categorical {
            return Err("`monotone` applies to numeric and boolean features only".into());
        }
        Ok(())
    }
}

fn kind_name(kind: FeatureKind) -> &'static str {
    match kind {
        FeatureKind::Numeric => "numeric",
        FeatureKind::Categorical => "categorical",
        FeatureKind::Boolean => "boolean",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "loans"
[target]
column = "status"
bad = ["Charged Off"]
good = ["Fully Paid"]
[[feature]]
name = "income"
kind = "numeric"
"#;

    fn error_of(text: &str) -> String {
        DatasetSpec::from_toml(text)
            .expect_err("spec must be refused")
            .to_string()
    }

    #[test]
    fn a_minimal_spec_gets_sensible_defaults() {
        let spec = DatasetSpec::from_toml(MINIMAL).unwrap();
        assert_eq!(spec.split, Split::default());
        assert_eq!(spec.features[0].parser(), Parser::Number);
        assert_eq!(spec.features[0].missing, MissingPolicy::Indicator);
        assert!(spec.read.na_values.contains(&"N/A".to_owned()));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let err =
            error_of(&MINIMAL.replace("kind = \"numeric\"", "kind = \"numeric\"\nprotcted = true"));
        assert!(err.contains("protcted"), "{err}");
        let err = error_of(&format!("{MINIMAL}\n[split]\nseeed = 3\n"));
        assert!(err.contains("seeed"), "{err}");
    }

    #[test]
    fn bad_values_are_errors_that_name_the_key_and_the_reason() {
        let err = error_of(&MINIMAL.replace("kind = \"numeric\"", "kind = \"numbers\""));
        assert!(err.contains("numbers"), "{err}");
        let err = error_of(&MINIMAL.replace("good = [\"Fully Paid\"]", "good = [\"Charged Off\"]"));
        assert!(err.contains("both bad and good"), "{err}");
        let err = error_of(&format!("{MINIMAL}\n[split]\nvalid = 0.5\ntest = 0.5\n"));
        assert!(err.contains("`split`"), "{err}");
        let err = error_of(&format!("{MINIMAL}\n[split]\nmethod = \"time\"\n"));
        assert!(err.contains("[time]"), "{err}");
    }

    #[test]
    fn feature_rules_are_checked_per_feature() {
        let with = |extra: &str| {
            MINIMAL.replace(
                "kind = \"numeric\"",
                &format!("kind = \"numeric\"\n{extra}"),
            )
        };
        assert!(error_of(&with("parse = \"date\"")).contains("date_format"));
        assert!(error_of(&with("max_levels = 3")).contains("categorical features only"));
        assert!(error_of(&with("clip = [5.0, 1.0]")).contains("low < high"));
        assert!(error_of(&with("clip_quantiles = [0.5, 1.5]")).contains("clip_quantiles"));
        assert!(error_of(&with("valid = [5.0, 1.0]")).contains("finite low <= high"));
        let valid_text = MINIMAL.replace(
            "kind = \"numeric\"",
            "kind = \"categorical\"\nvalid = [0.0, 1.0]",
        );
        assert!(error_of(&valid_text).contains("numeric features only"));
        assert!(error_of(&with("parse = \"text\"")).contains("numeric feature needs"));
        let categorical = MINIMAL.replace(
            "kind = \"numeric\"",
            "kind = \"categorical\"\nparse = \"percent\"",
        );
        assert!(error_of(&categorical).contains("read as text"));
        let age = MINIMAL.replace(
            "kind = \"numeric\"",
            "kind = \"numeric\"\nparse = \"date\"\ndate_format = \"%Y\"\ndate_part = \"days_before_application\"",
        );
        assert!(error_of(&age).contains("[time]"));
    }

    #[test]
    fn a_feature_may_not_read_the_target_or_a_dropped_column() {
        let err = error_of(&MINIMAL.replace("name = \"income\"", "name = \"status\""));
        assert!(err.contains("feature[0] (status)"), "{err}");
        let dropped = format!(
            "{MINIMAL}\n[[drop]]\ncolumn = \"income\"\nreason = \"known after the outcome\"\n"
        );
        assert!(error_of(&dropped).contains("dropped"));
        let no_reason = format!("{MINIMAL}\n[[drop]]\ncolumn = \"recoveries\"\nreason = \" \"\n");
        assert!(error_of(&no_reason).contains("needs a reason"));
    }

    #[test]
    fn protected_only_specs_are_refused() {
        let err = error_of(
            &MINIMAL.replace("kind = \"numeric\"", "kind = \"numeric\"\nprotected = true"),
        );
        assert!(err.contains("model input"), "{err}");
    }

    #[test]
    fn the_shipped_specs_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
        for name in ["german_credit.toml", "synthetic_loans.toml"] {
            let spec =
                DatasetSpec::from_file(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(spec.model_features().count() >= 10, "{name}");
            assert!(
                spec.features.iter().any(|f| f.protected),
                "{name} monitors a protected attribute"
            );
        }
    }
}
