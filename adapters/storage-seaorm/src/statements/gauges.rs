//! `status` for a reader that must stay cheap however large the table (the
//! endpoint's gauges, read every `http.refresh` by every replica), on
//! Postgres, past [`StatusRequest::estimate_above`] rows:
//!
//! - `pending` and `processing`, and of them the rows waiting for a retry
//!   and the expired leases, are counted through their partial indexes
//!   (`domains_claim_idx`, `domains_lease_idx`), at most `limit + 1` rows
//!   each: exact up to `limit`, beyond it an estimate.
//! - `completed`, `error` and the other states are estimates: the table's
//!   live rows as the statistics collector keeps them (updated as rows are
//!   written, no scan) less the counted rows, shared out by the states'
//!   frequencies in `pg_stats` (refreshed by `ANALYZE`).
//! - The queue's head is read as in every report: one probe of the claim
//!   index.
//!
//! So a refresh reads two catalogue rows and at most `2 × (limit + 1)`
//! index entries, whatever the table's size.

use scheduler_domain::{DomainStatus, RepositoryError, StatusReport, StatusRequest};
use sea_orm::IdenStatic;
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Func, Query, SelectStatement};

use super::status::{PART_COLUMN, oldest_due_pending, read_status};
use super::values::status;
use crate::backend::Backend;
use crate::entity::{Column, Entity};
use crate::row::{Row, count};

/// The table's live rows, as the statistics collector counts them.
pub(crate) const LIVE_ROWS: &str = "SELECT pg_stat_get_live_tuples('domains'::regclass) AS total";

/// Each frequent `status` and its share of the rows, in parts per million,
/// from the last `ANALYZE`.
const STATE_SHARES: &str = "SELECT 'shares' AS part, shares.status, \
     CAST(shares.share * 1000000 AS BIGINT) AS total \
     FROM pg_stats, unnest(most_common_vals::text::text[], most_common_freqs) \
     AS shares(status, share) \
     WHERE pg_stats.schemaname = current_schema() AND pg_stats.tablename = 'domains' \
     AND pg_stats.attname = 'status'";

const SHARES: &str = "shares";
const TOTAL: &str = "total";
/// Of a sample: rows waiting for a retry (`pending`), expired leases
/// (`processing`).
const SUBSET: &str = "subset";

/// The live rows of a [`LIVE_ROWS`] answer.
///
/// # Errors
///
/// A value that cannot be read.
pub(crate) fn live_rows(rows: &[Row]) -> Result<u64, RepositoryError> {
    match rows.first() {
        Some(row) => Ok(count(row.integer(TOTAL)?)),
        None => Ok(0),
    }
}

/// The statements of an estimated report: the two samples and the shares
/// (raw SQL, no values) and the queue's head.
pub(crate) fn estimated_counts(
    backend: Backend,
    request: &StatusRequest,
    limit: u64,
) -> (Vec<SelectStatement>, &'static str) {
    let now = backend.time(request.now);
    let waiting = Cond::all().add(Expr::col(Column::NextAttemptAt).gt(now.clone()));
    let expired = Cond::any()
        .add(Expr::col(Column::LockedUntil).is_null())
        .add(Expr::col(Column::LockedUntil).lt(now));
    (
        vec![
            sample(DomainStatus::Pending, Column::NextAttemptAt, waiting, limit),
            sample(
                DomainStatus::Processing,
                Column::LockedUntil,
                expired,
                limit,
            ),
            oldest_due_pending(backend, request.now),
        ],
        STATE_SHARES,
    )
}

/// `total` and `subset` of at most `limit + 1` rows in `state`: the rows'
/// partial index finds them, and only `column` is read of each.
fn sample(state: DomainStatus, column: Column, subset: Cond, limit: u64) -> SelectStatement {
    let rows = Query::select()
        .column(column)
        .from(Entity)
        .and_where(Expr::col(Column::Status).eq(status(state)))
        .limit(limit + 1)
        .to_owned();
    Query::select()
        .expr_as(Expr::val(state.as_str()), Alias::new(PART_COLUMN))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(TOTAL))
        .expr_as(
            Func::coalesce([
                Func::sum(Expr::case(subset, 1).finally(0)).into(),
                Expr::val(0),
            ]),
            Alias::new(SUBSET),
        )
        .from_subquery(rows, Alias::new("sample"))
        .to_owned()
}

/// The report of [`estimated_counts`]' rows, for a table of `live` rows.
///
/// # Errors
///
/// A value that cannot be read.
pub(crate) fn read_estimated(
    rows: &[Row],
    request: &StatusRequest,
    live: u64,
    limit: u64,
) -> Result<StatusReport, RepositoryError> {
    let mut head = Vec::new();
    let mut samples = [(0, 0); 2];
    let mut shares: Vec<(Option<DomainStatus>, u64)> = Vec::new();
    for row in rows {
        match row.text(PART_COLUMN)?.as_deref() {
            Some("pending") => samples[0] = sample_of(row)?,
            Some("processing") => samples[1] = sample_of(row)?,
            Some(SHARES) => shares.push((
                row.text(Column::Status.as_str())?
                    .and_then(|state| state.parse().ok()),
                count(row.integer(TOTAL)?),
            )),
            _ => head.push(row),
        }
    }
    let mut report = read_status_rows(&head, request)?;
    let share_of = |state: Option<DomainStatus>| {
        shares
            .iter()
            .filter(|(of, _)| *of == state)
            .map(|(_, share)| *share)
            .sum::<u64>()
    };
    // A sample that filled up counts at least its rows; the statistics say
    // how many more.
    let mut estimated = Vec::new();
    let mut counted =
        |state: DomainStatus, (total, subset): (u64, u64), names: [&'static str; 2]| {
            if total <= limit {
                return (total, subset);
            }
            estimated.extend(names);
            let rows = Ord::max(
                live.saturating_mul(share_of(Some(state))) / 1_000_000,
                total,
            );
            (rows, rows.saturating_mul(subset) / total)
        };
    (report.pending, report.waiting_for_retry) = counted(
        DomainStatus::Pending,
        samples[0],
        ["pending", "waiting_for_retry"],
    );
    (report.processing, report.expired_leases) = counted(
        DomainStatus::Processing,
        samples[1],
        ["processing", "expired_leases"],
    );
    let finished = live.saturating_sub(report.pending + report.processing);
    let completed = share_of(Some(DomainStatus::Completed));
    let error = share_of(Some(DomainStatus::Error));
    let other = share_of(None);
    let share_out = |share: u64| {
        // Never analysed (no shares): the rows are there, their states
        // unknown, so all of them count as other.
        finished
            .saturating_mul(share)
            .checked_div(completed + error + other)
    };
    report.completed = share_out(completed).unwrap_or(0);
    report.error = share_out(error).unwrap_or(0);
    report.other = finished - report.completed - report.error;
    estimated.extend(["completed", "error", "other"]);
    report.estimated = estimated;
    Ok(report)
}

fn sample_of(row: &Row) -> Result<(u64, u64), RepositoryError> {
    Ok((count(row.integer(TOTAL)?), count(row.integer(SUBSET)?)))
}

fn read_status_rows(
    rows: &[&Row],
    request: &StatusRequest,
) -> Result<StatusReport, RepositoryError> {
    let mut report = StatusReport::default();
    for row in rows {
        let one = read_status(std::slice::from_ref(*row), request)?;
        report.oldest_pending_seconds =
            one.oldest_pending_seconds.or(report.oldest_pending_seconds);
    }
    Ok(report)
}
