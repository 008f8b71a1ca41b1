//! The worker's Postgres pool after the server closed its connections (a
//! restart, a pooler that dropped idle clients): a connection that sat idle
//! is checked before use and replaced, so the operation itself does not
//! fail; one in steady use is not checked (no extra round trip).
// Helpers of a test binary panic like its tests: a failed expectation is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use scheduler_domain::{DomainName, DomainRepository, RepositoryError, WorkerId};
use scheduler_storage_seaorm::{SeaOrmRepository, StorageSettings};
use scheduler_tests::conformance::{at, claim_request};
use scheduler_tests::postgres::TestDatabase;

/// A repository on one pooled connection, with a domain waiting.
async fn one_connection(
    database: &TestDatabase,
    ping_connections_idle_for: Duration,
) -> SeaOrmRepository {
    let mut settings = StorageSettings::new(database.url());
    settings.max_connections = 1;
    settings.ping_connections_idle_for = ping_connections_idle_for;
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    let names = [DomainName::parse("idle.example").unwrap()];
    repository.enqueue(&names, Utc::now()).await.unwrap();
    repository
}

/// Ends every other session on the test database, as a restart would.
async fn terminate_other_sessions(database: &TestDatabase) {
    let admin = sqlx::PgPool::connect(database.url()).await.unwrap();
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        database.name()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

async fn claim(repository: &SeaOrmRepository) -> Result<usize, RepositoryError> {
    let worker = WorkerId::new("after-restart");
    let claimed = repository
        .claim(claim_request(&worker, 5, at(0), at(10)))
        .await?;
    Ok(claimed.len())
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_replaced_before_use() {
    let database = TestDatabase::create().await;
    let repository = one_connection(&database, Duration::from_millis(100)).await;
    terminate_other_sessions(&database).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(claim(&repository).await.unwrap(), 1);
    repository.close().await;
    database.drop().await;
}

#[tokio::test]
async fn a_connection_in_steady_use_is_not_checked_so_its_loss_fails_one_operation() {
    let database = TestDatabase::create().await;
    let repository = one_connection(&database, Duration::from_secs(3600)).await;
    terminate_other_sessions(&database).await;

    let worker = WorkerId::new("after-restart");
    let error = repository
        .claim(claim_request(&worker, 5, at(0), at(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, RepositoryError::Unavailable(_)),
        "{error:?}"
    );
    // The broken connection is not handed out again.
    let claimed = repository
        .claim(claim_request(&worker, 5, at(0), at(10)))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    repository.close().await;
    database.drop().await;
}
