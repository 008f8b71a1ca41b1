//! The extractor's metrics, through the `metrics` facade (a no-op until the
//! binary installs an exporter).

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Histogram: one page's parse and extraction on a parsing thread.
pub const EXTRACTION_DURATION: &str = "domain_scheduler_extraction_duration_seconds";

/// Counter: quick retries of a fetch within its attempt.
pub const FETCH_RETRIES: &str = "domain_scheduler_fetch_retries_total";

/// Counter: fetches handed back because their IP address was busy or
/// paused (`fetch.per_address`, a 429 or 503).
pub const ADDRESS_BUSY: &str = "domain_scheduler_address_busy_total";

/// Gauge: domains fetched at once at most now, as the parsing threads
/// allow (see `docs/architecture.md`, *Budgets*).
pub const FETCH_ADMISSION_LIMIT: &str = "domain_scheduler_fetch_admission_limit";

/// Registers the help text of the extractor's metrics with the installed
/// exporter.
pub fn describe_metrics() {
    describe_histogram!(
        EXTRACTION_DURATION,
        metrics::Unit::Seconds,
        "Parse and extraction of one page (home or contact page) on a parsing thread, \
         without the fetch."
    );
    describe_counter!(
        FETCH_RETRIES,
        "Quick retries of a home page fetch within its attempt (a transient failure that \
         cost little, retried before fetch.timeout)."
    );
    counter!(FETCH_RETRIES).increment(0);
    describe_counter!(
        ADDRESS_BUSY,
        "Domains handed back to be tried later because their IP address already had \
         fetch.per_address requests in flight or was paused after a 429 or 503."
    );
    counter!(ADDRESS_BUSY).increment(0);
    describe_gauge!(
        FETCH_ADMISSION_LIMIT,
        "Domains fetched at once at most now: grows while a parsing thread is idle and \
         domains wait, shrinks while pages queue for the parsing threads; \
         scheduler.concurrency is its ceiling."
    );
}

pub(crate) fn admission_limit(limit: usize) {
    gauge!(FETCH_ADMISSION_LIMIT).set(limit as f64);
}

pub(crate) fn address_busy() {
    counter!(ADDRESS_BUSY).increment(1);
}

pub(crate) fn retried() {
    counter!(FETCH_RETRIES).increment(1);
}

pub(crate) fn extracted(took: Duration) {
    histogram!(EXTRACTION_DURATION).record(took);
}
