//! One snapshot of the table every `http.refresh`: the rows per state for
//! `/metrics`, the whole report for the status page, and whether the
//! database answered, for `/readyz`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use metrics::{describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusHandle;
use scheduler_application::observe;
use scheduler_domain::{DomainRepository, RepositoryError, StatusReport, StatusRequest};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::queue_depth::{self, QueueDepth, QueueMinute};

/// The errors and completions the page lists.
const PAGE_ERRORS: u32 = super::records::ERRORS_PER_PAGE;
const PAGE_COMPLETED: u32 = 10;

/// Up to this many rows in a state the gauges count them; past it (and for
/// `completed`, `error` and other states once the table is larger) they
/// estimate, so that a refresh costs the same on any table: see
/// docs/operations.md.
const GAUGES_EXACT_UP_TO: u64 = 20_000;

const ROWS: &str = "domain_scheduler_rows";
const ROWS_ESTIMATED: &str = "domain_scheduler_rows_estimated";
const WAITING_FOR_RETRY: &str = "domain_scheduler_rows_waiting_for_retry";
const EXPIRED_LEASES: &str = "domain_scheduler_expired_leases";
const OLDEST_PENDING_AGE: &str = "domain_scheduler_oldest_pending_age_seconds";
const DATABASE_UP: &str = "domain_scheduler_database_up";

/// Registers the help text of the snapshot's gauges.
pub(super) fn describe_metrics() {
    describe_gauge!(
        ROWS,
        "Rows of the domains table per status, refreshed every http.refresh (status = \
         pending, processing, completed, error, other)."
    );
    describe_gauge!(
        ROWS_ESTIMATED,
        "1 when some of domain_scheduler_rows are estimates (on Postgres, past 20,000 rows), \
         0 when every count is exact."
    );
    describe_gauge!(
        WAITING_FOR_RETRY,
        "Pending rows whose retry time has not come yet."
    );
    describe_gauge!(
        EXPIRED_LEASES,
        "Processing rows whose lease has expired (their worker died; the rescue sweep frees them)."
    );
    describe_gauge!(
        OLDEST_PENDING_AGE,
        metrics::Unit::Seconds,
        "How long the due pending row next in line has waited (0 when none is due)."
    );
    describe_gauge!(
        DATABASE_UP,
        "1 when the last snapshot of the table was read, 0 when it failed."
    );
}

/// The table at one moment.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Snapshot {
    /// When it was read.
    pub(super) at: DateTime<Utc>,
    /// What was read.
    pub(super) report: StatusReport,
}

/// What the last refreshes found.
#[derive(Debug, Clone, Default)]
struct Health {
    /// Why the last refresh failed, when it did.
    failure: Option<String>,
    answered: Option<Instant>,
}

/// Reads a report from the repository (the handlers are not generic over
/// it).
type ReadStatus = Box<
    dyn Fn(StatusRequest) -> BoxFuture<'static, Result<StatusReport, RepositoryError>>
        + Send
        + Sync,
>;

/// The snapshot task's results, shared with the handlers.
pub(super) struct Snapshots {
    refresh: Duration,
    read: ReadStatus,
    health: Mutex<Health>,
    /// The page's last answer and when it was read.
    detailed: tokio::sync::Mutex<Option<(Instant, Result<Snapshot, String>)>>,
    /// The due rows of each refresh, for the page's chart.
    queue: QueueDepth,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl Snapshots {
    pub(super) fn new<R: DomainRepository + 'static>(
        repository: Arc<R>,
        refresh: Duration,
    ) -> Snapshots {
        let read: ReadStatus = Box::new(move |request| {
            let repository = Arc::clone(&repository);
            Box::pin(async move { repository.status(request).await })
        });
        Snapshots {
            refresh,
            read,
            health: Mutex::new(Health::default()),
            detailed: tokio::sync::Mutex::new(None),
            queue: QueueDepth::default(),
        }
    }

    /// The detailed report for the page: read again when the last answer
    /// (a report or a failure) is older than `refresh`, by one caller while
    /// the others wait for it.
    pub(super) async fn detailed(&self) -> Result<Snapshot, String> {
        let mut cached = self.detailed.lock().await;
        if let Some((taken, answer)) = cached.as_ref()
            && taken.elapsed() < self.refresh
        {
            return answer.clone();
        }
        let now = Utc::now();
        let request = StatusRequest::at(now)
            .with_throughput(queue_depth::MINUTES)
            .with_errors(PAGE_ERRORS)
            .with_completed(PAGE_COMPLETED);
        let answer = (self.read)(request)
            .await
            .map(|report| Snapshot { at: now, report })
            .map_err(|error| {
                observe::database_error("status", &error);
                error.to_string()
            });
        *cached = Some((Instant::now(), answer.clone()));
        answer
    }

    pub(super) fn refresh(&self) -> Duration {
        self.refresh
    }

    /// The queue's depth, as the refreshes saw it, by minute before `now`.
    pub(super) fn queue(&self, now: DateTime<Utc>) -> Vec<QueueMinute> {
        self.queue.minutes(now)
    }

    fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Why the database does not count as answering, if it does not.
    pub(super) fn database_not_ready(&self) -> Option<String> {
        let health = self.health();
        if let Some(failure) = health.failure {
            return Some(format!("the database did not answer: {failure}"));
        }
        let Some(answered) = health.answered else {
            return Some("the database has not answered yet".to_owned());
        };
        // A refresh that hangs (up to the statement timeout) is noticed
        // after a few periods.
        let limit = self.refresh * 3 + Duration::from_secs(10);
        let quiet = answered.elapsed();
        (quiet > limit).then(|| format!("the database has not answered for {}s", quiet.as_secs()))
    }

    /// Reads the counts every `refresh` until `stop`, and keeps the
    /// Prometheus recorder's histograms trimmed meanwhile.
    pub(super) async fn refresh_until(
        self: Arc<Self>,
        metrics: PrometheusHandle,
        stop: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(self.refresh);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            metrics.run_upkeep();
            let read = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                read = (self.read)(
                    StatusRequest::at(Utc::now()).with_estimates_above(GAUGES_EXACT_UP_TO),
                ) => read,
            };
            let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
            match read {
                Ok(report) => {
                    publish(&report);
                    self.queue.record(
                        Utc::now(),
                        report.pending.saturating_sub(report.waiting_for_retry),
                    );
                    health.failure = None;
                    health.answered = Some(Instant::now());
                }
                Err(error) => {
                    observe::database_error("status", &error);
                    gauge!(DATABASE_UP).set(0.0);
                    if health.failure.is_none() {
                        warn!("status snapshot failed: {error}");
                    }
                    health.failure = Some(error.to_string());
                }
            }
        }
    }
}

fn publish(report: &StatusReport) {
    for (status, rows) in [
        ("pending", report.pending),
        ("processing", report.processing),
        ("completed", report.completed),
        ("error", report.error),
        ("other", report.other),
    ] {
        gauge!(ROWS, "status" => status).set(rows as f64);
    }
    gauge!(ROWS_ESTIMATED).set(if report.estimated.is_empty() {
        0.0
    } else {
        1.0
    });
    gauge!(WAITING_FOR_RETRY).set(report.waiting_for_retry as f64);
    gauge!(EXPIRED_LEASES).set(report.expired_leases as f64);
    gauge!(OLDEST_PENDING_AGE).set(report.oldest_pending_seconds.unwrap_or(0) as f64);
    gauge!(DATABASE_UP).set(1.0);
}
