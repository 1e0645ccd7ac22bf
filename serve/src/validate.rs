//! Parse at the edge: a score request becomes a validated application before scoring sees it.
//! Every refusal names the field and the rule.

use std::borrow::Cow;

use riskloop_ingest::application::{Application, Field, name_order};
use riskloop_ingest::parse::{RawFormat, is_na};

use crate::error::ApiError;
use crate::served::FieldRule;

/// Largest magnitude accepted for a number: beyond it, f64 stops being exact for integers and no
/// loan field is that large.
pub const MAX_ABS_NUMBER: f64 = 1e15;
pub const MAX_STRING_LEN: usize = 256;
pub const MAX_ID_LEN: usize = 128;

/// Checks every field of `application` against the served model's `fields` (in
/// [`name_order`], as the application keeps its own).
pub fn application(
    fields: &[FieldRule],
    application: &Application<'_>,
    at: &str,
) -> Result<(), ApiError> {
    // Both lists are in the same order, so one walk pairs each field with its rule.
    let mut rules = fields.iter().peekable();
    let mut required_given = 0;
    for (name, value) in application.iter() {
        // Built only for a refusal: this loop runs for every field of every request.
        let path = || format!("{at}.{name}");
        while rules
            .next_if(|rule| name_order(&rule.name, name).is_lt())
            .is_some()
        {}
        let Some(FieldRule { kind, required, .. }) = rules.next_if(|rule| rule.name == name) else {
            return Err(ApiError::field(
                path(),
                "unknown field: the served model does not accept it",
            ));
        };
        let ok = match (kind.as_str(), value) {
            (_, Field::Null) => true,
            ("number", Field::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && x.abs() <= MAX_ABS_NUMBER => true,
                _ => {
                    return Err(ApiError::field(
                        path(),
                        format!("out of range: |value| must be at most {MAX_ABS_NUMBER:e}"),
                    ));
                }
            },
            ("number" | "string" | "date" | "boolean", Field::Text(s)) => {
                if s.len() > MAX_STRING_LEN {
                    return Err(ApiError::field(
                        path(),
                        format!("too long: at most {MAX_STRING_LEN} bytes"),
                    ));
                }
                // Only text with escapes is owned, and only an escape (`\u0000`) makes a NUL:
                // text borrowed from the request needs no look.
                if let Cow::Owned(text) = s {
                    storable(text, &path)?;
                }
                true
            }
            ("boolean", Field::Bool(_)) => true,
            ("boolean", Field::Number(n)) => n.as_f64().is_some_and(|x| x == 0.0 || x == 1.0),
            _ => false,
        };
        if !ok {
            return Err(ApiError::field(
                path(),
                format!("wrong type: expected {kind}, got {}", value.type_name()),
            ));
        }
        required_given += usize::from(*required && !value.is_null());
    }
    if required_given < fields.iter().filter(|rule| rule.required).count() {
        let missing = fields
            .iter()
            .find(|rule| rule.required && application.get(&rule.name).is_none_or(Field::is_null));
        if let Some(rule) = missing {
            return Err(ApiError::field(
                format!("{at}.{}", rule.name),
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
    application: &Application<'_>,
    at: &str,
) -> Result<(), ApiError> {
    for (name, format) in formats {
        let checked = match application.get(name) {
            Some(Field::Number(n)) => n.as_f64().map_or(Ok(()), |v| format.plausible(v).map(drop)),
            Some(Field::Text(s)) if !is_na(s, na_values) => format.parse(s, None).map(drop),
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
        Some(s) => storable(s, &|| field.to_owned()),
        None => Ok(()),
    }
}

/// Text both engines can store: PostgreSQL's text holds no NUL character, so no request may
/// carry one, whichever engine serves it. Refused here, the request fails alone and knows why;
/// at the database it would have failed every decision committed with it.
pub fn storable(text: &str, field: &dyn Fn() -> String) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(ApiError::field(
            field(),
            "contains the NUL character (\\u0000), which cannot be stored",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_refuse_nul_and_bad_lengths() {
        let rule = |v: &str| match identifier(Some(v), "application_id") {
            Err(ApiError::InvalidField { field, rule }) => format!("{field}: {rule}"),
            other => panic!("{other:?}"),
        };
        assert!(identifier(Some("A-1"), "application_id").is_ok());
        assert!(identifier(None, "application_id").is_ok());
        assert!(rule("A\u{0}1").starts_with("application_id: contains the NUL character"));
        assert!(rule("").contains("1 to 128 bytes"));
    }

    fn fields() -> Vec<FieldRule> {
        let mut fields: Vec<FieldRule> = [
            ("income", "number", true),
            ("purpose", "string", false),
            ("owner", "boolean", false),
        ]
        .into_iter()
        .map(|(name, kind, required)| FieldRule {
            name: name.to_owned(),
            kind: kind.to_owned(),
            required,
        })
        .collect();
        fields.sort_unstable_by(|a, b| name_order(&a.name, &b.name));
        fields
    }

    fn check(v: &serde_json::Value) -> Result<(), ApiError> {
        application(
            &fields(),
            &Application::from(v.as_object().unwrap()),
            "application",
        )
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
        // Unknown names before, between and after the model's, in the order fields are walked.
        assert!(rule(json!({"a": 1, "income": 1})).starts_with("application.a: unknown field"));
        assert!(
            rule(json!({"income": 1, "ownerx": true, "owner": true}))
                .starts_with("application.ownerx: unknown field")
        );
        assert!(
            rule(json!({"income": 1, "purpose_of_loan": "car"}))
                .starts_with("application.purpose_of_loan: unknown field")
        );
        assert!(rule(json!({"income": [1]})).starts_with("application.income: wrong type"));
        assert!(rule(json!({"purpose": "car"})).starts_with("application.income: required"));
        assert!(rule(json!({"income": null})).starts_with("application.income: required"));
        assert!(rule(json!({"income": 1e300})).starts_with("application.income: out of range"));
        assert!(
            rule(json!({"income": 1, "owner": 3})).starts_with("application.owner: wrong type")
        );
        assert!(rule(json!({"income": 1, "purpose": "x".repeat(300)})).contains("too long"));
        // As the server reads it: from the request's text, where only an escape makes a NUL.
        let rule = |text: &str| match application(
            &fields(),
            &Application::parse(text).unwrap(),
            "application",
        ) {
            Err(ApiError::InvalidField { field, rule }) => format!("{field}: {rule}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            rule(r#"{"income": 1, "purpose": "car\u0000"}"#),
            "application.purpose: contains the NUL character (\\u0000), which cannot be stored"
        );
        assert!(rule(r#"{"income": "1\u0000"}"#).starts_with("application.income: contains"));
        assert!(
            rule(r#"{"income": 1, "owner": "\u0000"}"#).starts_with("application.owner: contains")
        );
    }
}
