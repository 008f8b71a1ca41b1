//! What an operator reads about single rows: one domain's whole record
//! ([`DomainRecord`]), and a page of the latest errors, of one kind or all
//! ([`ErrorQuery`]).

use chrono::{DateTime, Utc};

/// One row of `domains` as the status page shows it: where it stands in
/// the life cycle and, once completed, the metadata document stored with
/// it. Every text is as stored, untrusted (titles and errors come from web
/// pages).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DomainRecord {
    /// The `domain` column.
    pub domain: String,
    /// The `status` column as stored (another system may write any text).
    pub status: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// The worker holding the lease, while `processing`.
    pub locked_by: Option<String>,
    /// When the lease ends.
    pub locked_until: Option<DateTime<Utc>>,
    /// Not claimed again before this time.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the row was inserted.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// `meta_json`, the whole metadata document, as stored: kept as JSON
    /// rather than read into [`crate::SiteMetadata`], so that fields written
    /// by other versions or other systems are shown too. A document that is
    /// not valid JSON comes back as a JSON string of its text.
    pub metadata: Option<serde_json::Value>,
}

/// Which of the latest `error` rows to list: newest first, optionally only
/// those of one kind ([`crate::error_kind`]), a page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorQuery {
    /// Only rows whose `last_error` is of this kind, as
    /// [`crate::StatusReport::error_kinds`] names them (`dns`, `HTTP 404`).
    pub kind: Option<String>,
    /// Rows to skip, newest first.
    pub offset: u32,
    /// Rows to return at most.
    pub limit: u32,
}
