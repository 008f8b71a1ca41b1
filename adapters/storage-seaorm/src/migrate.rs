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
//! Before any of that, [`preflight`] refuses a server older than
//! PostgreSQL 12 and an `id` column of a type the worker cannot key rows
//! by, so that nothing is changed on a database the worker cannot use.
//!
//! Everything goes as simple-protocol queries on one connection: a
//! migration URL may still be a pooler, which keeps a connection for the
//! length of an explicit transaction.

use std::collections::BTreeMap;

use scheduler_domain::RepositoryError;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use sqlx::PgConnection;
use tracing::{info, warn};

use crate::Backend;
use crate::error::{
    LOCK_NOT_AVAILABLE, StorageError, check_postgres_version, from_db, from_sqlx, postgres_sqlstate,
};
use crate::key::KeyColumn;
use crate::settings::{StorageSettings, postgres_duration};
use crate::signal::NOTIFY_CHANNEL;
use crate::sql::{Built, Row, Runner, session_settings};

/// What a migration changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// The `domains` table did not exist and was created.
    pub created_table: bool,
    /// Columns added to an existing table, in the order they were added.
    pub added_columns: Vec<String>,
    /// Indexes created.
    pub added_indexes: Vec<String>,
    /// Invalid indexes (left by an index build that failed) rebuilt.
    pub rebuilt_indexes: Vec<String>,
    /// Whether the trigger that `NOTIFY`s idle workers of new `pending`
    /// rows was added (Postgres).
    pub added_notify_trigger: bool,
}

impl MigrationReport {
    /// Whether the schema was already up to date.
    pub fn is_unchanged(&self) -> bool {
        !self.created_table
            && self.added_columns.is_empty()
            && self.added_indexes.is_empty()
            && self.rebuilt_indexes.is_empty()
            && !self.added_notify_trigger
    }
}

/// One column: its type and default when the table is created, and when
/// it is added to an existing table (SQLite cannot add a column whose
/// default is an expression, and an added column cannot be a key).
struct ColumnSpec {
    name: &'static str,
    postgres_create: &'static str,
    postgres_add: &'static str,
    sqlite_create: &'static str,
    sqlite_add: &'static str,
}

const SQLITE_UUID: &str = "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' \
     || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) \
     || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))";

macro_rules! text_column {
    ($name:literal) => {
        ColumnSpec {
            name: $name,
            postgres_create: "text",
            postgres_add: "text",
            sqlite_create: "TEXT",
            sqlite_add: "TEXT",
        }
    };
}

/// The columns in the order a new table has them.
const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec {
        name: "id",
        postgres_create: "uuid PRIMARY KEY DEFAULT gen_random_uuid()",
        postgres_add: "uuid DEFAULT gen_random_uuid()",
        sqlite_create: "", // written out in `sqlite_create_table`
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "domain",
        postgres_create: "text NOT NULL UNIQUE",
        postgres_add: "text",
        sqlite_create: "TEXT NOT NULL UNIQUE",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "status",
        postgres_create: "text NOT NULL DEFAULT 'pending'",
        postgres_add: "text NOT NULL DEFAULT 'pending'",
        sqlite_create: "TEXT NOT NULL DEFAULT 'pending'",
        sqlite_add: "TEXT NOT NULL DEFAULT 'pending'",
    },
    ColumnSpec {
        name: "meta_json",
        postgres_create: "jsonb",
        postgres_add: "jsonb",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    text_column!("title"),
    text_column!("description"),
    text_column!("favicon_url"),
    text_column!("logo_url"),
    text_column!("language"),
    ColumnSpec {
        name: "is_wordpress",
        postgres_create: "boolean",
        postgres_add: "boolean",
        sqlite_create: "INTEGER",
        sqlite_add: "INTEGER",
    },
    text_column!("wordpress_version"),
    ColumnSpec {
        name: "has_elementor",
        postgres_create: "boolean",
        postgres_add: "boolean",
        sqlite_create: "INTEGER",
        sqlite_add: "INTEGER",
    },
    ColumnSpec {
        name: "tech_stack",
        postgres_create: "jsonb",
        postgres_add: "jsonb",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "email_addresses",
        postgres_create: "text[]",
        postgres_add: "text[]",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "phone_numbers",
        postgres_create: "text[]",
        postgres_add: "text[]",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    text_column!("facebook_url"),
    text_column!("twitter_url"),
    text_column!("linkedin_url"),
    text_column!("instagram_url"),
    text_column!("youtube_url"),
    text_column!("last_error"),
    ColumnSpec {
        name: "created_at",
        postgres_create: "timestamptz NOT NULL DEFAULT now()",
        postgres_add: "timestamptz DEFAULT now()",
        sqlite_create: "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "updated_at",
        postgres_create: "timestamptz DEFAULT now()",
        postgres_add: "timestamptz DEFAULT now()",
        sqlite_create: "TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
        sqlite_add: "TEXT",
    },
    text_column!("sitemap_analysis_status"),
    ColumnSpec {
        name: "attempts",
        postgres_create: "integer NOT NULL DEFAULT 0",
        postgres_add: "integer NOT NULL DEFAULT 0",
        sqlite_create: "INTEGER NOT NULL DEFAULT 0",
        sqlite_add: "INTEGER NOT NULL DEFAULT 0",
    },
    text_column!("locked_by"),
    ColumnSpec {
        name: "locked_until",
        postgres_create: "timestamptz",
        postgres_add: "timestamptz",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "next_attempt_at",
        postgres_create: "timestamptz",
        postgres_add: "timestamptz",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
];

/// An index the worker relies on.
struct IndexSpec {
    name: &'static str,
    unique: bool,
    postgres: &'static str,
    sqlite: &'static str,
}

impl IndexSpec {
    fn create(&self, backend: Backend, concurrently: bool) -> String {
        format!(
            "CREATE {}INDEX {}IF NOT EXISTS {} {}",
            if self.unique { "UNIQUE " } else { "" },
            if concurrently { "CONCURRENTLY " } else { "" },
            self.name,
            match backend {
                Backend::Postgres => self.postgres,
                Backend::Sqlite => self.sqlite,
            }
        )
    }
}

/// The indexes every table gets.
const INDEXES: &[IndexSpec] = &[
    // The claim reads pending rows oldest first: a partial index in exactly
    // that order stays small (most rows are done) and serves the claim.
    IndexSpec {
        name: "domains_claim_idx",
        unique: false,
        postgres: "ON domains (updated_at NULLS FIRST, id) WHERE status = 'pending'",
        sqlite: "ON domains (updated_at, id) WHERE status = 'pending'",
    },
    // The rescue sweep looks for `processing` rows whose lease ran out; it
    // runs every `interval`, so it must not scan the table.
    IndexSpec {
        name: "domains_lease_idx",
        unique: false,
        postgres: "ON domains (locked_until) WHERE status = 'processing'",
        sqlite: "ON domains (locked_until) WHERE status = 'processing'",
    },
];

/// `enqueue` relies on `ON CONFLICT (domain)`. A table this migration
/// creates has it from the column's `UNIQUE`; an existing table without a
/// unique index on `domain` gets this one.
const DOMAIN_INDEX: IndexSpec = IndexSpec {
    name: "domains_domain_key",
    unique: true,
    postgres: "ON domains (domain)",
    sqlite: "ON domains (domain)",
};

/// Key of the advisory lock concurrent migrations take turns on
/// ("domains" in ASCII); only migrations of this worker use it.
const MIGRATION_LOCK_KEY: i64 = 0x0064_6f6d_6169_6e73;

/// What is there now.
struct Existing {
    columns: Vec<String>,
    indexes: BTreeMap<String, IndexState>,
    unique_domain: bool,
}

/// What an index of the table is good for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexState {
    Valid,
    /// Left by a concurrent build that failed: present, never used.
    Invalid,
    /// Another migration is building it concurrently right now (it looks
    /// invalid until that is done).
    Building,
}

/// The changes a migration makes.
#[derive(Default)]
struct Plan {
    report: MigrationReport,
    /// Table and column changes (and indexes of a new, empty table): one
    /// transaction.
    in_transaction: Vec<String>,
    /// Index builds on an existing Postgres table, each a statement of its
    /// own, after the transaction.
    concurrent: Vec<String>,
}

fn plan(existing: &Existing, backend: Backend) -> Plan {
    let mut plan = Plan::default();
    let mut indexes: Vec<&IndexSpec> = INDEXES.iter().collect();
    if existing.columns.is_empty() {
        plan.report.created_table = true;
        plan.in_transaction.push(match backend {
            Backend::Postgres => postgres_create_table(),
            Backend::Sqlite => sqlite_create_table(),
        });
    } else {
        for column in COLUMNS
            .iter()
            .filter(|c| !existing.columns.iter().any(|e| e == c.name))
        {
            plan.in_transaction.push(match backend {
                Backend::Postgres => format!(
                    "ALTER TABLE domains ADD COLUMN IF NOT EXISTS {} {}",
                    column.name, column.postgres_add
                ),
                Backend::Sqlite => format!(
                    "ALTER TABLE domains ADD COLUMN {} {}",
                    column.name, column.sqlite_add
                ),
            });
            plan.report.added_columns.push(column.name.to_owned());
            if backend == Backend::Sqlite && column.name == "id" {
                // SQLite cannot give an added column an expression default:
                // existing rows get their ids now, rows inserted later by
                // other systems from a trigger. A row without an id could
                // not be claimed.
                plan.in_transaction.extend([
                    format!("UPDATE domains SET id = {SQLITE_UUID} WHERE id IS NULL"),
                    format!(
                        "CREATE TRIGGER IF NOT EXISTS domains_default_id AFTER INSERT ON domains \
                         FOR EACH ROW WHEN NEW.id IS NULL BEGIN \
                         UPDATE domains SET id = {SQLITE_UUID} WHERE rowid = NEW.rowid; END"
                    ),
                ]);
            }
        }
        if !existing.unique_domain {
            indexes.insert(0, &DOMAIN_INDEX);
        }
    }
    // A new table is empty: its indexes are built at once, in the same
    // transaction. SQLite has one writer anyway.
    let concurrently = backend == Backend::Postgres && !plan.report.created_table;
    let building: Vec<&String> = existing
        .indexes
        .iter()
        .filter(|(_, state)| **state == IndexState::Building)
        .map(|(name, _)| name)
        .collect();
    if !building.is_empty() {
        // Another migration is building indexes of this table: a build
        // started here would only wait for it (index builds on one table
        // take turns), holding this start-up back. It finishes the job.
        info!(
            ?building,
            "another migration is building indexes of domains; leaving them to it"
        );
        return plan;
    }
    for index in indexes {
        match existing.indexes.get(index.name) {
            Some(IndexState::Valid | IndexState::Building) => {}
            Some(IndexState::Invalid) => {
                plan.concurrent
                    .push(format!("REINDEX INDEX CONCURRENTLY {}", index.name));
                plan.report.rebuilt_indexes.push(index.name.to_owned());
            }
            None => {
                if concurrently {
                    plan.concurrent.push(index.create(backend, true));
                } else {
                    plan.in_transaction.push(index.create(backend, false));
                }
                plan.report.added_indexes.push(index.name.to_owned());
            }
        }
    }
    plan
}

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

/// Brings the `domains` table up to date on `db`. On Postgres
/// `settings.migration_lock_timeout` bounds each wait for a lock (another
/// migration, or a transaction using the table while a column is added),
/// and the transaction has the worker's other session settings too.
pub(crate) async fn reconcile(
    db: &DatabaseConnection,
    backend: Backend,
    settings: &StorageSettings,
) -> Result<MigrationReport, RepositoryError> {
    match backend {
        Backend::Postgres => reconcile_postgres(db.get_postgres_connection_pool(), settings).await,
        Backend::Sqlite => reconcile_sqlite(db).await,
    }
}

fn postgres_create_table() -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|column| format!("    {} {}", column.name, column.postgres_create))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS domains (\n{}\n)",
        columns.join(",\n")
    )
}

fn sqlite_create_table() -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|column| match column.name {
            "id" => format!("    id TEXT PRIMARY KEY NOT NULL DEFAULT {SQLITE_UUID}"),
            name => format!("    {name} {}", column.sqlite_create),
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS domains (\n{}\n)",
        columns.join(",\n")
    )
}

/// The inspection queries: columns, indexes with their state, and unique
/// single-column indexes on `domain`.
fn inspection(backend: Backend) -> [&'static str; 3] {
    match backend {
        Backend::Postgres => [
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'domains'",
            "SELECT c.relname::text AS name, \
             CASE WHEN i.indisvalid THEN 'valid' \
             WHEN EXISTS (SELECT 1 FROM pg_stat_progress_create_index p \
                          WHERE p.index_relid = i.indexrelid) THEN 'building' \
             ELSE 'invalid' END AS state \
             FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname = 'domains'",
            "SELECT c.relname::text AS name FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE n.nspname = current_schema() AND t.relname = 'domains' \
             AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1 \
             AND i.indpred IS NULL AND a.attname = 'domain'",
        ],
        Backend::Sqlite => [
            "SELECT name FROM pragma_table_info('domains')",
            "SELECT name, 'valid' AS state FROM pragma_index_list('domains')",
            "SELECT il.name AS name FROM pragma_index_list('domains') il \
             JOIN pragma_index_info(il.name) ii \
             WHERE il.\"unique\" = 1 AND il.partial = 0 \
             GROUP BY il.name HAVING count(*) = 1 AND max(ii.name) = 'domain'",
        ],
    }
}

fn texts(rows: &[Row], column: &str) -> Result<Vec<String>, RepositoryError> {
    rows.iter()
        .filter_map(|row| row.text(column).transpose())
        .collect()
}

fn existing(
    columns: &[Row],
    indexes: &[Row],
    unique_domain: &[Row],
) -> Result<Existing, RepositoryError> {
    let mut states = BTreeMap::new();
    for row in indexes {
        let (Some(name), state) = (row.text("name")?, row.text("state")?) else {
            continue;
        };
        let state = match state.as_deref() {
            Some("valid") => IndexState::Valid,
            Some("building") => IndexState::Building,
            _ => IndexState::Invalid,
        };
        states.insert(name, state);
    }
    Ok(Existing {
        columns: texts(columns, "name")?,
        indexes: states,
        unique_domain: !unique_domain.is_empty(),
    })
}

async fn reconcile_sqlite(db: &DatabaseConnection) -> Result<MigrationReport, RepositoryError> {
    let query = |sql: &'static str| async move {
        db.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .map_err(|error| from_db(&error))
            .map(|rows| rows.into_iter().map(Row::Sqlite).collect::<Vec<_>>())
    };
    let [columns, indexes, unique_domain] = inspection(Backend::Sqlite);
    let existing = existing(
        &query(columns).await?,
        &query(indexes).await?,
        &query(unique_domain).await?,
    )?;
    let plan = plan(&existing, Backend::Sqlite);
    if !plan.in_transaction.is_empty() {
        // All changes in one transaction: a failure leaves the schema as
        // it was.
        let transaction = db.begin().await.map_err(|error| from_db(&error))?;
        for statement in &plan.in_transaction {
            transaction
                .execute_unprepared(statement)
                .await
                .map_err(|error| from_db(&error))?;
        }
        transaction
            .commit()
            .await
            .map_err(|error| from_db(&error))?;
    }
    Ok(plan.report)
}

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

async fn reconcile_postgres(
    pool: &sqlx::PgPool,
    settings: &StorageSettings,
) -> Result<MigrationReport, RepositoryError> {
    let mut connection = pool.acquire().await.map_err(|error| from_sqlx(&error))?;
    let plan = match locked_changes(&mut connection, settings).await {
        Ok(plan) => plan,
        Err(error) => {
            // Ends the failed transaction before the connection goes back;
            // if even that fails, the connection is closed with the pool.
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await;
            return Err(error.explained(settings));
        }
    };
    if !plan.concurrent.is_empty() {
        build_concurrently(&mut connection, &plan.concurrent, settings).await?;
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
const NOTIFY_TRIGGER_EXISTS: &str = "SELECT t.tgname::text AS name FROM pg_trigger t \
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
