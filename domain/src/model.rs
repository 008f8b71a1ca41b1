//! Identifiers and the records that cross the ports.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{DomainName, SiteMetadata};

/// The `id` of a row of `domains`: the table's own key, whatever its type
/// (a UUID on the tables the worker creates, an integer on many older
/// ones), carried as the text the database prints for it. Written back as
/// a literal that the column's own type reads, so lookups by id still use
/// the primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DomainId(String);

impl DomainId {
    /// A fresh random UUID, for rows the worker inserts into a table keyed
    /// by UUIDs.
    pub fn random() -> DomainId {
        DomainId::from(uuid::Uuid::new_v4())
    }

    /// The key as the database prints it.
    pub fn from_key(key: impl Into<String>) -> DomainId {
        DomainId(key.into())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<uuid::Uuid> for DomainId {
    fn from(uuid: uuid::Uuid) -> Self {
        DomainId(uuid.to_string())
    }
}

impl From<i64> for DomainId {
    fn from(key: i64) -> Self {
        DomainId(key.to_string())
    }
}

impl fmt::Display for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who holds a lease: stored in `locked_by`, so an operator can tell which
/// worker took a row. `host:pid:random` by default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct WorkerId(String);

impl WorkerId {
    /// A worker id from any text (capped at 100 characters to fit a log line).
    pub fn new(id: impl Into<String>) -> WorkerId {
        let mut id: String = id.into();
        if let Some((cut, _)) = id.char_indices().nth(100) {
            id.truncate(cut);
        }
        WorkerId(id)
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What to claim: up to `limit` rows that are `pending` and due at `now`
/// (`next_attempt_at` empty or past), oldest `updated_at` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The worker taking the rows.
    pub worker: WorkerId,
    /// At most this many rows.
    pub limit: u32,
    /// The current time: rows not due by then are left alone.
    pub now: DateTime<Utc>,
    /// The lease end written to `locked_until`; past it the rescue sweep may
    /// give the row to another worker.
    pub lease_until: DateTime<Utc>,
}

/// A row this worker now holds in `processing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDomain {
    /// The row.
    pub id: DomainId,
    /// The `domain` column as stored: not yet standardized, maybe invalid.
    pub raw_domain: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// One `complete` of a group written together
/// ([`DomainRepository::complete_many`](crate::DomainRepository::complete_many)).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The row.
    pub id: DomainId,
    /// The claimant the row must still be leased to.
    pub worker: WorkerId,
    /// What to write.
    pub metadata: SiteMetadata,
    /// The time written to `updated_at`.
    pub now: DateTime<Utc>,
}

/// What a guarded write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The row was still `processing` and leased to this worker: written.
    Written,
    /// The row was no longer this worker's (rescued and re-claimed, or
    /// changed by an operator): nothing was written.
    LeaseLost,
}

/// What the rescue sweep did with rows whose lease had expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Put back to `pending`.
    pub requeued: u64,
    /// Moved to `error`: their attempts were spent.
    pub failed: u64,
}

/// What `enqueue` did with each name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueReport {
    /// New rows, `pending`.
    pub added: Vec<DomainName>,
    /// Names that already had a row (in any state): left alone.
    pub already_present: Vec<DomainName>,
}

/// A recent failure, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorSample {
    /// The `domain` column.
    pub domain: String,
    /// The `last_error` column.
    pub error: String,
    /// When it was written.
    pub at: DateTime<Utc>,
}

/// What `status` should list besides the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRequest {
    /// The current time: due rows, expired leases and the last hour are
    /// reckoned from it.
    pub now: DateTime<Utc>,
    /// How many of the latest errors to list.
    pub recent_errors: u32,
    /// How many of the latest completed rows to list (with their titles).
    pub recent_completed: u32,
    /// Also the last hour's throughput and the kinds of error: each reads
    /// the whole table, where the counts and the queue's head take one scan
    /// and one index probe.
    pub details: bool,
    /// With details, also the rows finished or put back in each of this
    /// many last minutes ([`StatusReport::per_minute`]); read by the same
    /// statement as the last hour, over the longer of the two windows.
    pub throughput_minutes: u32,
    /// Where counting every row costs too much (Postgres), the counts may
    /// be estimates once the table holds more than this many rows
    /// ([`StatusReport::estimated`] says which); `None`: always exact.
    pub estimate_above: Option<u64>,
}

impl StatusRequest {
    /// The counts and the queue's head at `now`: no details, no rows listed.
    pub fn at(now: DateTime<Utc>) -> StatusRequest {
        StatusRequest {
            now,
            recent_errors: 0,
            recent_completed: 0,
            details: false,
            throughput_minutes: 0,
            estimate_above: None,
        }
    }

    /// Also the last hour and the kinds of error.
    pub fn with_details(self) -> StatusRequest {
        StatusRequest {
            details: true,
            ..self
        }
    }

    /// Also the `count` latest errors.
    pub fn with_errors(self, count: u32) -> StatusRequest {
        StatusRequest {
            recent_errors: count,
            ..self
        }
    }

    /// Also the details, with the rows finished or put back in each of the
    /// last `minutes` minutes.
    pub fn with_throughput(self, minutes: u32) -> StatusRequest {
        StatusRequest {
            details: true,
            throughput_minutes: minutes,
            ..self
        }
    }

    /// Counts that may be estimates once the table holds more than `rows`
    /// rows, for a reader that must stay cheap however large the table.
    pub fn with_estimates_above(self, rows: u64) -> StatusRequest {
        StatusRequest {
            estimate_above: Some(rows),
            ..self
        }
    }

    /// Also the `count` latest completed rows.
    pub fn with_completed(self, count: u32) -> StatusRequest {
        StatusRequest {
            recent_completed: count,
            ..self
        }
    }
}

/// A recently completed row, for the status page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompletedSample {
    /// The `domain` column.
    pub domain: String,
    /// The `title` column, as the site wrote it (untrusted text).
    pub title: Option<String>,
    /// When it was written.
    pub at: DateTime<Utc>,
}

/// How many `error` rows share one kind of failure
/// ([`crate::failure::error_kind`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorKindCount {
    /// The kind, e.g. `dns`, `timeout` or `HTTP 404`.
    pub kind: String,
    /// Rows in `error` with a `last_error` of that kind.
    pub count: u64,
}

/// Rows finished within the hour before the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LastHour {
    /// Rows `completed` in that hour (by `updated_at`).
    pub completed: u64,
    /// Rows moved to `error` in that hour (by `updated_at`).
    pub failed: u64,
}

impl LastHour {
    /// Rows finished per minute over the hour.
    pub fn per_minute(&self) -> f64 {
        (self.completed + self.failed) as f64 / 60.0
    }
}

/// How often something happens, said in the unit that reads naturally:
/// `2.5 a second`, `12 a minute`, `3 an hour`, `none`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Events per second.
    pub per_second: f64,
}

impl Rate {
    /// `count` events over `seconds` (a zero span counts as a millisecond).
    pub fn of(count: u64, seconds: f64) -> Rate {
        Rate {
            per_second: count as f64 / seconds.max(0.001),
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_second = self.per_second;
        if per_second <= 0.0 || !per_second.is_finite() {
            f.write_str("none")
        } else if per_second >= 1.0 {
            write!(f, "{} a second", rounded(per_second))
        } else if per_second * 60.0 >= 1.0 {
            write!(f, "{} a minute", rounded(per_second * 60.0))
        } else {
            write!(f, "{} an hour", rounded(per_second * 3600.0))
        }
    }
}

/// One decimal below 10, whole numbers above: `2.5`, `12`.
fn rounded(value: f64) -> String {
    if value < 10.0 {
        let text = format!("{value:.1}");
        text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
    } else {
        format!("{value:.0}")
    }
}

/// `1 domain`, `3 domains`: a count with its noun.
pub fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Row counts per state, the queue's lag, and on request the last hour's
/// throughput, the most frequent kinds of error and the latest rows: one
/// consistent snapshot of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusReport {
    /// Rows in `pending` (due now or waiting for a retry).
    pub pending: u64,
    /// Rows in `pending` whose retry time has not come yet.
    pub waiting_for_retry: u64,
    /// Rows in `processing`.
    pub processing: u64,
    /// Rows in `processing` whose lease has expired (a worker died).
    pub expired_leases: u64,
    /// Rows in `completed`.
    pub completed: u64,
    /// Rows in `error`.
    pub error: u64,
    /// Rows whose status is none of the four.
    pub other: u64,
    /// How long the due `pending` row next in line (the one the next claim
    /// takes first) has waited since it became due (enqueued, put back, or
    /// its retry time came), in seconds; `None` when no row is due.
    pub oldest_pending_seconds: Option<u64>,
    /// Rows finished in the last hour (with details).
    pub last_hour: LastHour,
    /// The most frequent kinds of error among `error` rows, most frequent
    /// first, at most ten (with details).
    pub error_kinds: Vec<ErrorKindCount>,
    /// The most recent errors, newest first.
    pub recent_errors: Vec<ErrorSample>,
    /// The most recently completed rows, newest first.
    pub recent_completed: Vec<CompletedSample>,
    /// The rows finished or put back in each of the last
    /// [`StatusRequest::throughput_minutes`] minutes, the latest minute
    /// first; minutes with none are left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_minute: Vec<crate::MinuteCounts>,
    /// The fields above that are estimates, by name (`completed`,
    /// `pending`, ...), when the request allowed them
    /// ([`StatusRequest::estimate_above`]); empty: every count is exact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub estimated: Vec<&'static str>,
}

/// How many kinds of error a [`StatusReport`] lists.
pub const STATUS_ERROR_KINDS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_keys_as_the_database_prints_them() {
        let uuid = uuid::Uuid::nil();
        assert_eq!(
            DomainId::from(uuid).as_str(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(DomainId::from(42_i64).as_str(), "42");
        assert_eq!(DomainId::from_key("42"), DomainId::from(42_i64));
    }

    #[test]
    fn worker_id_is_capped_on_a_character_boundary() {
        let id = WorkerId::new("é".repeat(150));
        assert_eq!(id.as_str().chars().count(), 100);
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn rates_read_in_the_unit_that_fits() {
        assert_eq!(Rate::of(0, 60.0).to_string(), "none");
        assert_eq!(Rate::of(150, 60.0).to_string(), "2.5 a second");
        assert_eq!(Rate::of(12, 60.0).to_string(), "12 a minute");
        assert_eq!(Rate::of(1, 60.0).to_string(), "1 a minute");
        assert_eq!(Rate::of(3, 3600.0).to_string(), "3 an hour");
        assert_eq!(Rate::of(600, 1.0).to_string(), "600 a second");
        assert_eq!(counted(1, "domain"), "1 domain");
        assert_eq!(counted(0, "domain"), "0 domains");
    }
}
