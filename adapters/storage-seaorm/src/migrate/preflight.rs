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
/// a Postgres older than 12, or an `id` column of a type the worker cannot
/// key rows by.
///
/// # Errors
///
/// [`StorageError::UnsupportedPostgres`], [`StorageError::UnsupportedKey`];
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
    if backend == Backend::Postgres {
        let rows = fetch(SERVER_VERSION_NUM).await?;
        let version = rows
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
        check_postgres_version(version)?;
    }
    let key = KeyColumn::from_rows(&fetch(KeyColumn::query(backend)).await?)
        .map_err(StorageError::Migration)?;
    if let Some(key) = key {
        key.kind(backend)?;
    }
    Ok(())
}

const SERVER_VERSION_NUM: &str = "SELECT current_setting('server_version_num') AS version";
