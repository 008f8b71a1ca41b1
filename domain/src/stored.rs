//! The rules every repository applies to what it stores, so that all
//! storage adapters keep the same text for the same input.

use crate::SiteMetadata;

/// `last_error` keeps at most this many characters.
pub const LAST_ERROR_MAX_CHARS: usize = 1024;
/// `email_addresses` keeps the first five addresses.
pub const EMAIL_COLUMN_LIMIT: usize = 5;
/// `phone_numbers` keeps the first three numbers.
pub const PHONE_COLUMN_LIMIT: usize = 3;

/// Postgres refuses NUL in text and jsonb, and titles come from hostile
/// pages: every adapter drops it.
pub fn strip_nul(text: &str) -> String {
    text.replace('\0', "")
}

/// `last_error` as stored: NUL dropped, at most [`LAST_ERROR_MAX_CHARS`]
/// characters, cut on a character boundary.
pub fn capped_error(error: &str) -> String {
    let mut error = strip_nul(error);
    if let Some((cut, _)) = error.char_indices().nth(LAST_ERROR_MAX_CHARS) {
        error.truncate(cut);
    }
    error
}

/// `value` with NUL dropped from every string in it (keys included).
pub fn json_without_nul(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(strip_nul(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(json_without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (strip_nul(&key), json_without_nul(value)))
                .collect(),
        ),
        other => other,
    }
}

/// `meta_json` as stored: [`SiteMetadata::document`], NUL dropped.
///
/// # Errors
///
/// When serialization fails, which plain data such as this never does; the
/// error is kept typed rather than unwrapped.
pub fn meta_json(metadata: &SiteMetadata) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(metadata.document()).map(json_without_nul)
}

/// `tech_stack` as stored: [`SiteMetadata::tech_stack`], NUL dropped.
///
/// # Errors
///
/// As [`meta_json`].
pub fn tech_stack_json(metadata: &SiteMetadata) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(metadata.tech_stack()).map(json_without_nul)
}

/// The text before and after the attempt count in
/// [`lease_expired_message`]. A SQL rescue that writes the message from the
/// row's own `attempts` puts the count between these two.
pub const LEASE_EXPIRED_MESSAGE_AROUND: (&str, &str) =
    ("lease expired after ", " attempts (worker died?)");

/// The message rescue writes to a row whose worker stopped renewing it.
pub fn lease_expired_message(attempts: i32) -> String {
    let (before, after) = LEASE_EXPIRED_MESSAGE_AROUND;
    format!("{before}{attempts}{after}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_error_cuts_on_a_character_boundary_and_drops_nul() {
        let error = capped_error(&format!("a\0{}", "é".repeat(LAST_ERROR_MAX_CHARS + 10)));
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
