//! Opening a pool on a database URL: which backend it names, whether the
//! drivers accept it, and the pool options each backend needs.

use std::str::FromStr;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tracing::debug;

use crate::backend::Backend;
use crate::error::{StorageError, connect_error};
use crate::settings::{StorageSettings, redacted_url};

/// A pool of at most `max_connections` on `url`, and the backend it is on.
///
/// # Errors
///
/// [`StorageError::UnsupportedScheme`] or [`StorageError::InvalidUrl`]
/// for a URL this adapter cannot use; [`StorageError::Connect`] when the
/// database cannot be reached.
pub(crate) async fn open(
    url: &str,
    settings: &StorageSettings,
    max_connections: u32,
) -> Result<(DatabaseConnection, Backend), StorageError> {
    let backend = Backend::from_url(url)?;
    // SeaORM only recognises the `postgres://` spelling.
    let url = match url.strip_prefix("postgresql:") {
        Some(rest) => format!("postgres:{rest}"),
        None => url.to_owned(),
    };
    validate_url(backend, &url)?;
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        .connect_timeout(settings.acquire_timeout)
        // Statements carry inlined values from web pages: not for the logs.
        .sqlx_logging(false);
    let busy_timeout = settings.statement_timeout;
    match backend {
        Backend::Postgres => {
            // Kept at 0 as well, although the Postgres path sends no
            // prepared statement at all (see `sql`).
            options.map_sqlx_postgres_opts(|options| options.statement_cache_capacity(0));
            // A ping on every check-out is one more pooler round trip (and
            // server check-out) per operation. A connection in steady use
            // is alive; one that sat idle (across a fetch, while the worker idles)
            // may have been closed by the pooler or a restart, and a write
            // failing on it would cost the domain a retry: ping only those.
            options.test_before_acquire_if_idle_for(settings.ping_connections_idle_for);
        }
        Backend::Sqlite => {
            // WAL lets readers run beside the writer; the busy timeout makes
            // concurrent writers (two workers claiming) wait their turn
            // instead of failing with "database is locked".
            options.map_sqlx_sqlite_opts(move |options| {
                options
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(busy_timeout)
                    .create_if_missing(true)
            });
        }
    }
    let db = Database::connect(options)
        .await
        .map_err(|error| connect_error(&error))?;
    debug!(url = %redacted_url(&url), backend = backend.as_str(), "connected");
    Ok((db, backend))
}

/// Checks a URL before connecting: it must parse as a URL and as the
/// driver's connection options.
///
/// # Errors
///
/// [`StorageError::InvalidUrl`] saying what the parser refused.
fn validate_url(backend: Backend, url: &str) -> Result<(), StorageError> {
    let invalid = |error: &dyn std::fmt::Display| StorageError::InvalidUrl(error.to_string());
    url::Url::parse(url).map_err(|error| invalid(&error))?;
    match backend {
        Backend::Postgres => sqlx::postgres::PgConnectOptions::from_str(url).map(drop),
        Backend::Sqlite => sqlx::sqlite::SqliteConnectOptions::from_str(url).map(drop),
    }
    .map_err(|error| invalid(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_the_drivers_refuse_are_invalid_before_any_connection() {
        for (backend, url) in [
            (Backend::Postgres, "postgres://user@host:notaport/db"),
            (Backend::Postgres, "postgres://host/db?sslmode=sometimes"),
            (Backend::Sqlite, "sqlite://file.db?mode=never"),
        ] {
            assert!(
                matches!(validate_url(backend, url), Err(StorageError::InvalidUrl(_))),
                "{url}"
            );
        }
        assert!(validate_url(Backend::Postgres, "postgres://u@localhost:5432/db").is_ok());
        assert!(validate_url(Backend::Sqlite, "sqlite://file.db?mode=rwc").is_ok());
    }
}
