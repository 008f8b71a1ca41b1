//! Errors of connecting and migrating, and how driver errors map to the
//! port's [`RepositoryError`].

use std::ops::Deref;
use std::str::FromStr;

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
    /// The table's `id` column has a type the worker cannot key rows by.
    #[error("{0}; nothing was changed")]
    UnsupportedKey(#[from] UnsupportedKey),
    /// There is no `domains` table.
    #[error("the domains table does not exist: run `domain-scheduler migrate`")]
    TableMissing,
    /// The table lacks columns the worker reads or writes.
    #[error(
        "the domains table has no column {columns}: run `domain-scheduler migrate` to add {them}",
        columns = .columns.join(", "),
        them = if .columns.len() == 1 { "it" } else { "them" }
    )]
    ColumnsMissing {
        /// The missing columns.
        columns: Vec<String>,
    },
    /// Indexes must be built `CONCURRENTLY` (several statements on one
    /// session) but the migration connection goes through a transaction
    /// pooler, which may run them on different server connections.
    #[error(
        "the domains table needs {indexes} built CONCURRENTLY, which takes several statements \
         on one session; through a transaction pooler they could run on different server \
         connections and leave lock_timeout set on another client's session. Set \
         database.migration_url to a direct connection or a session pooler (on Supabase: port \
         5432), or database.pooler = \"none\" if database.url is one, and run \
         `domain-scheduler migrate` again{done}",
        indexes = .indexes.join(", "),
        done = if *.columns_done { "; the table and its columns are up to date" } else { "" }
    )]
    ConcurrentBuildNeedsSession {
        /// The indexes still to build or rebuild.
        indexes: Vec<String>,
        /// Whether the table and column changes before them were made.
        columns_done: bool,
    },
    /// A new `id` column needs `gen_random_uuid()`, which PostgreSQL 12
    /// has only with the pgcrypto extension.
    #[error(
        "PostgreSQL 12 has gen_random_uuid(), the default of the domains table's id column, only \
         with the pgcrypto extension: run `CREATE EXTENSION pgcrypto;` in this database (or use \
         PostgreSQL 13 or later) and migrate again; nothing was changed"
    )]
    NeedsPgcrypto,
    /// The Postgres server is older than the oldest the worker supports.
    #[error(
        "PostgreSQL {major}.{minor} is too old: the worker needs PostgreSQL 12 or later \
         (CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY of live tables); nothing was changed",
        major = .server_version_num / 10000,
        minor = .server_version_num % 10000
    )]
    UnsupportedPostgres {
        /// `server_version_num` as the server reports it (e.g. 110022).
        server_version_num: i64,
    },
}

/// A key column the worker cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the domains table's id column is {declared}: the worker accepts uuid, smallint, integer, \
     bigint (serial, bigserial, identity), text and varchar keys"
)]
pub struct UnsupportedKey {
    /// The declared type found.
    pub declared: String,
}

/// The oldest Postgres the worker runs on, as `server_version_num`.
pub const MINIMUM_POSTGRES_VERSION_NUM: i64 = 120_000;

/// Refuses a Postgres older than [`MINIMUM_POSTGRES_VERSION_NUM`].
///
/// # Errors
///
/// [`StorageError::UnsupportedPostgres`] for an older server.
pub fn check_postgres_version(server_version_num: i64) -> Result<(), StorageError> {
    if server_version_num < MINIMUM_POSTGRES_VERSION_NUM {
        Err(StorageError::UnsupportedPostgres { server_version_num })
    } else {
        Ok(())
    }
}

/// What a failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// Ran or waited too long, or lost to a concurrent transaction: the
    /// same work may succeed when tried again.
    Timeout,
    /// The connection or the server is gone or full.
    Unavailable,
    /// Anything else.
    Other,
}

/// A Postgres SQLSTATE, by class where the whole class means one thing.
fn postgres_failure(sqlstate: &str) -> FailureKind {
    match sqlstate {
        "57014" // query_canceled: statement_timeout
        | "55P03" // lock_not_available: lock_timeout
        | "25P03" // idle_in_transaction_session_timeout
        | "40P01" // deadlock_detected: a lock wait that could never end
        | "40001" // serialization_failure: a concurrent transaction won
        => FailureKind::Timeout,
        // too_many_connections
        "53300" => FailureKind::Unavailable,
        // connection_exception; operator intervention (admin shutdown,
        // crash shutdown, cannot connect now)
        _ if sqlstate.starts_with("08") || sqlstate.starts_with("57P") => {
            FailureKind::Unavailable
        }
        _ => FailureKind::Other,
    }
}

/// A SQLite result code (sqlx reports the extended code; its low byte is
/// the primary one).
fn sqlite_failure(code: &str) -> FailureKind {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_IOERR: i64 = 10;
    const SQLITE_CANTOPEN: i64 = 14;
    match i64::from_str(code).map(|code| code & 0xff) {
        Ok(SQLITE_BUSY | SQLITE_LOCKED) => FailureKind::Timeout,
        Ok(SQLITE_IOERR | SQLITE_CANTOPEN) => FailureKind::Unavailable,
        _ => FailureKind::Other,
    }
}

/// The SQLSTATE of a Postgres error.
pub(crate) fn postgres_sqlstate(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(database) => database
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .map(|error| error.code()),
        _ => None,
    }
}

/// SQLSTATE `lock_not_available`: a wait for a lock ran past `lock_timeout`.
pub(crate) const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Maps a driver error to the port's error kinds.
pub(crate) fn from_sqlx(error: &sqlx::Error) -> RepositoryError {
    let message = error.to_string();
    match error {
        sqlx::Error::Database(database) => {
            let failure = match database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                Some(postgres) => postgres_failure(postgres.code()),
                None => sqlite_failure(database.code().as_deref().unwrap_or_default()),
            };
            let message = postgres_message(database.as_ref()).unwrap_or(message);
            match failure {
                FailureKind::Timeout => RepositoryError::Timeout(message),
                FailureKind::Unavailable => RepositoryError::Unavailable(message),
                FailureKind::Other => RepositoryError::Database(message),
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

/// A failed connect: a URL the driver refused ([`sqlx::Error::Configuration`])
/// or a database that could not be reached.
pub(crate) fn connect_error(error: &DbErr) -> StorageError {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(inner))
            if matches!(inner.deref(), sqlx::Error::Configuration(_)) =>
        {
            StorageError::InvalidUrl(inner.to_string())
        }
        _ => StorageError::Connect(from_db(error)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_failures_are_classified_by_sqlstate() {
        for code in ["57014", "55P03", "25P03", "40P01", "40001"] {
            assert_eq!(postgres_failure(code), FailureKind::Timeout, "{code}");
        }
        for code in ["08006", "08001", "57P01", "57P03", "53300"] {
            assert_eq!(postgres_failure(code), FailureKind::Unavailable, "{code}");
        }
        for code in ["23505", "42P01", "22P02", "53100"] {
            assert_eq!(postgres_failure(code), FailureKind::Other, "{code}");
        }
    }

    #[test]
    fn sqlite_failures_are_classified_by_result_code() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED.
        for code in ["5", "517", "6"] {
            assert_eq!(sqlite_failure(code), FailureKind::Timeout, "{code}");
        }
        // SQLITE_IOERR_READ, SQLITE_CANTOPEN.
        for code in ["266", "14"] {
            assert_eq!(sqlite_failure(code), FailureKind::Unavailable, "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE; not a number at all.
        for code in ["2067", "", "x"] {
            assert_eq!(sqlite_failure(code), FailureKind::Other, "{code:?}");
        }
    }

    #[test]
    fn a_configuration_error_of_the_driver_is_an_invalid_url() {
        let refused = sqlx::Error::Configuration("bad port".into());
        let error = DbErr::Conn(RuntimeErr::SqlxError(refused.into()));
        assert!(matches!(connect_error(&error), StorageError::InvalidUrl(_)));
        let unreachable = DbErr::Conn(RuntimeErr::SqlxError(
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)).into(),
        ));
        assert!(matches!(
            connect_error(&unreachable),
            StorageError::Connect(RepositoryError::Unavailable(_))
        ));
    }

    #[test]
    fn postgres_older_than_12_is_refused_with_its_version() {
        assert!(check_postgres_version(150_004).is_ok());
        assert!(check_postgres_version(120_000).is_ok());
        let refused = check_postgres_version(110_022).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.starts_with("PostgreSQL 11.22 is too old"),
            "{message}"
        );
        assert!(message.contains("12 or later"), "{message}");
    }
}
