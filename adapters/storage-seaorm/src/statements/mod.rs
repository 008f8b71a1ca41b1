//! Every statement the repository runs, built with SeaQuery from the
//! entity's columns, one module per concern:
//!
//! - `lease`: the claim, the writes about a claimed row (complete, fail,
//!   retry later, release) and the rescue of expired leases.
//! - `enqueue`: new names, `ROWS_PER_INSERT` rows per `INSERT`.
//! - `requeue`: finished rows back to `pending`, by selection.
//! - `status`: the statements of a `status` report and the reading of
//!   their rows; a page of the latest errors.
//! - `gauges`: a `status` that stays cheap on a large table: bounded
//!   counts through the partial indexes, estimates for the rest.
//! - `record`: one row read by its name, for the status page.
//! - `values`: what they share: keys, text (NUL dropped), states and the
//!   clearing of a lease.
//!
//! Values are typed for the backend they go to
//! ([`Backend`](crate::backend::Backend)).

mod enqueue;
mod gauges;
mod lease;
mod record;
mod requeue;
mod status;
mod values;

pub(crate) use enqueue::enqueue;
pub(crate) use lease::{claim, complete, fail, release, rescue_expired, retry_later};
pub(crate) use requeue::{count_selected, known_names, names_found, requeue, selected_count};
pub(crate) use status::{read_status, status_report};

// What the status page and the endpoint's gauges read besides the report.
pub(crate) use gauges::{
    LIVE_ROWS, estimated_counts, live_rows, planned_rows, read_estimated, waiting_estimate,
};
pub(crate) use record::{find_domain, read_record};
pub(crate) use status::{errors_page, read_errors_page};
