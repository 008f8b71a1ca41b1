//! The service loop: a pipeline that keeps `concurrency` domains in flight
//! while rows are due, waits for a [`WorkSignal`] when none are, runs the
//! rescue sweep, and drains (`--once`).
//!
//! Rows are claimed as slots free up, not batch by batch: a claimer takes
//! room for at least a quarter of a batch, claims that many rows (up to
//! `batch_size`), and starts each row as a task of its own that holds one
//! slot. A slow site therefore holds one slot, and a claim that came back
//! full is followed by the next one as soon as there is room. At most
//! `max_instances` claim statements are in flight at once. A claim that
//! came back short means nothing more is due: the claimer waits for the
//! signal (a `NOTIFY`, the next poll) or `interval`, whichever comes first.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use scheduler_domain::{
    ClaimedDomain, DomainRepository, MetadataExtractor, Rate, WorkSignal, counted,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::observe;
use crate::processor::{Claim, grace_deadline};
use crate::{ClaimError, DIAGNOSTICS_TARGET, DomainProcessor, Outcomes};

/// What a drain (`worker --once`) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainSummary {
    /// The outcomes of every domain claimed, added up.
    pub totals: Outcomes,
    /// Claims that took at least one row.
    pub claims: usize,
    /// Rows the rescue sweep put back or failed.
    pub rescued: u64,
}

/// Waits `poll_interval` between looks for due rows: the signal where
/// nothing can announce new rows (a transaction pooler, SQLite).
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    every: Duration,
}

impl Polling {
    /// A poll every `every`.
    pub fn every(every: Duration) -> Polling {
        Polling { every }
    }
}

impl WorkSignal for Polling {
    async fn wait(&self, longest: Duration) {
        tokio::time::sleep(self.every.min(longest)).await;
    }
}

/// Runs the pipeline for one processor.
#[derive(Debug)]
pub struct Scheduler<R, E, S> {
    processor: Arc<DomainProcessor<R, E>>,
    signal: Arc<S>,
}

/// Whether claimers wait for more work or stop when the queue is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    Drain,
}

/// What the claimers and the domain tasks of one run share.
struct Pipeline {
    slots: Arc<Semaphore>,
    domains: TaskTracker,
    totals: Arc<Mutex<Outcomes>>,
    claims: AtomicUsize,
    /// Set by the first claim that failed, cleared by the next that worked:
    /// the claimers say that the database is away once, not each.
    claims_failing: AtomicBool,
    pace: Option<Pace>,
    shutdown: CancellationToken,
    grace_over: CancellationToken,
}

impl Pipeline {
    fn totals(&self) -> Outcomes {
        *self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the domains in flight (each one's task ends after its
    /// write); returns the counts and the number of claims that took rows.
    async fn finish(self) -> (Outcomes, usize) {
        self.domains.close();
        self.domains.wait().await;
        (self.totals(), self.claims.load(Ordering::Relaxed))
    }
}

impl<R, E, S> Scheduler<R, E, S>
where
    R: DomainRepository + 'static,
    E: MetadataExtractor + 'static,
    S: WorkSignal + 'static,
{
    /// A scheduler over `processor` (whose settings it runs with), woken by
    /// `signal` when idle.
    pub fn new(processor: Arc<DomainProcessor<R, E>>, signal: Arc<S>) -> Self {
        Scheduler { processor, signal }
    }

    /// Serves until `shutdown` is cancelled: claims as slots free up while
    /// rows are due, waits for the signal when none are, and runs the
    /// rescue sweep every `interval`. A failed claim is logged and retried
    /// with a backoff. Returns once the domains in flight are done (or
    /// released after the grace period).
    pub async fn run(&self, shutdown: CancellationToken) {
        let settings = self.processor.settings();
        info!(
            concurrency = settings.concurrency,
            batch_size = settings.batch_size,
            max_instances = settings.max_instances,
            max_per_minute = settings.max_per_minute.map(|n| n.get()),
            "scheduler started"
        );
        let pipeline = self.pipeline(shutdown.clone());
        // Serving claimers log a failed claim and claim again: they end
        // without an error, at shutdown.
        let ((), _) = tokio::join!(
            self.sweep_every_interval(&pipeline),
            self.claimers(&pipeline, Mode::Serve)
        );
        info!(
            "shutdown requested: no more claims; waiting for {} domain(s) in flight",
            pipeline.domains.len()
        );
        let (totals, _) = pipeline.finish().await;
        info!(
            target: DIAGNOSTICS_TARGET,
            completed = totals.completed,
            failed = totals.failed,
            retried = totals.retried,
            released = totals.released,
            "scheduler stopped: {} completed, {} failed, {} to retry later, {} released",
            totals.completed,
            totals.failed,
            totals.retried,
            totals.released,
        );
    }

    /// Processes what is due now and returns: the rescue sweep, then the
    /// same pipeline as [`Scheduler::run`] until every claimer's claim comes
    /// back short. Rows put back for a later retry stay `pending` for a
    /// later run.
    ///
    /// # Errors
    ///
    /// [`ClaimError`] when a claim fails (domains already started
    /// finish first).
    pub async fn drain(&self, shutdown: &CancellationToken) -> Result<DrainSummary, ClaimError> {
        let started = std::time::Instant::now();
        let rescued = self.rescue().await;
        let pipeline = self.pipeline(shutdown.clone());
        let claimed = self.claimers(&pipeline, Mode::Drain).await;
        let (mut totals, claims) = pipeline.finish().await;
        claimed?;
        totals.duration = started.elapsed();
        totals.log_done("drain");
        Ok(DrainSummary {
            totals,
            claims,
            rescued,
        })
    }

    fn pipeline(&self, shutdown: CancellationToken) -> Pipeline {
        let settings = self.processor.settings();
        let grace_over = grace_deadline(shutdown.clone(), settings.shutdown_grace);
        Pipeline {
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            domains: TaskTracker::new(),
            totals: Arc::new(Mutex::new(Outcomes::default())),
            claims: AtomicUsize::new(0),
            claims_failing: AtomicBool::new(false),
            pace: settings
                .max_per_minute
                .map(|per_minute| Pace::new(per_minute.get(), settings.batch_size.max(1))),
            shutdown,
            grace_over,
        }
    }

    /// `max_instances` claimers side by side; the first claim error, if any
    /// (only a drain stops on one).
    async fn claimers(&self, pipeline: &Pipeline, mode: Mode) -> Result<(), ClaimError> {
        futures::future::join_all(
            (0..self.processor.settings().max_instances.max(1))
                .map(|claimer| self.claim_loop(pipeline, mode, claimer)),
        )
        .await
        .into_iter()
        .collect()
    }

    /// One claimer: room, then a claim, then a task per row; waits for the
    /// signal when the queue is drained (or, draining, stops).
    async fn claim_loop(
        &self,
        pipeline: &Pipeline,
        mode: Mode,
        claimer: usize,
    ) -> Result<(), ClaimError> {
        let settings = self.processor.settings();
        let batch_size = settings.batch_size.max(1) as usize;
        // Waiting for a quarter of a batch of room keeps claims few (about
        // one round trip per dozen domains) without leaving slots idle long.
        let low_water = (batch_size.min(settings.concurrency.max(1)) / 4).max(1);
        let mut failures: u32 = 0;
        let activity = self.processor.activity();
        loop {
            activity.tick();
            let Some(mut room) = self.room(pipeline, low_water, batch_size).await else {
                return Ok(());
            };
            if let Some(pace) = &pipeline.pace {
                let allowed = tokio::select! {
                    () = pipeline.shutdown.cancelled() => return Ok(()),
                    allowed = pace.take(room.num_permits()) => allowed,
                };
                // Slots beyond what the pace allows go back now.
                drop(room.split(room.num_permits() - allowed));
            }
            let wanted = room.num_permits();
            let claimed = self
                .processor
                .claim(u32::try_from(wanted).unwrap_or(u32::MAX))
                .instrument(info_span!("claim", claimer))
                .await;
            let (claim, rows) = match claimed {
                Ok(claimed) => {
                    failures = 0;
                    if pipeline.claims_failing.swap(false, Ordering::AcqRel) {
                        info!(target: DIAGNOSTICS_TARGET, "claiming again: the database answers");
                    }
                    claimed
                }
                Err(claim_error) => {
                    if mode == Mode::Drain {
                        error!(target: DIAGNOSTICS_TARGET, error = %claim_error, "{claim_error}");
                        return Err(claim_error);
                    }
                    drop(room);
                    // A database that is down is asked again soon, then
                    // less often, never less than once an interval.
                    let backoff = settings
                        .poll_interval
                        .saturating_mul(1 << failures.min(10))
                        .min(settings.interval);
                    failures = failures.saturating_add(1);
                    if pipeline.claims_failing.swap(true, Ordering::AcqRel) {
                        debug!(
                            claimer,
                            "{claim_error}; trying again in {:.1}s",
                            backoff.as_secs_f64()
                        );
                    } else {
                        error!(
                            target: DIAGNOSTICS_TARGET,
                            "{claim_error}; claims are tried again every {:.1}s, then less \
                             often (at most every {:.0}s), until it answers",
                            settings.poll_interval.as_secs_f64(),
                            settings.interval.as_secs_f64()
                        );
                    }
                    tokio::select! {
                        () = pipeline.shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(backoff) => continue,
                    }
                }
            };
            let got = rows.len();
            if got > 0 {
                pipeline.claims.fetch_add(1, Ordering::Relaxed);
                pipeline
                    .totals
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .claimed += got;
            }
            if let Some(pace) = &pipeline.pace {
                pace.give_back(wanted - got);
            }
            for row in rows {
                let Some(slot) = room.split(1) else { break };
                self.start(pipeline, &claim, row, slot);
            }
            drop(room);
            if got < wanted {
                if mode == Mode::Drain {
                    return Ok(());
                }
                let wait = self.processor.idle_wait(settings.interval);
                tokio::select! {
                    () = pipeline.shutdown.cancelled() => return Ok(()),
                    () = self.signal.wait(wait) => {}
                }
            }
        }
    }

    /// Waits for at least `low_water` free slots, then takes up to `most`
    /// without waiting. `None` once shutdown is asked for.
    async fn room(
        &self,
        pipeline: &Pipeline,
        low_water: usize,
        most: usize,
    ) -> Option<OwnedSemaphorePermit> {
        let wait = u32::try_from(low_water).unwrap_or(u32::MAX);
        let mut room = tokio::select! {
            biased;
            () = pipeline.shutdown.cancelled() => return None,
            permit = Arc::clone(&pipeline.slots).acquire_many_owned(wait) => permit.ok()?,
        };
        while room.num_permits() < most {
            match Arc::clone(&pipeline.slots).try_acquire_owned() {
                Ok(more) => room.merge(more),
                Err(_) => break,
            }
        }
        Some(room)
    }

    /// Starts one row as a task of its own that holds `slot` until done.
    fn start(
        &self,
        pipeline: &Pipeline,
        claim: &Arc<Claim>,
        row: ClaimedDomain,
        slot: OwnedSemaphorePermit,
    ) {
        let processor = Arc::clone(&self.processor);
        let in_flight = processor.activity().start(&row.raw_domain, processor.now());
        let claim = Arc::clone(claim);
        let shutdown = pipeline.shutdown.clone();
        let grace_over = pipeline.grace_over.clone();
        let totals = Arc::clone(&pipeline.totals);
        pipeline.domains.spawn(async move {
            let outcome = processor.process(&claim, row, &shutdown, &grace_over).await;
            observe::domain_finished(outcome);
            totals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .count(outcome);
            drop(in_flight);
            drop(slot);
        });
    }

    /// The rescue sweep at start and every `interval` until shutdown, with a
    /// line of progress when anything happened since the last one.
    async fn sweep_every_interval(&self, pipeline: &Pipeline) {
        let interval = self.processor.settings().interval;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut reported = Outcomes::default();
        let mut since = Instant::now();
        loop {
            tokio::select! {
                biased;
                () = pipeline.shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            self.processor.activity().tick();
            // A database that hangs must not hold shutdown up.
            tokio::select! {
                biased;
                () = pipeline.shutdown.cancelled() => return,
                _ = self.rescue() => {}
            }
            let totals = pipeline.totals();
            let finished =
                |summary: &Outcomes| summary.completed + summary.failed + summary.retried;
            let done = finished(&totals) - finished(&reported);
            if done > 0 {
                let seconds = since.elapsed().as_secs_f64().max(0.001);
                info!(
                    target: DIAGNOSTICS_TARGET,
                    completed = totals.completed - reported.completed,
                    failed = totals.failed - reported.failed,
                    retried = totals.retried - reported.retried,
                    in_flight = pipeline.domains.len(),
                    "{} finished in the last {seconds:.0}s ({}): {} completed, {} failed, \
                     {} to retry later",
                    counted(done as u64, "domain"),
                    Rate::of(done as u64, seconds),
                    totals.completed - reported.completed,
                    totals.failed - reported.failed,
                    totals.retried - reported.retried,
                );
            }
            reported = totals;
            since = Instant::now();
        }
    }

    /// Frees rows whose worker died; failures are logged, never fatal.
    async fn rescue(&self) -> u64 {
        let now = self.processor.now();
        let max_attempts = self.processor.settings().max_attempts;
        match self
            .processor
            .repository()
            .rescue_expired(now, max_attempts)
            .await
        {
            Ok(report) => {
                observe::rescued(&report);
                if report.requeued + report.failed > 0 {
                    warn!(
                        target: DIAGNOSTICS_TARGET,
                        requeued = report.requeued,
                        failed = report.failed,
                        "rescued rows with expired leases: {} back to pending, {} to error",
                        report.requeued,
                        report.failed,
                    );
                }
                report.requeued + report.failed
            }
            Err(rescue_error) => {
                observe::database_error("rescue", &rescue_error);
                error!(
                    target: DIAGNOSTICS_TARGET,
                    error = %rescue_error,
                    "rescue sweep failed: {rescue_error}"
                );
                0
            }
        }
    }
}

/// `max_per_minute` as a token bucket: one token per domain started,
/// refilled evenly, holding at most `burst` (a second's worth, within a
/// batch), so that claims take only rows that can start at once.
#[derive(Debug)]
struct Pace {
    per_token: Duration,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Pace {
    fn new(per_minute: u32, batch_size: u32) -> Pace {
        let per_minute = per_minute.max(1);
        let burst = (per_minute / 60).clamp(1, batch_size.max(1));
        Pace {
            per_token: Duration::from_secs(60) / per_minute,
            burst: f64::from(burst),
            // Starts with one token: the first domain goes at once.
            bucket: Mutex::new(Bucket {
                tokens: 1.0,
                refilled: Instant::now(),
            }),
        }
    }

    /// Takes up to `wanted` tokens, waiting for the first; returns how many.
    async fn take(&self, wanted: usize) -> usize {
        loop {
            let wait = {
                let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                let earned = now.duration_since(bucket.refilled).as_secs_f64()
                    / self.per_token.as_secs_f64();
                bucket.tokens = (bucket.tokens + earned).min(self.burst);
                bucket.refilled = now;
                if bucket.tokens >= 1.0 {
                    let taken = (bucket.tokens.floor() as usize).min(wanted.max(1));
                    bucket.tokens -= taken as f64;
                    return taken;
                }
                self.per_token.mul_f64(1.0 - bucket.tokens)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Returns tokens a claim did not use (fewer rows were due).
    fn give_back(&self, unused: usize) {
        if unused > 0 {
            let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            bucket.tokens = (bucket.tokens + unused as f64).min(self.burst);
        }
    }
}
