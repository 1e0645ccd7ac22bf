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
                Some(Field::Text(s)) => time
                    .parse(s, &self.na_values, self.two_digit_year_pivot)
                    .map_err(|rule| field_error(&time.column, rule))?,
                None | Some(Field::Null) => None,
                Some(_) => return Err(field_error(&time.column, "must be a date string")),
            },
            None => None,
        };
        let mut inputs = Vec::with_capacity(self.features.len());
        for f in &self.features {
            let input = if f.format.derive.is_some() {
                self.online_derived(f, application)?
            } else {
                let raw = application.get(&f.column);
                match &f.transform {
                    Transform::Categorical { .. } => self
                        .online_text(f, raw)?
                        .map_or(Input::Missing, Input::Text),
                    Transform::Boolean { .. } | Transform::Numeric { .. } => self
                        .online_number(f, raw, application_date)?
                        .map_or(Input::Missing, Input::Number),
                }
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
        let number = |read: Result<Value<'_>, String>| match read {
            Ok(Value::Number(v)) => Ok(Some(v)),
            Ok(_) => Ok(None),
            Err(rule) => Err(field_error(&f.column, rule)),
        };
        match raw {
            None | Some(Field::Null) => Ok(None),
            Some(Field::Bool(b)) if boolean => {
                number(f.format.read_number(f64::from(u8::from(*b))))
            }
            Some(Field::Number(n)) if f.format.parser != Parser::Date => {
                let v = n
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| field_error(&f.column, "must be a finite number"))?;
                if boolean && v != 0.0 && v != 1.0 {
                    return Err(field_error(&f.column, "must be true/false or 1/0"));
                }
                number(f.format.read_number(v))
            }
            Some(Field::Text(s)) => {
                let s = f.format.mapped(s).unwrap_or(s);
                number(f.format.read(s, &self.na_values, application_date))
            }
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
        let fail = |rule: String| field_error(&f.column, rule);
        let owned = |v: Value<'_>| match v {
            Value::Text(t) => Some(Cow::Owned(t.to_owned())),
            _ => None,
        };
        match raw {
            None | Some(Field::Null) => Ok(None),
            Some(Field::Text(s)) => match f.format.mapped(s) {
                Some(mapped) => Ok(owned(
                    f.format.read(mapped, &self.na_values, None).map_err(fail)?,
                )),
                None => match f.format.read(s, &self.na_values, None).map_err(fail)? {
                    Value::Text(t) => Ok(Some(Cow::Borrowed(t))),
                    _ => Ok(None),
                },
            },
            // Codes such as ZIPs may arrive as JSON integers; they are read as their digits.
            Some(Field::Number(n)) if n.is_u64() || n.is_i64() => {
                let digits = n.to_string();
                let text = f.format.mapped(&digits).unwrap_or(&digits);
                Ok(owned(
                    f.format.read(text, &self.na_values, None).map_err(fail)?,
                ))
            }
            Some(_) => Err(field_error(&f.column, "must be a string")),
        }
    }

    /// A derived feature's value from the application's fields: each operand read as the
    /// batch path reads its column, then the expression.
    fn online_derived(
        &self,
        f: &FittedFeature,
        application: &Application<'_>,
    ) -> Result<Input<'static>, IngestError> {
        let Some(expression) = &f.format.derive else {
            return Ok(Input::Missing);
        };
        let operand = expression.operand();
        // Codes sent as JSON integers are read as their digits, as for a categorical field.
        let digits: Vec<Option<String>> = expression
            .columns()
            .iter()
            .map(|c| match application.get(c) {
                Some(Field::Number(n))
                    if operand == Operand::Text && (n.is_u64() || n.is_i64()) =>
                {
                    Some(n.to_string())
                }
                _ => None,
            })
            .collect();
        let mut args = Vec::with_capacity(digits.len());
        for (column, digits) in expression.columns().iter().zip(&digits) {
            let fail = |rule: String| field_error(column, rule);
            let arg = match (application.get(column), digits) {
                (_, Some(d)) => f
                    .format
                    .operand(d, &self.na_values, operand)
                    .map_err(fail)?,
                (None | Some(Field::Null), _) => Arg::Missing,
                (Some(Field::Text(s)), _) => f
                    .format
                    .operand(s, &self.na_values, operand)
                    .map_err(fail)?,
                (Some(Field::Number(n)), _) if operand == Operand::Number => {
                    let v = n
                        .as_f64()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| fail("must be a finite number".into()))?;
                    f.format.number_operand(v)
                }
                (Some(other), _) => {
                    let wanted = match operand {
                        Operand::Number => "a number",
                        Operand::Text => "a string",
                        Operand::Date => "a date string",
                    };
                    return Err(fail(format!("must be {wanted}, got {}", other.type_name())));
                }
            };
            args.push(arg);
        }
        let value = f
            .format
            .derived(&args)
            .map_err(|rule| field_error(&f.name, rule))?;
        Ok(match value {
            Value::Missing => Input::Missing,
            Value::Number(v) => Input::Number(v),
            Value::Text(t) => Input::Text(Cow::Owned(t.to_owned())),
        })
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
                .map(|f| {
                    let sources = f.sources().into_iter().map(str::to_owned).collect();
                    (sources, f.format.clone())
                })
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
