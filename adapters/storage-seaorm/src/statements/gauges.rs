//! `status` for a reader that must stay cheap however large the table (the
//! endpoint's gauges, read every `http.refresh` by every replica), on
//! Postgres, past [`StatusRequest::estimate_above`] rows:
//!
//! - `pending` and `processing`, and the expired leases, are counted from
//!   their partial indexes alone (`domains_claim_idx` holds `id`,
//!   `domains_lease_idx` `locked_until`), at most `limit + 1` entries each:
//!   exact up to `limit`, beyond it an estimate.
//! - The rows waiting for a retry need each pending row's retry time from
//!   the table: counted up to [`WAITING_SAMPLE`] pending rows, past that
//!   the planner's estimate (`EXPLAIN`, no row read).
//! - `completed`, `error` and the other states are estimates: the table's
//!   live rows as the statistics collector keeps them (updated as rows are
//!   written, no scan) less the counted rows, shared out by the states'
//!   frequencies in `pg_stats` (refreshed by `ANALYZE`).
//! - The queue's head is read as in every report: one probe of the claim
//!   index.
//!
//! So a refresh reads a few catalogue rows, at most `2 × (limit + 1)`
//! index entries and [`WAITING_SAMPLE`] table rows, whatever the table's
//! size.

use chrono::{DateTime, Utc};
use scheduler_domain::{DomainStatus, RepositoryError, StatusReport, StatusRequest};
use sea_orm::IdenStatic;
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, Func, PostgresQueryBuilder, Query, SelectStatement,
};

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
const PENDING: &str = "pending";
const WAITING: &str = "waiting";
const PROCESSING: &str = "processing";
/// Up to this many `pending` rows, the rows waiting for a retry are
/// counted (reading each row's retry time from the table); past it the
/// planner estimates them.
const WAITING_SAMPLE: u64 = 1_000;
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

/// The statements of an estimated report: the samples and the shares
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
            // The claim index holds `id`: counted from the index alone.
            sample(PENDING, DomainStatus::Pending, Column::Id, None, limit),
            sample(
                WAITING,
                DomainStatus::Pending,
                Column::NextAttemptAt,
                Some(waiting),
                WAITING_SAMPLE,
            ),
            // The lease index holds `locked_until`: from the index alone.
            sample(
                PROCESSING,
                DomainStatus::Processing,
                Column::LockedUntil,
                Some(expired),
                limit,
            ),
            oldest_due_pending(backend, request.now),
        ],
        STATE_SHARES,
    )
}

/// `total` (and `subset`, those `subset` selects) of at most `limit + 1`
/// rows in `state`, tagged `part`: the rows' partial index finds them, and
/// only `column` is read of each.
fn sample(
    part: &str,
    state: DomainStatus,
    column: Column,
    subset: Option<Cond>,
    limit: u64,
) -> SelectStatement {
    let rows = Query::select()
        .column(column)
        .from(Entity)
        .and_where(Expr::col(Column::Status).eq(status(state)))
        .limit(limit + 1)
        .to_owned();
    let subset: Expr = match subset {
        Some(subset) => Func::coalesce([
            Func::sum(Expr::case(subset, 1).finally(0)).into(),
            Expr::val(0),
        ])
        .into(),
        None => Expr::val(0),
    };
    Query::select()
        .expr_as(Expr::val(part), Alias::new(PART_COLUMN))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(TOTAL))
        .expr_as(subset, Alias::new(SUBSET))
        .from_subquery(rows, Alias::new("sample"))
        .to_owned()
}

/// The planner's estimate of the rows waiting for a retry at `now`, for a
/// queue too long to read each row's retry time: `EXPLAIN` reads the
/// column's statistics, no row. Only the retry time is asked about: a row
/// whose retry time lies ahead is `pending` (a claim takes due rows only),
/// and the planner, which takes two conditions for independent, would
/// otherwise shrink the estimate by the share of `pending` rows.
pub(crate) fn waiting_estimate(backend: Backend, now: DateTime<Utc>) -> String {
    let rows = Query::select()
        .expr(Expr::val(1))
        .from(Entity)
        .and_where(Expr::col(Column::NextAttemptAt).gt(backend.time(now)))
        .to_owned();
    format!("EXPLAIN {}", rows.to_string(PostgresQueryBuilder))
}

/// The rows the first line of an `EXPLAIN` expects (`rows=N`).
///
/// # Errors
///
/// A plan that cannot be read.
pub(crate) fn planned_rows(rows: &[Row]) -> Result<u64, RepositoryError> {
    let plan = match rows.first() {
        Some(row) => row.text("QUERY PLAN")?.unwrap_or_default(),
        None => String::new(),
    };
    plan.split_once("rows=")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|rows| rows.parse().ok())
        .ok_or_else(|| RepositoryError::Database(format!("unreadable plan: {plan}")))
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
    let mut samples = [(0, 0); 3];
    let mut shares: Vec<(Option<DomainStatus>, u64)> = Vec::new();
    for row in rows {
        match row.text(PART_COLUMN)?.as_deref() {
            Some(PENDING) => samples[0] = sample_of(row)?,
            Some(WAITING) => samples[1] = sample_of(row)?,
            Some(PROCESSING) => samples[2] = sample_of(row)?,
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
    // how many more, and the subset keeps its share of the sample.
    let counted = |state: DomainStatus, (total, subset): (u64, u64)| {
        if total <= limit {
            return None;
        }
        let rows = Ord::max(
            (live.saturating_mul(share_of(Some(state))) + 500_000) / 1_000_000,
            total,
        );
        Some((rows, rows.saturating_mul(subset) / total))
    };
    let mut estimated = Vec::new();
    report.pending = samples[0].0;
    if let Some((rows, _)) = counted(DomainStatus::Pending, samples[0]) {
        report.pending = rows;
        estimated.push("pending");
    }
    let (seen, waiting) = samples[1];
    report.waiting_for_retry = waiting;
    if seen > WAITING_SAMPLE {
        // The caller asks the planner ([`waiting_estimate`]).
        estimated.push("waiting_for_retry");
    }
    (report.processing, report.expired_leases) = samples[2];
    if let Some(rows) = counted(DomainStatus::Processing, samples[2]) {
        (report.processing, report.expired_leases) = rows;
        estimated.extend(["processing", "expired_leases"]);
    }
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
