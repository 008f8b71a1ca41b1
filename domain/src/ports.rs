//! The ports: what the application needs from storage and from the web,
//! and what wakes an idle worker.
//!
//! The traits return `impl Future + Send` so the use cases can be generic
//! over them (static dispatch, no boxing on the hot path).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    ClaimRequest, ClaimedDomain, Completion, DomainId, DomainName, DomainRecord, EnqueueReport,
    ErrorQuery, ErrorSample, ExtractionError, RequeueReport, RequeueSelection, RescueReport,
    SiteMetadata, StatusReport, StatusRequest, WorkerId, WriteOutcome,
};

/// A storage failure, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    /// The database could not be reached or the connection broke.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement ran past `statement_timeout` or waited too long for a lock.
    #[error("database statement timed out: {0}")]
    Timeout(String),
    /// A row holds a value the worker cannot read (e.g. an unknown status).
    #[error("unreadable row: {0}")]
    InvalidRow(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl RepositoryError {
    /// Whether the same statement may succeed later: the database was away
    /// or slow, not refusing this row. Every retry decision asks this.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RepositoryError::Unavailable(_) | RepositoryError::Timeout(_)
        )
    }
}

/// Where domains wait and where results go.
///
/// Every method is one short transaction of its own; no method holds a
/// connection once it has returned. Writes about a claimed row are guarded:
/// they apply only while the row is `processing` and leased to `worker`.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait DomainRepository: Send + Sync {
    /// Moves up to `request.limit` due `pending` rows to `processing`,
    /// oldest `updated_at` first, skipping rows other workers are claiming,
    /// with `attempts + 1`, `locked_by`, `locked_until` set.
    ///
    /// # Errors
    ///
    /// [`RepositoryError::Timeout`] when the claim ran past the statement
    /// timeout; [`RepositoryError::Unavailable`] when the database is gone.
    fn claim(
        &self,
        request: ClaimRequest,
    ) -> impl Future<Output = Result<Vec<ClaimedDomain>, RepositoryError>> + Send;

    /// Writes `completed`, every metadata column and `meta_json`, clears the
    /// lease and `last_error`, and queues the sitemap analysis.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`]. A transient one
    /// ([`RepositoryError::is_transient`]) leaves the fetched result with
    /// the caller, who writes it again until the claim's lease ends; any
    /// other is recorded as the row's failure in a separate transaction
    /// ([`DomainRepository::fail`]).
    fn complete(
        &self,
        id: DomainId,
        worker: &WorkerId,
        metadata: &SiteMetadata,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<WriteOutcome, RepositoryError>> + Send;

    /// Writes several completions in ONE transaction (a group commit): each
    /// as [`DomainRepository::complete`] would, each guarded by its own
    /// lease. Returns one outcome per completion, in order.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`]; nothing of the group is written then, and
    /// the caller writes each completion alone, so that one row the
    /// database refuses cannot spoil the others.
    fn complete_many(
        &self,
        completions: &[Completion],
    ) -> impl Future<Output = Result<Vec<WriteOutcome>, RepositoryError>> + Send;

    /// Writes `error` with `last_error` (capped at 1024 characters) and clears
    /// the lease.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`]; the row then stays `processing` until the
    /// rescue sweep finds its lease expired.
    fn fail(
        &self,
        id: DomainId,
        worker: &WorkerId,
        error: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<WriteOutcome, RepositoryError>> + Send;

    /// Puts the row back to `pending` with `last_error` and a
    /// `next_attempt_at` before which it is not claimed again.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`], as for [`DomainRepository::fail`].
    fn retry_later(
        &self,
        id: DomainId,
        worker: &WorkerId,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<WriteOutcome, RepositoryError>> + Send;

    /// Gives a claimed row back untouched (at shutdown, before its work
    /// started, or when its site's address is busy): `pending`, the attempt
    /// not counted, the lease cleared, `last_error` kept, and not claimed
    /// again before `not_before` when given (`next_attempt_at`).
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`]; the rescue sweep then frees the row later.
    fn release(
        &self,
        id: DomainId,
        worker: &WorkerId,
        not_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<WriteOutcome, RepositoryError>> + Send;

    /// Frees rows left `processing` past `locked_until` (their worker died):
    /// back to `pending`, or to `error` when `attempts >= max_attempts`.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`].
    fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> impl Future<Output = Result<RescueReport, RepositoryError>> + Send;

    /// Inserts a `pending` row for each name that has none yet.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`]; nothing is inserted then.
    fn enqueue(
        &self,
        names: &[DomainName],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<EnqueueReport, RepositoryError>> + Send;

    /// Puts the rows `selection` selects back to `pending`: `attempts` 0,
    /// `next_attempt_at` and the lease cleared, `updated_at = now` (so they
    /// queue behind rows already waiting), `last_error` kept until the next
    /// attempt overwrites it. Rows `processing` are never touched. With
    /// `dry_run`, changes nothing and counts the rows it would move. Reports
    /// the names of the selection that have no row.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`]; nothing is changed then.
    fn requeue(
        &self,
        selection: &RequeueSelection,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<RequeueReport, RepositoryError>> + Send;

    /// Reads a [`StatusReport`] from one consistent snapshot of the table
    /// (one read-only transaction that sees a single point in time).
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`].
    fn status(
        &self,
        request: StatusRequest,
    ) -> impl Future<Output = Result<StatusReport, RepositoryError>> + Send;

    /// Reads the row of `name`, by the unique index on `domain` and nothing
    /// else; `None` when there is none.
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`]; [`RepositoryError::InvalidRow`] when a
    /// column of the row cannot be read.
    fn find_domain(
        &self,
        name: &DomainName,
    ) -> impl Future<Output = Result<Option<DomainRecord>, RepositoryError>> + Send;

    /// Lists the `error` rows `query` selects, newest first (`updated_at`,
    /// then the key, descending: the order of
    /// [`StatusReport::recent_errors`]).
    ///
    /// # Errors
    ///
    /// Any [`RepositoryError`].
    fn recent_errors(
        &self,
        query: &ErrorQuery,
    ) -> impl Future<Output = Result<Vec<ErrorSample>, RepositoryError>> + Send;
}

/// Fetches a site's home page and extracts its metadata.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait MetadataExtractor: Send + Sync {
    /// Fetches the domain's home page (`https://<domain>/` first, and the
    /// other URLs of the site an implementation tries when that fails,
    /// following redirects) and extracts.
    ///
    /// # Errors
    ///
    /// [`ExtractionError`]; its [`ExtractionError::kind`] says whether a
    /// later attempt may succeed, and [`ExtractionError::deferral`] when
    /// the domain was not tried at all (its site's address was busy): the
    /// caller hands it back, not before that wait, without counting the
    /// attempt.
    fn extract(
        &self,
        domain: &DomainName,
    ) -> impl Future<Output = Result<SiteMetadata, ExtractionError>> + Send;
}

/// Tells an idle worker when rows may have become due, so that it claims at
/// once instead of waiting for a timer (Postgres `LISTEN`/`NOTIFY`), or
/// paces its polls where nothing can tell it (a transaction pooler, SQLite).
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait WorkSignal: Send + Sync {
    /// Returns when rows may have become due, and at the latest after
    /// `longest`. A wake-up is a hint, not a promise: the claim that follows
    /// may find nothing.
    fn wait(&self, longest: Duration) -> impl Future<Output = ()> + Send;
}

#[cfg(test)]
mod tests {
    use super::RepositoryError;

    #[test]
    fn only_an_absent_or_slow_database_is_transient() {
        assert!(RepositoryError::Unavailable("gone".into()).is_transient());
        assert!(RepositoryError::Timeout("slow".into()).is_transient());
        assert!(!RepositoryError::InvalidRow("bad status".into()).is_transient());
        assert!(!RepositoryError::Database("constraint".into()).is_transient());
    }
}
