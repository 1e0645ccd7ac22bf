//! Reading request bodies: media type and size first, then JSON objects taken apart member by
//! member, each value kept as the raw text that was sent until its field reads it. So a score
//! request's application is stored exactly as the bank sent it, without being encoded again.
//!
//! Member names must be unique. JSON allows a name twice and readers disagree on which value
//! counts (serde_json and PostgreSQL take the last, SQLite's `json_extract` the first); the stored
//! application would then say something other than what was scored.

use std::fmt;
use std::time::Duration;

use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use riskloop_ingest::application::{Application, ApplicationError, out_of_range};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::http::error::ApiError;

/// Reads a body of at most `limit` bytes, without trusting Content-Length, within `timeout`:
/// a client that sends its body slowly holds a connection that long at most.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, ApiError> {
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::MalformedJson(format!("reading the body failed: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout {
            seconds: timeout.as_secs_f64(),
        })?
}

/// A JSON object's members in the order sent, each value still its raw text. `at` is where the
/// object is in the request (`body` for the body itself), for naming fields in refusals.
#[derive(Debug)]
pub struct Object<'a> {
    at: String,
    json: &'a [u8],
    members: Vec<(String, &'a RawValue)>,
}

impl<'a> Object<'a> {
    /// Parses `json`, which must be one object with unique member names.
    pub fn parse(json: &'a [u8], at: &str) -> Result<Self, ApiError> {
        Ok(Self {
            members: unique_members(json, at)?,
            json,
            at: at.to_owned(),
        })
    }

    /// The object's JSON text, as sent.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }

    /// Refuses members other than `allowed`.
    pub fn only(self, allowed: &[&str]) -> Result<Self, ApiError> {
        match self
            .members
            .iter()
            .find(|(name, _)| !allowed.contains(&name.as_str()))
        {
            Some((unknown, _)) => Err(ApiError::field(
                self.path(unknown),
                format!("unknown field (allowed: {})", allowed.join(", ")),
            )),
            None => Ok(self),
        }
    }

    /// The path of member `name`, as refusals name it.
    pub fn path(&self, name: &str) -> String {
        member_path(&self.at, name)
    }

    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, raw)| *raw)
    }

    /// An optional string member; `null` counts as absent. Text that cannot be stored (a NUL
    /// character) is refused.
    pub fn optional_string(&self, name: &str) -> Result<Option<String>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let value: Option<String> = read(raw, || {
            ApiError::field(self.path(name), "wrong type: expected string")
        })?;
        if let Some(text) = &value {
            crate::decision::check::storable(text, &|| self.path(name))?;
        }
        Ok(value)
    }

    /// A required member that is an array of objects (`name[0]`, `name[1]`, … in refusals);
    /// `rule` says what is expected.
    pub fn objects(&self, name: &str, rule: &str) -> Result<Vec<Object<'a>>, ApiError> {
        let path = self.path(name);
        let refuse = || ApiError::field(&path, rule);
        let items: Vec<&'a RawValue> = read(self.get(name).ok_or_else(refuse)?, refuse)?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, raw)| Object::parse(raw.get().as_bytes(), &format!("{path}[{i}]")))
            .collect()
    }
}

/// An application: an object of fields with unique names, borrowing its names and text from
/// `raw`.
pub fn application<'a>(raw: &'a RawValue, at: &str) -> Result<Application<'a>, ApiError> {
    Application::parse(raw.get()).map_err(|e| match e {
        ApplicationError::Malformed(e) => match out_of_range(raw.get(), &e) {
            Some(name) => ApiError::field(
                member_path(at, &name),
                format!(
                    "out of range: |value| must be at most {:e}",
                    crate::decision::check::MAX_ABS_NUMBER
                ),
            ),
            None => ApiError::MalformedJson(e.to_string()),
        },
        ApplicationError::NotAnObject => ApiError::field(at, "must be a JSON object"),
        ApplicationError::Repeated(name) => ApiError::field(
            member_path(at, &name),
            "repeated field: each name may appear once",
        ),
    })
}

fn member_path(at: &str, name: &str) -> String {
    if at == "body" {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// Reads a raw value as `T`; a value of the wrong shape is refused with `wrong()`. A raw value
/// is well-formed JSON already, so any failure is its shape (or a number beyond f64's range).
fn read<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    wrong: impl FnOnce() -> ApiError,
) -> Result<T, ApiError> {
    serde_json::from_str(raw.get()).map_err(|_| wrong())
}

/// The members of the object `json`, in the order sent; refused when a name comes twice.
fn unique_members<'a>(json: &'a [u8], at: &str) -> Result<Vec<(String, &'a RawValue)>, ApiError> {
    let parsed: Unique<'a> = serde_json::from_slice(json).map_err(|e| match e.classify() {
        Category::Data => ApiError::field(at, "must be a JSON object"),
        _ => ApiError::MalformedJson(e.to_string()),
    })?;
    match parsed.repeated {
        Some(name) => Err(ApiError::field(
            member_path(at, &name),
            "repeated field: each name may appear once",
        )),
        None => Ok(parsed.members),
    }
}

/// An object's members and the first name that came twice. The whole object is read even then,
/// so that a repeat is told apart from malformed JSON.
struct Unique<'a> {
    members: Vec<(String, &'a RawValue)>,
    repeated: Option<String>,
}

impl<'de> Deserialize<'de> for Unique<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Gather;
        impl<'de> Visitor<'de> for Gather {
            type Value = Unique<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Unique<'de>, A::Error> {
                let mut out = Unique {
                    members: Vec::with_capacity(access.size_hint().unwrap_or(16)),
                    repeated: None,
                };
                while let Some(name) = access.next_key::<String>()? {
                    let value = access.next_value()?;
                    // A linear search: a request's objects have a few dozen members at most.
                    if out.members.iter().any(|(n, _)| *n == name) {
                        out.repeated.get_or_insert(name);
                    } else {
                        out.members.push((name, value));
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Gather)
    }
}

#[cfg(test)]
mod tests {
    use riskloop_ingest::application::Field;

    use super::*;

    fn refusal(r: Result<impl fmt::Debug, ApiError>) -> String {
        match r {
            Err(ApiError::InvalidField { field, rule }) => format!("{field}: {rule}"),
            Err(ApiError::MalformedJson(_)) => "malformed".into(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn members_keep_their_raw_text_and_names_must_be_unique() {
        let body = br#"{"application_id": "A-1", "application": {"b": 1.50, "a" : "x"}}"#;
        let object = Object::parse(body, "body").unwrap();
        assert_eq!(
            object.optional_string("application_id").unwrap().as_deref(),
            Some("A-1")
        );
        let raw = object.get("application").unwrap();
        assert_eq!(
            raw.get(),
            r#"{"b": 1.50, "a" : "x"}"#,
            "as sent, not encoded again"
        );
        let app = application(raw, "application").unwrap();
        assert!(matches!(app.get("a"), Some(Field::Text(t)) if t == "x"));

        assert_eq!(
            refusal(Object::parse(
                br#"{"application": 1, "application": 2}"#,
                "body"
            )),
            "application: repeated field: each name may appear once"
        );
        let raw = RawValue::from_string(r#"{"age": 30, "x": 1, "age": 15}"#.into()).unwrap();
        assert_eq!(
            refusal(application(&raw, "applications[2].application")),
            "applications[2].application.age: repeated field: each name may appear once"
        );
        // A repeat inside a value is the value's business: applications refuse nested objects.
        let raw = RawValue::from_string(r#"{"n": {"k": 1, "k": 2}}"#.into()).unwrap();
        assert!(application(&raw, "application").is_ok());
    }

    #[test]
    fn shapes_and_syntax_are_told_apart() {
        assert_eq!(
            refusal(Object::parse(b"[1]", "body")),
            "body: must be a JSON object"
        );
        assert_eq!(refusal(Object::parse(b"{\"a\": ", "body")), "malformed");
        assert_eq!(refusal(Object::parse(b"{\"a\": NaN}", "body")), "malformed");
        assert_eq!(refusal(Object::parse(b"{} {}", "body")), "malformed");
        let o = Object::parse(br#"{"id": 5, "list": {}, "z": 1}"#, "outcomes[3]").unwrap();
        assert_eq!(
            refusal(o.optional_string("id")),
            "outcomes[3].id: wrong type: expected string"
        );
        assert_eq!(
            refusal(o.objects("list", "an array")),
            "outcomes[3].list: an array"
        );
        assert_eq!(
            refusal(o.objects("absent", "an array")),
            "outcomes[3].absent: an array"
        );
        assert_eq!(
            refusal(o.only(&["id", "list"])),
            "outcomes[3].z: unknown field (allowed: id, list)"
        );
        let list = Object::parse(br#"{"items": [{"a": 1}, 7]}"#, "body").unwrap();
        assert_eq!(
            refusal(list.objects("items", "an array")),
            "items[1]: must be a JSON object"
        );
        let list = Object::parse(br#"{"items": [{"a": 1},  {"b": 2}]}"#, "body").unwrap();
        let items = list.objects("items", "an array").unwrap();
        assert_eq!(items[1].json(), br#"{"b": 2}"#);
        assert_eq!(items[1].path("b"), "items[1].b");
        // Scanned as raw text first, read as a number only by its field.
        let o = Object::parse(br#"{"application": {"n": 1e400}}"#, "body").unwrap();
        assert_eq!(
            refusal(application(o.get("application").unwrap(), "application")),
            "application.n: out of range: |value| must be at most 1e15"
        );
        let o = Object::parse(br#"{"id": 1e400, "note": "a\u0000b"}"#, "body").unwrap();
        assert_eq!(
            refusal(o.optional_string("id")),
            "id: wrong type: expected string"
        );
        assert_eq!(
            refusal(o.optional_string("note")),
            "note: contains the NUL character (\\u0000), which cannot be stored"
        );
    }
}
