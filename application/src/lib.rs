//! The use cases of domain-scheduler, generic over the domain crate's ports.
//!
//! The application knows nothing of SQL or HTTP: it claims domains through a
//! [`DomainRepository`](scheduler_domain::DomainRepository), extracts them
//! through a [`MetadataExtractor`](scheduler_domain::MetadataExtractor) and
//! writes each outcome back, one short transaction per write.
//!
//! # Layout
//!
//! - [`settings`]: [`SchedulerSettings`], the `[scheduler]` section with its
//!   defaults and checks.
//! - [`clock`]: where "now" comes from (a fixed clock in tests).
//! - [`batch`]: [`BatchProcessor`]: a claim, and one domain from claimed
//!   row to written outcome (extract, write, release what shutdown left).
//! - `group_write`: group commits of the results of domains that finish
//!   together, a failed group written again row by row.
//! - [`observe`]: metrics through the `metrics` facade, and [`Activity`],
//!   the live view of one worker (domains in flight, last sign of life).
//! - [`scheduler`]: [`Scheduler`], the pipeline that keeps `concurrency`
//!   domains in flight while rows are due and waits for a
//!   [`WorkSignal`](scheduler_domain::WorkSignal) when none are, the rescue
//!   sweep, and the `--once` drain.
//!
//! Batch summaries and failures are also logged under the
//! [`DIAGNOSTICS_TARGET`] tracing target, which the binary routes to the
//! daily diagnostic file.
#![deny(missing_docs)]

pub mod batch;
pub mod clock;
mod group_write;
pub mod observe;
pub mod scheduler;
pub mod settings;

pub use batch::{BatchError, BatchProcessor, BatchSummary, Claim, DomainOutcome};
pub use clock::{Clock, SystemClock};
pub use observe::{Activity, InFlight};
pub use scheduler::{DrainSummary, Polling, Scheduler};
pub use settings::{LEASE_HEADROOM, RetryPolicy, SchedulerSettings};

/// The tracing target of the events that belong in the diagnostic file.
pub const DIAGNOSTICS_TARGET: &str = "diagnostics";
