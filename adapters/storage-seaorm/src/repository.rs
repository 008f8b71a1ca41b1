//! [`SeaOrmRepository`]: the storage port on Postgres and SQLite.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use scheduler_domain::{
    ClaimRequest, ClaimedDomain, Completion, DomainId, DomainName, DomainRecord, DomainRepository,
    DomainStatus, EnqueueReport, ErrorQuery, ErrorSample, RepositoryError, RequeueReport,
    RequeueSelection, RescueReport, SiteMetadata, StatusReport, StatusRequest, WorkerId,
    WriteOutcome,
};
use sea_orm::IdenStatic;
use tracing::{debug, info, instrument, warn};

use crate::backend::Backend;
use crate::connect::open;
use crate::entity::Column;
use crate::error::StorageError;
use crate::key::{KeyColumn, KeyKind};
use crate::migrate::{MigrationReport, SchemaCheck, check, preflight, reconcile};
use crate::row::Row;
use crate::settings::{PoolerMode, StorageSettings};
use crate::signal::TableSignal;
use crate::sql::{Built, Runner};
use crate::statements;

/// Names per statement of a requeue by name: a file of names becomes many
/// short statements, each well within the database's limit on parameters.
const REQUEUE_NAMES_PER_STATEMENT: usize = 1_000;

/// Rows the rescue sweep moves per statement: a table full of stale rows
/// is swept in statements that each end well within the statement timeout.
const RESCUE_BATCH: u32 = 500;

/// [`DomainRepository`] on SeaORM. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct SeaOrmRepository {
    runner: Runner,
    pooler: PoolerMode,
    /// The `id` column's kind, read from the catalogue when first needed.
    key_kind: Arc<OnceLock<KeyKind>>,
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
            Ok(()) => reconcile(&db, backend, settings).await,
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

    /// Whether the worker can use the table as it is, changing nothing:
    /// what commands check at start on Postgres, where `migrate` is the
    /// only one to change the schema.
    ///
    /// # Errors
    ///
    /// [`StorageError::TableMissing`] or [`StorageError::ColumnsMissing`]
    /// (each naming `migrate`); [`StorageError::Migration`] when the
    /// catalogue cannot be read.
    pub async fn check_schema(&self) -> Result<SchemaCheck, StorageError> {
        check(&self.runner, self.backend()).await
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

    fn built(&self, statement: &impl sea_orm::sea_query::QueryStatementWriter) -> Built {
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
        not_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        let statement = statements::release(self.backend(), &id, worker, not_before, now);
        self.guarded_write(self.built(&statement)).await
    }

    async fn rescue_expired(
        &self,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<RescueReport, RepositoryError> {
        let mut report = RescueReport::default();
        // Batch by batch, each its own short transaction; a batch that
        // comes back short was the last.
        loop {
            let statement = self.built(&statements::rescue_expired(
                self.backend(),
                now,
                max_attempts,
                RESCUE_BATCH,
            ));
            let rows = self.runner.fetch(&[statement]).await?;
            for row in &rows {
                if row.text(Column::Status.as_str())?.as_deref()
                    == Some(DomainStatus::Error.as_str())
                {
                    report.failed += 1;
                } else {
                    report.requeued += 1;
                }
            }
            if rows.len() < RESCUE_BATCH as usize {
                return Ok(report);
            }
        }
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
        let backend = self.backend();
        let mut report = RequeueReport::default();
        if selection.names().is_empty() {
            report.requeued = if dry_run {
                let count = self.built(&statements::count_selected(backend, selection));
                let rows = self.runner.fetch(&[count]).await?;
                match rows.first() {
                    Some(row) => statements::selected_count(row)?,
                    None => 0,
                }
            } else {
                let update = self.built(&statements::requeue(backend, selection, now));
                self.runner.execute(&[update]).await?
            };
            return Ok(report);
        }
        // Part by part, each one transaction: which of the names have a
        // row (so that the others can be reported), then the update.
        for part in selection.names().chunks(REQUEUE_NAMES_PER_STATEMENT) {
            let part = selection.for_names(part);
            let known = self.built(&statements::known_names(backend, &part));
            let rows = if dry_run {
                let rows = self.runner.fetch(&[known]).await?;
                for row in &rows {
                    report.requeued += statements::selected_count(row)?;
                }
                rows
            } else {
                let update = self.built(&statements::requeue(backend, &part, now));
                let (rows, changed) = self.runner.fetch_and_count_last(&[known, update]).await?;
                report.requeued += changed;
                rows
            };
            let found = statements::names_found(&part, &rows)?;
            report.not_found.extend(found.not_found);
            report.left_alone.extend(found.left_alone);
        }
        Ok(report)
    }

    async fn status(&self, request: StatusRequest) -> Result<StatusReport, RepositoryError> {
        if let (Backend::Postgres, Some(limit)) = (self.backend(), request.estimate_above) {
            let live = Built::raw(self.backend(), statements::LIVE_ROWS);
            let live = statements::live_rows(&self.runner.fetch(&[live]).await?)?;
            if live > limit {
                let (counts, shares) =
                    statements::estimated_counts(self.backend(), &request, limit);
                let mut statements: Vec<Built> = counts
                    .iter()
                    .map(|statement| self.built(statement))
                    .collect();
                statements.push(Built::raw(self.backend(), shares));
                let rows = self.runner.fetch_snapshot(&statements).await?;
                let mut report = statements::read_estimated(&rows, &request, live, limit)?;
                if report.estimated.contains(&"waiting_for_retry") {
                    let plan = statements::waiting_estimate(self.backend(), request.now);
                    let plan = self.runner.fetch(&[Built::Postgres(plan)]).await?;
                    report.waiting_for_retry = statements::planned_rows(&plan)?.min(report.pending);
                }
                return Ok(report);
            }
        }
        let statements: Vec<Built> = statements::status_report(self.backend(), &request)
            .iter()
            .map(|statement| self.built(statement))
            .collect();
        let rows = self.runner.fetch_snapshot(&statements).await?;
        statements::read_status(&rows, &request)
    }

    async fn find_domain(
        &self,
        name: &DomainName,
    ) -> Result<Option<DomainRecord>, RepositoryError> {
        let lookup = self.built(&statements::find_domain(name));
        let rows = self.runner.fetch(&[lookup]).await?;
        rows.first().map(statements::read_record).transpose()
    }

    async fn recent_errors(&self, query: &ErrorQuery) -> Result<Vec<ErrorSample>, RepositoryError> {
        let page = self.built(&statements::errors_page(query));
        statements::read_errors_page(&self.runner.fetch(&[page]).await?)
    }
}
