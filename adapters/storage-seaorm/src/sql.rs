//! Rendering statements and running them.
//!
//! Postgres: the worker may sit behind a transaction pooler, where named
//! prepared statements collide between clients and session `SET`s leak to
//! them. So no statement is ever prepared: each operation is rendered by
//! SeaQuery's Postgres builder with its values inlined as literals, and sent
//! as ONE simple-protocol query, `SET LOCAL statement_timeout = ...; SET
//! LOCAL idle_in_transaction_session_timeout = ...; <statements>`. A
//! multi-statement simple query runs as one implicit transaction, so the
//! `SET LOCAL`s hold for exactly that transaction, in one round trip.
//!
//! The inlined text is safe: SeaQuery's Postgres builder writes any string
//! that needs escaping as an `E'...'` literal (backslash escapes for quotes,
//! backslashes and control characters, octal for the rarer ones), which
//! Postgres reads the same way whatever `standard_conforming_strings` says.
//! NUL, which Postgres cannot store, is dropped before (`nul`). The
//! conformance suite round-trips hostile text with the setting on and off.
//!
//! SQLite: an embedded file with no pooler, so the ordinary SeaORM path
//! with bound values.

use scheduler_domain::RepositoryError;
use sea_orm::sea_query::{PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use tracing::debug;

use crate::backend::Backend;
use crate::error::{from_db, from_sqlx};
use crate::row::Row;
use crate::settings::{StorageSettings, postgres_duration};

/// A statement ready for one backend.
#[derive(Debug, Clone)]
pub(crate) enum Built {
    /// SQL text with every value inlined.
    Postgres(String),
    /// SQL with bound values.
    Sqlite(Statement),
}

impl Built {
    pub(crate) fn new(backend: Backend, statement: &impl QueryStatementWriter) -> Built {
        match backend {
            Backend::Postgres => Built::Postgres(statement.to_string(PostgresQueryBuilder)),
            Backend::Sqlite => {
                let (sql, values) = statement.build(SqliteQueryBuilder);
                Built::Sqlite(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    values,
                ))
            }
        }
    }

    /// A fixed query with no values (a catalogue inspection).
    pub(crate) fn raw(backend: Backend, sql: &'static str) -> Built {
        match backend {
            Backend::Postgres => Built::Postgres(sql.to_owned()),
            Backend::Sqlite => Built::Sqlite(Statement::from_string(DbBackend::Sqlite, sql)),
        }
    }
}

fn wrong_backend() -> RepositoryError {
    RepositoryError::Database("statement built for another backend".into())
}

/// Runs built statements on the repository's pool.
#[derive(Debug, Clone)]
pub(crate) struct Runner {
    db: DatabaseConnection,
    backend: Backend,
    statement_timeout: String,
    idle_in_transaction_timeout: String,
}

impl Runner {
    pub(crate) fn new(
        db: DatabaseConnection,
        backend: Backend,
        settings: &StorageSettings,
    ) -> Runner {
        Runner {
            db,
            backend,
            statement_timeout: postgres_duration(settings.statement_timeout),
            idle_in_transaction_timeout: postgres_duration(settings.idle_in_transaction_timeout),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Runs `statements` in one transaction and returns every row they
    /// return, in order.
    pub(crate) async fn fetch(&self, statements: &[Built]) -> Result<Vec<Row>, RepositoryError> {
        self.fetch_in(statements, Isolation::ReadCommitted).await
    }

    /// [`Runner::fetch`] in one snapshot: every statement sees the table as
    /// it was when the first one began. Postgres: a read-only repeatable-read
    /// transaction (still one simple query). SQLite: a read transaction is a
    /// snapshot already (WAL) or keeps writers out until it ends.
    pub(crate) async fn fetch_snapshot(
        &self,
        statements: &[Built],
    ) -> Result<Vec<Row>, RepositoryError> {
        self.fetch_in(statements, Isolation::Snapshot).await
    }

    async fn fetch_in(
        &self,
        statements: &[Built],
        isolation: Isolation,
    ) -> Result<Vec<Row>, RepositoryError> {
        match self.backend {
            Backend::Postgres => {
                let mut script = self.postgres_script(statements)?;
                if isolation == Isolation::Snapshot {
                    // Must come before the first query of the transaction.
                    script.insert_str(0, SNAPSHOT);
                }
                let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(script))
                    .fetch_all(self.db.get_postgres_connection_pool())
                    .await
                    .map_err(|error| from_sqlx(&error))?;
                Ok(rows.into_iter().map(Row::Postgres).collect())
            }
            Backend::Sqlite => {
                let statements = sqlite_statements(statements)?;
                let rows = if let [statement] = statements.as_slice() {
                    self.db
                        .query_all_raw(statement.clone())
                        .await
                        .map_err(|e| from_db(&e))?
                } else {
                    let transaction = self.db.begin().await.map_err(|e| from_db(&e))?;
                    let mut rows = Vec::new();
                    for statement in statements {
                        rows.extend(
                            transaction
                                .query_all_raw(statement)
                                .await
                                .map_err(|e| from_db(&e))?,
                        );
                    }
                    transaction.commit().await.map_err(|e| from_db(&e))?;
                    rows
                };
                Ok(rows.into_iter().map(Row::Sqlite).collect())
            }
        }
    }

    /// Runs `statements` in one transaction and returns how many rows they
    /// changed.
    pub(crate) async fn execute(&self, statements: &[Built]) -> Result<u64, RepositoryError> {
        match self.backend {
            Backend::Postgres => {
                let script = self.postgres_script(statements)?;
                let result = sqlx::raw_sql(sqlx::AssertSqlSafe(script))
                    .execute(self.db.get_postgres_connection_pool())
                    .await
                    .map_err(|error| from_sqlx(&error))?;
                Ok(result.rows_affected())
            }
            Backend::Sqlite => {
                let transaction = self.db.begin().await.map_err(|e| from_db(&e))?;
                let mut changed = 0;
                for statement in sqlite_statements(statements)? {
                    changed += transaction
                        .execute_raw(statement)
                        .await
                        .map_err(|e| from_db(&e))?
                        .rows_affected();
                }
                transaction.commit().await.map_err(|e| from_db(&e))?;
                Ok(changed)
            }
        }
    }

    /// Runs `statements` in one transaction and returns every row they
    /// return, in order, and how many rows the last one changed.
    pub(crate) async fn fetch_and_count_last(
        &self,
        statements: &[Built],
    ) -> Result<(Vec<Row>, u64), RepositoryError> {
        use futures::TryStreamExt as _;

        let mut rows = Vec::new();
        let mut changed = 0;
        match self.backend {
            Backend::Postgres => {
                let script = self.postgres_script(statements)?;
                let mut results = sqlx::raw_sql(sqlx::AssertSqlSafe(script))
                    .fetch_many(self.db.get_postgres_connection_pool());
                // Each statement's rows come first, then its result; the
                // last result is the last statement's.
                while let Some(item) = results.try_next().await.map_err(|e| from_sqlx(&e))? {
                    match item {
                        sqlx::Either::Left(done) => changed = done.rows_affected(),
                        sqlx::Either::Right(row) => rows.push(Row::Postgres(row)),
                    }
                }
            }
            Backend::Sqlite => {
                let statements = sqlite_statements(statements)?;
                let Some((last, rest)) = statements.split_last() else {
                    return Ok((rows, changed));
                };
                let transaction = self.db.begin().await.map_err(|e| from_db(&e))?;
                for statement in rest {
                    let returned = transaction
                        .query_all_raw(statement.clone())
                        .await
                        .map_err(|e| from_db(&e))?;
                    rows.extend(returned.into_iter().map(Row::Sqlite));
                }
                changed = transaction
                    .execute_raw(last.clone())
                    .await
                    .map_err(|e| from_db(&e))?
                    .rows_affected();
                transaction.commit().await.map_err(|e| from_db(&e))?;
            }
        }
        Ok((rows, changed))
    }

    /// The whole transaction as one simple query: session settings first.
    fn postgres_script(&self, statements: &[Built]) -> Result<String, RepositoryError> {
        let mut script =
            session_settings(&self.statement_timeout, &self.idle_in_transaction_timeout);
        for statement in statements {
            let Built::Postgres(sql) = statement else {
                return Err(wrong_backend());
            };
            script.push_str(";\n");
            script.push_str(sql);
        }
        Ok(script)
    }
}

/// How a [`Runner::fetch`] transaction sees concurrent writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Each statement sees what was committed when it began.
    ReadCommitted,
    /// Every statement sees what was committed when the first began.
    Snapshot,
}

/// What makes a Postgres script one read-only snapshot.
pub(crate) const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n";

/// `SET LOCAL` of both timeouts, logged at debug level once per transaction.
pub(crate) fn session_settings(
    statement_timeout: &str,
    idle_in_transaction_timeout: &str,
) -> String {
    debug!(
        setting = "statement_timeout",
        value = statement_timeout,
        "applying session setting"
    );
    debug!(
        setting = "idle_in_transaction_session_timeout",
        value = idle_in_transaction_timeout,
        "applying session setting"
    );
    // Both values come from `postgres_duration`: digits and a unit.
    format!(
        "SET LOCAL statement_timeout = '{statement_timeout}'; \
         SET LOCAL idle_in_transaction_session_timeout = '{idle_in_transaction_timeout}'"
    )
}

fn sqlite_statements(statements: &[Built]) -> Result<Vec<Statement>, RepositoryError> {
    statements
        .iter()
        .map(|built| match built {
            Built::Sqlite(statement) => Ok(statement.clone()),
            Built::Postgres(_) => Err(wrong_backend()),
        })
        .collect()
}
