//! The use cases of domain-scheduler, generic over the domain crate's ports.
//!
//! The application knows nothing of SQL or HTTP: it claims domains through a
//! [`DomainRepository`](scheduler_domain::DomainRepository), extracts them
//! through a [`MetadataExtractor`](scheduler_domain::MetadataExtractor) and
//! writes each outcome back, one short transaction per write.
//!
//! # Layout
//!
//! - [`settings`]: the knobs of a batch and of the loop, with their defaults.
//! - [`clock`]: where "now" comes from (a fixed clock in tests).
//! - [`batch`]: [`BatchProcessor`], one batch: claim, extract up to
//!   `concurrency` at once, write each result, release what shutdown left.
//! - [`scheduler`]: [`Scheduler`], the interval loop with at most
//!   `max_instances` batches at once, the rescue sweep, and the `--once`
//!   drain.
//!
//! Batch summaries and failures are also logged under the
//! [`DIAGNOSTICS_TARGET`] tracing target, which the binary routes to the
//! daily diagnostic file.
#![deny(missing_docs)]

pub mod batch;
pub mod clock;
pub mod scheduler;
pub mod settings;

pub use batch::{BatchError, BatchProcessor, BatchSummary, DomainOutcome};
pub use clock::{Clock, SystemClock};
pub use scheduler::{DrainSummary, Scheduler};
pub use settings::{BatchSettings, RetryPolicy, SchedulerSettings};

/// The tracing target of the events that belong in the diagnostic file.
pub const DIAGNOSTICS_TARGET: &str = "diagnostics";
