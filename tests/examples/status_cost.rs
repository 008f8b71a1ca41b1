//! What one refresh of the endpoint's gauges costs the database, on a
//! table of N rows (94 % completed, 5 % error, 1 % pending of which a tenth
//! wait for a retry, 1,000 processing): the exact counts (one pass over the
//! table) against the bounded counts and estimates the endpoint reads
//! (`StatusRequest::with_estimates_above`), and the page's detailed report.
//! Prints the median and the slowest of R reads of each, as the client
//! waited for them over the local socket (the database's own time plus a
//! round trip or two).
//!
//! ```text
//! cargo run -p scheduler-tests --example status_cost -- 10000000 20
//! ```
// A benchmark's start-up may panic on a bad argument, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::Utc;
use scheduler_domain::{DomainRepository, StatusRequest};
use scheduler_storage_seaorm::{SeaOrmRepository, StorageSettings};
use scheduler_tests::postgres::TestDatabase;

/// A request as of when it is made.
type Request = fn() -> StatusRequest;

/// The endpoint's own limit (`bin/src/http/snapshots.rs`).
const EXACT_UP_TO: u64 = 20_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let reads: usize = args.next().map_or(Ok(20), |n| n.parse())?;
    let database = TestDatabase::create().await;
    let settings = StorageSettings::new(database.url());
    SeaOrmRepository::migrate(&settings).await?;
    let side = sqlx::PgPool::connect(database.url()).await?;
    let started = Instant::now();
    // Every hundredth row pending (one in ten of those waiting for a
    // retry), every twentieth an error, a thousand processing.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO domains (domain, status, last_error, next_attempt_at, locked_by, \
         locked_until, updated_at) \
         SELECT 'row' || n || '.example', \
           CASE WHEN n <= 1000 THEN 'processing' WHEN n % 100 = 0 THEN 'pending' \
                WHEN n % 20 = 0 THEN 'error' ELSE 'completed' END, \
           CASE WHEN n % 20 = 0 THEN 'DNS lookup failed: no such host' END, \
           CASE WHEN n % 1000 = 0 THEN now() + interval '1 hour' END, \
           CASE WHEN n <= 1000 THEN 'worker-a' END, \
           CASE WHEN n <= 1000 THEN now() + interval '10 minutes' END, \
           now() - make_interval(secs => n % 86400) \
         FROM generate_series(1, {rows}) AS n"
    )))
    .execute(&side)
    .await?;
    // On its own: VACUUM refuses to run inside a transaction.
    sqlx::raw_sql("VACUUM ANALYZE domains")
        .execute(&side)
        .await?;
    println!(
        "{rows} rows written and analysed in {:.0?}",
        started.elapsed()
    );
    let repository = SeaOrmRepository::connect(&settings).await?;
    // The statistics collector's count of live rows reaches the catalogue
    // within a second or so of the writes.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let modes: [(&str, Request); 3] = [
        ("gauges, exact counts (before)", || {
            StatusRequest::at(Utc::now())
        }),
        ("gauges, bounded counts and estimates", || {
            StatusRequest::at(Utc::now()).with_estimates_above(EXACT_UP_TO)
        }),
        ("the page's detailed report", || {
            StatusRequest::at(Utc::now())
                .with_throughput(1440)
                .with_errors(51)
                .with_completed(10)
        }),
    ];
    for (name, request) in modes {
        let mut took = Vec::with_capacity(reads);
        let mut report = None;
        for _ in 0..reads {
            let start = Instant::now();
            report = Some(repository.status(request()).await?);
            took.push(start.elapsed());
        }
        took.sort();
        let report = report.unwrap();
        println!(
            "{name}: median {:.1} ms, slowest {:.1} ms over {reads} reads; \
             pending {} (waiting {}), processing {}, completed {}, error {}, estimated {:?}",
            took[reads / 2].as_secs_f64() * 1000.0,
            took[reads - 1].as_secs_f64() * 1000.0,
            report.pending,
            report.waiting_for_retry,
            report.processing,
            report.completed,
            report.error,
            report.estimated,
        );
    }
    repository.close().await;
    side.close().await;
    database.drop().await;
    Ok(())
}
