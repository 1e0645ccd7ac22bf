//! Limits and rules on what a request may carry, shared by every route: identifiers, text the
//! database can store, magnitudes. The application's own fields are checked by the decision
//! core (`decision::check`) against the served model's schema. Every refusal names the field.

use crate::error::ApiError;

/// Largest magnitude accepted for a number: beyond it, f64 stops being exact for integers and no
/// loan field is that large.
pub const MAX_ABS_NUMBER: f64 = 1e15;
pub const MAX_STRING_LEN: usize = 256;
pub const MAX_ID_LEN: usize = 128;

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
        return Err(ApiError::field(field(), NUL_RULE));
    }
    Ok(())
}

pub const NUL_RULE: &str = "contains the NUL character (\\u0000), which cannot be stored";

#[cfg(test)]
mod tests {
    use super::*;

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
}
