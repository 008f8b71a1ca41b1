//! `status` reads one snapshot of the table on the real Postgres: while
//! another session keeps moving rows between `error` and `completed`, every
//! report agrees with itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::Utc;
use scheduler_domain::{DomainRepository, StatusRequest};
use scheduler_storage_seaorm::{SeaOrmRepository, StorageSettings};
use scheduler_tests::postgres::TestDatabase;

const ROWS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_agrees_with_itself_while_rows_move() {
    let database = TestDatabase::create().await;
    let settings = StorageSettings::new(database.url());
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    let side = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO domains (domain, status, last_error, updated_at) \
         SELECT 'row' || n || '.example', 'error', 'timed out after 30s', now() \
         FROM generate_series(1, $1) AS n",
    )
    .bind(ROWS as i64)
    .execute(&side)
    .await
    .unwrap();

    // Another session flips one row at a time between the two states, each
    // flip its own transaction, as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicU64::new(0));
    let mover = {
        let (stop, flips, side) = (Arc::clone(&stop), Arc::clone(&flips), side.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                sqlx::query(
                    "UPDATE domains SET status = CASE status WHEN 'error' THEN 'completed' \
                     ELSE 'error' END, updated_at = now() \
                     WHERE domain = 'row' || (1 + floor(random() * $1)::int) || '.example'",
                )
                .bind(ROWS as i64)
                .execute(&side)
                .await
                .unwrap();
                flips.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // Until many flips landed between and during the reports.
    let mut reports = 0;
    while reports < 200 || flips.load(Ordering::Relaxed) < 2_000 {
        reports += 1;
        assert!(reports < 20_000, "the mover is stuck");
        let report = repository
            .status(
                StatusRequest::at(Utc::now())
                    .with_details()
                    .with_errors(100)
                    .with_completed(100),
            )
            .await
            .unwrap();
        // Each figure comes from its own statement; in one snapshot they
        // add up.
        assert_eq!(report.completed + report.error, ROWS, "{report:?}");
        assert_eq!(
            report.recent_errors.len() as u64,
            report.error,
            "{report:?}"
        );
        assert_eq!(
            report.recent_completed.len() as u64,
            report.completed,
            "{report:?}"
        );
        let by_kind: u64 = report.error_kinds.iter().map(|kind| kind.count).sum();
        assert_eq!(by_kind, report.error, "{report:?}");
        assert_eq!(
            report.last_hour.completed + report.last_hour.failed,
            ROWS,
            "{report:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    mover.await.unwrap();
    side.close().await;
    repository.close().await;
    database.drop().await;
}
