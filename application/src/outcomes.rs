//! What happened to each claimed domain, and the outcomes of a run counted.

use std::time::Duration;

use tracing::info;

use crate::DIAGNOSTICS_TARGET;

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
    /// Handed back untouched because the site's address was busy: tried
    /// again after the wait the address asked for, the attempt not counted.
    Deferred,
    /// The row was no longer ours when we wrote (its lease had expired and
    /// another worker took it): nothing written.
    LeaseLost,
    /// Even the write of the failure failed, or the database did not take
    /// a fetched result before the lease ran out: the row stays
    /// `processing` until its lease expires and the rescue sweep frees it.
    Unrecorded,
}

/// How the domains of a run ended, counted by outcome, as logged and written
/// to the diagnostic file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
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
    /// Rows handed back because their site's address was busy.
    pub deferred: usize,
    /// Rows whose lease was lost before the write.
    pub lease_lost: usize,
    /// Rows whose outcome could not be written at all.
    pub unrecorded: usize,
    /// Wall time of the run.
    pub duration: Duration,
}

impl Outcomes {
    /// Counts one domain's outcome.
    pub fn count(&mut self, outcome: DomainOutcome) {
        let counter = match outcome {
            DomainOutcome::Completed => &mut self.completed,
            DomainOutcome::Retried => &mut self.retried,
            DomainOutcome::Failed => &mut self.failed,
            DomainOutcome::Released => &mut self.released,
            DomainOutcome::Deferred => &mut self.deferred,
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
            deferred = self.deferred,
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

    /// Adds another run's counts to these (durations add up too).
    pub fn absorb(&mut self, other: &Outcomes) {
        self.claimed += other.claimed;
        self.completed += other.completed;
        self.retried += other.retried;
        self.failed += other.failed;
        self.released += other.released;
        self.deferred += other.deferred;
        self.lease_lost += other.lease_lost;
        self.unrecorded += other.unrecorded;
        self.duration += other.duration;
    }
}
