//! The storage port on SeaORM: Postgres (the production database, also
//! behind a transaction pooler such as PgBouncer or Supavisor) and SQLite
//! (the embedded default), with the migration of the `domains` table.
//!
//! On Postgres nothing is ever prepared and no session state is relied on:
//! every operation is one simple-protocol query, its values inlined by
//! SeaQuery's Postgres builder, that sets its own timeouts with `SET LOCAL`
//! (the `sql` module says why). That keeps the worker correct on a server
//! connection shared with other clients.
//!
//! # Layout
//!
//! - `settings`: [`StorageSettings`] and [`PoolerMode`].
//! - `repository`: [`SeaOrmRepository`], the [`scheduler_domain::DomainRepository`]
//!   implementation, and [`Backend`].
//! - `entity`: the `domains` table as a SeaORM entity (crate-private).
//! - `key`: the `id` column's type: which keys are accepted, how new rows
//!   get theirs.
//! - `statements`: every statement, built with SeaQuery from the entity.
//! - `requeue`: the requeue operation, its statements and its report.
//! - `sql`: rendering (values inlined as escaped literals on Postgres) and
//!   running statements, one transaction per operation.
//! - `migrate`: schema reconciliation, [`MigrationReport`], and the trigger
//!   that notifies idle workers of new `pending` rows.
//! - `signal`: [`TableSignal`], the [`scheduler_domain::WorkSignal`]: that
//!   notification where the connection keeps its session, else polling.
//! - `error`: [`StorageError`] and the mapping of driver errors to
//!   [`scheduler_domain::RepositoryError`].

mod entity;
mod error;
mod key;
mod migrate;
mod repository;
mod requeue;
mod settings;
mod signal;
mod sql;
mod statements;

pub use error::{MINIMUM_POSTGRES_VERSION_NUM, StorageError, check_postgres_version};
pub use key::UnsupportedKey;
pub use migrate::MigrationReport;
pub use repository::{Backend, SeaOrmRepository};
pub use settings::{
    DEFAULT_DATABASE_URL, PoolerMode, StorageSettings, UnknownPoolerMode, redacted_url,
};
pub use signal::TableSignal;
