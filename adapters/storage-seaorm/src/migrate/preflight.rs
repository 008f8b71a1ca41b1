//! [`preflight`]: the refusal, before anything is changed, of a database
//! the worker cannot use.

use scheduler_domain::RepositoryError;
use sea_orm::DatabaseConnection;

use crate::backend::Backend;
use crate::error::{StorageError, check_postgres_version};
use crate::key::KeyColumn;
use crate::settings::StorageSettings;
use crate::sql::{Built, Runner};

/// Refuses, before anything is changed, a database the worker cannot use:
/// a Postgres older than 12, an `id` column of a type the worker cannot
/// key rows by, or a PostgreSQL 12 without pgcrypto when an `id` column is
/// to be created.
///
/// # Errors
///
/// [`StorageError::UnsupportedPostgres`], [`StorageError::UnsupportedKey`],
/// [`StorageError::NeedsPgcrypto`];
/// [`StorageError::Migration`] when the catalogue cannot be read.
pub(crate) async fn preflight(
    db: &DatabaseConnection,
    backend: Backend,
    settings: &StorageSettings,
) -> Result<(), StorageError> {
    let runner = Runner::new(db.clone(), backend, settings);
    let fetch = |sql| {
        let runner = &runner;
        async move {
            runner
                .fetch(&[Built::raw(backend, sql)])
                .await
                .map_err(StorageError::Migration)
        }
    };
    let mut version = None;
    if backend == Backend::Postgres {
        let rows = fetch(SERVER_VERSION_NUM).await?;
        let server_version = rows
            .first()
            .map(|row| row.text("version"))
            .transpose()
            .map_err(StorageError::Migration)?
            .flatten()
            .and_then(|version| version.parse::<i64>().ok())
            .ok_or_else(|| {
                StorageError::Migration(RepositoryError::InvalidRow(
                    "server_version_num is not a number".to_owned(),
                ))
            })?;
        check_postgres_version(server_version)?;
        version = Some(server_version);
    }
    let key = KeyColumn::from_rows(&fetch(KeyColumn::query(backend)).await?)
        .map_err(StorageError::Migration)?;
    match key {
        Some(key) => {
            key.kind(backend)?;
        }
        // A new `id` column (of a new table or an old one) defaults to
        // `gen_random_uuid()`, built in only from PostgreSQL 13.
        None => {
            if let Some(version) = version
                && needs_pgcrypto(version)
                && fetch(GEN_RANDOM_UUID_EXISTS).await?.is_empty()
            {
                return Err(StorageError::NeedsPgcrypto);
            }
        }
    }
    Ok(())
}

/// Whether a server of this `server_version_num` lacks a built-in
/// `gen_random_uuid()` (before 13 it comes with the pgcrypto extension).
fn needs_pgcrypto(server_version_num: i64) -> bool {
    server_version_num < 130_000
}

const GEN_RANDOM_UUID_EXISTS: &str =
    "SELECT p.proname::text AS name FROM pg_proc p WHERE p.proname = 'gen_random_uuid'";

const SERVER_VERSION_NUM: &str = "SELECT current_setting('server_version_num') AS version";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_servers_before_13_need_pgcrypto_for_new_ids() {
        assert!(needs_pgcrypto(120_018));
        assert!(!needs_pgcrypto(130_000));
        assert!(!needs_pgcrypto(150_019));
    }
}
