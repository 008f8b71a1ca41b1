//! `requeue`: finished rows back to `pending`. The selection becomes one
//! condition; a requeue by name first reads which of the names have a row,
//! in the same transaction, so that it can report the others.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use scheduler_domain::{DomainName, DomainStatus, ErrorPattern, RepositoryError, RequeueSelection};
use sea_orm::IdenStatic;
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, LikeExpr, Query, SelectStatement, UpdateStatement, Value,
};

use super::values::{clear_lease, status, status_in, text};
use crate::backend::Backend;
use crate::entity::{Column, Entity};
use crate::row::{Row, count};

/// The escape character of the `LIKE` patterns of an [`ErrorPattern`]: the
/// one an operator's [`ErrorPattern::Like`] uses, so that it is sent as
/// written.
const LIKE_ESCAPE: char = '\\';

/// `pattern` as SQL `LIKE` reads it with [`LIKE_ESCAPE`] as the escape
/// character: a `Like` as the operator wrote it, a `Contains` with its
/// wildcards made literal and `%` either side.
fn like_pattern(pattern: &ErrorPattern) -> String {
    match pattern {
        ErrorPattern::Like(pattern) => pattern.clone(),
        ErrorPattern::Contains(text) => {
            let mut pattern = String::with_capacity(text.len() + 2);
            pattern.push('%');
            for c in text.chars() {
                if matches!(c, '%' | '_' | LIKE_ESCAPE) {
                    pattern.push(LIKE_ESCAPE);
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        }
    }
}

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
                    Expr::val(like_pattern(pattern)),
                    Expr::val(LIKE_ESCAPE.to_string()),
                ],
            ),
            // SQLite's LIKE ignores the case of ASCII letters by itself.
            Backend::Sqlite => Expr::col(Column::LastError)
                .like(LikeExpr::new(like_pattern(pattern)).escape(LIKE_ESCAPE)),
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

/// The names of `names` that have a row, with its status and 1 when the
/// selection takes it, 0 when not.
pub(crate) fn known_names(backend: Backend, selection: &RequeueSelection) -> SelectStatement {
    Query::select()
        .column(Column::Domain)
        .column(Column::Status)
        .expr_as(
            Expr::case(selected(backend, selection), 1).finally(0),
            Alias::new(SELECTED),
        )
        .from(Entity)
        .and_where(named(selection.names()))
        .to_owned()
}

/// How many rows the selection takes.
pub(crate) fn count_selected(backend: Backend, selection: &RequeueSelection) -> SelectStatement {
    Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(SELECTED))
        .from(Entity)
        .cond_where(selected(backend, selection))
        .to_owned()
}

/// How many rows a row of [`count_selected`] or [`known_names`] stands for.
pub(crate) fn selected_count(row: &Row) -> Result<u64, RepositoryError> {
    Ok(count(row.integer(SELECTED)?))
}

/// What [`known_names`] says of a selection's names.
pub(crate) struct NamesFound {
    /// Names without a row.
    pub(crate) not_found: Vec<DomainName>,
    /// Names whose row the selection leaves alone, with its status.
    pub(crate) left_alone: Vec<(DomainName, String)>,
}

/// What [`known_names`] says of the selection's names: those without a
/// row, and those whose row the selection leaves alone.
pub(crate) fn names_found(
    selection: &RequeueSelection,
    known: &[Row],
) -> Result<NamesFound, RepositoryError> {
    let mut present = HashSet::with_capacity(known.len());
    let mut left = std::collections::HashMap::new();
    for row in known {
        let Some(domain) = row.text(Column::Domain.as_str())? else {
            continue;
        };
        if selected_count(row)? == 0 {
            let status = row.text(Column::Status.as_str())?.unwrap_or_default();
            left.insert(domain.clone(), status);
        }
        present.insert(domain);
    }
    let not_found = selection
        .names()
        .iter()
        .filter(|name| !present.contains(name.as_str()))
        .cloned()
        .collect();
    let left_alone = selection
        .names()
        .iter()
        .filter_map(|name| Some((name.clone(), left.get(name.as_str())?.clone())))
        .collect();
    Ok(NamesFound {
        not_found,
        left_alone,
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::PostgresQueryBuilder;

    use super::*;

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

    #[test]
    fn contains_becomes_a_like_pattern_with_its_wildcards_literal() {
        assert_eq!(
            like_pattern(&ErrorPattern::Contains("a%b_c\\d".into())),
            "%a\\%b\\_c\\\\d%"
        );
        assert_eq!(
            like_pattern(&ErrorPattern::Like("HTTP 5%".into())),
            "HTTP 5%"
        );
    }
}
