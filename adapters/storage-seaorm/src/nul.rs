//! Postgres refuses NUL (U+0000) in `text` and `jsonb`, and titles come
//! from hostile pages: every text and JSON value this adapter writes has it
//! dropped here, at the boundary, on SQLite too, so that both backends keep
//! the same text for the same input (the conformance suite checks it).

use scheduler_domain::SiteMetadata;
use scheduler_domain::stored::{self, capped_error};
use serde_json::Value as Json;

/// `text` with NUL dropped.
pub(crate) fn strip_nul(text: &str) -> String {
    text.replace('\0', "")
}

/// `value` with NUL dropped from every string in it (keys included).
pub(crate) fn json_without_nul(value: Json) -> Json {
    match value {
        Json::String(text) => Json::String(strip_nul(&text)),
        Json::Array(items) => Json::Array(items.into_iter().map(json_without_nul).collect()),
        Json::Object(map) => Json::Object(
            map.into_iter()
                .map(|(key, value)| (strip_nul(&key), json_without_nul(value)))
                .collect(),
        ),
        other => other,
    }
}

/// `last_error` as stored: NUL dropped, then capped
/// ([`stored::capped_error`]), so that the cap counts only what is kept.
pub(crate) fn last_error(error: &str) -> String {
    capped_error(&strip_nul(error))
}

/// `meta_json` as stored ([`stored::meta_json`]), NUL dropped.
pub(crate) fn meta_json(metadata: &SiteMetadata) -> Result<Json, serde_json::Error> {
    stored::meta_json(metadata).map(json_without_nul)
}

/// `tech_stack` as stored ([`stored::tech_stack_json`]), NUL dropped.
pub(crate) fn tech_stack_json(metadata: &SiteMetadata) -> Result<Json, serde_json::Error> {
    stored::tech_stack_json(metadata).map(json_without_nul)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scheduler_domain::stored::LAST_ERROR_MAX_CHARS;

    #[test]
    fn last_error_drops_nul_before_the_cap() {
        let error = last_error(&format!("a\0{}", "é".repeat(LAST_ERROR_MAX_CHARS + 10)));
        assert_eq!(error.chars().count(), LAST_ERROR_MAX_CHARS);
        assert!(!error.contains('\0'));
        assert!(error.starts_with("aé"));
    }

    #[test]
    fn json_without_nul_cleans_nested_strings_and_keys() {
        let cleaned = json_without_nul(serde_json::json!({"t\0": ["a\0b", {"c": "\0"}], "n": 1}));
        assert_eq!(cleaned, serde_json::json!({"t": ["ab", {"c": ""}], "n": 1}));
    }

    #[test]
    fn meta_json_holds_the_document_without_nul() {
        let metadata = SiteMetadata {
            title: Some("Bad\0Title".into()),
            ..SiteMetadata::default()
        };
        let json = meta_json(&metadata).unwrap();
        assert_eq!(json["title"], "BadTitle");
        assert!(json["tech_stack"].is_object());
    }
}
