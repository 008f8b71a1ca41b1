//! The worker's Postgres sessions: every transaction it runs has
//! `statement_timeout = 90s` and `idle_in_transaction_session_timeout =
//! 2min` (whatever the session or the database says otherwise), the
//! settings are logged as applied, and no prepared statement is left behind.
// Helpers of a test binary panic like its tests: a failed expectation is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scheduler_domain::{DomainName, DomainRepository, RepositoryError, StatusRequest, WorkerId};
use scheduler_storage_seaorm::{PoolerMode, SeaOrmRepository, StorageSettings};
use scheduler_tests::conformance::{at, claim_request, rich_metadata};
use scheduler_tests::postgres::TestDatabase;
use sqlx::Row as _;

/// Records the settings each write of the worker sees, and refuses the
/// write unless they are the worker's.
const PROBE: &str = r#"
CREATE TABLE observed_settings (
    operation text NOT NULL,
    statement_timeout text NOT NULL,
    idle_in_transaction_session_timeout text NOT NULL
);
CREATE FUNCTION probe_session_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO observed_settings VALUES (
        TG_OP,
        current_setting('statement_timeout'),
        current_setting('idle_in_transaction_session_timeout'));
    IF current_setting('statement_timeout') <> '90s'
       OR current_setting('idle_in_transaction_session_timeout') <> '2min' THEN
        RAISE EXCEPTION 'worker transaction without its settings: % / %',
            current_setting('statement_timeout'),
            current_setting('idle_in_transaction_session_timeout');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER probe_session_settings BEFORE INSERT OR UPDATE ON domains
    FOR EACH ROW EXECUTE FUNCTION probe_session_settings();
"#;

async fn admin(database: &TestDatabase) -> sqlx::PgPool {
    sqlx::PgPool::connect(database.url()).await.unwrap()
}

/// One pooled connection, so that every operation runs on the same session.
async fn single_session_worker(database: &TestDatabase) -> (SeaOrmRepository, StorageSettings) {
    let mut settings = StorageSettings::new(database.url());
    settings.pooler = PoolerMode::Transaction;
    settings.max_connections = 1;
    SeaOrmRepository::migrate(&settings).await.unwrap();
    (
        SeaOrmRepository::connect(&settings).await.unwrap(),
        settings,
    )
}

/// Runs every operation of the port once.
async fn exercise(repository: &SeaOrmRepository) {
    let a = WorkerId::new("worker-a");
    let names: Vec<DomainName> = [
        "one.example",
        "two.example",
        "three.example",
        "four.example",
        "five.example",
    ]
    .iter()
    .map(|name| DomainName::parse(name).unwrap())
    .collect();
    assert_eq!(
        repository.enqueue(&names, at(0)).await.unwrap().added.len(),
        5
    );
    let claimed = repository
        .claim(claim_request(&a, 5, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    repository
        .complete(claimed[0].id.clone(), &a, &rich_metadata(), at(101))
        .await
        .unwrap();
    repository
        .fail(claimed[1].id.clone(), &a, "HTTP 404", at(101))
        .await
        .unwrap();
    repository
        .retry_later(claimed[2].id.clone(), &a, "HTTP 503", at(300), at(101))
        .await
        .unwrap();
    repository
        .release(claimed[3].id.clone(), &a, None, at(101))
        .await
        .unwrap();
    assert_eq!(
        repository
            .rescue_expired(at(200), 3)
            .await
            .unwrap()
            .requeued,
        1
    );
    repository
        .status(StatusRequest::at(at(200)).with_errors(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_worker_transaction_sees_its_own_timeouts_whatever_the_session_says() {
    let database = TestDatabase::create().await;
    let (repository, _) = single_session_worker(&database).await;
    let admin = admin(&database).await;
    sqlx::raw_sql(PROBE).execute(&admin).await.unwrap();
    // What a previous client of a shared server connection may leave behind.
    let pool = repository.postgres_pool().unwrap();
    sqlx::raw_sql("SET statement_timeout = '1s'; SET idle_in_transaction_session_timeout = '5s'")
        .execute(pool)
        .await
        .unwrap();

    exercise(&repository).await;

    let observed = sqlx::query(
        "SELECT operation, statement_timeout, idle_in_transaction_session_timeout \
         FROM observed_settings",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    // 5 inserts, 5 claims, 4 writes, 1 rescue.
    assert_eq!(observed.len(), 15);
    for row in &observed {
        assert_eq!(row.get::<String, _>("statement_timeout"), "90s");
        assert_eq!(
            row.get::<String, _>("idle_in_transaction_session_timeout"),
            "2min"
        );
    }
    // SET LOCAL ends with each transaction: nothing leaks to the session,
    // hence nothing to the next client of a pooled server connection.
    let after = sqlx::raw_sql("SHOW statement_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(after.get::<String, _>(0), "1s");

    repository.close().await;
    admin.close().await;
    database.drop().await;
}

#[tokio::test]
async fn the_worker_leaves_no_prepared_statements_on_its_sessions() {
    let database = TestDatabase::create().await;
    let (repository, _) = single_session_worker(&database).await;
    exercise(&repository).await;

    let pool = repository.postgres_pool().unwrap();
    let count = || async {
        let row = sqlx::raw_sql("SELECT count(*) FROM pg_prepared_statements")
            .fetch_one(pool)
            .await
            .unwrap();
        row.get::<i64, _>(0)
    };
    assert_eq!(count().await, 0);
    // The probe sees a prepared statement when there is one.
    sqlx::query("SELECT 1").execute(pool).await.unwrap();
    assert_eq!(count().await, 1);

    repository.close().await;
    database.drop().await;
}

#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_session_setting_is_logged_at_debug_level_per_transaction() {
    let database = TestDatabase::create().await;
    let (repository, _) = single_session_worker(&database).await;
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let a = WorkerId::new("worker-a");
    repository
        .claim(claim_request(&a, 5, at(100), at(110)))
        .await
        .unwrap();
    repository
        .status(StatusRequest::at(at(100)).with_errors(5))
        .await
        .unwrap();
    drop(guard);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines = |setting: &str, value: &str| {
        text.lines()
            .filter(|line| {
                line.contains("DEBUG")
                    && line.contains("applying session setting")
                    && line.contains(&format!("setting=\"{setting}\""))
                    && line.contains(&format!("value=\"{value}\""))
            })
            .count()
    };
    // claim: 1 transaction; status: 1 (one snapshot).
    assert_eq!(lines("statement_timeout", "90s"), 2, "{text}");
    assert_eq!(
        lines("idle_in_transaction_session_timeout", "120s"),
        2,
        "{text}"
    );

    repository.close().await;
    database.drop().await;
}

#[tokio::test]
async fn a_claim_past_the_statement_timeout_fails_with_a_timeout_error() {
    let database = TestDatabase::create().await;
    let mut settings = StorageSettings::new(database.url());
    settings.statement_timeout = Duration::from_millis(500);
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    let admin = admin(&database).await;
    let mut blocker = admin.begin().await.unwrap();
    sqlx::raw_sql("LOCK TABLE domains IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();

    let a = WorkerId::new("worker-a");
    let started = std::time::Instant::now();
    let error = repository
        .claim(claim_request(&a, 5, at(100), at(110)))
        .await
        .unwrap_err();
    assert!(matches!(error, RepositoryError::Timeout(_)), "{error:?}");
    assert!(error.to_string().contains("statement timeout"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));

    blocker.rollback().await.unwrap();
    assert!(
        repository
            .claim(claim_request(&a, 5, at(100), at(110)))
            .await
            .unwrap()
            .is_empty()
    );
    repository.close().await;
    admin.close().await;
    database.drop().await;
}
