//! The gauges' `status` on Postgres past its limit: `pending` and
//! `processing` counted through their indexes up to the limit, estimated
//! beyond it, and the finished states shared out by the statistics; below
//! the limit every count exact, as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use scheduler_domain::{DomainRepository, StatusRequest};
use scheduler_storage_seaorm::{SeaOrmRepository, StorageSettings};
use scheduler_tests::postgres::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_counts_are_bounded_and_the_rest_estimated() {
    let database = TestDatabase::create().await;
    let settings = StorageSettings::new(database.url());
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let side = sqlx::PgPool::connect(database.url()).await.unwrap();
    // 1,000 rows: 500 completed, 300 error, 150 pending (50 waiting for a
    // retry), 50 processing (10 with an expired lease).
    sqlx::raw_sql(
        "INSERT INTO domains (domain, status, next_attempt_at, locked_by, locked_until) \
         SELECT 'row' || n || '.example', \
           CASE WHEN n <= 500 THEN 'completed' WHEN n <= 800 THEN 'error' \
                WHEN n <= 950 THEN 'pending' ELSE 'processing' END, \
           CASE WHEN n BETWEEN 801 AND 850 THEN now() + interval '1 hour' END, \
           CASE WHEN n > 950 THEN 'worker-a' END, \
           CASE WHEN n > 990 THEN now() - interval '1 minute' \
                WHEN n > 950 THEN now() + interval '1 hour' END \
         FROM generate_series(1, 1000) AS n; \
         ANALYZE domains;",
    )
    .execute(&side)
    .await
    .unwrap();
    // The statistics collector's count reaches the catalogue once the
    // writing session is idle.
    for _ in 0..200 {
        let (live,): (i64,) = sqlx::query_as("SELECT pg_stat_get_live_tuples('domains'::regclass)")
            .fetch_one(&side)
            .await
            .unwrap();
        if live == 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();

    let estimated = repository
        .status(StatusRequest::at(Utc::now()).with_estimates_above(100))
        .await
        .unwrap();
    // Counted: 50 processing, 10 of them expired.
    assert_eq!((estimated.processing, estimated.expired_leases), (50, 10));
    // Past the limit: the statistics' share (ANALYZE read every row).
    assert_eq!(estimated.pending, 150, "{estimated:?}");
    assert!(estimated.waiting_for_retry <= 150, "{estimated:?}");
    assert_eq!(
        (estimated.completed, estimated.error, estimated.other),
        (500, 300, 0)
    );
    assert_eq!(
        estimated.estimated,
        [
            "pending",
            "waiting_for_retry",
            "completed",
            "error",
            "other"
        ]
    );

    let exact = repository
        .status(StatusRequest::at(Utc::now()).with_estimates_above(1000))
        .await
        .unwrap();
    assert!(exact.estimated.is_empty(), "{exact:?}");
    assert_eq!(
        (
            exact.pending,
            exact.waiting_for_retry,
            exact.processing,
            exact.expired_leases
        ),
        (150, 50, 50, 10)
    );
    assert_eq!((exact.completed, exact.error), (500, 300));
    repository.close().await;
    side.close().await;
    database.drop().await;
}
