//! The migration on SQLite: inspection, then every change in one
//! transaction (SQLite has one writer: nothing is built concurrently).

use scheduler_domain::RepositoryError;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use super::existing::{existing, inspection};
use super::plan::plan;
use super::report::MigrationReport;
use crate::backend::Backend;
use crate::error::from_db;
use crate::row::Row;

/// Brings the `domains` table of `db` up to date.
pub(super) async fn reconcile(db: &DatabaseConnection) -> Result<MigrationReport, RepositoryError> {
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
