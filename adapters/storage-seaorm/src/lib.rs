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
//! Imports run one way: the leaves; then `key`, `sql`, `connect` and
//! `statements`; then `migrate`; then `repository`, which this file
//! exports.
//!
//! Leaves (they import no module of this crate but `error`):
//!
//! - `error`: [`StorageError`], [`UnsupportedKey`] and the mapping of
//!   driver errors to [`scheduler_domain::RepositoryError`].
//! - `backend`: [`Backend`], the database behind a repository, and how
//!   values are typed for it.
//! - `settings`: [`StorageSettings`] and [`PoolerMode`].
//! - `row`: a row either backend returned, read column by column.
//! - `nul`: Postgres's refusal of NUL, applied to every value written.
//! - `entity`: the `domains` table as a SeaORM entity (crate-private).
//! - `signal`: [`TableSignal`], the [`scheduler_domain::WorkSignal`]: a
//!   `LISTEN` for new `pending` rows where the connection keeps its
//!   session, else polling.
//!
//! Above them:
//!
//! - `key`: the `id` column's type: which keys are accepted, how new rows
//!   get theirs.
//! - `sql`: rendering (values inlined as escaped literals on Postgres) and
//!   running statements, one transaction per operation.
//! - `connect`: opening a pool on a URL.
//! - `statements`: every statement, built with SeaQuery from the entity, by
//!   concern (`lease`, `enqueue`, `requeue`, `status`, and the `values`
//!   they share), with the reading of the rows they return where that is
//!   more than one column.
//! - `migrate`: schema reconciliation, [`MigrationReport`], and the trigger
//!   that notifies idle workers of new `pending` rows (`schema`,
//!   `existing`, a pure `plan`, `preflight`, and the `postgres` and
//!   `sqlite` executors).
//! - `repository`: [`SeaOrmRepository`], the
//!   [`scheduler_domain::DomainRepository`] implementation.

mod backend;
mod connect;
mod entity;
mod error;
mod key;
mod migrate;
mod nul;
mod repository;
mod row;
mod settings;
mod signal;
mod sql;
mod statements;

pub use backend::Backend;
pub use error::{
    MINIMUM_POSTGRES_VERSION_NUM, StorageError, UnsupportedKey, check_postgres_version,
};
pub use migrate::{MigrationReport, SchemaCheck};
pub use repository::SeaOrmRepository;
pub use settings::{
    DEFAULT_DATABASE_URL, PoolerMode, StorageSettings, UnknownPoolerMode, redacted_url,
};
pub use signal::TableSignal;
