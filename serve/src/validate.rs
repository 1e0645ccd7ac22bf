//! Parse at the edge: a score request becomes a validated application before scoring sees it.
//! Every refusal names the field and the rule.

use std::collections::BTreeMap;

use riskloop_ingest::parse::{RawFormat, is_na};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest magnitude accepted for a number: beyond it, f64 stops being exact for integers and no
/// loan field is that large.
pub const MAX_ABS_NUMBER: f64 = 1e15;
pub const MAX_STRING_LEN: usize = 256;
pub const MAX_ID_LEN: usize = 128;

/// Checks every field of `application` against the served model's fields.
pub fn application(
    fields: &BTreeMap<String, (String, bool)>,
    application: &Map<String, Value>,
    at: &str,
) -> Result<(), ApiError> {
    for (name, value) in application {
        // Built only for a refusal: this loop runs for every field of every request.
        let path = || format!("{at}.{name}");
        let Some((kind, _)) = fields.get(name) else {
            return Err(ApiError::field(
                path(),
                "unknown field: the served model does not accept it",
            ));
        };
        let ok = match (kind.as_str(), value) {
            (_, Value::Null) => true,
            ("number", Value::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && x.abs() <= MAX_ABS_NUMBER => true,
                _ => {
                    return Err(ApiError::field(
                        path(),
                        format!("out of range: |value| must be at most {MAX_ABS_NUMBER:e}"),
                    ));
                }
            },
            ("number" | "string" | "date", Value::String(s)) => {
                if s.len() > MAX_STRING_LEN {
                    return Err(ApiError::field(
                        path(),
                        format!("too long: at most {MAX_STRING_LEN} bytes"),
                    ));
                }
                true
            }
            ("boolean", Value::Bool(_) | Value::String(_)) => true,
            ("boolean", Value::Number(n)) => n.as_f64().is_some_and(|x| x == 0.0 || x == 1.0),
            _ => false,
        };
        if !ok {
            return Err(ApiError::field(
                path(),
                format!("wrong type: expected {kind}, got {}", type_name(value)),
            ));
        }
    }
    for (name, (_, required)) in fields {
        if *required && application.get(name).is_none_or(Value::is_null) {
            return Err(ApiError::field(
                format!("{at}.{name}"),
                "required field is missing",
            ));
        }
    }
    Ok(())
}

/// The plausible values of protected attributes, read the way the pipeline reads its inputs (NA
/// tokens are missing, text is parsed): the pipeline itself never reads these fields.
pub fn protected(
    formats: &[(String, RawFormat)],
    na_values: &[String],
    application: &Map<String, Value>,
    at: &str,
) -> Result<(), ApiError> {
    for (name, format) in formats {
        let checked = match application.get(name) {
            Some(Value::Number(n)) => n.as_f64().map_or(Ok(()), |v| format.plausible(v).map(drop)),
            Some(Value::String(s)) if !is_na(s, na_values) => format.parse(s, None).map(drop),
            _ => Ok(()),
        };
        checked.map_err(|rule| ApiError::field(format!("{at}.{name}"), rule))?;
    }
    Ok(())
}

/// An optional identifier: a non-empty string of at most [`MAX_ID_LEN`] bytes.
pub fn identifier(value: Option<&str>, field: &str) -> Result<(), ApiError> {
    match value {
        Some(s) if s.is_empty() || s.len() > MAX_ID_LEN => Err(ApiError::field(
            field,
            format!("must be 1 to {MAX_ID_LEN} bytes"),
        )),
        _ => Ok(()),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> BTreeMap<String, (String, bool)> {
        [
            ("income", "number", true),
            ("purpose", "string", false),
            ("owner", "boolean", false),
        ]
        .into_iter()
        .map(|(n, k, r)| (n.to_owned(), (k.to_owned(), r)))
        .collect()
    }

    fn check(v: &serde_json::Value) -> Result<(), ApiError> {
        application(&fields(), v.as_object().unwrap(), "application")
    }

    #[test]
    fn each_rule_names_its_field() {
        assert!(check(&json!({"income": 5000, "purpose": "car", "owner": true})).is_ok());
        assert!(check(&json!({"income": "$5,000"})).is_ok());
        let rule = |v: serde_json::Value| match check(&v) {
            Err(ApiError::InvalidField { field, rule }) => format!("{field}: {rule}"),
            other => panic!("{other:?}"),
        };
        assert!(
            rule(json!({"income": 1, "colour": "red"}))
                .starts_with("application.colour: unknown field")
        );
        assert!(rule(json!({"income": [1]})).starts_with("application.income: wrong type"));
        assert!(rule(json!({"purpose": "car"})).starts_with("application.income: required"));
        assert!(rule(json!({"income": null})).starts_with("application.income: required"));
        assert!(rule(json!({"income": 1e300})).starts_with("application.income: out of range"));
        assert!(
            rule(json!({"income": 1, "owner": 3})).starts_with("application.owner: wrong type")
        );
        assert!(rule(json!({"income": 1, "purpose": "x".repeat(300)})).contains("too long"));
    }
}
