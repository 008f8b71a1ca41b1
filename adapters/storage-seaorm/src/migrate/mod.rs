//! Schema reconciliation of the `domains` table.
//!
//! Not a versioned migration history: the production table exists already,
//! created and also written by other systems, so there is no version table
//! to trust. Instead the migration looks at what is there and adds what is
//! missing: the whole table on an empty database; on an existing one only
//! the missing columns (never touching other columns, such as `tenant_id`
//! or `batch_id`) and the indexes the worker relies on. Running it again
//! changes nothing.
//!
//! Every column other than `domain` has a database default, because other
//! systems insert rows with nothing but `domain` (and maybe `status`).
//!
//! On Postgres the production table is live while this runs: other systems
//! write to it and several workers may start (and migrate) at once. So:
//!
//! - inspection and the table and column changes run in one transaction
//!   under a transaction-scoped advisory lock, so concurrent migrations
//!   take turns and each sees what the one before it did;
//! - that transaction sets `lock_timeout`: `ALTER TABLE` waits for an
//!   exclusive lock, and every other writer of `domains` would queue behind
//!   that wait, so it gives up after a bounded time with a clear error
//!   instead;
//! - indexes on an existing table are built `CONCURRENTLY`, after that
//!   transaction, so writers are not blocked while a large table is
//!   indexed. Such a build first waits for every older transaction of the
//!   database to end: the sessions it waits for are logged, and the wait
//!   gives up after the same `lock_timeout`, naming them. A build that
//!   failed (gave up, or found duplicate domains) leaves an `INVALID`
//!   index behind; the next run rebuilds it.
//!
//! Before any of that, `preflight` refuses a server older than
//! PostgreSQL 12 and an `id` column of a type the worker cannot key rows
//! by, so that nothing is changed on a database the worker cannot use.
//!
//! Everything goes as simple-protocol queries on one connection: a
//! migration URL may still be a pooler, which keeps a connection for the
//! length of an explicit transaction.
//!
//! # Layout
//!
//! - `report`: [`MigrationReport`], what a migration changed.
//! - `schema`: the columns and indexes the worker needs, and the table
//!   that has them.
//! - `existing`: what the catalogue says is there now.
//! - `plan`: the changes from what is there to what is needed (pure).
//! - `preflight`: the refusal of a database the worker cannot use.
//! - `check`: whether the worker can use the table as it is, changing
//!   nothing (the start of every command on Postgres).
//! - `postgres`, `sqlite`: running the plan on each backend.

mod check;
mod existing;
mod plan;
mod postgres;
mod preflight;
mod report;
mod schema;
mod sqlite;

use sea_orm::DatabaseConnection;

use crate::backend::Backend;
use crate::error::StorageError;
use crate::settings::StorageSettings;

pub use check::SchemaCheck;
pub(crate) use check::check;
pub(crate) use preflight::preflight;
pub use report::MigrationReport;

/// Brings the `domains` table up to date on `db`. On Postgres
/// `settings.migration_lock_timeout` bounds each wait for a lock (another
/// migration, or a transaction using the table while a column is added),
/// and the transaction has the worker's other session settings too; index
/// builds that need a session of their own are refused through a
/// transaction pooler.
pub(crate) async fn reconcile(
    db: &DatabaseConnection,
    backend: Backend,
    settings: &StorageSettings,
) -> Result<MigrationReport, StorageError> {
    match backend {
        Backend::Postgres => postgres::reconcile(db.get_postgres_connection_pool(), settings).await,
        Backend::Sqlite => sqlite::reconcile(db).await.map_err(StorageError::Migration),
    }
}
