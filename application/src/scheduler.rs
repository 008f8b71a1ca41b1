//! The scheduler loop: ticks, overlapping batches, the rescue sweep, drain.

use std::sync::Arc;

use scheduler_domain::{DomainRepository, MetadataExtractor};
use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

use crate::{BatchError, BatchProcessor, BatchSummary, DIAGNOSTICS_TARGET, SchedulerSettings};

/// What a drain (`worker --once`) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainSummary {
    /// The batches' counts added up.
    pub totals: BatchSummary,
    /// Batches run.
    pub batches: usize,
    /// Rows the rescue sweep put back or failed.
    pub rescued: u64,
}

/// Runs batches on an interval, at most `max_instances` at once.
#[derive(Debug)]
pub struct Scheduler<R, E> {
    processor: Arc<BatchProcessor<R, E>>,
    settings: SchedulerSettings,
}

impl<R, E> Scheduler<R, E>
where
    R: DomainRepository + 'static,
    E: MetadataExtractor + 'static,
{
    /// A scheduler over `processor`.
    pub fn new(processor: Arc<BatchProcessor<R, E>>, settings: SchedulerSettings) -> Self {
        Scheduler {
            processor,
            settings,
        }
    }

    /// Runs until `shutdown` is cancelled: on each tick, the rescue sweep,
    /// then a new batch unless `max_instances` are still running. Ticks that
    /// fall due while the loop is busy are skipped, not piled up. A failed
    /// claim is logged and the next tick tries again. Returns once the
    /// batches in flight have finished.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let slots = Arc::new(Semaphore::new(self.settings.max_instances.max(1)));
        let batches = TaskTracker::new();
        let mut tick: u64 = 0;
        info!(
            interval_s = self.settings.interval.as_secs_f64(),
            max_instances = self.settings.max_instances,
            "scheduler started"
        );
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            tick += 1;
            // A database that hangs must not hold shutdown up.
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = self.rescue() => {}
            }
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                warn!(
                    "all {} batch slots busy; skipping tick {tick}",
                    self.settings.max_instances
                );
                continue;
            };
            let processor = Arc::clone(&self.processor);
            let shutdown = shutdown.clone();
            batches.spawn(
                async move {
                    let _slot = slot;
                    if let Err(BatchError::Claim(claim_error)) =
                        processor.run_batch(&shutdown).await
                    {
                        error!(
                            target: DIAGNOSTICS_TARGET,
                            error = %claim_error,
                            "could not claim domains: {claim_error}; trying again next tick"
                        );
                    }
                }
                .instrument(info_span!("batch", tick)),
            );
        }
        info!(
            "shutdown requested: no more claims; waiting for {} batch(es) in flight",
            batches.len()
        );
        batches.close();
        batches.wait().await;
        info!("scheduler stopped");
    }

    /// Processes what is due now and returns: the rescue sweep, then
    /// `max_instances` batch loops at once until a claim comes back empty.
    /// Rows put back for a later retry stay `pending` for a later run.
    ///
    /// # Errors
    ///
    /// [`BatchError::Claim`] when a claim fails.
    pub async fn drain(&self, shutdown: &CancellationToken) -> Result<DrainSummary, BatchError> {
        let rescued = self.rescue().await;
        let loops = (0..self.settings.max_instances.max(1)).map(|instance| {
            let processor = Arc::clone(&self.processor);
            async move {
                let mut totals = BatchSummary::default();
                let mut batches = 0;
                while !shutdown.is_cancelled() {
                    let summary = processor
                        .run_batch(shutdown)
                        .instrument(info_span!("batch", instance, batch = batches))
                        .await
                        .inspect_err(|claim_error| {
                            error!(target: DIAGNOSTICS_TARGET, error = %claim_error, "{claim_error}");
                        })?;
                    if summary.claimed == 0 {
                        break;
                    }
                    batches += 1;
                    totals.absorb(&summary);
                }
                Ok::<_, BatchError>((totals, batches))
            }
        });
        let mut drained = DrainSummary {
            rescued,
            ..DrainSummary::default()
        };
        for result in futures::future::join_all(loops).await {
            let (totals, batches) = result?;
            drained.totals.absorb(&totals);
            drained.batches += batches;
        }
        Ok(drained)
    }

    /// Frees rows whose worker died; failures are logged, never fatal.
    async fn rescue(&self) -> u64 {
        let now = self.processor.now();
        let max_attempts = self.processor.settings().retry.max_attempts;
        match self
            .processor
            .repository()
            .rescue_expired(now, max_attempts)
            .await
        {
            Ok(report) => {
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
