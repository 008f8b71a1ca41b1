//! [`DomainRow`]: one row of `domains`, and what the life cycle says
//! about it.

use chrono::{DateTime, Utc};
use scheduler_domain::{DomainId, DomainStatus, WorkerId};
use serde_json::Value as Json;

/// One row of `domains` with every column the worker knows.
///
/// Columns are nullable as in a table other systems also write to.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRow {
    /// `id`
    pub id: DomainId,
    /// `domain`, as stored (not standardized).
    pub domain: String,
    /// `status`; any text, as another system may have written it.
    pub status: Option<String>,
    /// `attempts`
    pub attempts: i32,
    /// `locked_by`
    pub locked_by: Option<String>,
    /// `locked_until`
    pub locked_until: Option<DateTime<Utc>>,
    /// `next_attempt_at`
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// `last_error`
    pub last_error: Option<String>,
    /// `title`
    pub title: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `favicon_url`
    pub favicon_url: Option<String>,
    /// `logo_url`
    pub logo_url: Option<String>,
    /// `language`
    pub language: Option<String>,
    /// `is_wordpress`
    pub is_wordpress: Option<bool>,
    /// `wordpress_version`
    pub wordpress_version: Option<String>,
    /// `has_elementor`
    pub has_elementor: Option<bool>,
    /// `tech_stack` (JSON)
    pub tech_stack: Option<Json>,
    /// `email_addresses`
    pub email_addresses: Option<Vec<String>>,
    /// `phone_numbers`
    pub phone_numbers: Option<Vec<String>>,
    /// `facebook_url`
    pub facebook_url: Option<String>,
    /// `twitter_url`
    pub twitter_url: Option<String>,
    /// `linkedin_url`
    pub linkedin_url: Option<String>,
    /// `instagram_url`
    pub instagram_url: Option<String>,
    /// `youtube_url`
    pub youtube_url: Option<String>,
    /// `meta_json` (the whole [`SiteMetadata`](scheduler_domain::SiteMetadata))
    pub meta_json: Option<Json>,
    /// `sitemap_analysis_status`
    pub sitemap_analysis_status: Option<String>,
    /// `created_at`
    pub created_at: Option<DateTime<Utc>>,
    /// `updated_at`
    pub updated_at: Option<DateTime<Utc>>,
}

impl DomainRow {
    /// A row as the database defaults make it when another system inserts
    /// only `domain` and `status`: a fresh id, no attempts, timestamps `at`.
    pub fn new(domain: impl Into<String>, status: &str, at: DateTime<Utc>) -> DomainRow {
        DomainRow {
            id: DomainId::random(),
            domain: domain.into(),
            status: Some(status.to_owned()),
            attempts: 0,
            locked_by: None,
            locked_until: None,
            next_attempt_at: None,
            last_error: None,
            title: None,
            description: None,
            favicon_url: None,
            logo_url: None,
            language: None,
            is_wordpress: None,
            wordpress_version: None,
            has_elementor: None,
            tech_stack: None,
            email_addresses: None,
            phone_numbers: None,
            facebook_url: None,
            twitter_url: None,
            linkedin_url: None,
            instagram_url: None,
            youtube_url: None,
            meta_json: None,
            sitemap_analysis_status: None,
            created_at: Some(at),
            updated_at: Some(at),
        }
    }

    pub(crate) fn has_status(&self, status: DomainStatus) -> bool {
        self.status.as_deref() == Some(status.as_str())
    }

    pub(crate) fn state(&self) -> Option<DomainStatus> {
        self.status
            .as_deref()
            .and_then(|status| status.parse().ok())
    }

    /// Whether the life cycle lets this row move to `to`.
    pub(crate) fn may_move_to(&self, to: DomainStatus) -> bool {
        self.state().is_some_and(|from| from.can_move_to(to))
    }

    /// Whether `worker` holds this row and may move it to `to`.
    pub(crate) fn is_leased_to(&self, worker: &WorkerId, to: DomainStatus) -> bool {
        self.state()
            .is_some_and(|from| DomainStatus::leased_sources(to).any(|leased| leased == from))
            && self.locked_by.as_deref() == Some(worker.as_str())
    }

    /// Whether the rescue sweep may take this row: its lease expired and
    /// the life cycle lets it go back to `pending` or on to `error`.
    pub(crate) fn rescuable(&self, now: DateTime<Utc>) -> bool {
        self.state().is_some_and(|from| {
            from.is_leased()
                && from.can_move_to(DomainStatus::Pending)
                && from.can_move_to(DomainStatus::Error)
        }) && self.locked_until.is_none_or(|until| until < now)
    }

    /// A `processing` row whose lease ended before `now`. A row without any
    /// lease (left `processing` by a system that kept none) counts as
    /// expired too, or it would stay stuck forever.
    /// May be claimed now: in a state the life cycle lets move to
    /// `processing` (`pending`), and its retry time, if any, has come.
    pub(crate) fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.may_move_to(DomainStatus::Processing)
            && self.next_attempt_at.is_none_or(|at| at <= now)
    }

    pub(crate) fn lease_expired(&self, now: DateTime<Utc>) -> bool {
        self.has_status(DomainStatus::Processing)
            && self.locked_until.is_none_or(|until| until < now)
    }

    pub(crate) fn clear_lease(&mut self) {
        self.locked_by = None;
        self.locked_until = None;
    }
}
