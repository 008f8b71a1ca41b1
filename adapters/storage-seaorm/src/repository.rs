//! [`SeaOrmRepository`]: the storage port on Postgres and SQLite.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use scheduler_domain::{
    ClaimRequest, ClaimedDomain, CompletedSample, Completion, DomainId, DomainName,
    DomainRepository, DomainStatus, EnqueueReport, ErrorKindCount, ErrorSample, LastHour,
    RepositoryError, RequeueReport, RequeueSelection, RescueReport, SiteMetadata, StatusReport,
    StatusRequest, WorkerId, WriteOutcome,
};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, IdenStatic};
use tracing::{debug, info, instrument, warn};

use crate::entity::Column;
use crate::error::{StorageError, connect_error, validate_url};
use crate::key::{KeyColumn, KeyKind};
use crate::migrate::{MigrationReport, preflight, reconcile};
use crate::settings::{PoolerMode, StorageSettings, redacted_url};
use crate::signal::TableSignal;
use crate::sql::{Built, Row, Runner};
use crate::statements::{self, StatusPart, status_column};

/// The database behind a [`SeaOrmRepository`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, directly or through a pooler.
    Postgres,
    /// An embedded SQLite file.
    Sqlite,
}

impl Backend {
    /// The backend a URL names: `postgres://`, `postgresql://` or `sqlite:`.
    ///
    /// # Errors
    ///
    /// [`StorageError::UnsupportedScheme`] for any other scheme.
    pub fn from_url(url: &str) -> Result<Backend, StorageError> {
        let scheme = url
            .split_once(':')
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "sqlite" => Ok(Backend::Sqlite),
            _ => Err(StorageError::UnsupportedScheme { scheme }),
        }
    }

    /// `postgres` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// [`DomainRepository`] on SeaORM. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct SeaOrmRepository {
    runner: Runner,
    pooler: PoolerMode,
    /// The `id` column's kind, read from the catalogue when first needed.
    key_kind: Arc<OnceLock<KeyKind>>,
}

async fn open(
    url: &str,
    settings: &StorageSettings,
    max_connections: u32,
) -> Result<(DatabaseConnection, Backend), StorageError> {
    let backend = Backend::from_url(url)?;
    // SeaORM only recognises the `postgres://` spelling.
    let url = match url.strip_prefix("postgresql:") {
        Some(rest) => format!("postgres:{rest}"),
        None => url.to_owned(),
    };
    validate_url(backend, &url)?;
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        .connect_timeout(settings.acquire_timeout)
        // Statements carry inlined values from web pages: not for the logs.
        .sqlx_logging(false);
    let busy_timeout = settings.statement_timeout;
    match backend {
        Backend::Postgres => {
            // Kept at 0 as well, although the Postgres path sends no
            // prepared statement at all (see `sql`).
            options.map_sqlx_postgres_opts(|options| options.statement_cache_capacity(0));
            // A ping on every check-out is one more pooler round trip (and
            // server check-out) per operation. A connection in steady use
            // is alive; one that sat idle (across a fetch, while the worker idles)
            // may have been closed by the pooler or a restart, and a write
            // failing on it would cost the domain a retry: ping only those.
            options.test_before_acquire_if_idle_for(settings.ping_connections_idle_for);
        }
        Backend::Sqlite => {
            // WAL lets readers run beside the writer; the busy timeout makes
            // concurrent writers (two workers claiming) wait their turn
            // instead of failing with "database is locked".
            options.map_sqlx_sqlite_opts(move |options| {
                options
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(busy_timeout)
                    .create_if_missing(true)
            });
        }
    }
    let db = Database::connect(options)
        .await
        .map_err(|error| connect_error(&error))?;
    debug!(url = %redacted_url(&url), backend = backend.as_str(), "connected");
    Ok((db, backend))
}

impl SeaOrmRepository {
    /// Opens a pool on `settings.url`.
    ///
    /// # Errors
    ///
    /// [`StorageError::UnsupportedScheme`] or [`StorageError::InvalidUrl`]
    /// for a URL this adapter cannot use; [`StorageError::Connect`] when the
    /// database cannot be reached.
    pub async fn connect(settings: &StorageSettings) -> Result<SeaOrmRepository, StorageError> {
        let (db, backend) = open(&settings.url, settings, settings.max_connections).await?;
        let repository = SeaOrmRepository {
            runner: Runner::new(db, backend, settings),
            pooler: settings.pooler,
            key_kind: Arc::default(),
        };
        // Read now, so that no operation pays a round trip for it later.
        // A table that is not there yet is read when first needed.
        if let Err(error) = repository.key_kind().await {
            debug!(error = %error, "the id column is not known yet");
        }
        Ok(repository)
    }

    /// Creates or completes the `domains` table over
    /// `settings.migration_url` (or `settings.url`), on a connection of its
    /// own that is closed afterwards.
    ///
    /// # Errors
    ///
    /// The connection errors of [`SeaOrmRepository::connect`];
    /// [`StorageError::Migration`] when a schema change fails: table and
    /// column changes are then left as they were; an index build that
    /// failed on Postgres leaves an invalid index that the next run
    /// rebuilds.
    #[instrument(skip_all, err)]
    pub async fn migrate(settings: &StorageSettings) -> Result<MigrationReport, StorageError> {
        let (db, backend) = open(settings.migration_url(), settings, 1).await?;
        let report = match preflight(&db, backend, settings).await {
            Ok(()) => reconcile(&db, backend, settings)
                .await
                .map_err(StorageError::Migration),
            Err(refused) => Err(refused),
        };
        // The migration's outcome matters more than a failed goodbye.
        let _ = db.close().await;
        let report = report?;
        if report.is_unchanged() {
            info!(backend = backend.as_str(), "domains table up to date");
        } else {
            info!(
                backend = backend.as_str(),
                created_table = report.created_table,
                added_columns = ?report.added_columns,
                added_indexes = ?report.added_indexes,
                rebuilt_indexes = ?report.rebuilt_indexes,
                "domains table migrated"
            );
        }
        Ok(report)
    }

    /// The database behind this repository.
    pub fn backend(&self) -> Backend {
        self.runner.backend()
    }

    /// What sits between the worker and Postgres, as configured.
    pub fn pooler(&self) -> PoolerMode {
        self.pooler
    }

    /// What wakes an idle worker: a `LISTEN` on Postgres when the
    /// connection keeps its session (`pooler` `none` or `session`; polling
    /// every `poll_interval` while that connection is lost), else a poll
    /// every `poll_interval`. The listener holds one connection of the pool.
    pub fn work_signal(&self, poll_interval: Duration) -> TableSignal {
        match self.backend() {
            Backend::Postgres if self.pooler.keeps_sessions() => TableSignal::listening(
                self.runner
                    .connection()
                    .get_postgres_connection_pool()
                    .clone(),
                poll_interval,
            ),
            _ => TableSignal::polling(poll_interval),
        }
    }

    /// The Postgres pool, for probes and diagnostics that must run on the
    /// worker's own sessions (e.g. `pg_prepared_statements`). `None` on
    /// SQLite.
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match self.backend() {
            Backend::Postgres => Some(self.runner.connection().get_postgres_connection_pool()),
            Backend::Sqlite => None,
        }
    }

    /// Closes the pool; clones stop working too.
    pub async fn close(&self) {
        // Closing only fails for connections that are already gone.
        let _ = self.runner.connection().close_by_ref().await;
    }

    pub(crate) fn built(&self, statement: &impl sea_orm::sea_query::QueryStatementWriter) -> Built {
        Built::new(self.backend(), statement)
    }

    /// The kind of the table's key, read once.
    async fn key_kind(&self) -> Result<KeyKind, RepositoryError> {
        if let Some(kind) = self.key_kind.get() {
            return Ok(*kind);
        }
        let query = Built::raw(self.backend(), KeyColumn::query(self.backend()));
        let column =
            KeyColumn::from_rows(&self.runner.fetch(&[query]).await?)?.ok_or_else(|| {
                RepositoryError::Database(
                    "the domains table has no id column (run `domain-scheduler migrate`)"
                        .to_owned(),
                )
            })?;
        let kind = column
            .kind(self.backend())
            .map_err(|unsupported| RepositoryError::Database(unsupported.to_string()))?;
        Ok(*self.key_kind.get_or_init(|| kind))
    }

    /// Moves rows the claim took but that cannot be read to `error`, so
    /// that they do not spoil the batch or come back after every lease.
    async fn fail_unreadable(&self, request: &ClaimRequest, unreadable: Vec<(DomainId, String)>) {
        let writes: Vec<Built> = unreadable
            .iter()
            .map(|(id, reason)| {
                warn!(domain_id = %id, reason = %reason, "claimed row cannot be read; marking it error");
                self.built(&statements::fail(
                    self.backend(),
                    id,
                    &request.worker,
                    &format!("unreadable row: {reason}"),
                    request.now,
                ))
            })
            .collect();
        if writes.is_empty() {
            return;
        }
        // When this fails too the rows wait in `processing` for the rescue
        // sweep, like any row whose worker went away.
        if let Err(error) = self.runner.execute(&writes).await {
            warn!(error = %error, "could not mark unreadable rows error");
        }
    }

    pub(crate) fn runner(&self) -> &Runner {
        &self.runner
    }

    async fn guarded_write(&self, statement: Built) -> Result<WriteOutcome, RepositoryError> {
        Ok(match self.runner.execute(&[statement]).await? {
            0 => WriteOutcome::LeaseLost,
            _ => WriteOutcome::Written,
        })
    }
}

/// A claimed row that cannot be read, and why.
struct Unreadable {
    id: Option<DomainId>,
    reason: String,
}

/// Why a value cannot be read, without the kind's own prefix (the row's
/// `last_error` says "unreadable row" once).
fn reason(error: RepositoryError) -> String {
    match error {
        RepositoryError::InvalidRow(reason) => reason,
        other => other.to_string(),
    }
}

fn claimed_domain(row: &Row) -> Result<ClaimedDomain, Unreadable> {
    let unreadable = |id: Option<&DomainId>, reason: String| Unreadable {
        id: id.cloned(),
        reason,
    };
    let id = match row.key(Column::Id.as_str()) {
        Ok(Some(key)) => DomainId::from_key(key),
        Ok(None) => return Err(unreadable(None, "column id: NULL".to_owned())),
        Err(error) => return Err(unreadable(None, reason(error))),
    };
    let raw_domain = match row.text(Column::Domain.as_str()) {
        Ok(Some(domain)) => domain,
        Ok(None) => return Err(unreadable(Some(&id), "column domain: NULL".to_owned())),
        Err(error) => return Err(unreadable(Some(&id), reason(error))),
    };
    let attempts = row
        .integer(Column::Attempts.as_str())
        .map_err(|error| unreadable(Some(&id), reason(error)))?
        .unwrap_or(0);
    Ok(ClaimedDomain {
        id,
        raw_domain,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

pub(crate) fn count(value: Option<i64>) -> u64 {
    value.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

impl DomainRepository for SeaOrmRepository {
    async fn claim(&self, request: ClaimRequest) -> Result<Vec<ClaimedDomain>, RepositoryError> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let statement = self.built(&statements::claim(self.backend(), &request));
        let rows = self.runner.fetch(&[statement]).await?;
        // Row by row: the claim has committed, so one row that cannot be
        // read must not cost the others their turn.
        let mut claimed = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in &rows {
            match claimed_domain(row) {
                Ok(domain) => claimed.push(domain),
                Err(Unreadable {
                    id: Some(id),
                    reason,
                }) => unreadable.push((id, reason)),
                Err(Unreadable { id: None, reason }) => {
                    warn!(reason = %reason, "claimed a row whose id cannot be read; the rescue sweep frees it");
                }
            }
        }
        self.fail_unreadable(&request, unreadable).await;
        Ok(claimed)
    }

    async fn complete(
        &self,
        id: DomainId,
        worker: &WorkerId,
        metadata: &SiteMetadata,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        let statement = statements::complete(self.backend(), &id, worker, metadata, now)?;
        self.guarded_write(self.built(&statement)).await
    }

    async fn complete_many(
        &self,
        completions: &[Completion],
    ) -> Result<Vec<WriteOutcome>, RepositoryError> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        // One transaction (on Postgres one simple query, one round trip,
        // one commit) for the group; each update says by its RETURNING
        // whether its lease still held.
        let statements = completions
            .iter()
            .map(|completion| {
                let mut update = statements::complete(
                    self.backend(),
                    &completion.id,
                    &completion.worker,
                    &completion.metadata,
                    completion.now,
                )?;
                update.returning_col(Column::Id);
                Ok(self.built(&update))
            })
            .collect::<Result<Vec<Built>, RepositoryError>>()?;
        let mut written = std::collections::HashSet::new();
        for row in self.runner.fetch(&statements).await? {
            if let Some(key) = row.key(Column::Id.as_str())? {
                written.insert(key);
            }
        }
        Ok(completions
            .iter()
            .map(|completion| {
                if written.contains(completion.id.as_str()) {
                    WriteOutcome::Written
                } else {
                    WriteOutcome::LeaseLost
                }
            })
            .collect())
    }

    async fn fail(
        &self,
        id: DomainId,
        worker: &WorkerId,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        let statement = statements::fail(self.backend(), &id, worker, error, now);
        self.guarded_write(self.built(&statement)).await
    }

    async fn retry_later(
        &self,
        id: DomainId,
        worker: &WorkerId,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        let statement =
            statements::retry_later(self.backend(), &id, worker, error, next_attempt_at, now);
        self.guarded_write(self.built(&statement)).await
    }

    async fn release(
        &self,
        id: DomainId,
        worker: &WorkerId,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        let statement = statements::release(self.backend(), &id, worker, now);
        self.guarded_write(self.built(&statement)).await
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<RescueReport, RepositoryError> {
        let statement = self.built(&statements::rescue_expired(
            self.backend(),
            now,
            max_attempts,
        ));
        let mut report = RescueReport::default();
        for row in self.runner.fetch(&[statement]).await? {
            if row.text(Column::Status.as_str())?.as_deref() == Some(DomainStatus::Error.as_str()) {
                report.failed += 1;
            } else {
                report.requeued += 1;
            }
        }
        Ok(report)
    }

    async fn enqueue(
        &self,
        names: &[DomainName],
        now: DateTime<Utc>,
    ) -> Result<EnqueueReport, RepositoryError> {
        if names.is_empty() {
            return Ok(EnqueueReport::default());
        }
        let random_ids = self.key_kind().await?.new_rows_need_random_ids()?;
        let inserts: Vec<Built> = statements::enqueue(self.backend(), names, now, random_ids)
            .iter()
            .map(|insert| self.built(insert))
            .collect();
        let mut added = std::collections::HashSet::new();
        for row in self.runner.fetch(&inserts).await? {
            if let Some(domain) = row.text(Column::Domain.as_str())? {
                added.insert(domain);
            }
        }
        let mut report = EnqueueReport::default();
        for name in names {
            // `remove`: a name given twice is added once, then present.
            if added.remove(name.as_str()) {
                report.added.push(name.clone());
            } else {
                report.already_present.push(name.clone());
            }
        }
        Ok(report)
    }

    async fn requeue(
        &self,
        selection: &RequeueSelection,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RequeueReport, RepositoryError> {
        self.requeue_rows(selection, dry_run, now).await
    }

    async fn status(&self, request: StatusRequest) -> Result<StatusReport, RepositoryError> {
        let statements: Vec<Built> = statements::status_report(self.backend(), &request)
            .iter()
            .map(|statement| self.built(statement))
            .collect();
        let mut report = StatusReport::default();
        for row in self.runner.fetch_snapshot(&statements).await? {
            let part = row.text(StatusPart::COLUMN)?;
            match part.as_deref().and_then(StatusPart::parse) {
                Some(StatusPart::Counts) => {
                    let total = count(row.integer(status_column::TOTAL)?);
                    match row
                        .text(Column::Status.as_str())?
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                    {
                        Some(DomainStatus::Pending) => {
                            report.pending = total;
                            report.waiting_for_retry = count(row.integer(status_column::WAITING)?);
                        }
                        Some(DomainStatus::Processing) => {
                            report.processing = total;
                            report.expired_leases = count(row.integer(status_column::EXPIRED)?);
                        }
                        Some(DomainStatus::Completed) => report.completed = total,
                        Some(DomainStatus::Error) => report.error = total,
                        None => report.other += total,
                    }
                }
                Some(StatusPart::OldestDuePending) => {
                    report.oldest_pending_seconds = row.time(status_column::SINCE)?.map(|since| {
                        u64::try_from((request.now - since).num_seconds()).unwrap_or(0)
                    });
                }
                Some(StatusPart::LastHour) => {
                    report.last_hour = LastHour {
                        completed: count(row.integer(status_column::COMPLETED)?),
                        failed: count(row.integer(status_column::FAILED)?),
                    };
                }
                Some(StatusPart::ErrorKinds) => report.error_kinds.push(ErrorKindCount {
                    kind: row.text(status_column::KIND)?.unwrap_or_default(),
                    count: count(row.integer(status_column::TOTAL)?),
                }),
                Some(StatusPart::RecentErrors) => report.recent_errors.push(ErrorSample {
                    domain: row.text(Column::Domain.as_str())?.unwrap_or_default(),
                    error: row.text(status_column::DETAIL)?.unwrap_or_default(),
                    at: row
                        .time(Column::UpdatedAt.as_str())?
                        .unwrap_or(DateTime::UNIX_EPOCH),
                }),
                Some(StatusPart::RecentCompleted) => {
                    report.recent_completed.push(CompletedSample {
                        domain: row.text(Column::Domain.as_str())?.unwrap_or_default(),
                        title: row.text(status_column::DETAIL)?,
                        at: row
                            .time(Column::UpdatedAt.as_str())?
                            .unwrap_or(DateTime::UNIX_EPOCH),
                    });
                }
                None => {
                    return Err(RepositoryError::Database(format!(
                        "status returned a row of unknown part {part:?}"
                    )));
                }
            }
        }
        Ok(report)
    }
}
