//! One batch: claim, extract, write, each step with its own error handling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use scheduler_domain::{
    ClaimRequest, ClaimedDomain, DomainName, DomainRepository, ExtractionError, FailureKind,
    MetadataExtractor, RepositoryError, SiteMetadata, WorkerId, WriteOutcome,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::group_write::{GroupWriter, Unwritten};
use crate::observe::{self, Activity};
use crate::{Clock, DIAGNOSTICS_TARGET, SchedulerSettings};

/// A batch that could not start: the claim itself failed. Failures of single
/// domains are not errors of the batch; they are counted in its summary.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The claim transaction failed; nothing was taken.
    #[error("could not claim domains: {0}")]
    Claim(#[source] RepositoryError),
}

/// What happened to one claimed domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainOutcome {
    /// Metadata written, `completed`.
    Completed,
    /// A transient failure: back to `pending` with a retry time.
    Retried,
    /// A permanent failure or attempts spent: `error`.
    Failed,
    /// Handed back untouched at shutdown.
    Released,
    /// The row was no longer ours when we wrote (its lease had expired and
    /// another worker took it): nothing written.
    LeaseLost,
    /// Even the write of the failure failed, or the database did not take
    /// a fetched result before the lease ran out: the row stays
    /// `processing` until its lease expires and the rescue sweep frees it.
    Unrecorded,
}

/// The counts of one batch, as logged and written to the diagnostic file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Rows claimed.
    pub claimed: usize,
    /// Rows `completed`.
    pub completed: usize,
    /// Rows put back for a later retry.
    pub retried: usize,
    /// Rows moved to `error`.
    pub failed: usize,
    /// Rows released at shutdown.
    pub released: usize,
    /// Rows whose lease was lost before the write.
    pub lease_lost: usize,
    /// Rows whose outcome could not be written at all.
    pub unrecorded: usize,
    /// Wall time of the batch.
    pub duration: Duration,
}

impl BatchSummary {
    pub(crate) fn count(&mut self, outcome: DomainOutcome) {
        let counter = match outcome {
            DomainOutcome::Completed => &mut self.completed,
            DomainOutcome::Retried => &mut self.retried,
            DomainOutcome::Failed => &mut self.failed,
            DomainOutcome::Released => &mut self.released,
            DomainOutcome::LeaseLost => &mut self.lease_lost,
            DomainOutcome::Unrecorded => &mut self.unrecorded,
        };
        *counter += 1;
    }

    /// Writes the counts to the diagnostic file: `"{what} done: 7 claimed,
    /// 3 completed, ..."`.
    pub fn log_done(&self, what: &str) {
        info!(
            target: DIAGNOSTICS_TARGET,
            claimed = self.claimed,
            completed = self.completed,
            retried = self.retried,
            failed = self.failed,
            released = self.released,
            lease_lost = self.lease_lost,
            unrecorded = self.unrecorded,
            duration_ms = self.duration.as_millis() as u64,
            "{what} done: {} claimed, {} completed, {} failed, {} retried in {:.1}s",
            self.claimed,
            self.completed,
            self.failed,
            self.retried,
            self.duration.as_secs_f64(),
        );
    }

    /// Adds another batch's counts to these (durations add up too).
    pub fn absorb(&mut self, other: &BatchSummary) {
        self.claimed += other.claimed;
        self.completed += other.completed;
        self.retried += other.retried;
        self.failed += other.failed;
        self.released += other.released;
        self.lease_lost += other.lease_lost;
        self.unrecorded += other.unrecorded;
        self.duration += other.duration;
    }
}

/// Runs batches for one worker against one repository and one extractor.
#[derive(Debug)]
pub struct BatchProcessor<R, E> {
    repository: Arc<R>,
    extractor: Arc<E>,
    clock: Arc<dyn Clock>,
    worker: WorkerId,
    settings: SchedulerSettings,
    /// Claims made so far: numbers each claim's claimant id.
    claims: AtomicU64,
    activity: Arc<Activity>,
}

impl<R, E> BatchProcessor<R, E>
where
    R: DomainRepository,
    E: MetadataExtractor,
{
    /// A processor for `worker`.
    pub fn new(
        repository: Arc<R>,
        extractor: Arc<E>,
        clock: Arc<dyn Clock>,
        worker: WorkerId,
        settings: SchedulerSettings,
    ) -> Self {
        BatchProcessor {
            repository,
            extractor,
            clock,
            worker,
            settings,
            claims: AtomicU64::new(0),
            activity: Arc::new(Activity::default()),
        }
    }

    /// What this processor is doing now, for a status page or a readiness
    /// probe.
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }

    /// The repository, for the scheduler's rescue sweep.
    pub fn repository(&self) -> &R {
        &self.repository
    }

    /// The settings this processor runs with.
    pub fn settings(&self) -> &SchedulerSettings {
        &self.settings
    }

    /// The current time by this processor's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Claims up to `limit` due rows under a claimant id of their own.
    ///
    /// # Errors
    ///
    /// [`BatchError::Claim`] when the claim fails; nothing was taken then.
    pub async fn claim(&self, limit: u32) -> Result<(Arc<Claim>, Vec<ClaimedDomain>), BatchError> {
        let now = self.clock.now();
        let claim = Arc::new(Claim {
            // Each claim has an id of its own, so the guarded writes of a
            // claim whose lease ran out cannot touch a row that a later claim
            // of the same process has taken again.
            claimant: WorkerId::new(format!(
                "{}/{}",
                self.worker,
                self.claims.fetch_add(1, Ordering::Relaxed) + 1
            )),
            lease_until: add_saturating(now, self.settings.lease),
        });
        let request = ClaimRequest {
            worker: claim.claimant.clone(),
            limit,
            now,
            lease_until: claim.lease_until,
        };
        let started = Instant::now();
        let claimed = self.repository.claim(request).await.map_err(|error| {
            observe::database_error("claim", &error);
            BatchError::Claim(error)
        })?;
        observe::claimed(claimed.len(), started.elapsed());
        if claimed.is_empty() {
            debug!("nothing to claim");
        } else {
            debug!(claimed = claimed.len(), claimant = %claim.claimant, "claimed {} domains", claimed.len());
        }
        Ok((claim, claimed))
    }

    /// Claims one batch of `batch_size` rows and processes it to the end,
    /// `concurrency` domains at once. Once `shutdown` is cancelled, domains
    /// not yet started are released, and those in flight get
    /// `shutdown_grace` to finish before they are released too.
    ///
    /// # Errors
    ///
    /// [`BatchError::Claim`] when the claim fails; nothing was taken then.
    pub async fn run_batch(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<BatchSummary, BatchError> {
        let started = Instant::now();
        let (claim, claimed) = self.claim(self.settings.batch_size).await?;
        let mut summary = BatchSummary {
            claimed: claimed.len(),
            ..BatchSummary::default()
        };
        if claimed.is_empty() {
            return Ok(summary);
        }
        let grace_over = grace_deadline(shutdown.clone(), self.settings.shutdown_grace);
        // Ends the grace timer task when the batch is over, however it ends.
        let _grace_timer = grace_over.clone().drop_guard();
        let outcomes: Vec<DomainOutcome> = futures::stream::iter(claimed)
            .map(|domain| self.process(&claim, domain, shutdown, &grace_over))
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        for outcome in outcomes {
            summary.count(outcome);
        }
        summary.duration = started.elapsed();
        summary.log_done("batch");
        Ok(summary)
    }

    /// Processes one claimed row to its outcome: standardize, extract, write.
    /// A domain whose fetch could outlast the lease (`fetch_budget`) is
    /// released unstarted, so no other worker can take it over while it is
    /// fetched; after `shutdown`, unstarted domains are released, and
    /// `grace_over` abandons (and releases) one in flight.
    pub async fn process(
        &self,
        claim: &Claim,
        domain: ClaimedDomain,
        shutdown: &CancellationToken,
        grace_over: &CancellationToken,
    ) -> DomainOutcome {
        self.process_one(claim, domain, shutdown, grace_over, None)
            .await
    }

    /// [`BatchProcessor::process`], the result written by `writer` together
    /// with other domains' results.
    pub(crate) async fn process_grouped(
        &self,
        claim: &Claim,
        domain: ClaimedDomain,
        shutdown: &CancellationToken,
        grace_over: &CancellationToken,
        writer: &GroupWriter,
    ) -> DomainOutcome {
        self.process_one(claim, domain, shutdown, grace_over, Some(writer))
            .await
    }

    /// The repository, shared with the group writers.
    pub(crate) fn shared_repository(&self) -> Arc<R> {
        Arc::clone(&self.repository)
    }

    /// One row in a span of its own, its result written by `writer` when
    /// given, else directly.
    async fn process_one(
        &self,
        claim: &Claim,
        domain: ClaimedDomain,
        shutdown: &CancellationToken,
        grace_over: &CancellationToken,
        writer: Option<&GroupWriter>,
    ) -> DomainOutcome {
        let span = info_span!("domain", domain_id = %domain.id, domain = %domain.raw_domain);
        self.outcome_of(claim, domain, shutdown, grace_over, writer)
            .instrument(span)
            .await
    }

    async fn outcome_of(
        &self,
        claim: &Claim,
        domain: ClaimedDomain,
        shutdown: &CancellationToken,
        grace_over: &CancellationToken,
        writer: Option<&GroupWriter>,
    ) -> DomainOutcome {
        if shutdown.is_cancelled() {
            return self.release(claim, &domain).await;
        }
        if add_saturating(self.clock.now(), self.settings.fetch_budget) > claim.lease_until {
            warn!(
                "{}: not enough of the lease left for a fetch; giving it back",
                domain.raw_domain
            );
            return self.release(claim, &domain).await;
        }
        let name = match DomainName::parse(&domain.raw_domain) {
            Ok(name) => name,
            Err(invalid) => {
                let failure = ExtractionError::InvalidDomain(invalid);
                return self
                    .record_failure(claim, &domain, failure.kind(), failure.to_string())
                    .await;
            }
        };
        let fetch_started = Instant::now();
        let extraction = tokio::select! {
            result = self.extractor.extract(&name) => {
                observe::fetched(result.is_ok(), fetch_started.elapsed());
                result
            }
            () = grace_over.cancelled() => {
                warn!("shutdown grace period over; releasing {name} unfinished");
                return self.release(claim, &domain).await;
            }
        };
        let metadata = match extraction {
            Ok(metadata) => metadata,
            Err(failure) => {
                return self
                    .record_failure(claim, &domain, failure.kind(), failure.to_string())
                    .await;
            }
        };
        self.write_result(claim, &domain, &name, metadata, grace_over, writer)
            .await
    }

    /// Writes a fetched site's metadata. A database that is away for a
    /// while (`Unavailable`, `Timeout`) does not cost the fetch: the write
    /// is tried again with backoff until the claim's lease ends (or, after
    /// shutdown, the grace period), and only then is the result dropped and
    /// the row left to the rescue sweep. Any other write error is recorded
    /// as the row's error.
    async fn write_result(
        &self,
        claim: &Claim,
        domain: &ClaimedDomain,
        name: &DomainName,
        mut metadata: SiteMetadata,
        grace_over: &CancellationToken,
        writer: Option<&GroupWriter>,
    ) -> DomainOutcome {
        // Set at the first failure: the time left on the lease, by the
        // runtime's clock from there on.
        let mut lease_ends: Option<Instant> = None;
        let mut failures = 0;
        loop {
            let now = self.clock.now();
            let (written, kept) = match writer {
                Some(writer) => {
                    match writer
                        .complete(domain.id.clone(), &claim.claimant, metadata, now)
                        .await
                    {
                        Ok(outcome) => (Ok(outcome), None),
                        Err(Unwritten { error, metadata }) => {
                            (Err(error), metadata.map(|kept| *kept))
                        }
                    }
                }
                None => {
                    let started = Instant::now();
                    let written = self
                        .repository
                        .complete(domain.id.clone(), &claim.claimant, &metadata, now)
                        .await;
                    observe::written(observe::WriteKind::Single, started.elapsed());
                    (written, Some(metadata))
                }
            };
            let write_error = match written {
                Ok(WriteOutcome::Written) => {
                    debug!("completed {name}");
                    return DomainOutcome::Completed;
                }
                Ok(WriteOutcome::LeaseLost) => return self.lease_lost(domain),
                Err(write_error) => write_error,
            };
            observe::database_error("complete", &write_error);
            if !matches!(
                write_error,
                RepositoryError::Unavailable(_) | RepositoryError::Timeout(_)
            ) {
                error!(
                    target: DIAGNOSTICS_TARGET,
                    error = %write_error,
                    "could not write the result of {name}: {write_error}"
                );
                let message = format!("could not write the result: {write_error}");
                return self
                    .record_failure(claim, domain, FailureKind::Permanent, message)
                    .await;
            }
            let Some(returned) = kept else {
                return self.unrecorded(domain, &write_error);
            };
            metadata = returned;
            let lease_ends = *lease_ends.get_or_insert_with(|| {
                let left = (claim.lease_until - self.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                Instant::now() + left
            });
            let left = lease_ends.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.result_dropped(domain, &write_error, "its lease ran out");
            }
            if failures == 0 {
                warn!(
                    target: DIAGNOSTICS_TARGET,
                    error = %write_error,
                    "could not write the result of {name}: {write_error}; trying again until \
                     its lease ends"
                );
            } else {
                debug!(error = %write_error, failures, "result write failed again");
            }
            let wait = write_backoff(failures).min(left);
            failures += 1;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = grace_over.cancelled() => {
                    return self.result_dropped(
                        domain,
                        &write_error,
                        "the shutdown grace period is over",
                    );
                }
            }
        }
    }

    /// A fetched result given up on: the database did not take it in time.
    fn result_dropped(
        &self,
        domain: &ClaimedDomain,
        write_error: &RepositoryError,
        why: &str,
    ) -> DomainOutcome {
        error!(
            target: DIAGNOSTICS_TARGET,
            domain = %domain.raw_domain,
            domain_id = %domain.id,
            error = %write_error,
            "result of {} dropped: the database did not take it before {why} \
             ({write_error}); the rescue sweep frees the row",
            domain.raw_domain,
        );
        DomainOutcome::Unrecorded
    }

    /// A failure: retry later while attempts remain and it is transient,
    /// else `error`.
    async fn record_failure(
        &self,
        claim: &Claim,
        domain: &ClaimedDomain,
        kind: FailureKind,
        message: String,
    ) -> DomainOutcome {
        let retry = self.settings.retry();
        if kind == FailureKind::Transient && retry.allows_another(domain.attempts) {
            let now = self.clock.now();
            let next_attempt_at = now
                .checked_add_signed(retry.delay_after(domain.attempts))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            info!(
                target: DIAGNOSTICS_TARGET,
                domain = %domain.raw_domain,
                attempts = domain.attempts,
                %next_attempt_at,
                "{}: {message} (attempt {} of {}, retry at {next_attempt_at})",
                domain.raw_domain,
                domain.attempts,
                retry.max_attempts,
            );
            return match self
                .repository
                .retry_later(
                    domain.id.clone(),
                    &claim.claimant,
                    &message,
                    next_attempt_at,
                    now,
                )
                .await
            {
                Ok(WriteOutcome::Written) => DomainOutcome::Retried,
                Ok(WriteOutcome::LeaseLost) => self.lease_lost(domain),
                Err(write_error) => self.unrecorded(domain, &write_error),
            };
        }
        let message = if kind == FailureKind::Transient {
            let plural = if domain.attempts == 1 { "" } else { "s" };
            format!(
                "{message} (gave up after {} attempt{plural})",
                domain.attempts
            )
        } else {
            message
        };
        self.write_error(claim, domain, &message).await
    }

    /// Moves the row to `error` in a transaction of its own.
    async fn write_error(
        &self,
        claim: &Claim,
        domain: &ClaimedDomain,
        message: &str,
    ) -> DomainOutcome {
        warn!(
            target: DIAGNOSTICS_TARGET,
            domain = %domain.raw_domain,
            domain_id = %domain.id,
            error = message,
            "{} failed: {message}",
            domain.raw_domain,
        );
        match self
            .repository
            .fail(
                domain.id.clone(),
                &claim.claimant,
                message,
                self.clock.now(),
            )
            .await
        {
            Ok(WriteOutcome::Written) => DomainOutcome::Failed,
            Ok(WriteOutcome::LeaseLost) => self.lease_lost(domain),
            Err(write_error) => self.unrecorded(domain, &write_error),
        }
    }

    async fn release(&self, claim: &Claim, domain: &ClaimedDomain) -> DomainOutcome {
        match self
            .repository
            .release(domain.id.clone(), &claim.claimant, self.clock.now())
            .await
        {
            Ok(WriteOutcome::Written) => DomainOutcome::Released,
            Ok(WriteOutcome::LeaseLost) => self.lease_lost(domain),
            Err(write_error) => self.unrecorded(domain, &write_error),
        }
    }

    fn lease_lost(&self, domain: &ClaimedDomain) -> DomainOutcome {
        warn!(
            target: DIAGNOSTICS_TARGET,
            "lease on {} was lost before the write (it expired and the row was taken over); \
             nothing written",
            domain.raw_domain
        );
        DomainOutcome::LeaseLost
    }

    fn unrecorded(&self, domain: &ClaimedDomain, write_error: &RepositoryError) -> DomainOutcome {
        observe::database_error("record_outcome", write_error);
        error!(
            target: DIAGNOSTICS_TARGET,
            domain = %domain.raw_domain,
            domain_id = %domain.id,
            error = %write_error,
            "could not record the outcome of {}: {write_error}; the rescue sweep frees it when \
             its lease expires",
            domain.raw_domain,
        );
        DomainOutcome::Unrecorded
    }
}

/// What one claim holds: the id it claimed under and until when.
#[derive(Debug)]
pub struct Claim {
    claimant: WorkerId,
    lease_until: DateTime<Utc>,
}

/// `at + duration`, or the end of time when that overflows (a lease that
/// never ends is the safe side of an overflow, not one that already has).
fn add_saturating(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first wait before a result write is tried again.
const FIRST_WRITE_RETRY: Duration = Duration::from_secs(1);

/// The longest wait between two tries of a result write.
const LONGEST_WRITE_RETRY: Duration = Duration::from_secs(30);

/// The wait after `failures` failed tries of a result write (0 for the
/// first): doubling from [`FIRST_WRITE_RETRY`] up to
/// [`LONGEST_WRITE_RETRY`], its upper half jittered so that the writes held
/// back by one outage do not all come back at once.
fn write_backoff(failures: u32) -> Duration {
    let nominal = FIRST_WRITE_RETRY
        .saturating_mul(1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX))
        .min(LONGEST_WRITE_RETRY);
    let half = nominal / 2;
    half + half.mul_f64(fastrand::f64())
}

/// A token cancelled `grace` after `shutdown` is.
pub(crate) fn grace_deadline(shutdown: CancellationToken, grace: Duration) -> CancellationToken {
    let grace_over = CancellationToken::new();
    let guard = grace_over.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {
                tokio::time::sleep(grace).await;
                guard.cancel();
            }
            () = guard.cancelled() => {}
        }
    });
    grace_over
}
