//! The migration on Postgres, on a live table: inspection and the table
//! and column changes in one transaction under an advisory lock with a
//! bounded `lock_timeout`, then the index builds `CONCURRENTLY`, and the
//! trigger that notifies listening workers of new `pending` rows.

use scheduler_domain::RepositoryError;
use sqlx::PgConnection;
use tracing::{info, warn};

use super::existing::{existing, inspection, texts};
use super::plan::{Plan, plan};
use super::report::MigrationReport;
use crate::backend::Backend;
use crate::error::{LOCK_NOT_AVAILABLE, StorageError, from_sqlx, postgres_sqlstate};
use crate::row::Row;
use crate::settings::{PoolerMode, StorageSettings, postgres_duration};
use crate::signal::NOTIFY_CHANNEL;
use crate::sql::session_settings;

/// Key of the advisory lock concurrent migrations take turns on
/// ("domains" in ASCII); only migrations of this worker use it.
const MIGRATION_LOCK_KEY: i64 = 0x0064_6f6d_6169_6e73;

async fn pg_fetch(
    connection: &mut PgConnection,
    sql: &'static str,
) -> Result<Vec<Row>, RepositoryError> {
    Ok(sqlx::raw_sql(sql)
        .fetch_all(connection)
        .await
        .map_err(|error| from_sqlx(&error))?
        .into_iter()
        .map(Row::Postgres)
        .collect())
}

async fn pg_execute(connection: &mut PgConnection, sql: String) -> Result<(), RepositoryError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(connection)
        .await
        .map_err(|error| from_sqlx(&error))?;
    Ok(())
}

/// Brings the `domains` table up to date over `pool`: the locked
/// transaction, then the concurrent index builds, which are refused
/// through a transaction pooler.
pub(super) async fn reconcile(
    pool: &sqlx::PgPool,
    settings: &StorageSettings,
) -> Result<MigrationReport, StorageError> {
    let mut connection = pool
        .acquire()
        .await
        .map_err(|error| StorageError::Migration(from_sqlx(&error)))?;
    let plan = match locked_changes(&mut connection, settings).await {
        Ok(plan) => plan,
        Err(error) => {
            // Ends the failed transaction before the connection goes back;
            // if even that fails, the connection is closed with the pool.
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await;
            return Err(StorageError::Migration(error.explained(settings)));
        }
    };
    if !plan.concurrent.is_empty() {
        if settings.migration_pooler() == PoolerMode::Transaction {
            // `lock_timeout` must be set for the session around the builds
            // (they cannot run in a transaction block): through a
            // transaction pooler it could be set on one server connection,
            // the build run on another, and the setting left behind.
            let report = &plan.report;
            return Err(StorageError::ConcurrentBuildNeedsSession {
                indexes: report
                    .added_indexes
                    .iter()
                    .chain(&report.rebuilt_indexes)
                    .cloned()
                    .collect(),
                columns_done: report.created_table || !report.added_columns.is_empty(),
            });
        }
        build_concurrently(&mut connection, &plan.concurrent, settings)
            .await
            .map_err(StorageError::Migration)?;
    }
    Ok(plan.report)
}

/// Sessions of this database that an index build started now may wait
/// for: every client transaction holding a snapshot or a transaction id
/// (the build waits for all of them to end; vacuum it does not wait for),
/// and every session holding a lock on `domains` that blocks the build's
/// own.
const OLDER_TRANSACTIONS: &str = "SELECT format('pid %s (%s%s, %s since %s: %s)', \
     a.pid, a.usename, \
     CASE WHEN a.application_name <> '' THEN ' ' || a.application_name ELSE '' END, \
     a.state, date_trunc('second', a.xact_start), \
     left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120)) AS session \
     FROM pg_stat_activity a \
     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
     AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL \
     AND (a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL \
          OR a.pid IN (SELECT l.pid FROM pg_locks l \
                       WHERE l.relation = to_regclass('domains') AND l.granted \
                       AND l.mode NOT IN ('AccessShareLock', 'RowShareLock'))) \
     ORDER BY a.xact_start";

async fn older_transactions(connection: &mut PgConnection) -> Vec<String> {
    match pg_fetch(connection, OLDER_TRANSACTIONS).await {
        Ok(rows) => texts(&rows, "session").unwrap_or_default(),
        // Only for the log: the build itself says whether it could wait.
        Err(error) => {
            warn!(error = %error, "could not list the transactions an index build waits for");
            Vec::new()
        }
    }
}

/// Runs the concurrent index builds with `lock_timeout` set for the
/// session (a concurrent build cannot run inside a transaction block, so
/// `SET LOCAL` is not available), so that each wait, for a lock or for
/// older transactions to end, is bounded.
async fn build_concurrently(
    connection: &mut PgConnection,
    statements: &[String],
    settings: &StorageSettings,
) -> Result<(), RepositoryError> {
    let timeout = settings.migration_lock_timeout;
    pg_execute(
        connection,
        format!("SET lock_timeout = '{}'", postgres_duration(timeout)),
    )
    .await?;
    let mut outcome = Ok(());
    for statement in statements {
        let sessions = older_transactions(connection).await;
        if sessions.is_empty() {
            info!(statement = %statement, "building an index of domains concurrently");
        } else {
            info!(
                statement = %statement,
                waits_for = ?sessions,
                "building an index of domains concurrently: it first waits up to {timeout:?} \
                 for these older transactions to end"
            );
        }
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut *connection)
            .await
        {
            outcome = Err(if postgres_sqlstate(&error) == Some(LOCK_NOT_AVAILABLE) {
                RepositoryError::Timeout(format!(
                    "gave up after {timeout:?} waiting for older transactions to end before \
                     `{statement}` (waiting for: {}); the unfinished index is left invalid, \
                     unused, and the next migration rebuilds it",
                    if sessions.is_empty() {
                        "a lock on domains".to_owned()
                    } else {
                        sessions.join("; ")
                    }
                ))
            } else {
                from_sqlx(&error)
            });
            break;
        }
    }
    // The connection is closed after the migration; reset anyway in case
    // the migration URL shares its session with others.
    let reset = pg_execute(connection, "RESET lock_timeout".to_owned()).await;
    outcome.and(reset)
}

/// A failed step of the migration transaction.
struct StepError {
    error: RepositoryError,
    /// SQLSTATE `lock_not_available`: a lock wait ran past `lock_timeout`.
    lock_timeout: bool,
}

impl From<RepositoryError> for StepError {
    fn from(error: RepositoryError) -> Self {
        StepError {
            error,
            lock_timeout: false,
        }
    }
}

impl StepError {
    fn from_sqlx(error: &sqlx::Error) -> StepError {
        StepError {
            error: from_sqlx(error),
            lock_timeout: postgres_sqlstate(error) == Some(LOCK_NOT_AVAILABLE),
        }
    }

    /// A lock wait that timed out, said in words an operator can act on.
    fn explained(self, settings: &StorageSettings) -> RepositoryError {
        if !self.lock_timeout {
            return self.error;
        }
        RepositoryError::Timeout(format!(
            "gave up after {:?} waiting for a lock (another migration running, \
             or a long transaction using the domains table); nothing was changed: {}",
            settings.migration_lock_timeout, self.error
        ))
    }
}

async fn step_execute(connection: &mut PgConnection, sql: String) -> Result<(), StepError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(connection)
        .await
        .map_err(|error| StepError::from_sqlx(&error))?;
    Ok(())
}

/// Inspection, table and column changes, in one transaction under the
/// migration lock.
async fn locked_changes(
    connection: &mut PgConnection,
    settings: &StorageSettings,
) -> Result<Plan, StepError> {
    let session = session_settings(
        &postgres_duration(settings.statement_timeout),
        &postgres_duration(settings.idle_in_transaction_timeout),
    );
    step_execute(
        connection,
        format!(
            "BEGIN; {session}; SET LOCAL lock_timeout = '{}'; \
             SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})",
            postgres_duration(settings.migration_lock_timeout)
        ),
    )
    .await?;
    let [columns, indexes, unique_domain] = inspection(Backend::Postgres);
    let existing = existing(
        &pg_fetch(connection, columns).await?,
        &pg_fetch(connection, indexes).await?,
        &pg_fetch(connection, unique_domain).await?,
    )?;
    let mut plan = plan(&existing, Backend::Postgres);
    if pg_fetch(connection, NOTIFY_TRIGGER_EXISTS)
        .await?
        .is_empty()
    {
        plan.in_transaction.extend(notify_trigger());
        plan.report.added_notify_trigger = true;
    }
    if !plan.in_transaction.is_empty() {
        step_execute(connection, plan.in_transaction.join(";\n")).await?;
    }
    step_execute(connection, "COMMIT".to_owned()).await?;
    Ok(plan)
}

/// Whether the table has its `NOTIFY` trigger.
pub(super) const NOTIFY_TRIGGER_EXISTS: &str = "SELECT t.tgname::text AS name FROM pg_trigger t \
     JOIN pg_class c ON c.oid = t.tgrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relname = 'domains' \
     AND t.tgname = 'domains_notify_pending'";

/// A trigger that tells listening workers when a row becomes `pending`
/// (inserted, re-queued, retried or released), so that an idle worker
/// claims at once. Postgres folds identical notifications of one
/// transaction into one, so a large insert sends one, and a notification
/// is only delivered when its transaction commits.
fn notify_trigger() -> [String; 2] {
    [
        format!(
            "CREATE OR REPLACE FUNCTION domains_notify_pending() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); \
             RETURN NULL; END $$"
        ),
        "CREATE TRIGGER domains_notify_pending AFTER INSERT OR UPDATE OF status ON domains \
         FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION domains_notify_pending()"
            .to_owned(),
    ]
}
