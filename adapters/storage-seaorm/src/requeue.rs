//! `requeue`: finished rows back to `pending`, as one transaction (on
//! Postgres one simple query, like every other operation).
//!
//! The selection becomes one condition; a requeue by name first reads which
//! of the names have a row, in the same transaction, so that it can report
//! the others.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use scheduler_domain::requeue::LIKE_ESCAPE;
use scheduler_domain::{
    DomainName, DomainStatus, RepositoryError, RequeueReport, RequeueSelection,
};
use sea_orm::IdenStatic;
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, LikeExpr, Query, SelectStatement, UpdateStatement, Value,
};

use crate::entity::{Column, Entity};
use crate::repository::count as count_of;
use crate::statements::{clear_lease, status, status_in, text};
use crate::{Backend, SeaOrmRepository};

/// The computed column of the reads: 1 or the count of selected rows.
const SELECTED: &str = "selected";

/// The rows `selection` selects, as one condition.
fn selected(backend: Backend, selection: &RequeueSelection) -> Cond {
    let mut condition = Cond::all().add(status_in(selection.statuses().iter().copied()));
    if let Some(cutoff) = selection.updated_before_cutoff() {
        condition = condition.add(
            Cond::any()
                .add(Expr::col(Column::UpdatedAt).is_null())
                .add(Expr::col(Column::UpdatedAt).lt(backend.time(cutoff))),
        );
    }
    if let Some(pattern) = selection.error_pattern() {
        condition = condition.add(match backend {
            // SeaQuery puts an ILIKE's ESCAPE clause in parentheses, which
            // Postgres refuses; the values are still inlined as literals.
            Backend::Postgres => Expr::cust_with_exprs(
                "$1 ILIKE $2 ESCAPE $3",
                [
                    Expr::col(Column::LastError),
                    Expr::val(pattern.like_pattern()),
                    Expr::val(LIKE_ESCAPE.to_string()),
                ],
            ),
            // SQLite's LIKE ignores the case of ASCII letters by itself.
            Backend::Sqlite => Expr::col(Column::LastError)
                .like(LikeExpr::new(pattern.like_pattern()).escape(LIKE_ESCAPE)),
        });
    }
    if !selection.names().is_empty() {
        condition = condition.add(named(selection.names()));
    }
    condition
}

fn named(names: &[DomainName]) -> Expr {
    Expr::col(Column::Domain).is_in(names.iter().map(|name| text(name.as_str())))
}

/// Moves the selected rows to `pending` with a fresh start.
pub(crate) fn requeue(
    backend: Backend,
    selection: &RequeueSelection,
    now: DateTime<Utc>,
) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(Entity)
        .value(Column::Status, status(DomainStatus::Pending))
        .value(Column::Attempts, Expr::val(0))
        .value(Column::NextAttemptAt, Value::ChronoDateTimeUtc(None));
    clear_lease(&mut update)
        .value(Column::UpdatedAt, backend.time(now))
        .cond_where(selected(backend, selection))
        .to_owned()
}

/// The names of `names` that have a row, each with 1 when the selection
/// takes it and 0 when not.
fn known_names(backend: Backend, selection: &RequeueSelection) -> SelectStatement {
    Query::select()
        .column(Column::Domain)
        .expr_as(
            Expr::case(selected(backend, selection), 1).finally(0),
            Alias::new(SELECTED),
        )
        .from(Entity)
        .and_where(named(selection.names()))
        .to_owned()
}

/// How many rows the selection takes.
fn count_selected(backend: Backend, selection: &RequeueSelection) -> SelectStatement {
    Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(SELECTED))
        .from(Entity)
        .cond_where(selected(backend, selection))
        .to_owned()
}

impl SeaOrmRepository {
    pub(crate) async fn requeue_rows(
        &self,
        selection: &RequeueSelection,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RequeueReport, RepositoryError> {
        let backend = self.backend();
        let mut report = RequeueReport::default();
        if selection.names().is_empty() {
            report.requeued = if dry_run {
                let count = self.built(&count_selected(backend, selection));
                let rows = self.runner().fetch(&[count]).await?;
                match rows.first() {
                    Some(row) => count_of(row.integer(SELECTED)?),
                    None => 0,
                }
            } else {
                let update = self.built(&requeue(backend, selection, now));
                self.runner().execute(&[update]).await?
            };
            return Ok(report);
        }
        let known = self.built(&known_names(backend, selection));
        let rows = if dry_run {
            let rows = self.runner().fetch(&[known]).await?;
            for row in &rows {
                report.requeued += count_of(row.integer(SELECTED)?);
            }
            rows
        } else {
            let update = self.built(&requeue(backend, selection, now));
            let (rows, changed) = self.runner().fetch_and_count_last(&[known, update]).await?;
            report.requeued = changed;
            rows
        };
        let mut present = HashSet::with_capacity(rows.len());
        for row in &rows {
            if let Some(domain) = row.text(Column::Domain.as_str())? {
                present.insert(domain);
            }
        }
        report.not_found = selection
            .names()
            .iter()
            .filter(|name| !present.contains(name.as_str()))
            .cloned()
            .collect();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scheduler_domain::ErrorPattern;
    use sea_orm::sea_query::PostgresQueryBuilder;

    #[test]
    fn the_postgres_requeue_is_one_update_with_every_selector_and_no_busy_row() {
        let selection = RequeueSelection::new()
            .with_status(DomainStatus::Error)
            .unwrap()
            .updated_before(DateTime::UNIX_EPOCH)
            .error_matching(ErrorPattern::Contains("50%".into()))
            .domains([DomainName::parse("a.example").unwrap()]);
        let sql = requeue(Backend::Postgres, &selection, DateTime::UNIX_EPOCH)
            .to_string(PostgresQueryBuilder);
        assert_eq!(
            sql,
            "UPDATE \"domains\" SET \"status\" = 'pending', \"attempts\" = 0, \
             \"next_attempt_at\" = NULL, \"locked_by\" = NULL, \"locked_until\" = NULL, \
             \"updated_at\" = '1970-01-01 00:00:00.000000 +00:00' \
             WHERE \"status\" IN ('error') \
             AND (\"updated_at\" IS NULL OR \"updated_at\" < '1970-01-01 00:00:00.000000 +00:00') \
             AND (\"last_error\" ILIKE E'%50\\\\%%' ESCAPE E'\\\\') \
             AND \"domain\" IN ('a.example')"
        );
    }
}
