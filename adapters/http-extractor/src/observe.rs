//! The extractor's metrics, through the `metrics` facade (a no-op until the
//! binary installs an exporter).

use std::time::Duration;

use metrics::{describe_histogram, histogram};

/// Histogram: one page's parse and extraction on a parsing thread.
pub const EXTRACTION_DURATION: &str = "domain_scheduler_extraction_duration_seconds";

/// Registers the help text of the extractor's metrics with the installed
/// exporter.
pub fn describe_metrics() {
    describe_histogram!(
        EXTRACTION_DURATION,
        metrics::Unit::Seconds,
        "Parse and extraction of one page (home or contact page) on a parsing thread, \
         without the fetch."
    );
}

pub(crate) fn extracted(took: Duration) {
    histogram!(EXTRACTION_DURATION).record(took);
}
