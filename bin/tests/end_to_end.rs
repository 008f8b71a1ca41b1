//! The real binary against a local HTTPS server that plays several sites:
//! `enqueue`, then `worker --once`, then every row is checked. Runs on the
//! embedded SQLite default and on a fresh Postgres database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::Cli;
use scheduler_tests::https_fixture::{FixtureServer, Site, closed_address};
use scheduler_tests::pgbouncer::PgBouncer;
use scheduler_tests::postgres::TestDatabase;
use sqlx::Row as _;

const ACME: &str = r#"<!doctype html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <title>Acme Anvils &amp; Co — Home</title>
  <meta name="description" content="Anvils for every budget since 1901.">
  <meta name="generator" content="WordPress 6.4.2">
  <link rel="icon" href="/wp-content/uploads/icon-32.png" sizes="32x32">
  <link rel="stylesheet" href="/wp-content/plugins/elementor/assets/css/frontend.min.css?ver=3.18.0">
  <link rel="stylesheet" href="/wp-content/themes/anvilpress/style.css?ver=1.2">
</head>
<body>
  <header><a href="/"><img class="custom-logo" src="/wp-content/uploads/acme-logo.png" alt="Acme"></a></header>
  <main><p>Write to <a href="mailto:sales@acmeanvils.co.uk?subject=Hi">sales@acmeanvils.co.uk</a>
  or call <a href="tel:+44 20 7946 0958">+44 20 7946 0958</a>.</p></main>
  <footer>
    <a href="https://www.facebook.com/acmeanvils">Facebook</a>
    <a href="https://www.facebook.com/sharer/sharer.php?u=https://acme.test/">Share</a>
    <a href="https://twitter.com/acmeanvils">Twitter</a>
    <a href="https://www.linkedin.com/company/acme-anvils/">LinkedIn</a>
  </footer>
</body>
</html>"#;

const PLAIN: &str = r#"<html><head><title>Plain</title>
<meta property="og:description" content="Only an og description."></head>
<body><p>Nothing about WordPress runs here; we just write about wordpress.</p></body></html>"#;

const MOVED: &str = "<html lang=fr><head><title>Déménagé</title></head><body></body></html>";

/// What the worker wrote to one row.
#[derive(Debug, Default)]
struct Written {
    status: String,
    title: Option<String>,
    description: Option<String>,
    language: Option<String>,
    favicon_url: Option<String>,
    logo_url: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    facebook_url: Option<String>,
    twitter_url: Option<String>,
    linkedin_url: Option<String>,
    is_wordpress: Option<bool>,
    wordpress_version: Option<String>,
    has_elementor: Option<bool>,
    tech_stack: Option<serde_json::Value>,
    meta_json: Option<serde_json::Value>,
    last_error: Option<String>,
    sitemap_analysis_status: Option<String>,
    attempts: i64,
    locked_by: Option<String>,
}

const SELECT: &str = "SELECT domain, status, title, description, language, favicon_url, logo_url, \
    EMAILS, PHONES, facebook_url, twitter_url, linkedin_url, is_wordpress, wordpress_version, \
    has_elementor, TECH, META, last_error, sitemap_analysis_status, attempts, locked_by FROM domains";

fn json_list(text: Option<String>) -> Vec<String> {
    text.map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or_default()
}

fn json_value(text: Option<String>) -> Option<serde_json::Value> {
    text.map(|text| serde_json::from_str(&text).unwrap())
}

macro_rules! read_rows {
    ($rows:expr) => {
        $rows
            .iter()
            .map(|row| {
                let written = Written {
                    status: row.get("status"),
                    title: row.get("title"),
                    description: row.get("description"),
                    language: row.get("language"),
                    favicon_url: row.get("favicon_url"),
                    logo_url: row.get("logo_url"),
                    emails: json_list(row.get("emails")),
                    phones: json_list(row.get("phones")),
                    facebook_url: row.get("facebook_url"),
                    twitter_url: row.get("twitter_url"),
                    linkedin_url: row.get("linkedin_url"),
                    is_wordpress: row.get("is_wordpress"),
                    wordpress_version: row.get("wordpress_version"),
                    has_elementor: row.get("has_elementor"),
                    tech_stack: json_value(row.get("tech")),
                    meta_json: json_value(row.get("meta")),
                    last_error: row.get("last_error"),
                    sitemap_analysis_status: row.get("sitemap_analysis_status"),
                    attempts: row.get::<Option<i64>, _>("attempts").unwrap_or_default(),
                    locked_by: row.get("locked_by"),
                };
                (row.get::<String, _>("domain"), written)
            })
            .collect::<BTreeMap<String, Written>>()
    };
}

async fn sqlite_rows(path: &std::path::Path) -> BTreeMap<String, Written> {
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let sql = SELECT
        .replace("EMAILS", "email_addresses AS emails")
        .replace("PHONES", "phone_numbers AS phones")
        .replace("TECH", "tech_stack AS tech")
        .replace("META", "meta_json AS meta")
        .replace("attempts,", "CAST(attempts AS INTEGER) AS attempts,");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&pool)
        .await
        .unwrap();
    let written = read_rows!(rows);
    pool.close().await;
    written
}

async fn postgres_rows(url: &str) -> BTreeMap<String, Written> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let sql = SELECT
        .replace("EMAILS", "to_json(email_addresses)::text AS emails")
        .replace("PHONES", "to_json(phone_numbers)::text AS phones")
        .replace("TECH", "tech_stack::text AS tech")
        .replace("META", "meta_json::text AS meta")
        .replace("attempts,", "attempts::bigint AS attempts,");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&pool)
        .await
        .unwrap();
    let written = read_rows!(rows);
    pool.close().await;
    written
}

struct Scenario {
    server: FixtureServer,
    cli: Cli,
}

/// The sites, and a configuration that reaches them through the real https
/// path: exact resolve rules to the fixture's loopback address (and one to
/// an address where nothing listens), the fixture's CA, no quick retries,
/// one attempt so transient failures end in `error` within one run.
async fn scenario(database: Option<String>) -> Scenario {
    scenario_with(
        database,
        "max_attempts = 1\nconcurrency = 4\n",
        Site::status(204),
    )
    .await
}

/// The `[database]` section for Postgres at `url` with nothing between.
fn direct_postgres(url: &str) -> String {
    format!("[database]\nurl = {url:?}\npooler = \"none\"\n")
}

/// The `[database]` section for `database` behind `pooler`, as in
/// production behind Supavisor's port 6543: the worker's URL is the
/// pooler's, migrations go over a direct one.
fn pooled_postgres(pooler: &PgBouncer, database: &TestDatabase) -> String {
    format!(
        "[database]\nurl = {:?}\npooler = \"transaction\"\nmigration_url = {:?}\n",
        pooler.pooled_url(database.url()),
        database.url()
    )
}

/// [`scenario`] with other `[scheduler]` lines, and `slow.test` playing `slow`.
async fn scenario_with(database: Option<String>, scheduler: &str, slow: Site) -> Scenario {
    let server = FixtureServer::builder()
        .site(
            "acme.test",
            Site::html(ACME).with_header("x-powered-by", "PHP/8.2"),
        )
        .site("plain.test", Site::html(PLAIN))
        .site(
            "moved.test",
            Site::redirect("https://www.moved.test/accueil"),
        )
        .site("www.moved.test", Site::html(MOVED))
        .site("gone.test", Site::status(404))
        .site(
            "picture.test",
            Site::bytes("image/png", vec![0x89, b'P', b'N', b'G']),
        )
        .site("slow.test", slow)
        .start()
        .await
        .unwrap();
    let refused = closed_address().await.unwrap();
    let cli = Cli::new();
    let mut config = String::new();
    if let Some(section) = database {
        config.push_str(&section);
        config.push('\n');
    }
    config.push_str(&format!("[scheduler]\n{scheduler}\n"));
    config.push_str(&format!(
        "[fetch]\nretries = 0\ntimeout_seconds = 10\nextra_root_certificates = [{:?}]\n\n[fetch.resolve]\n",
        server.ca_pem_path().display().to_string()
    ));
    for host in [
        "acme.test",
        "plain.test",
        "moved.test",
        "www.moved.test",
        "gone.test",
        "picture.test",
        "slow.test",
    ] {
        config.push_str(&format!("{host:?} = \"{}\"\n", server.ip()));
    }
    config.push_str(&format!("\"refused.test\" = \"{refused}\"\n"));
    cli.write("domain-scheduler.toml", &config);
    Scenario { server, cli }
}

async fn enqueue_and_drain(cli: &Cli) {
    let enqueued = cli
        .run(&[
            "enqueue",
            "https://www.Acme.test/about?ref=ad",
            "plain.test",
            "moved.test",
            "gone.test",
            "picture.test",
            "refused.test",
        ])
        .await;
    assert_eq!(enqueued.code, 0, "{enqueued:?}");
    common::assert_summary(&enqueued, "enqueued 6 new, 0 already present, 0 invalid");

    let drained = cli.run(&["worker", "--once"]).await;
    assert_eq!(drained.code, 0, "{drained:?}");
    assert!(
        drained.stdout.contains("processed 7 domains"),
        "stdout: {}\nstderr: {}",
        drained.stdout,
        drained.stderr
    );
}

fn check_rows(rows: &BTreeMap<String, Written>) {
    let statuses: BTreeMap<&str, &str> = rows
        .iter()
        .map(|(domain, row)| (domain.as_str(), row.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        BTreeMap::from([
            ("acme.test", "completed"),
            ("gone.test", "error"),
            ("moved.test", "completed"),
            ("not a domain", "error"),
            ("picture.test", "error"),
            ("plain.test", "completed"),
            ("refused.test", "error"),
        ])
    );

    let acme = &rows["acme.test"];
    assert_eq!(acme.title.as_deref(), Some("Acme Anvils & Co — Home"));
    assert_eq!(
        acme.description.as_deref(),
        Some("Anvils for every budget since 1901.")
    );
    assert_eq!(acme.language.as_deref(), Some("en-GB"));
    assert_eq!(
        acme.favicon_url.as_deref(),
        Some("https://acme.test/wp-content/uploads/icon-32.png")
    );
    assert_eq!(
        acme.logo_url.as_deref(),
        Some("https://acme.test/wp-content/uploads/acme-logo.png")
    );
    assert_eq!(acme.emails, ["sales@acmeanvils.co.uk"]);
    assert_eq!(acme.phones, ["+442079460958"]);
    assert_eq!(
        acme.facebook_url.as_deref(),
        Some("https://www.facebook.com/acmeanvils")
    );
    assert_eq!(
        acme.twitter_url.as_deref(),
        Some("https://twitter.com/acmeanvils")
    );
    assert_eq!(
        acme.linkedin_url.as_deref(),
        Some("https://www.linkedin.com/company/acme-anvils/")
    );
    assert_eq!(acme.is_wordpress, Some(true));
    assert_eq!(acme.wordpress_version.as_deref(), Some("6.4.2"));
    assert_eq!(acme.has_elementor, Some(true));
    let stack = acme.tech_stack.as_ref().unwrap();
    assert!(
        stack["cms"]
            .as_array()
            .unwrap()
            .contains(&"WordPress".into()),
        "{stack}"
    );
    let meta = acme.meta_json.as_ref().unwrap();
    assert_eq!(meta["url"], "https://acme.test/");
    assert_eq!(meta["wordpress"]["theme"], "anvilpress");
    assert_eq!(meta["tech_stack"], *stack);
    assert_eq!(acme.sitemap_analysis_status.as_deref(), Some("queued"));
    assert_eq!(acme.last_error, None);
    assert_eq!(acme.attempts, 1);
    assert_eq!(acme.locked_by, None);

    let plain = &rows["plain.test"];
    assert_eq!(
        plain.description.as_deref(),
        Some("Only an og description.")
    );
    assert_eq!(
        plain.is_wordpress,
        Some(false),
        "the word in the text is no signal"
    );

    let moved = &rows["moved.test"];
    assert_eq!(moved.title.as_deref(), Some("Déménagé"));
    assert_eq!(
        moved.meta_json.as_ref().unwrap()["url"],
        "https://www.moved.test/accueil"
    );

    let error = |domain: &str| rows[domain].last_error.clone().unwrap_or_default();
    assert!(
        error("not a domain").contains("is not a valid domain name"),
        "{}",
        error("not a domain")
    );
    assert_eq!(error("gone.test"), "HTTP 404 from https://gone.test/");
    assert!(
        error("picture.test").starts_with("not an HTML page (content-type image/png)"),
        "{}",
        error("picture.test")
    );
    assert!(
        error("refused.test").starts_with("connection failed"),
        "{}",
        error("refused.test")
    );
    assert!(
        error("refused.test").ends_with("(gave up after 1 attempt)"),
        "{}",
        error("refused.test")
    );
    for (domain, row) in rows {
        if row.status == "error" {
            assert_eq!(row.title, None, "{domain}");
            assert_eq!(row.sitemap_analysis_status, None, "{domain}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_once_on_sqlite_completes_good_sites_and_explains_the_rest() {
    let Scenario { server, cli } = scenario(None).await;
    // Another system's insert: only the raw `domain`, every other column
    // from the table's defaults.
    let inserted = cli.run(&["migrate"]).await;
    assert_eq!(inserted.code, 0, "{inserted:?}");
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        cli.path("domain-scheduler.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("INSERT INTO domains (domain) VALUES ('not a domain')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    enqueue_and_drain(&cli).await;

    let rows = sqlite_rows(&cli.path("domain-scheduler.db")).await;
    check_rows(&rows);
    assert_eq!(server.request_count("gone.test"), 1, "a 404 is not retried");
    check_diagnostics(&cli);
}

/// The daily file holds the batch summary and each failure.
fn check_diagnostics(cli: &Cli) {
    let files: Vec<_> = std::fs::read_dir(cli.path("diagnostics"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one daily diagnostic file: {files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("domain_scheduler.") && name.ends_with(".log") && name.len() == 31,
        "{name}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.contains("drain done: 7 claimed, 3 completed, 4 failed"),
        "{text}"
    );
    for failure in [
        "gone.test failed: HTTP 404",
        "refused.test failed:",
        "picture.test failed:",
        "not a domain failed:",
    ] {
        assert!(text.contains(failure), "{failure}: {text}");
    }
}

/// The whole scenario on the Postgres database at `direct_url`, the worker
/// reaching it as `database` says: another system's raw insert, enqueue,
/// one drain, then every row, the daily file and `status`.
async fn postgres_scenario(direct_url: &str, database: String) {
    let Scenario { server, cli } = scenario(Some(database)).await;
    let migrated = cli.run(&["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated:?}");
    let pool = sqlx::PgPool::connect(direct_url).await.unwrap();
    sqlx::query("INSERT INTO domains (domain) VALUES ('not a domain')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    enqueue_and_drain(&cli).await;

    check_rows(&postgres_rows(direct_url).await);
    assert_eq!(server.request_count("gone.test"), 1, "a 404 is not retried");
    check_diagnostics(&cli);
    let status = cli.run(&["status", "--json"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    let report: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        (report["completed"].as_u64(), report["error"].as_u64()),
        (Some(3), Some(4))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_once_on_postgres_completes_good_sites_and_explains_the_rest() {
    let database = TestDatabase::create().await;
    postgres_scenario(database.url(), direct_postgres(database.url())).await;
    database.drop().await;
}

/// A table another system created with `bigserial` keys: `migrate` adds
/// the worker's columns, the keys keep their type, `enqueue` lets the
/// sequence number new rows, and the drain finishes every row.
#[tokio::test(flavor = "multi_thread")]
async fn worker_once_on_a_bigserial_keyed_postgres_table_completes_good_sites_and_explains_the_rest()
 {
    let database = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE domains (id bigserial PRIMARY KEY, domain text NOT NULL UNIQUE, \
         status text NOT NULL DEFAULT 'pending', created_at timestamptz DEFAULT now(), \
         updated_at timestamptz DEFAULT now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    postgres_scenario(database.url(), direct_postgres(database.url())).await;
    let keys: Vec<(String, i64)> =
        sqlx::query_as("SELECT pg_typeof(id)::text, count(*) FROM domains GROUP BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(keys, [("bigint".to_owned(), 7)]);
    pool.close().await;
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_once_through_a_transaction_pooler_completes_good_sites_and_explains_the_rest() {
    let database = TestDatabase::create().await;
    let pooler = PgBouncer::start().await.unwrap();
    postgres_scenario(database.url(), pooled_postgres(&pooler, &database)).await;
    drop(pooler);
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_a_dead_worker_left_processing_are_rescued_and_processed() {
    let Scenario {
        server: _server,
        cli,
    } = scenario_with(None, "max_attempts = 3\n", Site::status(204)).await;
    assert_eq!(cli.run(&["migrate"]).await.code, 0);
    let database = format!("sqlite://{}", cli.path("domain-scheduler.db").display());
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    let expired = "2000-01-01T00:00:00.000000Z";
    let live = "2999-01-01T00:00:00.000000Z";
    for (domain, attempts, locked_until) in [
        ("plain.test", 1, expired),
        ("acme.test", 3, expired),
        ("moved.test", 1, live),
    ] {
        sqlx::query(
            "INSERT INTO domains (domain, status, attempts, locked_by, locked_until) \
             VALUES (?, 'processing', ?, 'dead-worker:1:0', ?)",
        )
        .bind(domain)
        .bind(attempts)
        .bind(locked_until)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let drained = cli.run(&["worker", "--once"]).await;
    assert_eq!(drained.code, 0, "{drained:?}");
    assert!(drained.stdout.contains("2 rescued"), "{}", drained.stdout);

    let rows = sqlite_rows(&cli.path("domain-scheduler.db")).await;
    let plain = &rows["plain.test"];
    assert_eq!((plain.status.as_str(), plain.attempts), ("completed", 2));
    let acme = &rows["acme.test"];
    assert_eq!(acme.status, "error");
    assert_eq!(
        acme.last_error.as_deref(),
        Some("lease expired after 3 attempts (worker died?)")
    );
    let moved = &rows["moved.test"];
    assert_eq!(moved.status, "processing", "a live lease is left alone");
    assert_eq!(moved.locked_by.as_deref(), Some("dead-worker:1:0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_cleanly_and_gives_back_a_fetch_that_outlives_the_grace() {
    let Scenario { server, cli } = scenario_with(
        None,
        "interval_minutes = 0.01\nshutdown_grace_seconds = 0.5\n",
        Site::slow_body(std::time::Duration::from_millis(200)),
    )
    .await;
    let enqueued = cli.run(&["enqueue", "plain.test", "slow.test"]).await;
    assert_eq!(enqueued.code, 0, "{enqueued:?}");
    let worker = cli.spawn(&["worker"]);

    // Wait (bounded) until the plain site is done and the slow one is being read.
    let database = cli.path("domain-scheduler.db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rows = sqlite_rows(&database).await;
        if rows["plain.test"].status == "completed" && server.request_count("slow.test") > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker made no progress: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        worker.wait_with_output(),
    )
    .await
    .expect("the worker stops within the grace period")
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("shutdown signal received"), "{stderr}");

    let rows = sqlite_rows(&database).await;
    let slow = &rows["slow.test"];
    assert_eq!(slow.status, "pending", "released, not stuck in processing");
    assert_eq!(
        slow.attempts, 0,
        "a released claim does not count as an attempt"
    );
    assert_eq!(slow.locked_by, None);
}

/// Waits (bounded) until `done` holds of the rows of the database at `url`.
async fn wait_for_rows(
    url: &str,
    what: &str,
    limit: std::time::Duration,
    done: impl Fn(&BTreeMap<String, Written>) -> bool,
) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let rows = if url.starts_with("sqlite") {
            sqlite_rows(std::path::Path::new(url.trim_start_matches("sqlite://"))).await
        } else {
            postgres_rows(url).await
        };
        if done(&rows) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn all_finished(rows: &BTreeMap<String, Written>, count: usize) -> bool {
    rows.len() == count
        && rows
            .values()
            .all(|row| row.status == "completed" || row.status == "error")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_drains_a_backlog_larger_than_a_batch_without_waiting_for_the_interval() {
    // Two rows per claim, two in flight, an hour between idle looks: the
    // seven rows can only be done within the test's bound if each claim
    // follows the last as soon as there is room.
    let Scenario { server: _server, cli } = scenario_with(
        None,
        "max_attempts = 1\nbatch_size = 2\nconcurrency = 2\ninterval = \"1h\"\npoll_interval = \"1h\"\n",
        Site::status(204),
    )
    .await;
    let enqueued = cli
        .run(&[
            "enqueue",
            "acme.test",
            "plain.test",
            "moved.test",
            "gone.test",
            "picture.test",
            "refused.test",
            "slow.test",
        ])
        .await;
    assert_eq!(enqueued.code, 0, "{enqueued:?}");
    let _worker = cli.spawn(&["worker"]);

    let database = format!("sqlite://{}", cli.path("domain-scheduler.db").display());
    wait_for_rows(
        &database,
        "the backlog drained",
        std::time::Duration::from_secs(60),
        |rows| all_finished(rows, 7),
    )
    .await;
}

/// A row inserted the way other systems do: `domain` and nothing else.
async fn insert_as_another_system(url: &str, domain: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query("INSERT INTO domains (domain) VALUES ($1)")
        .bind(domain)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// Whether any session of the database at `url` has run `LISTEN`.
async fn listening_sessions(url: &str, database: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(database)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    count
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notified_row_is_claimed_without_waiting_for_the_poll() {
    let database = TestDatabase::create().await;
    let Scenario {
        server: _server,
        cli,
    } = scenario_with(
        Some(direct_postgres(database.url())),
        "interval = \"1h\"\npoll_interval = \"1h\"\n",
        Site::status(204),
    )
    .await;
    let migrated = cli.run(&["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated:?}");
    let worker = cli.spawn(&["worker"]);
    // The worker is idle once its listener is up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while listening_sessions(database.url(), database.name()).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never listened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Another system inserts the row; the trigger tells the worker.
    insert_as_another_system(database.url(), "plain.test").await;

    wait_for_rows(
        database.url(),
        "the notified row completed",
        std::time::Duration::from_secs(20),
        |rows| all_finished(rows, 1) && rows["plain.test"].status == "completed",
    )
    .await;
    drop(worker);
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_transaction_pooler_the_worker_polls_and_never_listens() {
    let database = TestDatabase::create().await;
    let pooler = PgBouncer::start().await.unwrap();
    let section = pooled_postgres(&pooler, &database);
    let Scenario {
        server: _server,
        cli,
    } = scenario_with(
        Some(section),
        "interval = \"1h\"\npoll_interval = \"200ms\"\n",
        Site::status(204),
    )
    .await;
    let migrated = cli.run(&["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated:?}");
    let worker = cli.spawn(&["worker"]);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    insert_as_another_system(database.url(), "plain.test").await;

    wait_for_rows(
        database.url(),
        "the polled row completed",
        std::time::Duration::from_secs(20),
        |rows| all_finished(rows, 1),
    )
    .await;
    assert_eq!(listening_sessions(database.url(), database.name()).await, 0);
    drop(worker);
    drop(pooler);
    database.drop().await;
}

#[tokio::test]
async fn before_migrate_every_command_on_postgres_says_to_run_it_and_changes_nothing() {
    let database = TestDatabase::create().await;
    let Scenario {
        server: _server,
        cli,
    } = scenario(Some(direct_postgres(database.url()))).await;
    for command in [
        &["worker", "--once"][..],
        &["status"],
        &["enqueue", "acme.test"],
        &["requeue", "--all"],
    ] {
        let refused = cli.run(command).await;
        assert_eq!(refused.code, 1, "{command:?}: {refused:?}");
        let said = "the domains table does not exist: run `domain-scheduler migrate`";
        assert_eq!(
            refused.stderr.matches(said).count(),
            1,
            "{command:?} says it once: {}",
            refused.stderr
        );
    }
    let mut direct = <sqlx::PgConnection as sqlx::Connection>::connect(database.url())
        .await
        .unwrap();
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'domains'")
            .fetch_one(&mut direct)
            .await
            .unwrap();
    assert_eq!(tables, 0, "no command but migrate creates the table");
    sqlx::Connection::close(direct).await.unwrap();
    database.drop().await;
}
