//! The command line as a user meets it: configuration errors, enqueue,
//! status and extract, through the real binary on the embedded SQLite
//! default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{Cli, assert_summary};
use sqlx::sqlite::SqlitePool;

/// The embedded database of `cli`'s directory, for a look behind the
/// binary's back.
async fn embedded_database(cli: &Cli) -> SqlitePool {
    let url = format!("sqlite://{}", cli.path("domain-scheduler.db").display());
    SqlitePool::connect(&url).await.unwrap()
}

fn numbered(prefix: &str, count: usize) -> String {
    (1..=count).map(|i| format!("{prefix}{i}.test\n")).collect()
}

#[tokio::test]
async fn an_unknown_key_stops_start_up_naming_the_key() {
    let cli = Cli::new();
    let config = cli.write("bad.toml", "[scheduler]\nbatchsize = 10\n");
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("batchsize"), "{}", run.stderr);
    assert!(
        run.stderr.contains("batch_size"),
        "lists what is accepted: {}",
        run.stderr
    );
}

#[tokio::test]
async fn a_value_out_of_range_names_key_value_and_what_is_accepted() {
    let cli = Cli::new();
    let config = cli.write("bad.toml", "[scheduler]\nbatch_size = 0\n");
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "configuration key scheduler.batch_size = 0 is invalid: expected a whole number from 1 to 10000"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_value_of_the_wrong_type_names_the_key() {
    let cli = Cli::new();
    let config = cli.write("bad.toml", "[fetch]\ntimeout_seconds = \"soon\"\n");
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("timeout_seconds"), "{}", run.stderr);
}

#[tokio::test]
async fn a_bad_environment_value_names_the_variable() {
    let cli = Cli::new().env("DOMAIN_SCHEDULER_BATCH_SIZE", "fifty");
    let run = cli.run(&["status"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("environment variable DOMAIN_SCHEDULER_BATCH_SIZE=\"fifty\" is invalid"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_database_url_of_another_kind_is_refused_without_showing_its_password() {
    let cli = Cli::new().env("DATABASE_URL", "mysql://user:secret@db.example.com/app");
    let run = cli.run(&["status"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("database.url"), "{}", run.stderr);
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
}

#[tokio::test]
async fn a_missing_config_file_is_a_configuration_error() {
    let cli = Cli::new();
    let run = cli.run(&["--config", "nowhere.toml", "status"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("nowhere.toml does not exist"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn an_unusable_diagnostic_dir_stops_the_worker_with_a_clear_error() {
    let cli = Cli::new();
    let blocker = cli.write("not-a-dir", "");
    let cli = cli.env(
        "DIAGNOSTIC_DIR",
        &blocker.join("diagnostics").display().to_string(),
    );
    let run = cli.run(&["worker", "--once"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cannot use diagnostic directory"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("DIAGNOSTIC_DIR"), "{}", run.stderr);
}

#[tokio::test]
async fn an_unreadable_certificate_file_stops_the_worker_naming_the_file() {
    let cli = Cli::new();
    let config = cli.write(
        "config.toml",
        "[fetch]\nextra_root_certificates = [\"missing-ca.pem\"]\n",
    );
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "worker", "--once"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("missing-ca.pem"), "{}", run.stderr);
}

#[tokio::test]
async fn enqueue_keeps_the_valid_entries_reports_the_invalid_ones_and_exits_1() {
    let cli = Cli::new();
    let run = cli
        .run(&[
            "enqueue",
            "Example.com",
            "https://www.example.org/about",
            "not a domain",
            "example.com",
        ])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("argument 3: \"not a domain\" is not a valid domain name"),
        "{}",
        run.stderr
    );
    // The repeated example.com counts as already present.
    assert_summary(&run, "enqueued 2 new, 1 already present, 1 invalid");

    let again = cli.run(&["enqueue", "EXAMPLE.ORG"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_summary(&again, "enqueued 0 new, 1 already present, 0 invalid");
}

#[tokio::test]
async fn enqueue_reads_a_file_and_stdin_skipping_blanks_and_comments() {
    let cli = Cli::new();
    let list = cli.write("list.txt", "# leads\nalpha.test\n\nbeta.test\nlocalhost\n");
    let from_file = cli
        .run(&["enqueue", "--file", list.to_str().unwrap()])
        .await;
    assert_eq!(from_file.code, 1, "{from_file:?}");
    assert!(
        from_file.stderr.contains("list.txt line 5: \"localhost\""),
        "{}",
        from_file.stderr
    );
    assert_summary(&from_file, "enqueued 2 new, 0 already present, 1 invalid");

    let from_stdin = cli
        .run_with_stdin(&["enqueue"], "gamma.test\nalpha.test\n")
        .await;
    assert_eq!(from_stdin.code, 0, "{from_stdin:?}");
    assert_summary(&from_stdin, "enqueued 1 new, 1 already present, 0 invalid");

    let status = cli.run(&["status", "--json"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    let report: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(report["pending"], 3);
    assert_eq!(report["error"], 0);
}

#[tokio::test]
async fn status_on_a_new_database_shows_every_state() {
    let cli = Cli::new();
    let run = cli.run(&["status"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for state in ["pending", "processing", "completed", "error"] {
        assert!(run.stdout.contains(state), "{}", run.stdout);
    }
    assert!(
        cli.path("domain-scheduler.db").exists(),
        "the embedded default was created"
    );
}

#[tokio::test]
async fn extract_reads_a_saved_page_and_prints_json() {
    let cli = Cli::new();
    let page = cli.write(
        "page.html",
        r#"<!doctype html><html lang="en"><head><title> Acme   Widgets </title>
        <meta name="description" content="Widgets since 1901">
        <link rel="icon" href="/favicon.png"></head><body><h1>Hi</h1></body></html>"#,
    );
    let run = cli
        .run(&[
            "extract",
            "--html",
            page.to_str().unwrap(),
            "--url",
            "https://acme.example/",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["url"], "https://acme.example/");
    assert_eq!(json["title"], "Acme Widgets");
    assert_eq!(json["description"], "Widgets since 1901");
    assert_eq!(json["language"], "en");
    assert_eq!(json["favicon_url"], "https://acme.example/favicon.png");
    assert!(json["tech_stack"]["cms"].is_array(), "{json}");
}

#[tokio::test]
async fn extract_without_a_source_is_a_usage_error() {
    let cli = Cli::new();
    let run = cli.run(&["extract"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let html_without_url = cli.run(&["extract", "--html", "page.html"]).await;
    assert_eq!(html_without_url.code, 2, "{html_without_url:?}");
}

#[tokio::test]
async fn extract_of_an_invalid_domain_is_a_usage_error() {
    let cli = Cli::new();
    let run = cli.run(&["extract", "not a domain"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("is not a valid domain name"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_timeout_postgres_would_read_as_off_or_overflow_is_refused() {
    let cli = Cli::new();
    for value in ["0.0004", "3000000"] {
        let config = cli.write(
            "bad.toml",
            &format!("[database]\nstatement_timeout_seconds = {value}\n"),
        );
        let run = cli
            .run(&["--config", config.to_str().unwrap(), "status"])
            .await;
        assert_eq!(run.code, 2, "{value}: {run:?}");
        assert!(
            run.stderr.contains("database.statement_timeout")
                && run.stderr.contains("from 1ms to 2147483s"),
            "{}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn a_lease_shorter_than_the_slowest_fetch_is_refused() {
    let cli = Cli::new();
    let config = cli.write(
        "bad.toml",
        "[scheduler]\nlease_minutes = 2\n[fetch]\ntimeout_seconds = 90\nretries = 3\n",
    );
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "worker", "--once"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("scheduler.lease = \"120s\""),
        "{}",
        run.stderr
    );
    assert!(
        // The home page, then its linked pages at once: 90 s each.
        run.stderr.contains("slowest fetch (180s"),
        "names the slowest fetch: {}",
        run.stderr
    );
}

#[tokio::test]
async fn a_body_budget_that_cannot_hold_one_whole_page_is_refused() {
    let cli = Cli::new();
    let config = cli.write(
        "bad.toml",
        "[scheduler]\nconcurrency = 4000\n[fetch]\nmax_body_kib = 65536\nbody_budget_mib = 32\n",
    );
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("fetch.body_budget_mib") && run.stderr.contains("one whole page"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_bad_keyword_names_the_key_and_the_accepted_words() {
    let cli = Cli::new();
    let config = cli.write("bad.toml", "[database]\npooler = \"transactions\"\n");
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("database.pooler"), "{}", run.stderr);
    assert!(
        run.stderr.contains("expected transaction, session or none"),
        "{}",
        run.stderr
    );

    let run = Cli::new()
        .env("DOMAIN_SCHEDULER_LOG_FORMAT", "yaml")
        .run(&["status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "environment variable DOMAIN_SCHEDULER_LOG_FORMAT=\"yaml\" is invalid: unknown log format \"yaml\" (expected human or json)"
        ),
        "{}",
        run.stderr
    );
    // Case does not matter.
    let run = Cli::new()
        .env("DATABASE_POOLER", "Session")
        .run(&["status"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
}

#[tokio::test]
async fn a_worker_id_too_long_to_keep_its_suffixes_is_refused() {
    let run = Cli::new()
        .env("DOMAIN_SCHEDULER_WORKER_ID", &"w".repeat(65))
        .run(&["status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("configuration key worker_id = \"wwww"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("at most 64 characters"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn extract_trusts_the_system_trust_store() {
    use scheduler_tests::https_fixture::{FixtureServer, Site};

    let server = FixtureServer::builder()
        .site(
            "corp.test",
            Site::html("<html><head><title>Intranet</title></head></html>"),
        )
        .start()
        .await
        .unwrap();
    let config = format!("[fetch.resolve]\n\"corp.test\" = \"{}\"\n", server.ip());
    let extract_with_store = |store: PathBuf| {
        let config = config.clone();
        async move {
            let cli = Cli::new().env("SSL_CERT_FILE", store.to_str().unwrap());
            cli.write("domain-scheduler.toml", &config);
            cli.run(&["extract", "corp.test"]).await
        }
    };
    // The fixture's CA is unknown to the built-in roots and to an empty
    // system store.
    let stores = tempfile::tempdir().unwrap();
    let empty_store = stores.path().join("empty.pem");
    std::fs::write(&empty_store, "").unwrap();
    let untrusted = extract_with_store(empty_store).await;
    assert_eq!(untrusted.code, 1, "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );

    // Installed in the system store (here: SSL_CERT_FILE), it is trusted.
    let trusted = extract_with_store(server.ca_pem_path().to_owned()).await;
    assert_eq!(trusted.code, 0, "{trusted:?}");
    let json: serde_json::Value = serde_json::from_str(&trusted.stdout).unwrap();
    assert_eq!(json["title"], "Intranet");
}

#[tokio::test]
async fn enqueue_reports_each_invalid_line_by_number_and_counts_every_entry() {
    let cli = Cli::new();
    let list = cli.write(
        "leads.txt",
        "one.test\nnot a domain\n# comment\n\nlocalhost\nTWO.test\none.test\nthree.test\n",
    );
    let run = cli
        .run(&[
            "enqueue",
            "--chunk-size",
            "2",
            "--file",
            list.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    for line in [
        "leads.txt line 2: \"not a domain\" is not a valid domain name",
        "leads.txt line 5: \"localhost\"",
    ] {
        assert!(run.stderr.contains(line), "{line}: {}", run.stderr);
    }
    assert_eq!(run.stderr.matches("is not a valid domain name").count(), 2);
    assert_summary(&run, "enqueued 3 new, 1 already present, 2 invalid");
}

#[tokio::test]
async fn enqueue_rerun_of_the_same_file_finds_every_entry_already_present() {
    let cli = Cli::new();
    let list = cli.write("list.txt", &numbered("site", 25));
    let args = [
        "enqueue",
        "--chunk-size",
        "10",
        "--file",
        list.to_str().unwrap(),
    ];
    let first = cli.run(&args).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert_summary(&first, "enqueued 25 new, 0 already present, 0 invalid");
    let again = cli.run(&args).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_summary(&again, "enqueued 0 new, 25 already present, 0 invalid");
}

#[tokio::test]
async fn enqueue_commits_each_chunk_so_a_failing_chunk_keeps_the_ones_before() {
    let cli = Cli::new();
    assert_eq!(cli.run(&["migrate"]).await.code, 0);
    let database = embedded_database(&cli).await;
    // A planted failure: the database refuses one name.
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON domains \
         WHEN NEW.domain = 'poison.test' \
         BEGIN SELECT RAISE(ABORT, 'planted failure'); END",
    )
    .execute(&database)
    .await
    .unwrap();
    let list = cli.write(
        "list.txt",
        "a.test\nb.test\nc.test\nd.test\npoison.test\ne.test\nf.test\n",
    );
    let args = [
        "enqueue",
        "--chunk-size",
        "2",
        "--file",
        list.to_str().unwrap(),
    ];
    let failed = cli.run(&args).await;
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed.stderr.contains("the chunk ending at")
            && failed.stderr.contains("list.txt line 6 was not enqueued")
            && failed.stderr.contains("planted failure")
            && failed
                .stderr
                .contains("(4 new, 0 already present, 0 invalid)"),
        "{}",
        failed.stderr
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT domain FROM domains ORDER BY domain")
        .fetch_all(&database)
        .await
        .unwrap();
    assert_eq!(stored, ["a.test", "b.test", "c.test", "d.test"]);

    sqlx::raw_sql("DROP TRIGGER refuse_poison")
        .execute(&database)
        .await
        .unwrap();
    database.close().await;
    let rerun = cli.run(&args).await;
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert_summary(&rerun, "enqueued 3 new, 4 already present, 0 invalid");
}

#[tokio::test]
async fn enqueue_from_stdin_writes_plain_progress_lines_when_stderr_is_not_a_terminal() {
    let cli = Cli::new();
    let run = cli
        .run_with_stdin(
            &["enqueue", "--chunk-size", "2", "--progress-interval", "0s"],
            &numbered("piped", 6),
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_summary(&run, "enqueued 6 new, 0 already present, 0 invalid");
    let progress: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("progress: "))
        .collect();
    assert_eq!(progress.len(), 3, "one line per chunk: {}", run.stderr);
    assert!(
        progress[2].starts_with("progress: 6 new, 0 already present, 0 invalid after "),
        "{progress:?}"
    );
    assert!(
        !run.stderr.contains('\r'),
        "no terminal drawing: {:?}",
        run.stderr
    );
}

/// Rows of the embedded database set to `status` with an error, last
/// updated `hours_ago`.
async fn finish_rows(
    database: &SqlitePool,
    domains: &[&str],
    status: &str,
    error: &str,
    hours_ago: i64,
) {
    let updated_at = (chrono::Utc::now() - chrono::Duration::hours(hours_ago))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    for domain in domains {
        sqlx::query(
            "UPDATE domains SET status = $1, last_error = $2, attempts = 3, updated_at = $3 \
             WHERE domain = $4",
        )
        .bind(status)
        .bind(error)
        .bind(&updated_at)
        .bind(domain)
        .execute(database)
        .await
        .unwrap();
    }
}

async fn statuses(database: &SqlitePool) -> Vec<(String, String, i64)> {
    sqlx::query_as("SELECT domain, status, attempts FROM domains ORDER BY domain")
        .fetch_all(database)
        .await
        .unwrap()
}

#[tokio::test]
async fn requeue_without_a_selector_is_refused_unless_all_is_given() {
    let cli = Cli::new();
    assert_eq!(
        cli.run(&["enqueue", "a.test", "b.test", "c.test"])
            .await
            .code,
        0
    );
    let database = embedded_database(&cli).await;
    finish_rows(&database, &["a.test"], "error", "HTTP 503", 0).await;
    finish_rows(&database, &["b.test"], "completed", "", 0).await;

    let refused = cli.run(&["requeue"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--all"), "{}", refused.stderr);
    let refused = cli.run(&["requeue", "--all", "--status", "error"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    // Older than the calendar reaches back: a usage error, not a crash.
    let refused = cli.run(&["requeue", "--older-than", "300000y"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("is too long"), "{}", refused.stderr);

    let all = cli.run(&["requeue", "--all"]).await;
    assert_eq!(all.code, 0, "{all:?}");
    assert_eq!(
        all.stdout.trim(),
        "requeued 2 rows; 0 not found, 0 left alone, 0 invalid"
    );
    let expected: Vec<(String, String, i64)> = ["a.test", "b.test", "c.test"]
        .map(|domain| (domain.to_owned(), "pending".to_owned(), 0))
        .into();
    assert_eq!(statuses(&database).await, expected);
}

#[tokio::test]
async fn requeue_selects_by_state_age_error_and_name_and_reports_unknown_names() {
    let cli = Cli::new();
    let names = ["a.test", "b.test", "c.test", "d.test", "e.test"];
    let mut args = vec!["enqueue"];
    args.extend(names);
    assert_eq!(cli.run(&args).await.code, 0);
    let database = embedded_database(&cli).await;
    finish_rows(
        &database,
        &["a.test", "b.test"],
        "error",
        "HTTP 503 Service Unavailable",
        48,
    )
    .await;
    finish_rows(
        &database,
        &["c.test"],
        "error",
        "HTTP 503 Service Unavailable",
        1,
    )
    .await;
    finish_rows(&database, &["d.test"], "error", "DNS: name not found", 48).await;
    finish_rows(&database, &["e.test"], "completed", "", 48).await;
    let before = statuses(&database).await;

    let dry = cli
        .run(&[
            "requeue",
            "--dry-run",
            "--status",
            "error",
            "--older-than",
            "1d",
            "--error-like",
            "http 5%",
        ])
        .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        dry.stdout.trim(),
        "would requeue 2 rows; 0 not found, 0 left alone, 0 invalid (dry run: nothing changed)"
    );
    assert_eq!(
        statuses(&database).await,
        before,
        "a dry run changes nothing"
    );

    let by_error = cli.run(&["requeue", "--error-contains", "NOT FOUND"]).await;
    assert_eq!(by_error.code, 0, "{by_error:?}");
    assert_eq!(
        by_error.stdout.trim(),
        "requeued 1 row; 0 not found, 0 left alone, 0 invalid"
    );

    let list = cli.write(
        "again.txt",
        "https://www.A.test/page\nmissing.test\nnot a domain\n",
    );
    let by_name = cli
        .run(&[
            "requeue",
            "--status",
            "error",
            "--file",
            list.to_str().unwrap(),
            "e.test",
            "d.test",
        ])
        .await;
    assert_eq!(by_name.code, 1, "{by_name:?}");
    assert_eq!(
        by_name.stdout.trim(),
        "requeued 1 row; 1 not found, 2 left alone, 1 invalid"
    );
    assert!(
        by_name.stderr.contains("d.test: pending, left alone")
            && by_name.stderr.contains("e.test: completed, left alone"),
        "{}",
        by_name.stderr
    );
    assert!(
        by_name
            .stderr
            .contains("missing.test: no such domain in the table")
            && by_name
                .stderr
                .contains("again.txt line 3: \"not a domain\""),
        "{}",
        by_name.stderr
    );
    let after: Vec<(String, String)> = statuses(&database)
        .await
        .into_iter()
        .map(|(domain, status, _)| (domain, status))
        .collect();
    let expected: Vec<(String, String)> = [
        ("a.test", "pending"),
        ("b.test", "error"),
        ("c.test", "error"),
        ("d.test", "pending"),
        ("e.test", "completed"),
    ]
    .map(|(domain, status)| (domain.to_owned(), status.to_owned()))
    .into();
    assert_eq!(after, expected);

    let only_invalid = cli
        .run(&["requeue", "--status", "error", "not a domain"])
        .await;
    assert_eq!(only_invalid.code, 1, "{only_invalid:?}");
    assert!(
        only_invalid.stderr.contains("nothing was requeued"),
        "{}",
        only_invalid.stderr
    );
    assert_eq!(
        statuses(&database)
            .await
            .iter()
            .filter(|row| row.1 == "error")
            .count(),
        2
    );
}
