//! The queue of one run: a fresh database (a temporary SQLite file, a new
//! Postgres database, or one behind a new PgBouncer), seeded with pending
//! rows, watched while the worker drains it, dropped at the end.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use scheduler_domain::{DomainName, DomainRepository};
use scheduler_storage_seaorm::{SeaOrmRepository, StorageSettings};
use scheduler_tests::pgbouncer::{PgBouncer, PgBouncerConfig};
use scheduler_tests::postgres::{TestDatabase, admin_url};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row, SqliteConnection};

use crate::BenchError;

/// Which database the worker drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DatabaseKind {
    /// A temporary SQLite file.
    Sqlite,
    /// Postgres at the test server, directly over TCP.
    Postgres,
    /// The same server, directly over its Unix socket in
    /// `/var/run/postgresql` (the queue without the network stack).
    #[value(name = "postgres-socket")]
    #[serde(rename = "postgres-socket")]
    PostgresSocket,
    /// The same, through a PgBouncer in transaction mode.
    Pgbouncer,
}

/// Where Debian's Postgres keeps its Unix socket.
const POSTGRES_SOCKET_DIR: &str = "/var/run/postgresql";

/// Rows enqueued per statement while seeding.
const SEED_CHUNK: usize = 1000;

/// How long the Postgres statistics get to settle after the last
/// transaction: idle backends flush theirs within a second.
const STATS_SETTLE: Duration = Duration::from_millis(1200);

/// A database made for one run.
#[derive(Debug)]
pub(crate) struct BenchDatabase {
    kind: DatabaseKind,
    place: Place,
}

#[derive(Debug)]
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
    PgBouncer(TestDatabase, PgBouncer),
}

/// What the worker's `[database]` section says.
#[derive(Debug)]
pub(crate) struct WorkerDatabase {
    pub(crate) url: String,
    pub(crate) pooler: &'static str,
    pub(crate) migration_url: Option<String>,
}

/// A pending row whose next attempt is further away than this counts as
/// settled for the run: it waits for a retry the run will not see. One due
/// sooner (a short `Retry-After`) keeps the run going.
pub(crate) const RETRY_HORIZON: Duration = Duration::from_secs(60);

/// One row after the run.
#[derive(Debug)]
pub(crate) struct FinishedRow {
    pub(crate) domain: String,
    pub(crate) status: String,
    pub(crate) updated_at: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<String>,
    pub(crate) next_attempt_at: Option<DateTime<Utc>>,
    /// When the row first settled (completed, failed, or requeued after a
    /// failure), as seen while the run went on; `None` when it was not
    /// watched or never settled. A row requeued early and tried again late
    /// in a long run settles at its first outcome, not its last.
    pub(crate) first_settled_at: Option<DateTime<Utc>>,
}

impl FinishedRow {
    /// Whether the row has an outcome: completed, failed, or handed back
    /// after a failure to be tried later. A row handed back untried (its
    /// address was busy) keeps `last_error` as it was, `NULL` on its
    /// first attempt, so it does not count.
    pub(crate) fn has_outcome(&self) -> bool {
        match self.status.as_str() {
            "completed" | "error" => true,
            "pending" => {
                self.last_error.is_some()
                    && self
                        .next_attempt_at
                        .zip(self.updated_at)
                        .is_some_and(|(next, updated)| next > updated)
            }
            _ => false,
        }
    }

    /// When the row settled: its first outcome when watched, else its
    /// last update.
    pub(crate) fn settled_at(&self) -> Option<DateTime<Utc>> {
        self.first_settled_at.or(self.updated_at)
    }
}

/// The columns [`Observer::rows`] reads.
const ROWS_SQL: &str =
    "SELECT domain, status, updated_at, last_error, next_attempt_at FROM domains";

impl BenchDatabase {
    /// Makes an empty database of `kind` (and, for PgBouncer, a pooler with
    /// `pool_size` server connections in front of it).
    pub(crate) async fn create(
        kind: DatabaseKind,
        pool_size: u32,
    ) -> Result<BenchDatabase, BenchError> {
        let place = match kind {
            DatabaseKind::Sqlite => {
                Place::Sqlite(tempfile::tempdir().map_err(|source| BenchError::Io {
                    context: "creating a directory for the SQLite file".to_owned(),
                    source,
                })?)
            }
            DatabaseKind::Postgres | DatabaseKind::PostgresSocket => {
                Place::Postgres(TestDatabase::create().await)
            }
            DatabaseKind::Pgbouncer => {
                let database = TestDatabase::create().await;
                let pooler = PgBouncer::start_with(PgBouncerConfig {
                    pool_size,
                    ..PgBouncerConfig::default()
                })
                .await?;
                Place::PgBouncer(database, pooler)
            }
        };
        Ok(BenchDatabase { kind, place })
    }

    /// The URL the bench itself uses: always direct, so that its own
    /// queries never pass through the pooler whose statistics are read.
    fn direct_url(&self) -> String {
        match &self.place {
            Place::Sqlite(dir) => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
            Place::Postgres(database) | Place::PgBouncer(database, _) => database.url().to_owned(),
        }
    }

    /// What the worker is configured with.
    pub(crate) fn worker_database(&self) -> WorkerDatabase {
        match &self.place {
            Place::PgBouncer(database, pooler) => WorkerDatabase {
                url: pooler.pooled_url(database.url()),
                pooler: "transaction",
                migration_url: Some(database.url().to_owned()),
            },
            Place::Postgres(database) if self.kind == DatabaseKind::PostgresSocket => {
                WorkerDatabase {
                    url: format!(
                        "postgres://postgres@localhost/{}?host={POSTGRES_SOCKET_DIR}",
                        database.name()
                    ),
                    pooler: "none",
                    migration_url: None,
                }
            }
            Place::Sqlite(_) | Place::Postgres(_) => WorkerDatabase {
                url: self.direct_url(),
                pooler: "none",
                migration_url: None,
            },
        }
    }

    /// Creates the schema and enqueues `names`, through the storage
    /// adapter the worker uses.
    pub(crate) async fn seed(&self, names: &[DomainName]) -> Result<(), BenchError> {
        let storage = StorageSettings::new(self.direct_url());
        let storage_error =
            |error: scheduler_storage_seaorm::StorageError| BenchError::Storage(error.to_string());
        SeaOrmRepository::migrate(&storage)
            .await
            .map_err(storage_error)?;
        let repository = SeaOrmRepository::connect(&storage)
            .await
            .map_err(storage_error)?;
        for chunk in names.chunks(SEED_CHUNK) {
            repository
                .enqueue(chunk, Utc::now())
                .await
                .map_err(|error| BenchError::Storage(error.to_string()))?;
        }
        repository.close().await;
        Ok(())
    }

    /// A connection that watches the queue.
    pub(crate) async fn observer(&self) -> Result<Observer, BenchError> {
        let url = self.direct_url();
        Ok(match self.kind {
            DatabaseKind::Sqlite => Observer::Sqlite(SqliteConnection::connect(&url).await?),
            DatabaseKind::Postgres | DatabaseKind::PostgresSocket | DatabaseKind::Pgbouncer => {
                Observer::Postgres {
                    connection: PgConnection::connect(&url).await?,
                    queries: 0,
                }
            }
        })
    }

    /// The round trips the database has served so far, not counting the
    /// observer's: Postgres's committed and rolled-back transactions of
    /// this database (every worker operation is one simple-protocol query
    /// in a transaction of its own), PgBouncer's transactions of the pool,
    /// `None` on SQLite.
    pub(crate) async fn round_trips(
        &self,
        observer: &mut Observer,
    ) -> Result<Option<u64>, BenchError> {
        match &self.place {
            Place::Sqlite(_) => Ok(None),
            Place::PgBouncer(database, pooler) => {
                let stats = pooler.stats(database.name()).await?;
                Ok(Some(stats.transactions))
            }
            Place::Postgres(database) => {
                // The observer's statistics are pushed out now, so that
                // every query of its that was counted is one it counted.
                observer
                    .execute("SELECT pg_stat_force_next_flush()")
                    .await?;
                let observed = observer.queries();
                let total = settled_transactions(database.name()).await?;
                Ok(Some(total.saturating_sub(observed)))
            }
        }
    }

    /// Drops the database and stops the pooler.
    pub(crate) async fn remove(self) {
        match self.place {
            Place::Sqlite(dir) => drop(dir),
            Place::Postgres(database) => database.drop().await,
            Place::PgBouncer(database, pooler) => {
                drop(pooler);
                database.drop().await;
            }
        }
    }
}

/// `xact_commit + xact_rollback` of `name`, read until two readings
/// `STATS_SETTLE` apart agree (backends flush their counts when idle).
async fn settled_transactions(name: &str) -> Result<u64, BenchError> {
    let mut admin = PgConnection::connect(&admin_url()).await?;
    let sql = format!(
        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = '{}'",
        name.replace('\'', "''")
    );
    let mut last: Option<i64> = None;
    let deadline = Instant::now() + STATS_SETTLE * 10;
    loop {
        tokio::time::sleep(STATS_SETTLE).await;
        let row = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .fetch_one(&mut admin)
            .await?;
        let now: i64 = row.try_get(0)?;
        if last == Some(now) || Instant::now() > deadline {
            admin.close().await?;
            return Ok(u64::try_from(now).unwrap_or(0));
        }
        last = Some(now);
    }
}

/// The bench's own connection to the queue.
#[derive(Debug)]
pub(crate) enum Observer {
    Sqlite(SqliteConnection),
    Postgres {
        connection: PgConnection,
        /// Simple-protocol queries sent: each is one transaction that the
        /// round-trip count must leave out.
        queries: u64,
    },
}

impl Observer {
    async fn execute(&mut self, sql: &'static str) -> Result<(), BenchError> {
        match self {
            Observer::Sqlite(connection) => {
                sqlx::raw_sql(sql).execute(connection).await?;
            }
            Observer::Postgres {
                connection,
                queries,
            } => {
                *queries += 1;
                sqlx::raw_sql(sql).execute(connection).await?;
            }
        }
        Ok(())
    }

    fn queries(&self) -> u64 {
        match self {
            Observer::Sqlite(_) => 0,
            Observer::Postgres { queries, .. } => *queries,
        }
    }

    /// Rows still `pending` or `processing`.
    pub(crate) async fn unfinished(&mut self) -> Result<u64, BenchError> {
        const SQL: &str = "SELECT count(*) FROM domains WHERE status IN ('pending', 'processing')";
        let count: i64 = match self {
            Observer::Sqlite(connection) => {
                sqlx::raw_sql(SQL).fetch_one(connection).await?.try_get(0)?
            }
            Observer::Postgres {
                connection,
                queries,
            } => {
                *queries += 1;
                sqlx::raw_sql(SQL).fetch_one(connection).await?.try_get(0)?
            }
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Rows processing, or pending and due within [`RETRY_HORIZON`]: what
    /// the worker still has to do in this run.
    pub(crate) async fn unsettled(&mut self) -> Result<u64, BenchError> {
        let horizon = RETRY_HORIZON.as_secs();
        let count: i64 = match self {
            Observer::Sqlite(connection) => {
                // Times are stored as RFC 3339 text in UTC: compared as text.
                let sql = format!(
                    "SELECT count(*) FROM domains WHERE status = 'processing' \
                     OR (status = 'pending' AND (next_attempt_at IS NULL \
                     OR next_attempt_at <= strftime('%Y-%m-%dT%H:%M:%f', 'now', '+{horizon} seconds')))"
                );
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .fetch_one(connection)
                    .await?
                    .try_get(0)?
            }
            Observer::Postgres {
                connection,
                queries,
            } => {
                *queries += 1;
                let sql = format!(
                    "SELECT count(*) FROM domains WHERE status = 'processing' \
                     OR (status = 'pending' AND (next_attempt_at IS NULL \
                     OR next_attempt_at <= now() + interval '{horizon} seconds'))"
                );
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .fetch_one(connection)
                    .await?
                    .try_get(0)?
            }
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Every row's domain, status, `updated_at`, `last_error` and
    /// `next_attempt_at`.
    pub(crate) async fn rows(&mut self) -> Result<Vec<FinishedRow>, BenchError> {
        self.rows_where(ROWS_SQL.to_owned()).await
    }

    /// The rows updated at `since` or later (every row when `None`).
    pub(crate) async fn rows_updated_since(
        &mut self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<FinishedRow>, BenchError> {
        let Some(since) = since else {
            return self.rows().await;
        };
        let sql = match self {
            // Stored as RFC 3339 text in UTC: compared as text, which at
            // worst reads a row of the same second again.
            Observer::Sqlite(_) => format!(
                "{ROWS_SQL} WHERE updated_at >= '{}'",
                since.format("%Y-%m-%dT%H:%M:%S")
            ),
            Observer::Postgres { .. } => format!(
                "{ROWS_SQL} WHERE updated_at >= '{}'::timestamptz",
                since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
        };
        self.rows_where(sql).await
    }

    async fn rows_where(&mut self, sql: String) -> Result<Vec<FinishedRow>, BenchError> {
        match self {
            Observer::Sqlite(connection) => {
                let rows = sqlx::raw_sql(AssertSqlSafe(sql))
                    .fetch_all(connection)
                    .await?;
                let time = |text: Option<String>| {
                    text.and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
                        .map(|time| time.with_timezone(&Utc))
                };
                rows.iter()
                    .map(|row| {
                        Ok(FinishedRow {
                            domain: row.try_get(0)?,
                            status: row.try_get(1)?,
                            updated_at: time(row.try_get(2)?),
                            last_error: row.try_get(3)?,
                            next_attempt_at: time(row.try_get(4)?),
                            first_settled_at: None,
                        })
                    })
                    .collect()
            }
            Observer::Postgres {
                connection,
                queries,
            } => {
                *queries += 1;
                let rows = sqlx::raw_sql(AssertSqlSafe(sql))
                    .fetch_all(connection)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(FinishedRow {
                            domain: row.try_get(0)?,
                            status: row.try_get(1)?,
                            updated_at: row.try_get(2)?,
                            last_error: row.try_get(3)?,
                            next_attempt_at: row.try_get(4)?,
                            first_settled_at: None,
                        })
                    })
                    .collect()
            }
        }
    }
}
