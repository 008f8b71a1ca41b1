//! The storage port in memory: the reference behaviour of [`DomainRepository`].
//!
//! Every other storage adapter must behave like this one; the conformance
//! suite in the `tests` crate runs the same scenarios against all of them.
//! It is also the repository of the application's fast tests.
//!
//! # Layout
//!
//! - [`MemoryRepository`]: a clonable handle over shared rows; clones see
//!   the same table, like two connections to one database.
//! - [`DomainRow`] (`row`): one row with every column of `domains`, as
//!   tests seed and inspect it, and what the life cycle says about it.
//! - `nul`: Postgres's refusal of NUL, applied here too, so that this
//!   reference keeps the text the SQL adapters keep.
//!
//! A `std::sync::Mutex`, not a tokio one: no method holds the lock across an
//! await point (each operation is one synchronous step, like one statement).

mod nul;
mod row;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use scheduler_domain::stored::{EMAIL_COLUMN_LIMIT, PHONE_COLUMN_LIMIT, lease_expired_message};
use scheduler_domain::{
    ClaimRequest, ClaimedDomain, CompletedSample, Completion, DomainId, DomainName, DomainRecord,
    DomainRepository, DomainStatus, EnqueueReport, ErrorKindCount, ErrorQuery, ErrorSample,
    MinuteChange, MinuteTally, RepositoryError, RequeueReport, RequeueSelection, RescueReport,
    STATUS_ERROR_KINDS, SiteMetadata, StatusReport, StatusRequest, WorkerId, WriteOutcome,
    error_kind,
};

use crate::nul::strip_nul;

pub use crate::row::DomainRow;

/// [`DomainRepository`] over rows kept in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryRepository {
    rows: Arc<Mutex<Vec<DomainRow>>>,
}

impl MemoryRepository {
    /// An empty table.
    pub fn new() -> MemoryRepository {
        MemoryRepository::default()
    }

    /// Inserts a row as another system would: only `domain` and `status`
    /// given, every other column at its default (timestamps now).
    pub fn insert_raw(&self, domain: &str, status: &str) -> DomainId {
        self.insert_row(DomainRow::new(domain, status, Utc::now()))
    }

    /// Inserts a row exactly as given.
    pub fn insert_row(&self, row: DomainRow) -> DomainId {
        let id = row.id.clone();
        self.lock().push(row);
        id
    }

    /// A snapshot of one row.
    pub fn row(&self, id: &DomainId) -> Option<DomainRow> {
        self.lock().iter().find(|row| row.id == *id).cloned()
    }

    /// A snapshot of every row, in insertion order.
    pub fn rows(&self) -> Vec<DomainRow> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<DomainRow>> {
        // A panic while holding the lock cannot leave a row half-written
        // (each mutation is a plain field assignment), so a poisoned lock
        // is still consistent.
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the row to `to` and applies `write` to it if it is still
    /// leased to `worker` and the life cycle allows the move.
    fn guarded(
        &self,
        id: &DomainId,
        worker: &WorkerId,
        to: DomainStatus,
        write: impl FnOnce(&mut DomainRow),
    ) -> WriteOutcome {
        self.guarded_or(id, worker, to, |_| false, write)
    }

    /// [`MemoryRepository::guarded`], also writing a row that `also`
    /// accepts.
    fn guarded_or(
        &self,
        id: &DomainId,
        worker: &WorkerId,
        to: DomainStatus,
        also: impl Fn(&DomainRow) -> bool,
        write: impl FnOnce(&mut DomainRow),
    ) -> WriteOutcome {
        let mut rows = self.lock();
        match rows
            .iter_mut()
            .find(|row| row.id == *id && (row.is_leased_to(worker, to) || also(row)))
        {
            Some(row) => {
                row.status = Some(to.as_str().to_owned());
                write(row);
                WriteOutcome::Written
            }
            None => WriteOutcome::LeaseLost,
        }
    }
}

fn not_json(error: serde_json::Error) -> RepositoryError {
    RepositoryError::InvalidRow(format!("metadata is not JSON: {error}"))
}

fn opt_text(value: Option<&String>) -> Option<String> {
    value.map(|text| strip_nul(text))
}

impl DomainRepository for MemoryRepository {
    async fn claim(&self, request: ClaimRequest) -> Result<Vec<ClaimedDomain>, RepositoryError> {
        let mut rows = self.lock();
        let mut due: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, row)| row.is_due(request.now))
            .map(|(index, _)| index)
            .collect();
        // Oldest first with never-touched rows (NULL updated_at) before all,
        // then by id: the order the SQL adapters use.
        due.sort_by(|&a, &b| {
            (rows[a].updated_at, &rows[a].id).cmp(&(rows[b].updated_at, &rows[b].id))
        });
        due.truncate(usize::try_from(request.limit).unwrap_or(usize::MAX));
        let claimed = due
            .into_iter()
            .map(|index| {
                let row = &mut rows[index];
                row.status = Some(DomainStatus::Processing.as_str().to_owned());
                row.attempts += 1;
                row.locked_by = Some(request.worker.as_str().to_owned());
                row.locked_until = Some(request.lease_until);
                row.updated_at = Some(request.now);
                ClaimedDomain {
                    id: row.id.clone(),
                    raw_domain: row.domain.clone(),
                    attempts: u32::try_from(row.attempts).unwrap_or(0),
                }
            })
            .collect();
        Ok(claimed)
    }

    async fn complete_many(
        &self,
        completions: &[Completion],
    ) -> Result<Vec<WriteOutcome>, RepositoryError> {
        // All or nothing, as one transaction: every value is checked first.
        for completion in completions {
            nul::meta_json(&completion.metadata).map_err(not_json)?;
            nul::tech_stack_json(&completion.metadata).map_err(not_json)?;
        }
        let mut outcomes = Vec::with_capacity(completions.len());
        for completion in completions {
            outcomes.push(
                self.complete(
                    completion.id.clone(),
                    &completion.worker,
                    &completion.metadata,
                    completion.now,
                )
                .await?,
            );
        }
        Ok(outcomes)
    }

    async fn complete(
        &self,
        id: DomainId,
        worker: &WorkerId,
        metadata: &SiteMetadata,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        let meta_json = nul::meta_json(metadata).map_err(not_json)?;
        let tech_stack = nul::tech_stack_json(metadata).map_err(not_json)?;
        // A retry of a completion whose commit went through but whose answer
        // was lost finds the row completed at this very time: written again.
        let completed_now = |row: &DomainRow| {
            row.state() == Some(DomainStatus::Completed) && row.updated_at == Some(now)
        };
        Ok(
            self.guarded_or(&id, worker, DomainStatus::Completed, completed_now, |row| {
                row.title = opt_text(metadata.title.as_ref());
                row.description = opt_text(metadata.description.as_ref());
                row.favicon_url = opt_text(metadata.favicon_url.as_ref());
                row.logo_url = opt_text(metadata.logo_url.as_ref());
                row.language = opt_text(metadata.language.as_ref());
                row.is_wordpress = Some(metadata.wordpress.detected);
                row.wordpress_version = opt_text(metadata.wordpress.version.as_ref());
                row.has_elementor = Some(metadata.has_elementor());
                row.tech_stack = Some(tech_stack);
                row.email_addresses = Some(
                    metadata
                        .first_emails(EMAIL_COLUMN_LIMIT)
                        .iter()
                        .map(|e| strip_nul(e))
                        .collect(),
                );
                row.phone_numbers = Some(
                    metadata
                        .first_phones(PHONE_COLUMN_LIMIT)
                        .iter()
                        .map(|p| strip_nul(p))
                        .collect(),
                );
                row.facebook_url = opt_text(metadata.social.facebook.as_ref());
                row.twitter_url = opt_text(metadata.social.twitter.as_ref());
                row.linkedin_url = opt_text(metadata.social.linkedin.as_ref());
                row.instagram_url = opt_text(metadata.social.instagram.as_ref());
                row.youtube_url = opt_text(metadata.social.youtube.as_ref());
                row.meta_json = Some(meta_json);
                row.sitemap_analysis_status = Some("queued".to_owned());
                row.last_error = None;
                row.next_attempt_at = None;
                row.clear_lease();
                row.updated_at = Some(now);
            }),
        )
    }

    async fn fail(
        &self,
        id: DomainId,
        worker: &WorkerId,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        Ok(self.guarded(&id, worker, DomainStatus::Error, |row| {
            row.last_error = Some(nul::last_error(error));
            row.clear_lease();
            row.updated_at = Some(now);
        }))
    }

    async fn retry_later(
        &self,
        id: DomainId,
        worker: &WorkerId,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        Ok(self.guarded(&id, worker, DomainStatus::Pending, |row| {
            row.last_error = Some(nul::last_error(error));
            row.next_attempt_at = Some(next_attempt_at);
            row.clear_lease();
            row.updated_at = Some(now);
        }))
    }

    async fn release(
        &self,
        id: DomainId,
        worker: &WorkerId,
        not_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        Ok(self.guarded(&id, worker, DomainStatus::Pending, |row| {
            row.attempts = (row.attempts - 1).max(0);
            if let Some(not_before) = not_before {
                row.next_attempt_at = Some(not_before);
            }
            row.clear_lease();
            row.updated_at = Some(now);
        }))
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<RescueReport, RepositoryError> {
        let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let mut report = RescueReport::default();
        for row in self.lock().iter_mut().filter(|row| row.rescuable(now)) {
            let status = if row.attempts >= max_attempts {
                report.failed += 1;
                DomainStatus::Error
            } else {
                report.requeued += 1;
                DomainStatus::Pending
            };
            row.status = Some(status.as_str().to_owned());
            row.last_error = Some(lease_expired_message(row.attempts));
            row.clear_lease();
            row.updated_at = Some(now);
        }
        Ok(report)
    }

    async fn enqueue(
        &self,
        names: &[DomainName],
        now: DateTime<Utc>,
    ) -> Result<EnqueueReport, RepositoryError> {
        let mut rows = self.lock();
        let mut report = EnqueueReport::default();
        for name in names {
            if rows.iter().any(|row| row.domain == name.as_str()) {
                report.already_present.push(name.clone());
            } else {
                rows.push(DomainRow::new(
                    name.as_str(),
                    DomainStatus::Pending.as_str(),
                    now,
                ));
                report.added.push(name.clone());
            }
        }
        Ok(report)
    }

    async fn requeue(
        &self,
        selection: &RequeueSelection,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RequeueReport, RepositoryError> {
        let mut rows = self.lock();
        let mut report = RequeueReport::default();
        for name in selection.names() {
            match rows.iter().find(|row| row.domain == name.as_str()) {
                None => report.not_found.push(name.clone()),
                Some(row)
                    if !selection.selects(
                        row.status.as_deref(),
                        row.updated_at,
                        row.last_error.as_deref(),
                        &row.domain,
                    ) =>
                {
                    let status = row.status.clone().unwrap_or_default();
                    report.left_alone.push((name.clone(), status));
                }
                Some(_) => {}
            }
        }
        for row in rows.iter_mut().filter(|row| {
            selection.selects(
                row.status.as_deref(),
                row.updated_at,
                row.last_error.as_deref(),
                &row.domain,
            )
        }) {
            report.requeued += 1;
            if !dry_run {
                row.status = Some(DomainStatus::Pending.as_str().to_owned());
                row.attempts = 0;
                row.next_attempt_at = None;
                row.clear_lease();
                row.updated_at = Some(now);
            }
        }
        Ok(report)
    }

    async fn status(&self, request: StatusRequest) -> Result<StatusReport, RepositoryError> {
        let StatusRequest {
            now,
            recent_errors,
            recent_completed,
            details,
            throughput_minutes,
            // A table in memory is counted in a moment: always exact.
            estimate_above: _,
        } = request;
        let rows = self.lock();
        let mut report = StatusReport::default();
        let window_start =
            now - chrono::TimeDelta::minutes(MinuteTally::window(throughput_minutes).into());
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        let mut tally = MinuteTally::default();
        for row in rows.iter() {
            // The minute of the row's latest change, when the details read it.
            let mut tally_as = |change| {
                if let Some(at) = row.updated_at.filter(|at| details && *at >= window_start) {
                    tally.add((now - at).num_minutes(), change, 1);
                }
            };
            match row.status.as_deref().and_then(|status| status.parse().ok()) {
                Some(DomainStatus::Pending) => {
                    report.pending += 1;
                    if row.next_attempt_at.is_some_and(|at| at > now) {
                        report.waiting_for_retry += 1;
                    }
                    if row.next_attempt_at.is_some() {
                        tally_as(MinuteChange::Retried);
                    }
                }
                Some(DomainStatus::Processing) => {
                    report.processing += 1;
                    if row.lease_expired(now) {
                        report.expired_leases += 1;
                    }
                }
                Some(DomainStatus::Completed) => {
                    report.completed += 1;
                    tally_as(MinuteChange::Completed);
                }
                Some(DomainStatus::Error) => {
                    report.error += 1;
                    tally_as(MinuteChange::Failed);
                    if details {
                        *kinds
                            .entry(error_kind(row.last_error.as_deref().unwrap_or_default()))
                            .or_default() += 1;
                    }
                }
                None => report.other += 1,
            }
        }
        // The row the next claim takes first, as `claim` orders them.
        report.oldest_pending_seconds = rows
            .iter()
            .filter(|row| row.is_due(now))
            .min_by_key(|&row| (row.updated_at, &row.id))
            .and_then(|row| row.next_attempt_at.or(row.updated_at).or(row.created_at))
            .map(|since| u64::try_from((now - since).num_seconds()).unwrap_or(0));
        let mut kinds: Vec<ErrorKindCount> = kinds
            .into_iter()
            .map(|(kind, count)| ErrorKindCount { kind, count })
            .collect();
        // Most frequent first; the BTreeMap left ties in name order.
        kinds.sort_by_key(|kind| std::cmp::Reverse(kind.count));
        kinds.truncate(STATUS_ERROR_KINDS);
        report.error_kinds = kinds;
        tally.finish(&mut report, throughput_minutes);
        report.recent_errors = newest(&rows, DomainStatus::Error, recent_errors)
            .map(error_sample)
            .collect();
        report.recent_completed = newest(&rows, DomainStatus::Completed, recent_completed)
            .map(|row| CompletedSample {
                domain: row.domain.clone(),
                title: row.title.clone(),
                at: row.updated_at.unwrap_or(DateTime::UNIX_EPOCH),
            })
            .collect();
        Ok(report)
    }

    async fn find_domain(
        &self,
        name: &DomainName,
    ) -> Result<Option<DomainRecord>, RepositoryError> {
        Ok(self
            .lock()
            .iter()
            .find(|row| row.domain == name.as_str())
            .map(|row| DomainRecord {
                domain: row.domain.clone(),
                status: row.status.clone(),
                attempts: u32::try_from(row.attempts).unwrap_or(0),
                locked_by: row.locked_by.clone(),
                locked_until: row.locked_until,
                next_attempt_at: row.next_attempt_at,
                last_error: row.last_error.clone(),
                created_at: row.created_at,
                updated_at: row.updated_at,
                metadata: row.meta_json.clone(),
            }))
    }

    async fn recent_errors(&self, query: &ErrorQuery) -> Result<Vec<ErrorSample>, RepositoryError> {
        let rows = self.lock();
        let of_kind = |row: &&DomainRow| {
            query.kind.as_ref().is_none_or(|kind| {
                error_kind(row.last_error.as_deref().unwrap_or_default()) == *kind
            })
        };
        Ok(newest(&rows, DomainStatus::Error, u32::MAX)
            .filter(of_kind)
            .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
            .map(error_sample)
            .collect())
    }
}

fn error_sample(row: &DomainRow) -> ErrorSample {
    ErrorSample {
        domain: row.domain.clone(),
        error: row.last_error.clone().unwrap_or_default(),
        at: row.updated_at.unwrap_or(DateTime::UNIX_EPOCH),
    }
}

/// Up to `limit` rows in `status`, newest first, rows without a time last,
/// ties by id descending: the order the SQL adapters use.
fn newest(
    rows: &[DomainRow],
    status: DomainStatus,
    limit: u32,
) -> impl Iterator<Item = &DomainRow> {
    let mut matching: Vec<&DomainRow> = rows.iter().filter(|row| row.has_status(status)).collect();
    matching.sort_by_key(|&row| {
        (
            row.updated_at.is_none(),
            std::cmp::Reverse(row.updated_at),
            std::cmp::Reverse(&row.id),
        )
    });
    matching
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clones_share_the_same_rows() {
        let repository = MemoryRepository::new();
        let other = repository.clone();
        let id = other.insert_raw("example.com", "pending");
        assert_eq!(
            repository.row(&id).map(|row| row.domain),
            Some("example.com".to_owned())
        );
        assert_eq!(other.rows().len(), 1);
    }
}
