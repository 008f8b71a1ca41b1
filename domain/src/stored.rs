//! The rules every repository applies to what it stores, so that all
//! storage adapters keep the same text for the same input.
//!
//! What a database cannot hold at all (Postgres refuses NUL in text and
//! `jsonb`) is each storage adapter's own business, at its boundary.

use crate::SiteMetadata;

/// `last_error` keeps at most this many characters.
pub const LAST_ERROR_MAX_CHARS: usize = 1024;
/// `email_addresses` keeps the first five addresses.
pub const EMAIL_COLUMN_LIMIT: usize = 5;
/// `phone_numbers` keeps the first three numbers.
pub const PHONE_COLUMN_LIMIT: usize = 3;

/// `last_error` as stored: at most [`LAST_ERROR_MAX_CHARS`] characters,
/// cut on a character boundary.
pub fn capped_error(error: &str) -> String {
    let mut error = error.to_owned();
    if let Some((cut, _)) = error.char_indices().nth(LAST_ERROR_MAX_CHARS) {
        error.truncate(cut);
    }
    error
}

/// `meta_json` as stored: [`SiteMetadata::document`].
///
/// # Errors
///
/// When serialization fails, which plain data such as this never does; the
/// error is kept typed rather than unwrapped.
pub fn meta_json(metadata: &SiteMetadata) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(metadata.document())
}

/// `tech_stack` as stored: [`SiteMetadata::tech_stack`].
///
/// # Errors
///
/// As [`meta_json`].
pub fn tech_stack_json(metadata: &SiteMetadata) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(metadata.tech_stack())
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
    fn capped_error_cuts_on_a_character_boundary() {
        let error = capped_error(&format!("a{}", "é".repeat(LAST_ERROR_MAX_CHARS + 10)));
        assert_eq!(error.chars().count(), LAST_ERROR_MAX_CHARS);
        assert!(error.starts_with("aé"));
        assert_eq!(capped_error("short"), "short");
    }

    #[test]
    fn meta_json_holds_the_document() {
        let metadata = SiteMetadata {
            title: Some("Title".into()),
            ..SiteMetadata::default()
        };
        let json = meta_json(&metadata).unwrap();
        assert_eq!(json["title"], "Title");
        assert!(json["tech_stack"].is_object());
    }
}
