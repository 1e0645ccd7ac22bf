//! Time-ordered ids (UUIDv7) as text, for every request and every decision. Written into a
//! buffer of the exact size rather than through `fmt`, which grew a `String` step by step.

pub fn new() -> String {
    let mut text = uuid::Uuid::encode_buffer();
    uuid::Uuid::now_v7()
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned()
}

/// Whether `text` has the form [`new`] gives: a hyphenated, lowercase UUID.
pub fn is_id(text: &str) -> bool {
    text.len() == 36
        && uuid::Uuid::try_parse(text).is_ok()
        && !text.bytes().any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hyphenated_lowercase_v7() {
        let id = super::new();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(id, parsed.to_string());
        assert!(super::is_id(&id));
        for not in ["zzz", "", &id.to_uppercase(), &id.replace('-', ""), "\0"] {
            assert!(!super::is_id(not), "{not:?}");
        }
    }
}
