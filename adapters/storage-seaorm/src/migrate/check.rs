//! [`check`]: whether the worker can use the table as it is, read from the
//! catalogue without changing anything. On Postgres commands start with
//! this instead of a migration: schema changes on a shared production
//! table are `migrate`'s job, run on purpose.

use super::existing::{existing, inspection};
use super::plan::plan;
use super::postgres::NOTIFY_TRIGGER_EXISTS;
use crate::backend::Backend;
use crate::error::StorageError;
use crate::key::KeyColumn;
use crate::sql::{Built, Runner};

/// What the table lacks that the worker can do without, slower or later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaCheck {
    /// Indexes `migrate` would build or rebuild: claims, rescues or
    /// `enqueue`'s conflict check scan more without them.
    pub missing_indexes: Vec<String>,
    /// Postgres only: the trigger that wakes listening workers when rows
    /// become `pending` is missing, so they see new rows at the next poll.
    pub missing_notify_trigger: bool,
}

/// Reads the table's columns, indexes and trigger.
///
/// # Errors
///
/// [`StorageError::TableMissing`], [`StorageError::ColumnsMissing`] or
/// [`StorageError::UnsupportedKey`] when the worker cannot run on the
/// table; [`StorageError::Migration`] when
/// the catalogue cannot be read.
pub(crate) async fn check(runner: &Runner, backend: Backend) -> Result<SchemaCheck, StorageError> {
    let fetch = |sql| async move {
        runner
            .fetch(&[Built::raw(backend, sql)])
            .await
            .map_err(StorageError::Migration)
    };
    let [columns, indexes, unique_domain] = inspection(backend);
    let existing = existing(
        &fetch(columns).await?,
        &fetch(indexes).await?,
        &fetch(unique_domain).await?,
    )
    .map_err(StorageError::Migration)?;
    let needed = plan(&existing, backend).report;
    if needed.created_table {
        return Err(StorageError::TableMissing);
    }
    if !needed.added_columns.is_empty() {
        return Err(StorageError::ColumnsMissing {
            columns: needed.added_columns,
        });
    }
    let key = KeyColumn::from_rows(&fetch(KeyColumn::query(backend)).await?)
        .map_err(StorageError::Migration)?;
    if let Some(key) = key {
        key.kind(backend)?;
    }
    let missing_notify_trigger =
        backend == Backend::Postgres && fetch(NOTIFY_TRIGGER_EXISTS).await?.is_empty();
    Ok(SchemaCheck {
        missing_indexes: needed
            .added_indexes
            .into_iter()
            .chain(needed.rebuilt_indexes)
            .collect(),
        missing_notify_trigger,
    })
}
