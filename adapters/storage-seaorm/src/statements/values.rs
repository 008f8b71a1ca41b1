//! The values and conditions every statement shares: keys, text (NUL
//! dropped), states, and the clearing of a lease.

use scheduler_domain::{DomainId, DomainStatus};
use sea_orm::sea_query::{Expr, ExprTrait, UpdateStatement, Value};

use crate::entity::Column;
use crate::nul::strip_nul;

/// The key as a text literal: Postgres reads an untyped literal as the
/// column's own type (uuid, bigint, text) and SQLite converts it to the
/// column's affinity, so either way the comparison is the key's own and
/// the primary key serves it.
pub(super) fn key(id: &DomainId) -> Value {
    Value::String(Some(id.as_str().to_owned()))
}

/// Text as stored: NUL dropped.
pub(super) fn text(value: &str) -> Value {
    Value::String(Some(strip_nul(value)))
}

pub(super) fn status(status: DomainStatus) -> Value {
    Value::String(Some(status.as_str().to_owned()))
}

/// `status IN (...)` over `states`; never true when there is none.
pub(super) fn status_in(states: impl Iterator<Item = DomainStatus>) -> Expr {
    Expr::col(Column::Status).is_in(states.map(status))
}

pub(super) fn clear_lease(update: &mut UpdateStatement) -> &mut UpdateStatement {
    update
        .value(Column::LockedBy, Value::String(None))
        .value(Column::LockedUntil, Value::ChronoDateTimeUtc(None))
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, Query};

    use super::*;

    #[test]
    fn seaquery_writes_text_needing_escapes_as_escape_strings() {
        // E'' literals read back the same whatever standard_conforming_strings
        // says; control characters become octal escapes, not lossy letters.
        let select = Query::select()
            .expr(Expr::val("plain"))
            .expr(Expr::val("O'Reilly \\ x"))
            .expr(Expr::val("a\u{1a}b\u{8}c"))
            .to_owned();
        assert_eq!(
            select.to_string(PostgresQueryBuilder),
            "SELECT 'plain', E'O\\'Reilly \\\\ x', E'a\\032b\\bc'"
        );
    }

    #[test]
    fn text_is_stored_without_nul() {
        assert_eq!(text("a\0b"), Value::String(Some("ab".to_owned())));
    }
}
