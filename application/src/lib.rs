//! The use cases of domain-scheduler, generic over the domain crate's ports.
//!
//! The application knows nothing of SQL or HTTP: it claims domains through a
//! [`DomainRepository`](scheduler_domain::DomainRepository), extracts them
//! through a [`MetadataExtractor`](scheduler_domain::MetadataExtractor) and
//! writes each outcome back in short transactions (the completions of
//! domains that finish together share one).
//!
//! # Layout
//!
//! - [`settings`]: [`SchedulerSettings`], the `[scheduler]` section with its
//!   defaults and checks.
//! - [`clock`]: where "now" comes from (a fixed clock in tests).
//! - [`processor`]: [`DomainProcessor`]: a claim, and one domain from
//!   claimed row to written outcome (extract, write, release what shutdown
//!   left).
//! - `due`: when rows handed back for a busy address are due again, so an
//!   idle claimer wakes then.
//! - `group_write`: group commits of the results of domains that finish
//!   together, a failed group written again row by row: the one way a
//!   result is written.
//! - [`outcomes`]: [`DomainOutcome`], what happened to one claimed domain,
//!   and [`Outcomes`], those of a run counted.
//! - [`observe`]: metrics through the `metrics` facade, and [`Activity`],
//!   the live view of one worker (domains in flight, last sign of life).
//! - [`scheduler`]: [`Scheduler`], the pipeline that keeps `concurrency`
//!   domains in flight while rows are due and waits for a
//!   [`WorkSignal`](scheduler_domain::WorkSignal) when none are, the rescue
//!   sweep, and the `--once` drain.
//!
//! Run summaries and failures are also logged under the
//! [`DIAGNOSTICS_TARGET`] tracing target, which the binary routes to the
//! daily diagnostic file.
#![deny(missing_docs)]

pub mod clock;
mod due;
mod group_write;
pub mod observe;
pub mod outcomes;
pub mod processor;
pub mod scheduler;
pub mod settings;

pub use clock::{Clock, SystemClock};
pub use observe::{Activity, InFlight};
pub use outcomes::{DomainOutcome, Outcomes};
pub use processor::{Claim, ClaimError, DomainProcessor, grace_deadline};
pub use scheduler::{DrainSummary, Polling, Scheduler};
pub use settings::{LEASE_HEADROOM, RetryPolicy, SchedulerSettings};

/// The tracing target of the events that belong in the diagnostic file.
pub const DIAGNOSTICS_TARGET: &str = "diagnostics";
