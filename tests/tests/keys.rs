//! Tables keyed other than by UUID, and rows the worker cannot read: what
//! `migrate` refuses, what `enqueue` does with integer keys, that writes by
//! key still use the primary key, and that one unreadable row a claim took
//! goes to `error` without holding back the rest of its batch.
// Helpers of a test binary panic like its tests: a failed expectation is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scheduler_domain::{DomainName, DomainRepository, RepositoryError, WorkerId};
use scheduler_storage_seaorm::{SeaOrmRepository, StorageError, StorageSettings};
use scheduler_tests::conformance::{at, claim_request};
use scheduler_tests::postgres::TestDatabase;
use sqlx::Row as _;

async fn postgres_with(create: &str) -> (TestDatabase, sqlx::PgPool, StorageSettings) {
    let database = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(create.to_owned()))
        .execute(&pool)
        .await
        .unwrap();
    let settings = database.direct_settings();
    (database, pool, settings)
}

/// A migrated database whose table another system keyed by `key_type`.
async fn migrated_with_key(key_type: &str) -> (TestDatabase, sqlx::PgPool, StorageSettings) {
    let (database, pool, settings) = postgres_with(&format!(
        "CREATE TABLE domains (id {key_type} PRIMARY KEY, domain text NOT NULL UNIQUE, \
         status text NOT NULL DEFAULT 'pending')"
    ))
    .await;
    SeaOrmRepository::migrate(&settings).await.unwrap();
    (database, pool, settings)
}

async fn column_count(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'domains'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn migrate_refuses_an_id_column_it_cannot_key_rows_by_and_changes_nothing() {
    let (database, pool, settings) = postgres_with(
        "CREATE TABLE domains (id numeric PRIMARY KEY, domain text NOT NULL UNIQUE, \
         status text NOT NULL DEFAULT 'pending')",
    )
    .await;
    let error = SeaOrmRepository::migrate(&settings).await.unwrap_err();
    assert!(
        matches!(error, StorageError::UnsupportedKey(_)),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("id column is numeric"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert_eq!(column_count(&pool).await, 3);
    pool.close().await;
    database.drop().await;
}

#[tokio::test]
async fn enqueue_refuses_an_integer_key_the_database_does_not_number() {
    let (database, pool, settings) = migrated_with_key("bigint").await;
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    let error = repository
        .enqueue(&[DomainName::parse("new.example").unwrap()], at(0))
        .await
        .unwrap_err();
    let RepositoryError::Database(message) = &error else {
        panic!("{error:?}");
    };
    assert!(message.contains("integer without a default"), "{message}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM domains")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    repository.close().await;
    pool.close().await;
    database.drop().await;
}

#[tokio::test]
async fn a_write_by_an_integer_key_uses_the_primary_key() {
    let (database, pool, _) = migrated_with_key("bigserial").await;
    // The shape every guarded write has (see the statements' own tests):
    // the key as an untyped literal.
    let mut connection = pool.acquire().await.unwrap();
    sqlx::raw_sql("SET enable_seqscan = off")
        .execute(&mut *connection)
        .await
        .unwrap();
    let mut explain = async |sql: &str| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&mut *connection)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The literal is read as the column's own type: no cast of the column
    // stands between the comparison and an index.
    let guard = explain(
        "UPDATE domains SET status = 'error' \
         WHERE id = '42' AND status IN ('processing') AND locked_by = 'w'",
    )
    .await;
    assert!(guard.contains("(id = '42'::bigint)"), "{guard}");
    let by_key = explain("UPDATE domains SET status = 'error' WHERE id = '42'").await;
    assert!(by_key.contains("using domains_pkey"), "{by_key}");
    drop(connection);
    pool.close().await;
    database.drop().await;
}

/// What the claim did to the unreadable row: `(status, last_error,
/// locked_by)`.
type Outcome = (String, Option<String>, Option<String>);

fn outcome<R: sqlx::Row>(row: &R) -> Outcome
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    (
        row.get("status"),
        row.get("last_error"),
        row.get("locked_by"),
    )
}

/// Claims everything due for one worker; returns `(id, domain)` of each
/// row the claim handed out.
async fn claim_all(repository: &SeaOrmRepository) -> Vec<(String, String)> {
    repository
        .claim(claim_request(
            &WorkerId::new("worker-a"),
            10,
            at(100),
            at(110),
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|claimed| (claimed.id.as_str().to_owned(), claimed.raw_domain))
        .collect()
}

#[tokio::test]
async fn postgres_a_claimed_row_without_a_domain_goes_to_error_and_the_batch_goes_on() {
    // Another system's table where `domain` may be NULL.
    let (database, pool, settings) = postgres_with(
        "CREATE TABLE domains (id bigserial PRIMARY KEY, domain text, \
         status text NOT NULL DEFAULT 'pending', updated_at timestamptz); \
         INSERT INTO domains (domain, updated_at) VALUES \
         ('first.example', '2030-01-01T00:00:00Z'), \
         (NULL, '2030-01-01T00:00:01Z'), \
         ('second.example', '2030-01-01T00:00:02Z')",
    )
    .await;
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    assert_eq!(
        claim_all(&repository).await,
        [
            ("1".to_owned(), "first.example".to_owned()),
            ("3".to_owned(), "second.example".to_owned())
        ]
    );
    let row = sqlx::query("SELECT status, last_error, locked_by FROM domains WHERE id = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        outcome(&row),
        (
            "error".to_owned(),
            Some("unreadable row: column domain: NULL".to_owned()),
            None
        )
    );
    repository.close().await;
    pool.close().await;
    database.drop().await;
}

#[tokio::test]
async fn sqlite_a_claimed_row_whose_domain_is_not_text_goes_to_error_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("domains.sqlite").display()
    );
    let settings = StorageSettings::new(url.clone());
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    // SQLite keeps whatever it is given: another system stored bytes.
    sqlx::raw_sql(
        "INSERT INTO domains (id, domain, updated_at) VALUES \
         ('a', 'first.example', '2030-01-01T00:00:00.000000+00:00'), \
         ('b', X'00FF', '2030-01-01T00:00:01.000000+00:00'), \
         ('c', 'second.example', '2030-01-01T00:00:02.000000+00:00')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    assert_eq!(
        claim_all(&repository).await,
        [
            ("a".to_owned(), "first.example".to_owned()),
            ("c".to_owned(), "second.example".to_owned())
        ]
    );
    let row = sqlx::query("SELECT status, last_error, locked_by FROM domains WHERE id = 'b'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (status, last_error, locked_by) = outcome(&row);
    assert_eq!((status.as_str(), locked_by), ("error", None));
    let last_error = last_error.unwrap();
    assert!(
        last_error.starts_with("unreadable row: column domain:"),
        "{last_error}"
    );
    repository.close().await;
    pool.close().await;
}
