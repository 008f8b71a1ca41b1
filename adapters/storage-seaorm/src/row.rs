//! [`Row`]: a row either backend returned, read column by column into the
//! port's types.

use chrono::{DateTime, Utc};
use scheduler_domain::RepositoryError;
use sea_orm::QueryResult;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use uuid::Uuid;

/// A row returned by either backend.
#[derive(Debug)]
pub(crate) enum Row {
    Postgres(PgRow),
    Sqlite(QueryResult),
}

fn invalid(column: &str, error: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::InvalidRow(format!("column {column}: {error}"))
}

impl Row {
    pub(crate) fn text(&self, column: &str) -> Result<Option<String>, RepositoryError> {
        match self {
            Row::Postgres(row) => row.try_get(column).map_err(|e| invalid(column, e)),
            Row::Sqlite(row) => row.try_get("", column).map_err(|e| invalid(column, e)),
        }
    }

    pub(crate) fn integer(&self, column: &str) -> Result<Option<i64>, RepositoryError> {
        match self {
            // The column may be int2, int4 or int8 depending on who created
            // it; sqlx checks the exact type, so try each.
            Row::Postgres(row) => row
                .try_get::<Option<i64>, _>(column)
                .or_else(|_| {
                    row.try_get::<Option<i32>, _>(column)
                        .map(|v| v.map(i64::from))
                })
                .or_else(|_| {
                    row.try_get::<Option<i16>, _>(column)
                        .map(|v| v.map(i64::from))
                })
                .map_err(|e| invalid(column, e)),
            Row::Sqlite(row) => row.try_get("", column).map_err(|e| invalid(column, e)),
        }
    }

    /// A key of any type the worker accepts, as the text the database
    /// prints for it (so that it reads back as the same key).
    pub(crate) fn key(&self, column: &str) -> Result<Option<String>, RepositoryError> {
        match self {
            Row::Postgres(row) => {
                if let Ok(key) = row.try_get::<Option<Uuid>, _>(column) {
                    return Ok(key.map(|uuid| uuid.to_string()));
                }
                if let Ok(key) = row.try_get::<Option<String>, _>(column) {
                    return Ok(key);
                }
                self.integer(column)
                    .map(|key| key.map(|key| key.to_string()))
            }
            Row::Sqlite(row) => row
                .try_get::<Option<String>>("", column)
                .or_else(|_| {
                    row.try_get::<Option<i64>>("", column)
                        .map(|key| key.map(|key| key.to_string()))
                })
                .map_err(|e| invalid(column, e)),
        }
    }

    pub(crate) fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        match self {
            Row::Postgres(row) => row.try_get(column).map_err(|e| invalid(column, e)),
            Row::Sqlite(row) => {
                let text: Option<String> =
                    row.try_get("", column).map_err(|e| invalid(column, e))?;
                text.map(|text| parse_sqlite_time(&text).map_err(|e| invalid(column, e)))
                    .transpose()
            }
        }
    }
}

/// Reads the times SQLite holds: ours (RFC 3339) and `CURRENT_TIMESTAMP`'s.
fn parse_sqlite_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .map(|at| at.and_utc())
        })
}

/// A count as the port reports it: a missing or negative one is 0.
pub(crate) fn count(value: Option<i64>) -> u64 {
    value.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}
