//! Errors of connecting and migrating, and how driver errors map to the
//! port's [`RepositoryError`].

use std::ops::Deref;

use scheduler_domain::RepositoryError;
use sea_orm::{DbErr, RuntimeErr};

/// Why the storage could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL names a database this adapter does not speak.
    #[error(
        "unsupported database URL scheme {scheme:?}: expected postgres://, postgresql:// or sqlite://"
    )]
    UnsupportedScheme {
        /// The scheme found (empty when the URL has none).
        scheme: String,
    },
    /// The URL could not be read.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(RepositoryError),
    /// The schema could not be brought up to date.
    #[error("migration of the domains table failed: {0}")]
    Migration(RepositoryError),
}

/// Postgres SQLSTATEs that mean "ran too long or waited too long".
const TIMEOUT_CODES: [&str; 4] = [
    "57014", // query_canceled: statement_timeout
    "55P03", // lock_not_available: lock_timeout
    "25P03", // idle_in_transaction_session_timeout
    "40P01", // deadlock_detected: a lock wait that could never end
];

/// SQLite result codes for a lock held past the busy timeout.
const SQLITE_BUSY_CODES: [&str; 2] = ["5", "6"];

/// Maps a driver error to the port's error kinds.
pub(crate) fn from_sqlx(error: &sqlx::Error) -> RepositoryError {
    let message = error.to_string();
    match error {
        sqlx::Error::Database(database) => {
            let message = postgres_message(database.as_ref()).unwrap_or(message);
            let code = database.code();
            let code = code.as_deref().unwrap_or_default();
            if TIMEOUT_CODES.contains(&code) || SQLITE_BUSY_CODES.contains(&code) {
                RepositoryError::Timeout(message)
            } else if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                // connection_exception, admin shutdown / cannot connect now,
                // too_many_connections.
                RepositoryError::Unavailable(message)
            } else {
                RepositoryError::Database(message)
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => RepositoryError::Unavailable(message),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::Decode(_) => RepositoryError::InvalidRow(message),
        _ => RepositoryError::Database(message),
    }
}

/// A Postgres error as the server gave it: the message with its detail
/// (which row broke a unique index, say), without the server's source line
/// that the driver's text carries.
fn postgres_message(error: &dyn sqlx::error::DatabaseError) -> Option<String> {
    let error = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    Some(match error.detail() {
        Some(detail) => format!("{}: {detail}", error.message()),
        None => error.message().to_owned(),
    })
}

/// Maps a SeaORM error (which wraps the driver's) to the port's kinds.
pub(crate) fn from_db(error: &DbErr) -> RepositoryError {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(inner))
        | DbErr::Exec(RuntimeErr::SqlxError(inner))
        | DbErr::Query(RuntimeErr::SqlxError(inner)) => match from_sqlx(inner.deref()) {
            RepositoryError::Database(message) if matches!(error, DbErr::Conn(_)) => {
                RepositoryError::Unavailable(message)
            }
            mapped => mapped,
        },
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
            RepositoryError::Unavailable(error.to_string())
        }
        DbErr::Type(_) | DbErr::Json(_) => RepositoryError::InvalidRow(error.to_string()),
        _ => RepositoryError::Database(error.to_string()),
    }
}
