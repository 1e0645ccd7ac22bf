//! One loan application as the server receives it: a JSON object read straight from the
//! request's text. Names and text values borrow that text (unless they hold escapes), so reading
//! an application allocates one list, not a string per name and per value: this runs for every
//! decision, on the threads that answer HTTP.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::{Map, Number, Value as Json};

/// One field's value as sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Field<'a> {
    Null,
    Bool(bool),
    /// Kept as JSON wrote it (integer or not), so a code sent as an integer reads as its digits.
    Number(Number),
    Text(Cow<'a, str>),
    /// An array or an object, by type name: no field takes one, so it is kept only to be
    /// refused by name.
    Nested(&'static str),
}

impl Field<'_> {
    pub fn is_null(&self) -> bool {
        matches!(self, Field::Null)
    }

    /// The JSON type, for refusals ("expected number, got string").
    pub fn type_name(&self) -> &'static str {
        match self {
            Field::Null => "null",
            Field::Bool(_) => "boolean",
            Field::Number(_) => "number",
            Field::Text(_) => "string",
            Field::Nested(kind) => kind,
        }
    }
}

/// Why a JSON text is not an application.
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    #[error("malformed JSON: {0}")]
    Malformed(serde_json::Error),
    #[error("must be a JSON object")]
    NotAnObject,
    /// JSON allows a name twice and readers disagree on which value counts (serde_json and
    /// PostgreSQL take the last, SQLite's `json_extract` the first), so the stored application
    /// could say something other than what was scored.
    #[error("repeated field `{0}`: each name may appear once")]
    Repeated(String),
}

/// An application's fields, each name once, in [`name_order`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Application<'a> {
    fields: Vec<(Cow<'a, str>, Field<'a>)>,
}

impl<'a> Application<'a> {
    /// Reads `json`, which must be one object with unique member names.
    pub fn parse(json: &'a str) -> Result<Self, ApplicationError> {
        let Members(fields) = serde_json::from_str(json).map_err(|e| match e.classify() {
            Category::Data => ApplicationError::NotAnObject,
            _ => ApplicationError::Malformed(e),
        })?;
        Self::new(fields)
    }

    /// `fields` in any order; a name given twice is refused.
    fn new(mut fields: Vec<(Cow<'a, str>, Field<'a>)>) -> Result<Self, ApplicationError> {
        fields.sort_unstable_by(|a, b| name_order(&a.0, &b.0));
        if let Some(pair) = fields.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(ApplicationError::Repeated(pair[0].0.clone().into_owned()));
        }
        Ok(Self { fields })
    }

    pub fn get(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .binary_search_by(|(n, _)| name_order(n, name))
            .ok()
            .map(|i| &self.fields[i].1)
    }

    /// The fields with their names, in [`name_order`].
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Field<'a>)> {
        self.fields.iter().map(|(n, f)| (n.as_ref(), f))
    }
}

/// Shorter names first, then by bytes: most names differ in length, so most comparisons, in
/// the sort and in every lookup, end without reading the names.
pub fn name_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// A serde_json object, as parsed elsewhere (tests, tools), read as an application.
impl<'a> From<&'a Map<String, Json>> for Application<'a> {
    fn from(map: &'a Map<String, Json>) -> Self {
        let field = |v: &'a Json| match v {
            Json::Null => Field::Null,
            Json::Bool(b) => Field::Bool(*b),
            Json::Number(n) => Field::Number(n.clone()),
            Json::String(s) => Field::Text(Cow::Borrowed(s)),
            Json::Array(_) => Field::Nested("array"),
            Json::Object(_) => Field::Nested("object"),
        };
        let mut fields: Vec<_> = map
            .iter()
            .map(|(n, v)| (Cow::Borrowed(n.as_str()), field(v)))
            .collect();
        // A map's names are unique already.
        fields.sort_unstable_by(|a, b| name_order(&a.0, &b.0));
        Self { fields }
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_none<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Field<'de>, E> {
                Ok(Field::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Field<'de>, E> {
                Ok(Field::Number(n.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Field<'de>, E> {
                Ok(Field::Number(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Field<'de>, E> {
                Number::from_f64(x)
                    .map(Field::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Field<'de>, E> {
                Ok(Field::Text(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Nested("array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Nested("object"))
            }
        }
        deserializer.deserialize_any(FieldVisitor)
    }
}

/// A member name, borrowed from the JSON text unless it holds escapes.
#[derive(Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

/// An object's members in the order sent.
struct Members<'a>(Vec<(Cow<'a, str>, Field<'a>)>);

impl<'de> Deserialize<'de> for Members<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            #[inline]
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(Name(name)) = map.next_key()? {
                    fields.push((name, map.next_value()?));
                }
                Ok(Members(fields))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// After [`Application::parse`] failed on `json` with `error`: the member whose number lies
/// beyond f64's range (`1e400`), if that was the error. serde_json says so only as text, so the
/// object is read again, its values as raw text (which takes any number), to name the member:
/// a value out of range is a field's fault, not malformed JSON. Kept out of `parse`, which
/// runs on every request: there, even this call on its error path cost about 1,400
/// instructions a request, as the compiler stopped inlining the members' reader.
#[cold]
#[inline(never)]
pub fn out_of_range(json: &str, error: &serde_json::Error) -> Option<String> {
    if !error.to_string().starts_with("number out of range") {
        return None;
    }
    serde_json::from_str::<std::collections::BTreeMap<String, &serde_json::value::RawValue>>(json)
        .ok()?
        .into_iter()
        // A number token that is no `Number`.
        .find(|(_, raw)| {
            let text = raw.get();
            text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
                && serde_json::from_str::<Number>(text).is_err()
        })
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_borrow_the_text_and_keep_what_json_said() {
        let json = r#"{"zip": 1234, "rate": 1.50, "name": "a\"b", "owner": true, "gap": null,
            "list": [1, {"k": 2}], "nested": {"k": 1, "k": 2}, "purpose": "car"}"#;
        let app = Application::parse(json).unwrap();
        let names: Vec<&str> = app.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "gap", "zip", "list", "name", "rate", "owner", "nested", "purpose"
            ]
        );
        assert!(matches!(
            app.get("purpose"),
            Some(Field::Text(Cow::Borrowed("car")))
        ));
        assert!(
            app.fields
                .iter()
                .all(|(n, _)| matches!(n, Cow::Borrowed(_))),
            "names without escapes are borrowed"
        );
        assert!(matches!(app.get("name"), Some(Field::Text(Cow::Owned(s))) if s == "a\"b"));
        assert!(matches!(app.get("zip"), Some(Field::Number(n)) if n.is_u64()));
        assert!(matches!(app.get("rate"), Some(Field::Number(n)) if n.is_f64()));
        assert_eq!(app.get("owner"), Some(&Field::Bool(true)));
        assert!(app.get("gap").unwrap().is_null());
        assert_eq!(app.get("list").unwrap().type_name(), "array");
        assert_eq!(app.get("nested").unwrap().type_name(), "object");
        assert_eq!(app.get("absent"), None);

        let map: Map<String, Json> = serde_json::from_str(json).unwrap();
        assert_eq!(Application::from(&map), app, "the same from a parsed map");
    }

    #[test]
    fn repeats_shapes_and_syntax_are_told_apart() {
        let refusal = |json: &str| Application::parse(json).unwrap_err().to_string();
        assert_eq!(
            refusal(r#"{"age": 30, "x": 1, "age": 15}"#),
            "repeated field `age`: each name may appear once"
        );
        assert_eq!(refusal("[1]"), "must be a JSON object");
        assert_eq!(refusal("7"), "must be a JSON object");
        for json in [r#"{"a": 1, "n": -1e400}"#, r#"{"n": 1e400, "a": "x"}"#] {
            let Err(ApplicationError::Malformed(e)) = Application::parse(json) else {
                panic!("{json}");
            };
            assert_eq!(out_of_range(json, &e).as_deref(), Some("n"));
        }
        let Err(ApplicationError::Malformed(e)) = Application::parse(r#"{"a": "#) else {
            panic!()
        };
        assert_eq!(out_of_range(r#"{"a": "#, &e), None);
        assert!(refusal(r#"{"a": "#).starts_with("malformed"));
        assert!(refusal(r#"{"a": 1} {}"#).starts_with("malformed"));
        assert!(refusal(r#"{"a": NaN}"#).starts_with("malformed"));
    }
}
