//! The status page's record view reads one row by the unique index on
//! `domain` and nothing else: on the real Postgres, with enough rows that
//! a scan would show, the table's statistics count one index scan of that
//! index and no sequential scan per lookup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use scheduler_domain::{DomainName, DomainRepository};
use scheduler_storage_seaorm::{SeaOrmRepository, StorageSettings};
use scheduler_tests::postgres::TestDatabase;
use sqlx::PgPool;

/// (sequential scans of `domains`, index scans of `domains_domain_key`),
/// as the statistics read now.
async fn scans(side: &PgPool) -> (i64, i64) {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(side)
        .await
        .unwrap();
    sqlx::query_as(
        "SELECT t.seq_scan, i.idx_scan FROM pg_stat_user_tables t \
         JOIN pg_stat_user_indexes i ON i.relid = t.relid \
         WHERE t.relname = 'domains' AND i.indexrelname = 'domains_domain_key'",
    )
    .fetch_one(side)
    .await
    .unwrap()
}

/// Waits until the statistics count `index_scans` (another session's
/// counts reach them once it goes idle: within a second, at most ten).
async fn scans_after(side: &PgPool, index_scans: i64) -> (i64, i64) {
    for _ in 0..200 {
        let seen = scans(side).await;
        if seen.1 >= index_scans {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scans(side).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_is_read_by_the_domain_index_alone() {
    let database = TestDatabase::create().await;
    let settings = StorageSettings::new(database.url());
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let side = PgPool::connect(database.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO domains (domain, status) \
         SELECT 'row' || n || '.example', 'completed' FROM generate_series(1, 20000) AS n",
    )
    .execute(&side)
    .await
    .unwrap();
    sqlx::query("ANALYZE domains").execute(&side).await.unwrap();
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    let before = scans_after(&side, 0).await;

    let found = repository
        .find_domain(&DomainName::parse("row777.example").unwrap())
        .await
        .unwrap();
    assert_eq!(found.unwrap().domain, "row777.example");
    let missing = repository
        .find_domain(&DomainName::parse("nowhere.example").unwrap())
        .await
        .unwrap();
    assert_eq!(missing, None);

    let after = scans_after(&side, before.1 + 2).await;
    assert_eq!(after.1 - before.1, 2, "one index scan per lookup");
    assert_eq!(after.0, before.0, "no sequential scan");
    repository.close().await;
    side.close().await;
    database.drop().await;
}
