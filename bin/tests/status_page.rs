//! The operators' endpoint of a running worker, used as its users use it:
//! Prometheus scrapes `/metrics`, an orchestrator probes `/readyz`, and a
//! person opens `/` in a real browser (headless Chromium, see `browser`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use browser::{
    ENDPOINT_LOG, assert_no_markup_from_data, get, rendered, screenshot, spawn_worker, table,
    text_of, wait_for,
};
use common::Cli;
use scheduler_tests::https_fixture::{FixtureServer, Site};
use scheduler_tests::postgres::TestDatabase;

/// Text that would run or load something if the page wrote it as markup.
const HOSTILE_TITLE: &str = "<script>document.title='owned'</script><b>bold</b>";
const HOSTILE_ERROR: &str = "DNS lookup failed: <img src=x onerror=alert(1)>";

async fn seed(url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: [(&str, &str, Option<&str>, Option<&str>); 5] = [
        ("plain.test", "completed", Some("Plain title"), None),
        ("hostile.test", "completed", Some(HOSTILE_TITLE), None),
        ("untitled.test", "completed", None, None),
        (
            "gone.test",
            "error",
            None,
            Some("HTTP 404 from https://gone.test/"),
        ),
        ("nowhere.test", "error", None, Some(HOSTILE_ERROR)),
    ];
    for (domain, status, title, error) in rows {
        sqlx::query(
            "INSERT INTO domains (domain, status, title, last_error, updated_at) \
             VALUES ($1, $2, $3, $4, now())",
        )
        .bind(domain)
        .bind(status)
        .bind(title)
        .bind(error)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Stays in flight for the whole test: its body trickles.
    sqlx::query("INSERT INTO domains (domain) VALUES ('slow.test')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn scrape_metrics(address: SocketAddr) -> prometheus_parse::Scrape {
    let (code, exposition) = get(address, "/metrics").await;
    assert_eq!(code, 200, "{exposition}");
    prometheus_parse::Scrape::parse(exposition.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

fn sample(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && label.is_none_or(|(key, value)| sample.labels.get(key) == Some(value))
        })
        .unwrap_or_else(|| panic!("{name} {label:?} is exported"));
    match found.value {
        prometheus_parse::Value::Gauge(value)
        | prometheus_parse::Value::Counter(value)
        | prometheus_parse::Value::Untyped(value) => value,
        ref other => panic!("{name} is a {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_metrics_and_probes_see_the_worker_as_it_is() {
    let database = TestDatabase::create().await;
    let server = FixtureServer::builder()
        .site("slow.test", Site::slow_body(Duration::from_millis(500)))
        .start()
        .await
        .unwrap();
    let cli = Cli::new();
    cli.write(
        "domain-scheduler.toml",
        &format!(
            "[database]\nurl = {url:?}\npooler = \"none\"\n\n\
             [scheduler]\ninterval = \"5s\"\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\nrefresh = \"250ms\"\n\n\
             {ENDPOINT_LOG}\n\
             [fetch]\nretries = 0\ntimeout = \"120s\"\nextra_root_certificates = [{ca:?}]\n\n\
             [fetch.resolve]\n\"slow.test\" = \"{ip}\"\n",
            url = database.url(),
            ca = server.ca_pem_path().display().to_string(),
            ip = server.ip(),
        ),
    );
    let migrated = cli.run(&["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated:?}");
    seed(database.url()).await;

    let (mut worker, address) = spawn_worker(&cli).await;
    assert_eq!(wait_for(address, "/readyz", 200).await, "ready\n");
    assert_eq!(get(address, "/healthz").await, (200, "ok\n".to_owned()));
    // The slow site is claimed and stays in flight, and a snapshot taken
    // since shows it.
    let mut seen = serde_json::Value::Null;
    for _ in 0..200 {
        seen = serde_json::from_str(&get(address, "/api/status").await.1).unwrap();
        if seen["in_flight"][0]["domain"] == "slow.test"
            && seen["snapshot"]["report"]["processing"] == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen["in_flight"][0]["domain"], "slow.test", "{seen}");
    assert_eq!(seen["snapshot"]["report"]["processing"], 1, "{seen}");

    // Prometheus reads what the worker exports, once the gauges' own
    // refresh has seen the claim too.
    let mut scrape = scrape_metrics(address).await;
    for _ in 0..200 {
        let processing = scrape.samples.iter().any(|sample| {
            sample.metric == "domain_scheduler_rows"
                && sample.labels.get("status") == Some("processing")
                && matches!(sample.value, prometheus_parse::Value::Gauge(rows) if rows == 1.0)
        });
        if processing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        scrape = scrape_metrics(address).await;
    }
    assert_eq!(
        sample(
            &scrape,
            "domain_scheduler_rows",
            Some(("status", "completed"))
        ),
        3.0
    );
    assert_eq!(
        sample(&scrape, "domain_scheduler_rows", Some(("status", "error"))),
        2.0
    );
    assert_eq!(
        sample(
            &scrape,
            "domain_scheduler_rows",
            Some(("status", "processing"))
        ),
        1.0
    );
    assert_eq!(
        sample(&scrape, "domain_scheduler_domains_in_flight", None),
        1.0
    );
    assert_eq!(
        sample(&scrape, "domain_scheduler_domains_claimed_total", None),
        1.0
    );
    assert_eq!(sample(&scrape, "domain_scheduler_database_up", None), 1.0);
    assert_eq!(
        sample(&scrape, "domain_scheduler_fetch_retries_total", None),
        0.0
    );
    assert_eq!(
        sample(
            &scrape,
            "domain_scheduler_build_info",
            Some(("version", env!("CARGO_PKG_VERSION")))
        ),
        1.0
    );
    let claim_latency = scrape
        .samples
        .iter()
        .find(|sample| sample.metric == "domain_scheduler_claim_duration_seconds")
        .expect("the claim latency is exported");
    assert!(
        matches!(
            claim_latency.value,
            prometheus_parse::Value::Histogram(ref buckets) if !buckets.is_empty()
        ),
        "{claim_latency:?}"
    );
    for sample in &scrape.samples {
        assert!(
            sample.metric.starts_with("domain_scheduler_"),
            "{} is prefixed",
            sample.metric
        );
    }
    // The outcome counters exist from the start, at zero, with their help.
    assert!(
        scrape
            .docs
            .contains_key("domain_scheduler_domains_finished_total"),
        "{:?}",
        scrape.docs.keys()
    );
    assert_eq!(
        sample(
            &scrape,
            "domain_scheduler_domains_finished_total",
            Some(("outcome", "completed"))
        ),
        0.0
    );

    // A person opens the page.
    let profile = tempfile::tempdir().unwrap();
    let page_url = format!("http://{address}/");
    let (document, dom) = rendered(&page_url, profile.path()).await;
    assert_eq!(text_of(&document, "#count-completed"), "3");
    assert_eq!(text_of(&document, "#count-error"), "2");
    assert_eq!(text_of(&document, "#count-processing"), "1");
    assert_eq!(text_of(&document, "#count-pending"), "0");
    assert_eq!(text_of(&document, "#readiness"), "ready");
    let errors = table(&document, "recent-errors");
    assert!(
        errors
            .iter()
            .any(|row| row[1] == "gone.test" && row[2] == "HTTP 404 from https://gone.test/"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|row| row[1] == "nowhere.test" && row[2] == HOSTILE_ERROR),
        "the hostile error shows as text: {errors:?}"
    );
    let completed = table(&document, "recent-completed");
    assert!(
        completed
            .iter()
            .any(|row| row[1] == "hostile.test" && row[2] == HOSTILE_TITLE),
        "the hostile title shows as text: {completed:?}"
    );
    let kinds = table(&document, "error-kinds");
    assert!(
        kinds.contains(&vec!["HTTP 404".to_owned(), "1".to_owned()])
            && kinds.contains(&vec!["dns".to_owned(), "1".to_owned()]),
        "{kinds:?}"
    );
    let in_flight = table(&document, "in-flight");
    assert_eq!(in_flight.len(), 1, "{in_flight:?}");
    assert_eq!(in_flight[0][0], "slow.test");
    // Every domain listed links to its record on the page.
    let link = document
        .select_first("#in-flight td.domain a")
        .expect("the domain in flight is a link");
    let href = link.attributes.borrow().get("href").map(str::to_owned);
    assert_eq!(href.as_deref(), Some("#domain=slow.test"));
    assert_no_markup_from_data(&document, &dom);
    screenshot(&page_url, profile.path(), 1280, "status-page-in-flight.png").await;

    // The database goes away: the worker is alive but not ready, and says
    // why.
    database.drop().await;
    let reason = wait_for(address, "/readyz", 503).await;
    assert!(reason.contains("database"), "{reason}");
    assert_eq!(get(address, "/healthz").await.0, 200);

    worker.kill().await.unwrap();
}
