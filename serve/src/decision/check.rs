//! The shape of what a request carries, before anything is parsed: an application against its
//! schema (no unknown field, each value of a JSON type its field takes, numbers within range,
//! text of a bounded length that the database can store), and the identifiers and text every
//! route takes. Every refusal names the field.

use std::borrow::Cow;

use riskloop_ingest::application::{Application, Field, name_order};

use super::FieldError;
use super::schema::{FieldKind, FieldRule, InputSchema};

/// Largest magnitude accepted for a number: beyond it, f64 stops being exact for integers and no
/// loan field is that large.
pub const MAX_ABS_NUMBER: f64 = 1e15;
pub const MAX_STRING_LEN: usize = 256;
pub const MAX_ID_LEN: usize = 128;

/// An optional identifier: a non-empty string of at most [`MAX_ID_LEN`] bytes.
pub fn identifier(value: Option<&str>, field: &str) -> Result<(), FieldError> {
    match value {
        Some(s) if s.is_empty() || s.len() > MAX_ID_LEN => Err(FieldError::new(
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
pub fn storable(text: &str, field: &dyn Fn() -> String) -> Result<(), FieldError> {
    if text.contains('\0') {
        return Err(FieldError::new(&field(), NUL_RULE));
    }
    Ok(())
}

pub const NUL_RULE: &str = "contains the NUL character (\\u0000), which cannot be stored";

/// Checks every field of `application` against `schema` (both in [`name_order`]).
pub fn shape(schema: &InputSchema, application: &Application<'_>) -> Result<(), FieldError> {
    // Both lists are in the same order, so one walk pairs each field with its rule.
    let mut rules = schema.fields.iter().peekable();
    for (name, value) in application.iter() {
        // Built only for a refusal: this loop runs for every field of every request.
        let refuse = |rule: String| FieldError::new(name, rule);
        while rules
            .next_if(|rule| name_order(&rule.name, name).is_lt())
            .is_some()
        {}
        let Some(FieldRule { kind, .. }) = rules.next_if(|rule| rule.name == name) else {
            return Err(refuse(
                "unknown field: the served model does not accept it".into(),
            ));
        };
        let ok = match (kind, value) {
            (_, Field::Null) => true,
            (FieldKind::Number, Field::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && x.abs() <= MAX_ABS_NUMBER => true,
                _ => {
                    return Err(refuse(format!(
                        "out of range: |value| must be at most {MAX_ABS_NUMBER:e}"
                    )));
                }
            },
            (_, Field::Text(s)) => {
                if s.len() > MAX_STRING_LEN {
                    return Err(refuse(format!("too long: at most {MAX_STRING_LEN} bytes")));
                }
                // Only text with escapes is owned, and only an escape (`\u0000`) makes a NUL:
                // text borrowed from the request needs no look.
                if let Cow::Owned(text) = s
                    && text.contains('\0')
                {
                    return Err(refuse(NUL_RULE.into()));
                }
                true
            }
            (FieldKind::Boolean, Field::Bool(_)) => true,
            (FieldKind::Boolean, Field::Number(n)) => {
                n.as_f64().is_some_and(|x| x == 0.0 || x == 1.0)
            }
            _ => false,
        };
        if !ok {
            return Err(refuse(format!(
                "wrong type: expected {kind}, got {}",
                value.type_name()
            )));
        }
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
            Err(FieldError { field, rule }) => format!("{field}: {rule}"),
            other => panic!("{other:?}"),
        };
        assert!(identifier(Some("A-1"), "application_id").is_ok());
        assert!(identifier(None, "application_id").is_ok());
        assert!(rule("A\u{0}1").starts_with("application_id: contains the NUL character"));
        assert!(rule("").contains("1 to 128 bytes"));
    }

    fn schema() -> InputSchema {
        InputSchema::from_fields(vec![
            ("income", FieldKind::Number, true),
            ("purpose", FieldKind::String, false),
            ("owner", FieldKind::Boolean, false),
        ])
    }

    fn rule(v: serde_json::Value) -> String {
        let serde_json::Value::Object(object) = v else {
            panic!("not an object")
        };
        match shape(&schema(), &Application::from(&object)) {
            Err(FieldError { field, rule }) => format!("{field}: {rule}"),
            Ok(()) => panic!("{object:?} passed"),
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        let ok = |v: serde_json::Value| {
            shape(&schema(), &Application::from(v.as_object().unwrap())).is_ok()
        };
        assert!(ok(json!({"income": 5000, "purpose": "car", "owner": true})));
        assert!(ok(json!({"income": "$5,000"})));
        assert!(
            ok(json!({"purpose": "car"})),
            "required fields are the parse's business"
        );
        assert!(rule(json!({"income": 1, "colour": "red"})).starts_with("colour: unknown field"));
        // Unknown names before, between and after the model's, in the order fields are walked.
        assert!(rule(json!({"a": 1, "income": 1})).starts_with("a: unknown field"));
        assert!(
            rule(json!({"income": 1, "ownerx": true, "owner": true}))
                .starts_with("ownerx: unknown field")
        );
        assert!(rule(json!({"income": [1]})).starts_with("income: wrong type"));
        assert!(rule(json!({"income": 1e300})).starts_with("income: out of range"));
        assert!(rule(json!({"income": 1, "owner": 3})).starts_with("owner: wrong type"));
        assert!(rule(json!({"income": 1, "purpose": "x".repeat(300)})).contains("too long"));
        // As the server reads it: from the request's text, where only an escape makes a NUL.
        let nul = |text: &str| match shape(&schema(), &Application::parse(text).unwrap()) {
            Err(FieldError { field, rule }) => format!("{field}: {rule}"),
            Ok(()) => panic!("{text} passed"),
        };
        assert_eq!(
            nul(r#"{"income": 1, "purpose": "car\u0000"}"#),
            "purpose: contains the NUL character (\\u0000), which cannot be stored"
        );
        assert!(nul(r#"{"income": "1\u0000"}"#).starts_with("income: contains"));
        assert!(nul(r#"{"income": 1, "owner": "\u0000"}"#).starts_with("owner: contains"));
    }
}
