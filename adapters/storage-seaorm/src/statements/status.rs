//! `status`: the statements of one report and the reading of their rows.
//! All of them run in one snapshot and come back as one list of rows, each
//! tagged with the statement it came from.

use chrono::{DateTime, Utc};
use scheduler_domain::{
    CompletedSample, DomainStatus, ERROR_KINDS, ErrorKindCount, ErrorQuery, ErrorSample,
    MessageShape, MinuteChange, MinuteTally, OTHER_ERROR_KIND, RepositoryError, STATUS_ERROR_KINDS,
    StatusReport, StatusRequest,
};
use sea_orm::IdenStatic;
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, Func, NullOrdering, Order, Query, SelectStatement,
};

use super::values::{status, text};
use crate::backend::Backend;
use crate::entity::{Column, Entity};
use crate::row::{Row, count};

/// The statements of one `status` report. Each row they return carries a
/// `part` column naming the statement it came from, so that all of them can
/// run in one snapshot and come back as one list.
pub(crate) fn status_report(backend: Backend, request: &StatusRequest) -> Vec<SelectStatement> {
    let mut statements = vec![
        status_counts(backend, request.now),
        oldest_due_pending(backend, request.now),
    ];
    if request.details {
        statements.push(changes_per_minute(
            backend,
            request.now,
            MinuteTally::window(request.throughput_minutes),
        ));
        statements.push(error_kinds());
    }
    if request.recent_errors > 0 {
        statements.push(newest(
            DomainStatus::Error,
            StatusPart::RecentErrors,
            Column::LastError,
            request.recent_errors,
        ));
    }
    if request.recent_completed > 0 {
        statements.push(newest(
            DomainStatus::Completed,
            StatusPart::RecentCompleted,
            Column::Title,
            request.recent_completed,
        ));
    }
    statements
}

/// The names of the computed columns of [`status_report`]'s statements,
/// shared with [`read_status`], which reads them.
mod status_column {
    pub(super) const TOTAL: &str = "total";
    pub(super) const WAITING: &str = "waiting";
    pub(super) const EXPIRED: &str = "expired";
    pub(super) const SINCE: &str = "since";
    pub(super) const MINUTES_AGO: &str = "minutes_ago";
    pub(super) const KIND: &str = "kind";
    /// `last_error` of an error row, `title` of a completed one.
    pub(super) const DETAIL: &str = "detail";
}

/// Which statement of [`status_report`] a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusPart {
    Counts,
    OldestDuePending,
    PerMinute,
    ErrorKinds,
    RecentErrors,
    RecentCompleted,
}

impl StatusPart {
    const ALL: [StatusPart; 6] = [
        StatusPart::Counts,
        StatusPart::OldestDuePending,
        StatusPart::PerMinute,
        StatusPart::ErrorKinds,
        StatusPart::RecentErrors,
        StatusPart::RecentCompleted,
    ];

    fn as_str(self) -> &'static str {
        match self {
            StatusPart::Counts => "counts",
            StatusPart::OldestDuePending => "oldest",
            StatusPart::PerMinute => "minutes",
            StatusPart::ErrorKinds => "kinds",
            StatusPart::RecentErrors => "errors",
            StatusPart::RecentCompleted => "completed",
        }
    }

    fn parse(text: &str) -> Option<StatusPart> {
        StatusPart::ALL
            .into_iter()
            .find(|part| part.as_str() == text)
    }

    /// The column that tells the statements' rows apart.
    const COLUMN: &'static str = PART_COLUMN;
}

/// The column naming the statement a row of a report came from.
pub(crate) const PART_COLUMN: &str = "part";

fn tagged(part: StatusPart) -> SelectStatement {
    Query::select()
        .expr_as(Expr::val(part.as_str()), Alias::new(StatusPart::COLUMN))
        .from(Entity)
        .to_owned()
}

/// Per `status`: `total`, `waiting` (not due yet) and `expired` (lease past).
fn status_counts(backend: Backend, now: DateTime<Utc>) -> SelectStatement {
    let count_where = |cond: Cond| Func::sum(Expr::case(cond, 1).finally(0));
    tagged(StatusPart::Counts)
        .column(Column::Status)
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(status_column::TOTAL))
        .expr_as(
            count_where(Cond::all().add(Expr::col(Column::NextAttemptAt).gt(backend.time(now)))),
            Alias::new(status_column::WAITING),
        )
        .expr_as(
            count_where(
                Cond::any()
                    .add(Expr::col(Column::LockedUntil).is_null())
                    .add(Expr::col(Column::LockedUntil).lt(backend.time(now))),
            ),
            Alias::new(status_column::EXPIRED),
        )
        .group_by_col(Column::Status)
        .to_owned()
}

/// `since`: when the due `pending` row next in line became due (its retry
/// time, else when it was enqueued or put back). "Next in line" is the
/// claim's order, so that the claim index finds it without a scan.
pub(crate) fn oldest_due_pending(backend: Backend, now: DateTime<Utc>) -> SelectStatement {
    tagged(StatusPart::OldestDuePending)
        .expr_as(
            Func::coalesce([
                Expr::col(Column::NextAttemptAt),
                Expr::col(Column::UpdatedAt),
                Expr::col(Column::CreatedAt),
            ]),
            Alias::new(status_column::SINCE),
        )
        .and_where(Expr::col(Column::Status).eq(status(DomainStatus::Pending)))
        .cond_where(
            Cond::any()
                .add(Expr::col(Column::NextAttemptAt).is_null())
                .add(Expr::col(Column::NextAttemptAt).lte(backend.time(now))),
        )
        .order_by_with_nulls(Column::UpdatedAt, Order::Asc, NullOrdering::First)
        .order_by(Column::Id, Order::Asc)
        .limit(1)
        .to_owned()
}

/// Per minute and `status`, the rows whose latest change (`updated_at`)
/// fell in the last `window` minutes and left them `completed`, `error`,
/// or `pending` with a time to wait for (a retry): `minutes_ago` and
/// `total`. One pass over the rows changed in the window; the table has no
/// index on `updated_at` outside the queue, so on Postgres a sequential
/// scan, as the last hour's count was before it.
fn changes_per_minute(backend: Backend, now: DateTime<Utc>, window: u32) -> SelectStatement {
    let since = now - chrono::TimeDelta::minutes(window.into());
    let minutes_ago = match backend {
        Backend::Postgres => Expr::cust_with_values(
            r#"CAST(FLOOR(EXTRACT(EPOCH FROM (CAST($1 AS TIMESTAMPTZ) - "updated_at")) / 60) AS BIGINT)"#,
            [backend.time(now)],
        ),
        // Whole seconds first (julianday is a day fraction in a double),
        // then whole minutes toward zero: a change stamped after `now`
        // reads as minute 0 either way.
        Backend::Sqlite => Expr::cust_with_values(
            r#"CAST(ROUND((julianday(?) - julianday("updated_at")) * 86400) AS INTEGER) / 60"#,
            [backend.time(now)],
        ),
    };
    tagged(StatusPart::PerMinute)
        .expr_as(minutes_ago, Alias::new(status_column::MINUTES_AGO))
        .column(Column::Status)
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(status_column::TOTAL))
        .and_where(Expr::col(Column::UpdatedAt).gte(backend.time(since)))
        .cond_where(
            Cond::any()
                .add(
                    Expr::col(Column::Status)
                        .is_in([status(DomainStatus::Completed), status(DomainStatus::Error)]),
                )
                .add(
                    Cond::all()
                        .add(Expr::col(Column::Status).eq(status(DomainStatus::Pending)))
                        .add(Expr::col(Column::NextAttemptAt).is_not_null()),
                ),
        )
        .group_by_col(Alias::new(status_column::MINUTES_AGO))
        .group_by_col(Column::Status)
        .to_owned()
}

/// The `LIKE` pattern of the messages of a shape. The shapes' texts hold
/// no wildcard and no escape character (a test checks), so the pattern
/// needs no `ESCAPE` clause and reads the same on both backends.
fn like_pattern(shape: MessageShape) -> String {
    match shape {
        MessageShape::StartsWith(prefix) => format!("{prefix}%"),
        MessageShape::Contains(text) => format!("%{text}%"),
    }
}

/// The kind of `last_error`, by the domain's [`ERROR_KINDS`] table: a
/// `CASE` with one `LIKE` per kind, first match wins, as
/// [`scheduler_domain::error_kind`] decides in Rust.
fn error_kind_of_row() -> Expr {
    let kind = ERROR_KINDS.iter().fold(
        Expr::case(Expr::col(Column::LastError).is_null(), OTHER_ERROR_KIND),
        |case, rule| {
            let matches = Expr::col(Column::LastError).like(like_pattern(rule.shape));
            match rule.keep_prefix {
                Some(keep) => case.case(
                    matches,
                    Func::cust(Alias::new("SUBSTR")).args([
                        Expr::col(Column::LastError),
                        Expr::val(1),
                        Expr::val(i32::from(keep)),
                    ]),
                ),
                None => case.case(matches, rule.kind),
            }
        },
    );
    kind.finally(OTHER_ERROR_KIND).into()
}

/// `kind` and `total` of the most frequent kinds of `last_error` among
/// `error` rows.
fn error_kinds() -> SelectStatement {
    tagged(StatusPart::ErrorKinds)
        .expr_as(error_kind_of_row(), Alias::new(status_column::KIND))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(status_column::TOTAL))
        .and_where(Expr::col(Column::Status).eq(status(DomainStatus::Error)))
        .group_by_col(Alias::new(status_column::KIND))
        .order_by(Alias::new(status_column::TOTAL), Order::Desc)
        .order_by(Alias::new(status_column::KIND), Order::Asc)
        .limit(STATUS_ERROR_KINDS as u64)
        .to_owned()
}

/// A page of the latest errors, of one kind or all, in the order and with
/// the columns of the report's own list: newest first, `offset` skipped.
/// The kind is the same `CASE` as [`error_kinds`]', so a kind the report
/// lists finds exactly the rows it counted.
pub(crate) fn errors_page(query: &ErrorQuery) -> SelectStatement {
    let mut page = newest(
        DomainStatus::Error,
        StatusPart::RecentErrors,
        Column::LastError,
        query.limit,
    );
    if let Some(kind) = &query.kind {
        page.and_where(error_kind_of_row().eq(text(kind)));
    }
    page.offset(u64::from(query.offset)).to_owned()
}

/// The errors of [`errors_page`]'s rows.
///
/// # Errors
///
/// A value that cannot be read.
pub(crate) fn read_errors_page(rows: &[Row]) -> Result<Vec<ErrorSample>, RepositoryError> {
    rows.iter().map(error_sample).collect()
}

fn error_sample(row: &Row) -> Result<ErrorSample, RepositoryError> {
    Ok(ErrorSample {
        domain: row.text(Column::Domain.as_str())?.unwrap_or_default(),
        error: row.text(status_column::DETAIL)?.unwrap_or_default(),
        at: row
            .time(Column::UpdatedAt.as_str())?
            .unwrap_or(DateTime::UNIX_EPOCH),
    })
}

/// `domain`, `detail` (the `detail` column given) and `updated_at` of the
/// `limit` newest rows in `state`.
fn newest(state: DomainStatus, part: StatusPart, detail: Column, limit: u32) -> SelectStatement {
    tagged(part)
        .column(Column::Domain)
        .expr_as(Expr::col(detail), Alias::new(status_column::DETAIL))
        .column(Column::UpdatedAt)
        .and_where(Expr::col(Column::Status).eq(status(state)))
        .order_by_with_nulls(Column::UpdatedAt, Order::Desc, NullOrdering::Last)
        .order_by(Column::Id, Order::Desc)
        .limit(u64::from(limit))
        .to_owned()
}

/// The report the rows of [`status_report`]'s statements make for
/// `request`.
///
/// # Errors
///
/// A value that cannot be read, or a row of no part this module knows.
pub(crate) fn read_status(
    rows: &[Row],
    request: &StatusRequest,
) -> Result<StatusReport, RepositoryError> {
    let now = request.now;
    let mut report = StatusReport::default();
    let mut tally = MinuteTally::default();
    for row in rows {
        let part = row.text(StatusPart::COLUMN)?;
        match part.as_deref().and_then(StatusPart::parse) {
            Some(StatusPart::Counts) => {
                let total = count(row.integer(status_column::TOTAL)?);
                match row
                    .text(Column::Status.as_str())?
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                {
                    Some(DomainStatus::Pending) => {
                        report.pending = total;
                        report.waiting_for_retry = count(row.integer(status_column::WAITING)?);
                    }
                    Some(DomainStatus::Processing) => {
                        report.processing = total;
                        report.expired_leases = count(row.integer(status_column::EXPIRED)?);
                    }
                    Some(DomainStatus::Completed) => report.completed = total,
                    Some(DomainStatus::Error) => report.error = total,
                    None => report.other += total,
                }
            }
            Some(StatusPart::OldestDuePending) => {
                report.oldest_pending_seconds = row
                    .time(status_column::SINCE)?
                    .map(|since| u64::try_from((now - since).num_seconds()).unwrap_or(0));
            }
            Some(StatusPart::PerMinute) => {
                let change = match row
                    .text(Column::Status.as_str())?
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                {
                    Some(DomainStatus::Completed) => MinuteChange::Completed,
                    Some(DomainStatus::Error) => MinuteChange::Failed,
                    _ => MinuteChange::Retried,
                };
                tally.add(
                    row.integer(status_column::MINUTES_AGO)?.unwrap_or(0),
                    change,
                    count(row.integer(status_column::TOTAL)?),
                );
            }
            Some(StatusPart::ErrorKinds) => report.error_kinds.push(ErrorKindCount {
                kind: row.text(status_column::KIND)?.unwrap_or_default(),
                count: count(row.integer(status_column::TOTAL)?),
            }),
            Some(StatusPart::RecentErrors) => report.recent_errors.push(error_sample(row)?),
            Some(StatusPart::RecentCompleted) => {
                report.recent_completed.push(CompletedSample {
                    domain: row.text(Column::Domain.as_str())?.unwrap_or_default(),
                    title: row.text(status_column::DETAIL)?,
                    at: row
                        .time(Column::UpdatedAt.as_str())?
                        .unwrap_or(DateTime::UNIX_EPOCH),
                });
            }
            None => {
                return Err(RepositoryError::Database(format!(
                    "status returned a row of unknown part {part:?}"
                )));
            }
        }
    }
    tally.finish(&mut report, request.throughput_minutes);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_reads_as_a_like_pattern_without_escapes() {
        for rule in ERROR_KINDS {
            let pattern = like_pattern(rule.shape);
            assert!(pattern.ends_with('%'), "{rule:?}");
            assert!(
                !rule.shape.text().contains(['%', '_', '\\', '\'']),
                "{rule:?}"
            );
        }
    }

    #[test]
    fn shapes_become_prefix_and_infix_like_patterns() {
        assert_eq!(like_pattern(MessageShape::StartsWith("HTTP ")), "HTTP %");
        assert_eq!(
            like_pattern(MessageShape::Contains("is not a valid domain name:")),
            "%is not a valid domain name:%"
        );
        for rule in ERROR_KINDS {
            let pattern = like_pattern(rule.shape);
            match rule.shape {
                MessageShape::StartsWith(prefix) => assert_eq!(pattern, format!("{prefix}%")),
                MessageShape::Contains(text) => assert_eq!(pattern, format!("%{text}%")),
            }
        }
    }

    #[test]
    fn every_part_reads_back_as_itself() {
        for part in StatusPart::ALL {
            assert_eq!(StatusPart::parse(part.as_str()), Some(part));
        }
        assert_eq!(StatusPart::parse("other"), None);
    }
}
