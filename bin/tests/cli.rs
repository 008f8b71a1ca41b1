//! The command line as a user meets it: configuration errors, enqueue,
//! status and extract, through the real binary on the embedded SQLite
//! default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::Cli;

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
    assert_eq!(
        run.stdout.trim(),
        "enqueued 2 new, 0 already present, 1 invalid"
    );

    let again = cli.run(&["enqueue", "EXAMPLE.ORG"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        again.stdout.trim(),
        "enqueued 0 new, 1 already present, 0 invalid"
    );
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
    assert_eq!(
        from_file.stdout.trim(),
        "enqueued 2 new, 0 already present, 1 invalid"
    );

    let from_stdin = cli
        .run_with_stdin(&["enqueue"], "gamma.test\nalpha.test\n")
        .await;
    assert_eq!(from_stdin.code, 0, "{from_stdin:?}");
    assert_eq!(
        from_stdin.stdout.trim(),
        "enqueued 1 new, 1 already present, 0 invalid"
    );

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
        "[scheduler]\nlease_minutes = 2\n[fetch]\ntimeout_seconds = 30\nretries = 3\n",
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
        run.stderr.contains("slowest fetch (90s"),
        "names the slowest fetch: {}",
        run.stderr
    );
}

#[tokio::test]
async fn settings_that_could_buffer_too_much_at_once_are_refused() {
    let cli = Cli::new();
    let config = cli.write(
        "bad.toml",
        "[scheduler]\nmax_instances = 64\nconcurrency = 1000\n[fetch]\nmax_body_kib = 65536\n",
    );
    let run = cli
        .run(&["--config", config.to_str().unwrap(), "status"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("at most 4 GiB"), "{}", run.stderr);
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
