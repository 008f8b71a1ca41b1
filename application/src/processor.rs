//! One domain from claim to written outcome: claim, extract, write, each
//! step with its own error handling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use scheduler_domain::{
    ClaimRequest, ClaimedDomain, DomainName, DomainRepository, ExtractionError, FailureKind,
    MetadataExtractor, RepositoryError, SiteMetadata, WorkerId, WriteOutcome,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::due::DueTimes;
use crate::group_write::{GroupWriter, Unwritten};
use crate::observe::{self, Activity};
use crate::outcomes::DomainOutcome;
use crate::{Clock, DIAGNOSTICS_TARGET, SchedulerSettings};

/// The claim transaction failed; nothing was taken. Failures of single
/// domains are not errors: they are counted in [`Outcomes`](crate::Outcomes).
#[derive(Debug, thiserror::Error)]
#[error("could not claim domains: {0}")]
pub struct ClaimError(#[source] pub RepositoryError);

/// Takes domains from claim to written outcome for one worker, against one
/// repository and one extractor.
#[derive(Debug)]
pub struct DomainProcessor<R, E> {
    repository: Arc<R>,
    extractor: Arc<E>,
    clock: Arc<dyn Clock>,
    worker: WorkerId,
    settings: SchedulerSettings,
    /// Claims made so far: numbers each claim's claimant id.
    claims: AtomicU64,
    activity: Arc<Activity>,
    /// Where results go: the one write path of a completion.
    writer: OnceLock<GroupWriter>,
    /// The writers' tasks; they end when the processor (and with it the
    /// writer's last handle) is dropped.
    writers: TaskTracker,
    /// When the earliest row this processor handed back for a busy address
    /// is due again: an idle claimer wakes then rather than at `interval`.
    due_again: DueTimes,
}

impl<R, E> DomainProcessor<R, E>
where
    R: DomainRepository + 'static,
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
        DomainProcessor {
            repository,
            extractor,
            clock,
            worker,
            settings,
            claims: AtomicU64::new(0),
            activity: Arc::new(Activity::default()),
            writer: OnceLock::new(),
            writers: TaskTracker::new(),
            due_again: DueTimes::default(),
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

    /// How long an idle claimer waits before it looks again: `longest`, or
    /// less when a row handed back for a busy address is due sooner (no
    /// signal announces a row that becomes due by the clock).
    pub fn idle_wait(&self, longest: Duration) -> Duration {
        self.due_again.wait(longest)
    }

    /// The current time by this processor's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Claims up to `limit` due rows under a claimant id of their own.
    ///
    /// # Errors
    ///
    /// [`ClaimError`] when the claim fails; nothing was taken then.
    pub async fn claim(&self, limit: u32) -> Result<(Arc<Claim>, Vec<ClaimedDomain>), ClaimError> {
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
        let mut claimed = self.repository.claim(request).await.map_err(|error| {
            observe::database_error("claim", &error);
            ClaimError(error)
        })?;
        observe::claimed(claimed.len(), started.elapsed());
        let asked = usize::try_from(limit).unwrap_or(usize::MAX);
        if claimed.len() > asked {
            // Rows nobody has room for would sit in `processing` until
            // their lease ends: hand them back now.
            let surplus = claimed.split_off(asked);
            error!(
                target: DIAGNOSTICS_TARGET,
                asked,
                returned = asked + surplus.len(),
                "a claim returned more rows than it asked for; releasing the {} beyond the limit",
                surplus.len()
            );
            for row in surplus {
                if let Err(error) = self
                    .repository
                    .release(row.id.clone(), &claim.claimant, None, now)
                    .await
                {
                    observe::database_error("release", &error);
                    warn!(error = %error, domain = %row.raw_domain, "could not release a surplus row; the rescue sweep frees it when its lease ends");
                }
            }
        }
        if claimed.is_empty() {
            debug!("nothing to claim");
        } else {
            debug!(claimed = claimed.len(), claimant = %claim.claimant, "claimed {} domains", claimed.len());
        }
        Ok((claim, claimed))
    }

    /// Processes one claimed row to its outcome, in a span of its own:
    /// standardize, extract, write. The result goes through the group
    /// writer, with whatever other domains' results are waiting. A domain
    /// whose fetch could outlast the lease (`fetch_budget`) is released
    /// unstarted, so no other worker can take it over while it is fetched;
    /// after `shutdown`, unstarted domains are released, and `grace_over`
    /// abandons (and releases) one in flight.
    pub async fn process(
        &self,
        claim: &Claim,
        domain: ClaimedDomain,
        shutdown: &CancellationToken,
        grace_over: &CancellationToken,
    ) -> DomainOutcome {
        let span = info_span!("domain", domain_id = %domain.id, domain = %domain.raw_domain);
        self.outcome_of(claim, domain, shutdown, grace_over)
            .instrument(span)
            .await
    }

    /// The group writer, started on first use (it needs the runtime).
    fn writer(&self) -> &GroupWriter {
        self.writer
            .get_or_init(|| GroupWriter::start(Arc::clone(&self.repository), &self.writers))
    }

    async fn outcome_of(
        &self,
        claim: &Claim,
        domain: ClaimedDomain,
        shutdown: &CancellationToken,
        grace_over: &CancellationToken,
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
                return match failure.deferral() {
                    Some(wait) => self.defer(claim, &domain, &failure, wait).await,
                    None => {
                        self.record_failure(claim, &domain, failure.kind(), failure.to_string())
                            .await
                    }
                };
            }
        };
        self.write_result(claim, &domain, &name, metadata, grace_over)
            .await
    }

    /// Writes a fetched site's metadata. A database that is away for a
    /// while ([`RepositoryError::is_transient`]) does not cost the fetch: the write
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
    ) -> DomainOutcome {
        // Set at the first failure: the time left on the lease, by the
        // runtime's clock from there on.
        let mut lease_ends: Option<Instant> = None;
        let mut failures = 0;
        // One time for every try: a try whose commit went through but whose
        // answer was lost leaves the row completed at this time, which the
        // next try recognises as its own.
        let now = self.clock.now();
        loop {
            let (written, kept) = match self
                .writer()
                .complete(domain.id.clone(), &claim.claimant, metadata, now)
                .await
            {
                Ok(outcome) => (Ok(outcome), None),
                Err(Unwritten { error, metadata }) => (Err(error), metadata.map(|kept| *kept)),
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
            if !write_error.is_transient() {
                error!(
                    target: DIAGNOSTICS_TARGET,
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
            .release(domain.id.clone(), &claim.claimant, None, self.clock.now())
            .await
        {
            Ok(WriteOutcome::Written) => DomainOutcome::Released,
            Ok(WriteOutcome::LeaseLost) => self.lease_lost(domain),
            Err(write_error) => self.unrecorded(domain, &write_error),
        }
    }

    /// Hands the row back until `wait` has passed: its site's address could
    /// not take the request now. The attempt is not counted and
    /// `last_error` is left as it was: nothing failed.
    async fn defer(
        &self,
        claim: &Claim,
        domain: &ClaimedDomain,
        why: &ExtractionError,
        wait: Duration,
    ) -> DomainOutcome {
        let now = self.clock.now();
        let not_before = add_saturating(now, wait);
        self.due_again.note(Instant::now() + wait);
        debug!(%not_before, "{}: {why}", domain.raw_domain);
        match self
            .repository
            .release(domain.id.clone(), &claim.claimant, Some(not_before), now)
            .await
        {
            Ok(WriteOutcome::Written) => DomainOutcome::Deferred,
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
pub fn grace_deadline(shutdown: CancellationToken, grace: Duration) -> CancellationToken {
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
