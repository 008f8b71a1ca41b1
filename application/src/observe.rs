//! What the worker reports about itself while it runs.
//!
//! - Metrics, through the `metrics` facade: counters and histograms cost
//!   next to nothing until the binary installs an exporter, and the
//!   application never learns which one (Prometheus, today).
//! - [`Activity`]: the live view an operator's status page and readiness
//!   probe read: the domains in flight and when the scheduler last showed
//!   signs of life.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use scheduler_domain::{RepositoryError, RescueReport};

use crate::outcomes::DomainOutcome;

/// The names of the application's metrics.
pub mod names {
    /// Counter: domains that reached an outcome, by `outcome`.
    pub const DOMAINS_FINISHED: &str = "domain_scheduler_domains_finished_total";
    /// Counter: rows claimed.
    pub const DOMAINS_CLAIMED: &str = "domain_scheduler_domains_claimed_total";
    /// Gauge: domains this worker is processing now.
    pub const DOMAINS_IN_FLIGHT: &str = "domain_scheduler_domains_in_flight";
    /// Histogram: fetch and extraction of one domain, by `result`.
    pub const FETCH_DURATION: &str = "domain_scheduler_fetch_duration_seconds";
    /// Histogram: one claim statement.
    pub const CLAIM_DURATION: &str = "domain_scheduler_claim_duration_seconds";
    /// Histogram: one write of results (a group or a single row), by `kind`.
    pub const WRITE_DURATION: &str = "domain_scheduler_write_duration_seconds";
    /// Counter: rows the rescue sweep freed, by where they went (`to`).
    pub const RESCUED: &str = "domain_scheduler_rescued_total";
    /// Counter: database operations that failed, by `operation` and `kind`.
    pub const DATABASE_ERRORS: &str = "domain_scheduler_database_errors_total";
}

/// Every `outcome` of [`names::DOMAINS_FINISHED`].
const OUTCOMES: [DomainOutcome; 7] = [
    DomainOutcome::Completed,
    DomainOutcome::Retried,
    DomainOutcome::Failed,
    DomainOutcome::Released,
    DomainOutcome::Deferred,
    DomainOutcome::LeaseLost,
    DomainOutcome::Unrecorded,
];

/// Registers the help text of the application's metrics with the
/// installed exporter, and the counters of outcomes and rescues at zero:
/// rates and alerts need the series before the first domain finishes.
pub fn describe_metrics() {
    for outcome in OUTCOMES {
        counter!(names::DOMAINS_FINISHED, "outcome" => outcome_label(outcome)).increment(0);
    }
    counter!(names::DOMAINS_CLAIMED).increment(0);
    for to in ["pending", "error"] {
        counter!(names::RESCUED, "to" => to).increment(0);
    }
    describe_counter!(
        names::DOMAINS_FINISHED,
        "Domains that reached an outcome: completed, failed, retried (put back for a later \
         attempt), released (given back at shutdown or for lack of lease), deferred (given \
         back because the site's address was busy), lease_lost, unrecorded (the database took \
         no outcome)."
    );
    describe_counter!(names::DOMAINS_CLAIMED, "Rows claimed by this worker.");
    describe_gauge!(
        names::DOMAINS_IN_FLIGHT,
        "Domains this worker is fetching or writing now."
    );
    describe_histogram!(
        names::FETCH_DURATION,
        metrics::Unit::Seconds,
        "Fetch and extraction of one domain (retries within the attempt included), by result."
    );
    describe_histogram!(
        names::CLAIM_DURATION,
        metrics::Unit::Seconds,
        "One claim statement, from send to rows."
    );
    describe_histogram!(
        names::WRITE_DURATION,
        metrics::Unit::Seconds,
        "One write of results: a group commit or a single row."
    );
    describe_counter!(
        names::RESCUED,
        "Rows with an expired lease the rescue sweep put back to pending or to error."
    );
    describe_counter!(
        names::DATABASE_ERRORS,
        "Database operations that failed, by operation and kind (unavailable, timeout, \
         invalid_row, database)."
    );
}

fn outcome_label(outcome: DomainOutcome) -> &'static str {
    match outcome {
        DomainOutcome::Completed => "completed",
        DomainOutcome::Retried => "retried",
        DomainOutcome::Failed => "failed",
        DomainOutcome::Released => "released",
        DomainOutcome::Deferred => "deferred",
        DomainOutcome::LeaseLost => "lease_lost",
        DomainOutcome::Unrecorded => "unrecorded",
    }
}

pub(crate) fn domain_finished(outcome: DomainOutcome) {
    counter!(names::DOMAINS_FINISHED, "outcome" => outcome_label(outcome)).increment(1);
}

pub(crate) fn claimed(rows: usize, took: Duration) {
    counter!(names::DOMAINS_CLAIMED).increment(rows as u64);
    histogram!(names::CLAIM_DURATION).record(took);
}

pub(crate) fn fetched(succeeded: bool, took: Duration) {
    let result = if succeeded { "ok" } else { "error" };
    histogram!(names::FETCH_DURATION, "result" => result).record(took);
}

/// How results reached the database.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteKind {
    /// Several rows in one transaction.
    Group,
    /// One row alone.
    Single,
}

pub(crate) fn written(kind: WriteKind, took: Duration) {
    let kind = match kind {
        WriteKind::Group => "group",
        WriteKind::Single => "single",
    };
    histogram!(names::WRITE_DURATION, "kind" => kind).record(took);
}

pub(crate) fn rescued(report: &RescueReport) {
    counter!(names::RESCUED, "to" => "pending").increment(report.requeued);
    counter!(names::RESCUED, "to" => "error").increment(report.failed);
}

/// Counts a failed database operation (`claim`, `write`, `rescue`, ...).
pub fn database_error(operation: &'static str, error: &RepositoryError) {
    let kind = match error {
        RepositoryError::Unavailable(_) => "unavailable",
        RepositoryError::Timeout(_) => "timeout",
        RepositoryError::InvalidRow(_) => "invalid_row",
        RepositoryError::Database(_) => "database",
    };
    counter!(names::DATABASE_ERRORS, "operation" => operation, "kind" => kind).increment(1);
}

/// A domain this worker is processing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InFlight {
    /// The `domain` column as claimed.
    pub domain: String,
    /// When its processing started.
    pub since: DateTime<Utc>,
}

/// The live state of one worker: what it has in flight and when its
/// scheduler last did something (claimed, finished a domain, swept).
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    /// Milliseconds after `origin` of the last sign of life, plus one (0:
    /// none yet).
    last_tick: AtomicU64,
    next_key: AtomicU64,
    in_flight: Mutex<BTreeMap<u64, InFlight>>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            origin: Instant::now(),
            last_tick: AtomicU64::new(0),
            next_key: AtomicU64::new(0),
            in_flight: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Activity {
    /// Records a sign of life of the scheduler.
    pub fn tick(&self) {
        let millis = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_tick.store(millis + 1, Ordering::Relaxed);
    }

    /// How long ago the scheduler last showed a sign of life; `None` before
    /// the first.
    pub fn since_last_tick(&self) -> Option<Duration> {
        match self.last_tick.load(Ordering::Relaxed) {
            0 => None,
            plus_one => Some(
                self.origin
                    .elapsed()
                    .saturating_sub(Duration::from_millis(plus_one - 1)),
            ),
        }
    }

    /// The domains in flight, longest running first.
    pub fn in_flight(&self) -> Vec<InFlight> {
        let mut domains: Vec<InFlight> = self.domains().values().cloned().collect();
        domains.sort_by_key(|domain| domain.since);
        domains
    }

    /// Registers `domain` as in flight until the returned guard is dropped.
    pub(crate) fn start(self: &Arc<Self>, domain: &str, now: DateTime<Utc>) -> InFlightGuard {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.domains().insert(
            key,
            InFlight {
                domain: domain.to_owned(),
                since: now,
            },
        );
        gauge!(names::DOMAINS_IN_FLIGHT).increment(1.0);
        InFlightGuard {
            activity: Arc::clone(self),
            key,
        }
    }

    fn domains(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, InFlight>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps one domain listed as in flight; ends it when dropped, however the
/// domain's task ends.
#[derive(Debug)]
pub(crate) struct InFlightGuard {
    activity: Arc<Activity>,
    key: u64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.activity.domains().remove(&self.key);
        self.activity.tick();
        gauge!(names::DOMAINS_IN_FLIGHT).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_in_flight_until_its_guard_drops_and_that_counts_as_a_tick() {
        let activity = Arc::new(Activity::default());
        assert_eq!(activity.since_last_tick(), None);
        let at = Utc::now();
        let first = activity.start("a.example", at);
        let second = activity.start("b.example", at - chrono::TimeDelta::seconds(5));
        let listed: Vec<String> = activity
            .in_flight()
            .into_iter()
            .map(|domain| domain.domain)
            .collect();
        assert_eq!(listed, ["b.example", "a.example"], "longest running first");
        drop(second);
        assert_eq!(activity.in_flight().len(), 1);
        assert!(activity.since_last_tick().is_some());
        drop(first);
        assert!(activity.in_flight().is_empty());
    }
}
