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
    // 6,000 rows: 2,000 completed, 1,000 error, 2,500 pending (500
    // waiting for a retry), 500 processing (100 with an expired lease).
    sqlx::raw_sql(
        "INSERT INTO domains (domain, status, next_attempt_at, locked_by, locked_until) \
         SELECT 'row' || n || '.example', \
           CASE WHEN n <= 2000 THEN 'completed' WHEN n <= 3000 THEN 'error' \
                WHEN n <= 5500 THEN 'pending' ELSE 'processing' END, \
           CASE WHEN n BETWEEN 3001 AND 3500 THEN now() + interval '1 hour' END, \
           CASE WHEN n > 5500 THEN 'worker-a' END, \
           CASE WHEN n > 5900 THEN now() - interval '1 minute' \
                WHEN n > 5500 THEN now() + interval '1 hour' END \
         FROM generate_series(1, 6000) AS n; \
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
        if live == 6000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();

    let estimated = repository
        .status(StatusRequest::at(Utc::now()).with_estimates_above(1000))
        .await
        .unwrap();
    let near = |figure: u64, expected: u64, within: u64| figure.abs_diff(expected) <= within;
    // Counted from the lease index: 500 processing, 100 of them expired.
    assert_eq!((estimated.processing, estimated.expired_leases), (500, 100));
    // Past the limit: the statistics' share (ANALYZE read every row), and
    // the planner's estimate of the rows waiting.
    assert!(near(estimated.pending, 2500, 1), "{estimated:?}");
    assert!(near(estimated.waiting_for_retry, 500, 200), "{estimated:?}");
    assert!(near(estimated.completed, 2000, 2), "{estimated:?}");
    assert!(near(estimated.error, 1000, 2), "{estimated:?}");
    assert!(estimated.other <= 2, "{estimated:?}");
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
        .status(StatusRequest::at(Utc::now()).with_estimates_above(6000))
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
        (2500, 500, 500, 100)
    );
    assert_eq!((exact.completed, exact.error), (2000, 1000));
    repository.close().await;
    side.close().await;
    database.drop().await;
}
