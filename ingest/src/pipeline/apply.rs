//! Applying the fitted pipeline: to parsed columns (batch), to one JSON application (online) and
//! to a raw frame. Every path encodes with the same `encode_*` functions, so they agree bit for bit.

use super::*;

fn encode_numeric(t: (f64, f64, f64, f64, f64), v: Option<f64>) -> f32 {
    let (lo, hi, impute, mean, scale) = t;
    let x = v.map_or(impute, |v| v.clamp(lo, hi));
    ((x - mean) / scale) as f32
}

fn encode_boolean(impute: f64, v: Option<f64>) -> f32 {
    v.unwrap_or(impute) as f32
}

fn encode_level(lookup: &PlHashMap<String, u32>, v: Option<&str>) -> f32 {
    match v {
        None => 0.0,
        Some(text) => lookup.get(text).copied().unwrap_or(1) as f32,
    }
}

fn encode_indicator(missing: bool) -> f32 {
    if missing { 1.0 } else { 0.0 }
}

impl FeaturePipeline {
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

    /// Encodes one application. Fields the pipeline does not use are ignored here (the server
    /// rejects unknown fields against `input_schema`).
    pub fn apply_one(&self, application: &Application<'_>) -> Result<Vec<f32>, IngestError> {
        Ok(self.encode_one(&self.parse_one(application)?))
    }

    /// Reads one application's inputs: one value per feature, in feature order, parsed as the
    /// batch path parses a raw column's value. What a caller decides on (the server's policy)
    /// should read these same values.
    pub fn parse_one<'a>(
        &self,
        application: &'a Application<'_>,
    ) -> Result<Vec<Input<'a>>, IngestError> {
        let application_date = match self.time_needed() {
            Some(time) => match application.get(&time.column) {
                Some(Field::Text(s)) if !is_na(s, &self.na_values) => Some(
                    parse_date(s, &time.format, self.two_digit_year_pivot)
                        .map_err(|rule| field_error(&time.column, rule))?,
                ),
                None | Some(Field::Null) | Some(Field::Text(_)) => None,
                Some(_) => return Err(field_error(&time.column, "must be a date string")),
            },
            None => None,
        };
        let mut inputs = Vec::with_capacity(self.features.len());
        for f in &self.features {
            let raw = application.get(&f.column);
            let input = match &f.transform {
                Transform::Categorical { .. } => self
                    .online_text(f, raw)?
                    .map_or(Input::Missing, Input::Text),
                Transform::Boolean { .. } | Transform::Numeric { .. } => self
                    .online_number(f, raw, application_date)?
                    .map_or(Input::Missing, Input::Number),
            };
            if input == Input::Missing && f.missing == MissingPolicy::Reject {
                return Err(field_error(&f.column, "is required"));
            }
            inputs.push(input);
        }
        Ok(inputs)
    }

    /// Encodes inputs read by [`Self::parse_one`] with the same functions as the batch path.
    pub fn encode_one(&self, inputs: &[Input<'_>]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.slots.len());
        for (f, input) in self.features.iter().zip(inputs) {
            let missing = *input == Input::Missing;
            let number = match input {
                Input::Number(v) => Some(*v),
                _ => None,
            };
            out.push(match &f.transform {
                Transform::Categorical { lookup, .. } => {
                    let text = match input {
                        Input::Text(t) => Some(t.as_ref()),
                        _ => None,
                    };
                    encode_level(lookup, text)
                }
                Transform::Boolean { impute } => encode_boolean(*impute, number),
                Transform::Numeric { .. } => {
                    encode_numeric(f.numeric_params().expect("numeric"), number)
                }
            });
            if f.has_indicator() {
                out.push(encode_indicator(missing));
            }
        }
        out
    }

    fn online_number(
        &self,
        f: &FittedFeature,
        raw: Option<&Field<'_>>,
        application_date: Option<NaiveDate>,
    ) -> Result<Option<f64>, IngestError> {
        let boolean = f.format.kind == FeatureKind::Boolean;
        match raw {
            None | Some(Field::Null) => Ok(None),
            Some(Field::Bool(b)) if boolean => Ok(Some(if *b { 1.0 } else { 0.0 })),
            Some(Field::Number(n)) if f.format.parser != Parser::Date => {
                let v = n
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| field_error(&f.column, "must be a finite number"))?;
                if boolean && v != 0.0 && v != 1.0 {
                    return Err(field_error(&f.column, "must be true/false or 1/0"));
                }
                f.format
                    .plausible(v)
                    .map(Some)
                    .map_err(|rule| field_error(&f.column, rule))
            }
            Some(Field::Text(s)) if is_na(s, &self.na_values) => Ok(None),
            Some(Field::Text(s)) => match f.format.parse(s, application_date) {
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
        raw: Option<&'a Field<'_>>,
    ) -> Result<Option<Cow<'a, str>>, IngestError> {
        match raw {
            None | Some(Field::Null) => Ok(None),
            Some(Field::Text(s)) if is_na(s, &self.na_values) => Ok(None),
            Some(Field::Text(s)) => Ok(Some(Cow::Borrowed(s.trim()))),
            // Codes such as ZIPs may arrive as JSON integers; they are read as their digits.
            Some(Field::Number(n)) if n.is_u64() || n.is_i64() => {
                Ok(Some(Cow::Owned(n.to_string())))
            }
            Some(_) => Err(field_error(&f.column, "must be a string")),
        }
    }
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
