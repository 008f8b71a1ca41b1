//! `find_domain`: one row read by the unique index on `domain`, and the
//! reading of it into a [`DomainRecord`].

use scheduler_domain::{DomainName, DomainRecord, RepositoryError};
use sea_orm::IdenStatic;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};

use super::values::text;
use crate::entity::{Column, Entity};
use crate::row::Row;

/// The columns of a record, `meta_json` as text: Postgres may hold it as
/// `json`, `jsonb` or `text` and SQLite as text, and all of them cast to
/// text alike.
const COLUMNS: [Column; 9] = [
    Column::Domain,
    Column::Status,
    Column::Attempts,
    Column::LockedBy,
    Column::LockedUntil,
    Column::NextAttemptAt,
    Column::LastError,
    Column::CreatedAt,
    Column::UpdatedAt,
];

/// The row of `name`: an equality on `domain` alone, which the unique index
/// answers with one probe.
pub(crate) fn find_domain(name: &DomainName) -> SelectStatement {
    Query::select()
        .columns(COLUMNS)
        .expr_as(
            Expr::col(Column::MetaJson).cast_as("TEXT"),
            Alias::new(Column::MetaJson.as_str()),
        )
        .from(Entity)
        .and_where(Expr::col(Column::Domain).eq(text(name.as_str())))
        .limit(1)
        .to_owned()
}

/// The record a row of [`find_domain`] holds.
///
/// # Errors
///
/// [`RepositoryError::InvalidRow`] for a column that cannot be read.
pub(crate) fn read_record(row: &Row) -> Result<DomainRecord, RepositoryError> {
    let metadata = row.text(Column::MetaJson.as_str())?.map(|document| {
        serde_json::from_str(&document).unwrap_or(serde_json::Value::String(document))
    });
    Ok(DomainRecord {
        domain: row.text(Column::Domain.as_str())?.unwrap_or_default(),
        status: row.text(Column::Status.as_str())?,
        attempts: row
            .integer(Column::Attempts.as_str())?
            .and_then(|attempts| u32::try_from(attempts).ok())
            .unwrap_or(0),
        locked_by: row.text(Column::LockedBy.as_str())?,
        locked_until: row.time(Column::LockedUntil.as_str())?,
        next_attempt_at: row.time(Column::NextAttemptAt.as_str())?,
        last_error: row.text(Column::LastError.as_str())?,
        created_at: row.time(Column::CreatedAt.as_str())?,
        updated_at: row.time(Column::UpdatedAt.as_str())?,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::PostgresQueryBuilder;

    use super::*;

    #[test]
    fn the_lookup_is_one_equality_on_the_indexed_column() {
        let name = DomainName::parse("example.com").unwrap();
        let sql = find_domain(&name).to_string(PostgresQueryBuilder);
        assert!(
            sql.ends_with(r#"FROM "domains" WHERE "domain" = 'example.com' LIMIT 1"#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"CAST("meta_json" AS TEXT) AS "meta_json""#),
            "{sql}"
        );
    }
}
