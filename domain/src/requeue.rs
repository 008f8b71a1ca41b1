//! Which finished rows an operator puts back in the queue, and what came of
//! it.
//!
//! A requeue moves rows from `error` or `completed` back to `pending` (the
//! life cycle allows both moves, [`DomainStatus::can_move_to`]); a row that
//! is `processing` belongs to a worker and is never touched. The selectors
//! combine with AND. The rule lives here so that every repository selects
//! the same rows: the in-memory one calls [`RequeueSelection::selects`], the
//! SQL ones translate each selector into a condition.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::{DomainName, DomainStatus};

/// The states a requeue takes rows from.
pub const REQUEUABLE: [DomainStatus; 2] = [DomainStatus::Error, DomainStatus::Completed];

/// A state a requeue does not take rows from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rows that are {0} cannot be requeued (only error and completed rows can)")]
pub struct NotRequeuable(pub DomainStatus);

/// How `last_error` must read for a row to be selected. Both match without
/// regard to case (on SQLite, for ASCII letters only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPattern {
    /// A pattern over the whole text, as the operator wrote it, in the
    /// grammar of SQL `LIKE`: `%` any run of characters, `_` one character,
    /// `\` makes the next character literal.
    Like(String),
    /// Plain text found anywhere in `last_error`; `%`, `_` and `\` are
    /// literal.
    Contains(String),
}

/// The character of an [`ErrorPattern::Like`] that makes the next one
/// literal.
const ESCAPE: char = '\\';

impl ErrorPattern {
    /// Whether `text` matches, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        let lowercase =
            |text: &str| -> Vec<char> { text.chars().flat_map(char::to_lowercase).collect() };
        let text = lowercase(text);
        match self {
            ErrorPattern::Like(pattern) => wildcard(&lowercase(pattern), &text),
            ErrorPattern::Contains(needle) => {
                let needle = lowercase(needle);
                needle.is_empty() || text.windows(needle.len()).any(|window| window == needle)
            }
        }
    }
}

/// The match of an [`ErrorPattern::Like`]: `%` any run of characters, `_`
/// one character, [`ESCAPE`] makes the next character literal. By
/// backtracking over the last `%`: linear for the patterns people write,
/// and never recursive.
fn wildcard(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the latest `%`: pattern index after it, and the
    // text index it has swallowed up to.
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                p += 1;
                resume = Some((p, t));
                continue;
            }
            Some('_') => {
                p += 1;
                t += 1;
                continue;
            }
            Some(&c) => {
                let (literal, width) = if c == ESCAPE {
                    (pattern.get(p + 1).copied().unwrap_or(ESCAPE), 2)
                } else {
                    (c, 1)
                };
                if literal == text[t] {
                    p += width;
                    t += 1;
                    continue;
                }
            }
            None => {}
        }
        match resume {
            Some((after_percent, swallowed)) => {
                p = after_percent;
                t = swallowed + 1;
                resume = Some((after_percent, swallowed + 1));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == '%')
}

/// Which rows a requeue moves: rows in one of `statuses` (every
/// [`REQUEUABLE`] state when none is named), and, when given, last updated
/// before `updated_before` (or never), whose `last_error` matches
/// `error_pattern`, and whose `domain` is one of `domains`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequeueSelection {
    statuses: Vec<DomainStatus>,
    updated_before: Option<DateTime<Utc>>,
    error_pattern: Option<ErrorPattern>,
    domains: Vec<DomainName>,
}

impl RequeueSelection {
    /// Every `error` and `completed` row; narrow it with the other methods.
    pub fn new() -> RequeueSelection {
        RequeueSelection::default()
    }

    /// Only rows in `status` (or in another status given the same way).
    ///
    /// # Errors
    ///
    /// [`NotRequeuable`] for `pending` and `processing`.
    pub fn with_status(mut self, status: DomainStatus) -> Result<RequeueSelection, NotRequeuable> {
        if !REQUEUABLE.contains(&status) {
            return Err(NotRequeuable(status));
        }
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        Ok(self)
    }

    /// Only rows whose `updated_at` is before `cutoff`, or empty (rows no
    /// worker ever wrote, which claims also take as the oldest).
    pub fn updated_before(mut self, cutoff: DateTime<Utc>) -> RequeueSelection {
        self.updated_before = Some(cutoff);
        self
    }

    /// Only rows whose `last_error` matches `pattern` (rows without one never do).
    pub fn error_matching(mut self, pattern: ErrorPattern) -> RequeueSelection {
        self.error_pattern = Some(pattern);
        self
    }

    /// Only the rows of these names (the `domain` column as stored).
    pub fn domains(mut self, names: impl IntoIterator<Item = DomainName>) -> RequeueSelection {
        // A set beside the list: a file of names may hold a million.
        let mut seen: HashSet<DomainName> = self.domains.iter().cloned().collect();
        for name in names {
            if seen.insert(name.clone()) {
                self.domains.push(name);
            }
        }
        self
    }

    /// The same selectors, for `names` alone (a part of this selection's
    /// names, so that a long list is sent in parts).
    pub fn for_names(&self, names: &[DomainName]) -> RequeueSelection {
        RequeueSelection {
            statuses: self.statuses.clone(),
            updated_before: self.updated_before,
            error_pattern: self.error_pattern.clone(),
            domains: names.to_vec(),
        }
    }

    /// The states rows are taken from: those named, or every requeuable one.
    pub fn statuses(&self) -> &[DomainStatus] {
        if self.statuses.is_empty() {
            &REQUEUABLE
        } else {
            &self.statuses
        }
    }

    /// The `updated_at` limit, if any.
    pub fn updated_before_cutoff(&self) -> Option<DateTime<Utc>> {
        self.updated_before
    }

    /// The `last_error` pattern, if any.
    pub fn error_pattern(&self) -> Option<&ErrorPattern> {
        self.error_pattern.as_ref()
    }

    /// The names rows are limited to; empty when not limited by name.
    pub fn names(&self) -> &[DomainName] {
        &self.domains
    }

    /// Whether nothing narrows the selection: every `error` and `completed`
    /// row of the table.
    pub fn is_everything(&self) -> bool {
        self.statuses.is_empty()
            && self.updated_before.is_none()
            && self.error_pattern.is_none()
            && self.domains.is_empty()
    }

    /// Whether a row with these columns is selected.
    pub fn selects(
        &self,
        status: Option<&str>,
        updated_at: Option<DateTime<Utc>>,
        last_error: Option<&str>,
        domain: &str,
    ) -> bool {
        let in_state = status.is_some_and(|status| {
            self.statuses()
                .iter()
                .any(|wanted| wanted.as_str() == status)
        });
        let old_enough = match (self.updated_before, updated_at) {
            (Some(cutoff), Some(at)) => at < cutoff,
            _ => true,
        };
        let error_matches = match &self.error_pattern {
            Some(pattern) => last_error.is_some_and(|error| pattern.matches(error)),
            None => true,
        };
        let named =
            self.domains.is_empty() || self.domains.iter().any(|name| name.as_str() == domain);
        in_state && old_enough && error_matches && named
    }
}

/// What a requeue did, or with a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequeueReport {
    /// Rows moved to `pending` (with a dry run: rows that would be).
    pub requeued: u64,
    /// Names of the selection that have no row at all.
    pub not_found: Vec<DomainName>,
    /// Names of the selection whose row the other selectors do not take,
    /// with the row's status (`pending`, `processing`, or a state the
    /// selection left out): left as they are.
    pub left_alone: Vec<(DomainName, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::minutes(minutes)
    }

    #[test]
    fn like_patterns_match_as_sql_like_without_case() {
        let like = |pattern: &str, text: &str| ErrorPattern::Like(pattern.into()).matches(text);
        assert!(like("HTTP 5%", "http 503 Service Unavailable"));
        assert!(!like("HTTP 5%", "got HTTP 503"));
        assert!(like("%time%out%", "request timed out after 30s"));
        assert!(like("HTTP 5__", "HTTP 502"));
        assert!(!like("HTTP 5__", "HTTP 5021"));
        assert!(like("%a%b", "xaxxbxb"));
        assert!(!like("%a%b", "xaxxbxc"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("", ""));
        assert!(!like("", "x"));
        assert!(like("%", ""));
        assert!(like("ÉCHEC%", "échec total"));
    }

    #[test]
    fn contains_is_plain_text_anywhere_with_wildcards_literal() {
        let contains = |text: &str, error: &str| ErrorPattern::Contains(text.into()).matches(error);
        assert!(contains("timed out", "fetch: Timed Out after 30s"));
        assert!(contains("50%_done\\", "at 50%_done\\ now"));
        assert!(!contains("50%_done", "at 50 percent done"));
        assert!(!contains("50%", "at 500"));
        assert!(contains("", "anything"));
    }

    #[test]
    fn only_error_and_completed_rows_can_be_requeued() {
        for status in DomainStatus::ALL {
            let accepted = RequeueSelection::new().with_status(status).is_ok();
            assert_eq!(accepted, REQUEUABLE.contains(&status), "{status}");
        }
        for status in REQUEUABLE {
            assert!(status.can_move_to(DomainStatus::Pending), "{status}");
        }
        assert_eq!(
            RequeueSelection::new()
                .with_status(DomainStatus::Processing)
                .unwrap_err()
                .to_string(),
            "rows that are processing cannot be requeued (only error and completed rows can)"
        );
    }

    #[test]
    fn selectors_combine_with_and() {
        let name = DomainName::parse("a.example").unwrap();
        let selection = RequeueSelection::new()
            .with_status(DomainStatus::Error)
            .unwrap()
            .updated_before(at(10))
            .error_matching(ErrorPattern::Contains("HTTP 5".into()))
            .domains([name]);
        assert!(!selection.is_everything());
        let selects = |status, updated, error, domain| {
            selection.selects(Some(status), updated, error, domain)
        };
        assert!(selects("error", Some(at(5)), Some("HTTP 503"), "a.example"));
        assert!(selects("error", None, Some("HTTP 503"), "a.example"));
        assert!(!selects(
            "completed",
            Some(at(5)),
            Some("HTTP 503"),
            "a.example"
        ));
        assert!(!selects(
            "error",
            Some(at(10)),
            Some("HTTP 503"),
            "a.example"
        ));
        assert!(!selects(
            "error",
            Some(at(5)),
            Some("HTTP 404"),
            "a.example"
        ));
        assert!(!selects("error", Some(at(5)), None, "a.example"));
        assert!(!selects(
            "error",
            Some(at(5)),
            Some("HTTP 503"),
            "b.example"
        ));
    }

    #[test]
    fn an_empty_selection_is_every_finished_row_and_never_a_busy_one() {
        let everything = RequeueSelection::new();
        assert!(everything.is_everything());
        assert_eq!(everything.statuses(), REQUEUABLE);
        for (status, selected) in [
            (Some("error"), true),
            (Some("completed"), true),
            (Some("pending"), false),
            (Some("processing"), false),
            (Some("archived"), false),
            (None, false),
        ] {
            assert_eq!(
                everything.selects(status, None, None, "x.example"),
                selected,
                "{status:?}"
            );
        }
    }
}
