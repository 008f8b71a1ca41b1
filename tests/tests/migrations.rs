//! Migrations: the whole table on an empty database; on an existing one
//! (created by another system, with columns of its own) only what is
//! missing, keeping every row and column; a second run changes nothing.
// Helpers of a test binary panic like its tests: a failed expectation is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use scheduler_domain::{DomainRepository, RepositoryError, WorkerId};
use scheduler_storage_seaorm::{
    Backend, MigrationReport, SeaOrmRepository, StorageError, StorageSettings,
};
use scheduler_tests::conformance::{at, claim_request};
use scheduler_tests::postgres::TestDatabase;
use sqlx::Row as _;

const WORKER_COLUMNS: [&str; 4] = ["attempts", "locked_by", "locked_until", "next_attempt_at"];

/// Column name -> type, as Postgres reports them.
async fn postgres_columns(pool: &sqlx::PgPool) -> BTreeMap<String, String> {
    sqlx::query(
        "SELECT column_name::text AS name, udt_name::text AS type FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = 'domains'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.get("name"), row.get("type")))
    .collect()
}

async fn sqlite_columns(pool: &sqlx::SqlitePool) -> BTreeMap<String, String> {
    sqlx::query("SELECT name, type FROM pragma_table_info('domains')")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.get("name"), row.get("type")))
        .collect()
}

fn sqlite_settings(dir: &tempfile::TempDir) -> StorageSettings {
    StorageSettings::new(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("domains.sqlite").display()
    ))
}

#[tokio::test]
async fn postgres_migration_creates_the_table_on_an_empty_database() {
    let database = TestDatabase::create().await;
    // The `postgresql://` spelling is accepted too.
    let url = database.url().replacen("postgres://", "postgresql://", 1);
    let settings = StorageSettings::new(url);
    let report = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert!(report.created_table);
    assert!(report.added_columns.is_empty());
    assert_eq!(
        report.added_indexes,
        ["domains_claim_idx", "domains_lease_idx"]
    );

    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    let columns = postgres_columns(&pool).await;
    let expected = [
        ("id", "uuid"),
        ("domain", "text"),
        ("status", "text"),
        ("meta_json", "jsonb"),
        ("tech_stack", "jsonb"),
        ("email_addresses", "_text"),
        ("phone_numbers", "_text"),
        ("is_wordpress", "bool"),
        ("has_elementor", "bool"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
        ("locked_until", "timestamptz"),
        ("next_attempt_at", "timestamptz"),
        ("attempts", "int4"),
        ("sitemap_analysis_status", "text"),
    ];
    for (name, kind) in expected {
        assert_eq!(columns.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert_eq!(columns.len(), 28, "{columns:?}");
    // `domain` is unique (enqueue's ON CONFLICT needs it).
    let duplicate =
        sqlx::raw_sql("INSERT INTO domains (domain) VALUES ('a.example'), ('a.example')")
            .execute(&pool)
            .await;
    assert!(duplicate.is_err());

    let again = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert!(again.is_unchanged(), "{again:?}");
    pool.close().await;
    database.drop().await;
}

#[tokio::test]
async fn sqlite_migration_creates_the_table_on_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let settings = sqlite_settings(&dir);
    let report = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert_eq!(
        report,
        MigrationReport {
            created_table: true,
            added_columns: vec![],
            added_indexes: vec!["domains_claim_idx".into(), "domains_lease_idx".into()],
            rebuilt_indexes: vec![],
            // SQLite has no NOTIFY: its workers poll.
            added_notify_trigger: false,
        }
    );
    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    assert_eq!(repository.backend(), Backend::Sqlite);
    repository.close().await;

    let pool = sqlx::SqlitePool::connect(&settings.url).await.unwrap();
    let columns = sqlite_columns(&pool).await;
    assert_eq!(columns.len(), 28, "{columns:?}");
    assert_eq!(columns.get("attempts").map(String::as_str), Some("INTEGER"));
    let mode = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode.get::<String, _>(0), "wal");
    pool.close().await;

    assert!(
        SeaOrmRepository::migrate(&settings)
            .await
            .unwrap()
            .is_unchanged()
    );
}

/// The old service's table: no worker columns, extra columns of other
/// systems, rows (one never updated).
const POSTGRES_LEGACY: &str = r#"
CREATE TABLE domains (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    domain text NOT NULL UNIQUE,
    status text DEFAULT 'pending',
    meta_json jsonb,
    title text, description text, favicon_url text, logo_url text, language text,
    is_wordpress boolean, wordpress_version text, has_elementor boolean,
    tech_stack jsonb, email_addresses text[], phone_numbers text[],
    facebook_url text, twitter_url text, linkedin_url text, instagram_url text, youtube_url text,
    last_error text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    sitemap_analysis_status text,
    tenant_id uuid NOT NULL,
    batch_id text
);
INSERT INTO domains (domain, status, tenant_id, batch_id, updated_at, title) VALUES
    ('done.example', 'completed', '11111111-1111-1111-1111-111111111111', 'b1', '2029-01-01', 'Done'),
    ('old.example', 'pending', '11111111-1111-1111-1111-111111111111', 'b1', '2029-06-01', NULL),
    ('never.example', 'pending', '22222222-2222-2222-2222-222222222222', 'b2', NULL, NULL);
"#;

#[tokio::test]
async fn postgres_migration_adds_only_missing_columns_to_a_legacy_table() {
    let database = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::raw_sql(POSTGRES_LEGACY).execute(&pool).await.unwrap();
    let before = postgres_columns(&pool).await;

    // The worker's URL may be a pooler that is down; migrations go direct.
    let mut settings = StorageSettings::new("postgres://postgres@127.0.0.1:1/unreachable");
    settings.migration_url = Some(database.url().to_owned());
    let report = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert!(!report.created_table);
    assert_eq!(report.added_columns, WORKER_COLUMNS);
    assert_eq!(
        report.added_indexes,
        ["domains_claim_idx", "domains_lease_idx"]
    );

    let after = postgres_columns(&pool).await;
    for (name, kind) in &before {
        assert_eq!(after.get(name), Some(kind), "{name} kept as it was");
    }
    assert_eq!(after.len(), before.len() + 4);
    let rows = sqlx::query(
        "SELECT domain, tenant_id::text AS tenant, batch_id, attempts, title FROM domains ORDER BY domain",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let rows: Vec<(String, String, String, i32, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                r.get("domain"),
                r.get("tenant"),
                r.get("batch_id"),
                r.get("attempts"),
                r.get("title"),
            )
        })
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        (
            "done.example".into(),
            "11111111-1111-1111-1111-111111111111".into(),
            "b1".into(),
            0,
            Some("Done".into())
        )
    );
    assert_eq!(rows[1].2, "b2");

    let again = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert!(again.is_unchanged(), "{again:?}");
    assert_eq!(postgres_columns(&pool).await, after);

    // The worker runs on it: the never-updated row first.
    let repository = SeaOrmRepository::connect(&database.direct_settings())
        .await
        .unwrap();
    let a = WorkerId::new("worker-a");
    let claimed = repository
        .claim(claim_request(&a, 1, at(0), at(10)))
        .await
        .unwrap();
    assert_eq!(claimed[0].raw_domain, "never.example");
    repository.close().await;
    pool.close().await;
    database.drop().await;
}

/// A legacy SQLite table without a unique `domain` and without timestamps.
const SQLITE_LEGACY: &str = r#"
CREATE TABLE domains (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    status TEXT DEFAULT 'pending',
    title TEXT,
    tenant_id TEXT,
    batch_id TEXT
);
INSERT INTO domains (id, domain, status, tenant_id, batch_id) VALUES
    ('3f2b8c1e-0000-4000-8000-000000000001', 'a.example', 'pending', 't1', 'b1'),
    ('3f2b8c1e-0000-4000-8000-000000000002', 'b.example', 'completed', 't2', 'b2');
"#;

#[tokio::test]
async fn sqlite_migration_adds_only_missing_columns_to_a_legacy_table() {
    let dir = tempfile::tempdir().unwrap();
    let settings = sqlite_settings(&dir);
    let pool = sqlx::SqlitePool::connect(&settings.url).await.unwrap();
    sqlx::raw_sql(SQLITE_LEGACY).execute(&pool).await.unwrap();
    let before = sqlite_columns(&pool).await;

    let report = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert!(!report.created_table);
    assert!(report.added_columns.iter().all(|c| !before.contains_key(c)));
    for column in WORKER_COLUMNS
        .iter()
        .chain(&["meta_json", "created_at", "updated_at"])
    {
        assert!(
            report.added_columns.iter().any(|c| c == column),
            "{column} added"
        );
    }
    assert_eq!(
        report.added_indexes,
        [
            "domains_domain_key",
            "domains_claim_idx",
            "domains_lease_idx"
        ]
    );
    let after = sqlite_columns(&pool).await;
    assert_eq!(
        after.len(),
        28 + 2,
        "every worker column plus tenant_id and batch_id"
    );
    for (name, kind) in &before {
        assert_eq!(after.get(name), Some(kind));
    }
    let rows =
        sqlx::query("SELECT domain, tenant_id, batch_id, attempts FROM domains ORDER BY domain")
            .fetch_all(&pool)
            .await
            .unwrap();
    let rows: Vec<(String, String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.get("domain"),
                r.get("tenant_id"),
                r.get("batch_id"),
                r.get("attempts"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a.example".into(), "t1".into(), "b1".into(), 0),
            ("b.example".into(), "t2".into(), "b2".into(), 0)
        ]
    );
    assert!(
        SeaOrmRepository::migrate(&settings)
            .await
            .unwrap()
            .is_unchanged()
    );
    assert_eq!(sqlite_columns(&pool).await, after);

    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    let a = WorkerId::new("worker-a");
    let claimed = repository
        .claim(claim_request(&a, 5, at(0), at(10)))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].raw_domain, "a.example");
    repository.close().await;
    pool.close().await;
}

#[tokio::test]
async fn an_unsupported_url_names_the_accepted_schemes() {
    let error = SeaOrmRepository::connect(&StorageSettings::new("mysql://db/domains"))
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::UnsupportedScheme { ref scheme } if scheme == "mysql"));
    assert_eq!(
        error.to_string(),
        "unsupported database URL scheme \"mysql\": expected postgres://, postgresql:// or sqlite://"
    );
    let error = SeaOrmRepository::migrate(&StorageSettings::new("domains.db"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::UnsupportedScheme { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_connect_error() {
    let mut settings = StorageSettings::new("postgres://postgres@127.0.0.1:1/nothing");
    settings.acquire_timeout = std::time::Duration::from_secs(2);
    let error = SeaOrmRepository::connect(&settings).await.unwrap_err();
    assert!(matches!(error, StorageError::Connect(_)), "{error:?}");
}

#[tokio::test]
async fn concurrent_postgres_migrations_take_turns() {
    let database = TestDatabase::create().await;
    let settings = database.direct_settings();
    let migrations: Vec<_> = (0..4)
        .map(|_| {
            let settings = settings.clone();
            tokio::spawn(async move { SeaOrmRepository::migrate(&settings).await })
        })
        .collect();
    let mut reports = Vec::new();
    for migration in migrations {
        reports.push(migration.await.unwrap().unwrap());
    }
    assert_eq!(
        reports.iter().filter(|report| report.created_table).count(),
        1,
        "{reports:?}"
    );
    assert_eq!(
        reports
            .iter()
            .filter(|report| report.is_unchanged())
            .count(),
        3,
        "{reports:?}"
    );
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    assert_eq!(postgres_columns(&pool).await.len(), 28);
    pool.close().await;
    database.drop().await;
}

#[tokio::test]
async fn a_postgres_migration_gives_up_on_a_held_lock_with_a_clear_error() {
    let database = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::raw_sql(POSTGRES_LEGACY).execute(&pool).await.unwrap();
    let before = postgres_columns(&pool).await;
    // A long report on the table: adding a column must wait for it.
    let mut reader = pool.begin().await.unwrap();
    sqlx::raw_sql("SELECT count(*) FROM domains")
        .execute(&mut *reader)
        .await
        .unwrap();

    let mut settings = database.direct_settings();
    settings.migration_lock_timeout = std::time::Duration::from_millis(500);
    let started = std::time::Instant::now();
    let error = SeaOrmRepository::migrate(&settings).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let StorageError::Migration(RepositoryError::Timeout(message)) = &error else {
        panic!("{error:?}");
    };
    assert!(message.contains("waiting for a lock"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert_eq!(postgres_columns(&pool).await, before);

    reader.commit().await.unwrap();
    let report = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert_eq!(report.added_columns, WORKER_COLUMNS);
    pool.close().await;
    database.drop().await;
}

/// `(index name, valid)` of the indexes on `domains`.
async fn postgres_indexes(pool: &sqlx::PgPool) -> BTreeMap<String, bool> {
    sqlx::query(
        "SELECT c.relname::text AS name, i.indisvalid AS valid FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relname = 'domains'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.get("name"), row.get("valid")))
    .collect()
}

#[tokio::test]
async fn a_failed_postgres_index_build_is_rebuilt_by_the_next_run() {
    let database = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    // Another system's table without a unique `domain`, holding a duplicate.
    sqlx::raw_sql(
        "CREATE TABLE domains (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), \
         domain text NOT NULL, status text NOT NULL DEFAULT 'pending'); \
         INSERT INTO domains (domain) VALUES ('twice.example'), ('twice.example'), ('once.example')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let settings = database.direct_settings();

    let error = SeaOrmRepository::migrate(&settings).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("domains_domain_key"), "{message}");
    assert!(message.contains("twice.example"), "{message}");
    // The columns went in; the unique index is left invalid.
    assert_eq!(postgres_columns(&pool).await.len(), 28);
    assert_eq!(
        postgres_indexes(&pool).await.get("domains_domain_key"),
        Some(&false)
    );

    sqlx::raw_sql(
        "DELETE FROM domains WHERE ctid = (SELECT max(ctid) FROM domains WHERE domain = 'twice.example')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let report = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert_eq!(report.rebuilt_indexes, ["domains_domain_key"]);
    assert_eq!(
        report.added_indexes,
        ["domains_claim_idx", "domains_lease_idx"]
    );
    let indexes = postgres_indexes(&pool).await;
    for name in [
        "domains_domain_key",
        "domains_claim_idx",
        "domains_lease_idx",
    ] {
        assert_eq!(indexes.get(name), Some(&true), "{name}: {indexes:?}");
    }
    assert!(
        SeaOrmRepository::migrate(&settings)
            .await
            .unwrap()
            .is_unchanged()
    );
    pool.close().await;
    database.drop().await;
}

/// A migrated table whose claim and lease indexes are gone again: the next
/// migration builds them concurrently.
async fn migrated_without_worker_indexes() -> (TestDatabase, StorageSettings, sqlx::PgPool) {
    let database = TestDatabase::create().await;
    let settings = database.direct_settings();
    SeaOrmRepository::migrate(&settings).await.unwrap();
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::raw_sql("DROP INDEX domains_claim_idx; DROP INDEX domains_lease_idx")
        .execute(&pool)
        .await
        .unwrap();
    (database, settings, pool)
}

#[tokio::test]
async fn indexing_an_existing_postgres_table_does_not_block_its_writers() {
    let (database, settings, pool) = migrated_without_worker_indexes().await;
    // A writer in the middle of a transaction: any index build waits for it.
    let mut writer = pool.begin().await.unwrap();
    sqlx::raw_sql("INSERT INTO domains (domain) VALUES ('first.example')")
        .execute(&mut *writer)
        .await
        .unwrap();
    let migration = tokio::spawn({
        let settings = settings.clone();
        async move { SeaOrmRepository::migrate(&settings).await }
    });
    // The build has started and waits for the writer: Postgres reports it.
    let started = std::time::Instant::now();
    loop {
        let building: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_progress_create_index p \
             JOIN pg_class c ON c.oid = p.relid WHERE c.relname = 'domains'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if building > 0 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the index build never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!migration.is_finished());

    // A plain CREATE INDEX would queue a lock that every new writer waits
    // behind; the concurrent build lets them through.
    sqlx::raw_sql(
        "BEGIN; SET LOCAL statement_timeout = '3s'; \
         INSERT INTO domains (domain) VALUES ('second.example'); COMMIT",
    )
    .execute(&pool)
    .await
    .unwrap();

    // A worker starting meanwhile leaves the build to the migration that
    // runs it, instead of waiting for it or building the index again.
    let meanwhile = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        SeaOrmRepository::migrate(&settings),
    )
    .await
    .expect("a second migration waited for the first one's index build")
    .unwrap();
    assert!(meanwhile.is_unchanged(), "{meanwhile:?}");
    assert!(!migration.is_finished());

    writer.commit().await.unwrap();
    let report = migration.await.unwrap().unwrap();
    assert_eq!(
        report.added_indexes,
        ["domains_claim_idx", "domains_lease_idx"]
    );
    pool.close().await;
    database.drop().await;
}

#[tokio::test]
async fn an_index_build_gives_up_on_an_older_transaction_and_names_it() {
    let (database, mut settings, pool) = migrated_without_worker_indexes().await;
    // A report holding its snapshot open: a concurrent build waits for it
    // although it only reads.
    let mut report = pool.begin().await.unwrap();
    sqlx::raw_sql(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
         SET application_name = 'nightly-report'",
    )
    .execute(&mut *report)
    .await
    .unwrap();
    // The first query takes the snapshot the transaction keeps.
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *report)
        .await
        .unwrap();

    settings.migration_lock_timeout = std::time::Duration::from_secs(1);
    let started = std::time::Instant::now();
    let error = SeaOrmRepository::migrate(&settings).await.unwrap_err();
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    let StorageError::Migration(RepositoryError::Timeout(message)) = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.contains("waiting for older transactions to end"),
        "{message}"
    );
    assert!(message.contains(&format!("pid {pid} ")), "{message}");
    assert!(message.contains("nightly-report"), "{message}");
    assert!(message.contains("next migration rebuilds it"), "{message}");

    // Once the report ends, the next run finishes the job.
    report.commit().await.unwrap();
    let rerun = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert_eq!(rerun.rebuilt_indexes, ["domains_claim_idx"]);
    assert_eq!(rerun.added_indexes, ["domains_lease_idx"]);
    let indexes = postgres_indexes(&pool).await;
    for name in ["domains_claim_idx", "domains_lease_idx"] {
        assert_eq!(indexes.get(name), Some(&true), "{name}: {indexes:?}");
    }
    pool.close().await;
    database.drop().await;
}

#[tokio::test]
async fn a_sqlite_table_without_ids_gets_them_for_old_and_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let settings = sqlite_settings(&dir);
    let pool = sqlx::SqlitePool::connect(&settings.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE domains (domain TEXT NOT NULL, status TEXT DEFAULT 'pending'); \
         INSERT INTO domains (domain) VALUES ('old-1.example'), ('old-2.example')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let report = SeaOrmRepository::migrate(&settings).await.unwrap();
    assert!(report.added_columns.iter().any(|c| c == "id"), "{report:?}");
    // Another system goes on inserting rows with nothing but `domain`.
    sqlx::raw_sql("INSERT INTO domains (domain) VALUES ('new.example')")
        .execute(&pool)
        .await
        .unwrap();
    let ids: Vec<String> = sqlx::query("SELECT id FROM domains ORDER BY domain")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("id"))
        .collect();
    assert_eq!(ids.len(), 3);
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    assert_ne!(ids[0], ids[1]);

    let repository = SeaOrmRepository::connect(&settings).await.unwrap();
    let claimed = repository
        .claim(claim_request(&WorkerId::new("worker-a"), 5, at(0), at(10)))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    repository.close().await;
    pool.close().await;
}
