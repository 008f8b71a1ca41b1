//! The status page's views of single rows and of time, in headless
//! Chromium against a worker on the real Postgres: a domain's whole
//! record found by the search box, errors filtered by kind and paged, the
//! throughput chart, and the page at 1280 and 800 px.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use browser::{
    ENDPOINT_LOG, assert_no_markup_from_data, fields, get, rendered, screenshot, spawn_worker,
    table, text_of, wait_for,
};
use common::Cli;
use scheduler_tests::postgres::TestDatabase;

/// Text that would run or load something if the page wrote it as markup.
const HOSTILE_TITLE: &str = "<script>document.title='owned'</script><b>bold</b>";
const HOSTILE_DESCRIPTION: &str = "<img src=x onerror=alert(1)> &amp; <i>more</i>";
const HOSTILE_COMPANY: &str = "<b>ACME</b> & Sons\" onmouseover=\"alert(1)";
/// An error message long enough to squeeze its neighbours if the table let
/// it.
const LONG_ERROR: &str = "connection failed: no record found for Query { name: Name(\"a-very-long-\
     sub-domain.of-a-site-with-a-long-name.example.\"), query_type: AAAA, query_class: IN } \
     after trying every name server of the zone, each of which answered SERVFAIL or timed out";
/// `dns` errors seeded: more than a page.
const DNS_ERRORS: usize = 57;

/// The document of a completed row, as the worker stores it, plus a
/// company and hostile text.
fn rich_document() -> serde_json::Value {
    serde_json::json!({
        "url": "https://rich.test/",
        "site_kind": "site",
        "title": HOSTILE_TITLE,
        "description": HOSTILE_DESCRIPTION,
        "site_name": "Rich",
        "language": "en",
        "icon_url": "https://rich.test/icon.png",
        "favicon_url": "https://rich.test/favicon.ico",
        "emails": ["hello@rich.test", "sales@rich.test"],
        "phones": ["+441234567890"],
        "social": {"linkedin": "https://www.linkedin.com/company/rich", "github": "javascript:alert(1)"},
        "company": {"name": HOSTILE_COMPANY, "country": "GB"},
        "tech": [
            {"name": "WordPress", "category": "cms", "version": "6.4", "evidence": "meta generator"},
            {"name": "Elementor", "category": "page-builder", "version": null, "evidence": "script"},
            {"name": "Matomo", "category": "analytics", "version": null, "evidence": "script"}
        ],
        "wordpress": {"detected": true, "version": "6.4", "theme": "astra", "plugins": []}
    })
}

async fn seed(url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(
        "INSERT INTO domains (domain, status, title, meta_json, attempts, updated_at) \
         VALUES ('rich.test', 'completed', $1, CAST($2 AS jsonb), 1, now() - interval '3 minutes')",
    )
    .bind(HOSTILE_TITLE)
    .bind(rich_document().to_string())
    .execute(&pool)
    .await
    .unwrap();
    // Each minute of the chart, one statement each so that the rows of a
    // minute share one `now()`: completed 3 and 7 minutes ago, failed now
    // (the long message first in the list) and 12 minutes ago, put back
    // for a retry 20 minutes ago (not due for an hour, so the worker
    // leaves it alone).
    sqlx::query(
        "INSERT INTO domains (domain, status, title, updated_at) \
         VALUES ('older.test', 'completed', 'Older', now() - interval '7 minutes')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO domains (domain, status, attempts, last_error, next_attempt_at, updated_at) \
         VALUES ('retry.test', 'pending', 1, 'timed out after 30s', now() + interval '1 hour', \
         now() - interval '20 minutes')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO domains (domain, status, last_error, updated_at) \
         SELECT 'dns' || n || '.test', 'error', 'DNS lookup failed: no such host', \
         now() - interval '12 minutes' \
         FROM generate_series(1, $1) AS n",
    )
    .bind(DNS_ERRORS as i32)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO domains (domain, status, last_error, updated_at) \
         VALUES ('gone.test', 'error', 'HTTP 404 from https://gone.test/', now()), \
         ($1, 'error', $2, now())",
    )
    .bind("a-domain-name-long-enough-to-break-a-narrow-column.example-of-length.test")
    .bind(LONG_ERROR)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_finds_a_record_works_through_errors_and_reads_the_chart() {
    let database = TestDatabase::create().await;
    let cli = Cli::new();
    cli.write(
        "domain-scheduler.toml",
        &format!(
            "[database]\nurl = {url:?}\npooler = \"none\"\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\nrefresh = \"250ms\"\n\n\
             {ENDPOINT_LOG}",
            url = database.url(),
        ),
    );
    let migrated = cli.run(&["migrate"]).await;
    assert_eq!(migrated.code, 0, "{migrated:?}");
    seed(database.url()).await;
    let (mut worker, address) = spawn_worker(&cli).await;
    wait_for(address, "/readyz", 200).await;
    let profile = tempfile::tempdir().unwrap();

    // The chart: one group of bars per minute with data in the last hour
    // (now, 3, 7, 12 and 20 minutes ago, read soon after seeding), as the
    // API counts them.
    let (_, status) = get(address, "/api/status").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let minutes: Vec<u64> = status["snapshot"]["report"]["per_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|minute| minute["minutes_ago"].as_u64().unwrap())
        .collect();
    let gaps: Vec<u64> = minutes.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert_eq!(gaps, [3, 4, 5, 8], "{status}");
    let (document, dom) = rendered(&format!("http://{address}/"), profile.path()).await;
    let bars = document
        .select("#throughput-chart g.minute")
        .unwrap()
        .count();
    assert_eq!(bars, minutes.len(), "{dom}");
    // The queue's depth: one point per minute this worker sampled.
    let sampled = status["queue"].as_array().unwrap().len();
    let line = document
        .select_first("#throughput-chart polyline.queue")
        .expect("the queue's depth is drawn");
    let points = line
        .attributes
        .borrow()
        .get("points")
        .unwrap()
        .split_whitespace()
        .count();
    assert!(
        points >= 1 && points <= sampled + 1,
        "{points} of {sampled}"
    );
    let (document, _) = rendered(&format!("http://{address}/?window=day"), profile.path()).await;
    assert_eq!(
        document
            .select("#throughput-chart g.minute")
            .unwrap()
            .count(),
        minutes.len()
    );
    assert_eq!(
        text_of(&document, "#window-day[aria-pressed=true]"),
        "last 24 hours"
    );

    // The record endpoint: the row, or 404.
    let (code, body) = get(address, "/api/domain?name=rich.test").await;
    assert_eq!(code, 200, "{body}");
    let record: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["metadata"]["company"]["name"], HOSTILE_COMPANY);
    let (code, body) = get(address, "/api/domain?name=nowhere.test").await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(get(address, "/api/domain?name=not%20a%20name").await.0, 400);

    // The search box finds the domain (the page submits its own form when
    // opened with `?search=`) and lays the record out as text.
    let (document, dom) = rendered(
        &format!("http://{address}/?search=Rich.test"),
        profile.path(),
    )
    .await;
    assert!(
        document
            .select_first("#record[data-loaded='rich.test']")
            .is_ok(),
        "{dom}"
    );
    assert_eq!(text_of(&document, "#record-name"), "rich.test");
    let row = fields(&document, "record-row");
    assert!(
        row.contains(&("state".into(), "completed".into())),
        "{row:?}"
    );
    assert!(row.contains(&("attempts".into(), "1".into())), "{row:?}");
    let shown = fields(&document, "record-document");
    let field = |name: &str| {
        shown
            .iter()
            .find(|(term, _)| term == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("{name} is shown: {shown:?}"))
    };
    assert_eq!(field("title"), HOSTILE_TITLE);
    assert_eq!(field("description"), HOSTILE_DESCRIPTION);
    assert!(field("company").contains(&format!("name: {HOSTILE_COMPANY}")));
    assert!(field("company").contains("country: GB"));
    assert_eq!(field("icon"), "https://rich.test/icon.png");
    assert!(field("e-mails").contains("sales@rich.test"));
    assert!(field("phones").contains("+441234567890"));
    assert!(field("technologies").contains("cms: WordPress 6.4"));
    assert!(field("technologies").contains("analytics: Matomo"));
    assert_eq!(field("page kind"), "site");
    // The profile's http(s) URL is a link; a `javascript:` one stays text.
    let links: Vec<String> = document
        .select("#record-document a")
        .unwrap()
        .filter_map(|link| link.attributes.borrow().get("href").map(str::to_owned))
        .collect();
    assert!(
        links.contains(&"https://www.linkedin.com/company/rich".to_owned()),
        "{links:?}"
    );
    assert!(
        links.iter().all(|href| href.starts_with("https://")),
        "{links:?}"
    );
    assert!(field("social profiles").contains("github: javascript:alert(1)"));
    let raw: serde_json::Value = serde_json::from_str(&text_of(&document, "#record-json")).unwrap();
    assert_eq!(raw, rich_document());
    assert_no_markup_from_data(&document, &dom);

    // A name with no row says so.
    let (document, _) = rendered(
        &format!("http://{address}/#domain=nowhere.test"),
        profile.path(),
    )
    .await;
    assert_eq!(
        text_of(&document, "#record-missing"),
        "no row for nowhere.test"
    );

    // The first page lists the newest 50 errors of every kind; filtered
    // by kind, only that kind, newest first, and the next page the rest.
    let (document, _) = rendered(&format!("http://{address}/"), profile.path()).await;
    let first = table(&document, "recent-errors");
    assert_eq!(first.len(), 50);
    assert_eq!(text_of(&document, "#errors-page"), "page 1");
    let kinds = table(&document, "error-kinds");
    assert_eq!(
        kinds[0],
        ["dns".to_owned(), DNS_ERRORS.to_string()],
        "{kinds:?}"
    );
    let (document, dom) = rendered(
        &format!("http://{address}/?kind=HTTP%20404"),
        profile.path(),
    )
    .await;
    let http = table(&document, "recent-errors");
    assert_eq!(http.len(), 1, "{dom}");
    assert_eq!(http[0][1], "gone.test");
    // The two pages of `dns` errors hold each of them once.
    let page = |number: u32| async move {
        let (code, body) = get(address, &format!("/api/errors?kind=dns&page={number}")).await;
        assert_eq!(code, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        page["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|error| error["domain"].as_str().unwrap().to_owned())
            .collect::<Vec<String>>()
    };
    let (first, second) = (page(1).await, page(2).await);
    let mut every: Vec<String> = first.iter().chain(&second).cloned().collect();
    every.sort();
    every.dedup();
    assert_eq!((first.len(), every.len()), (50, DNS_ERRORS));
    let (document, _) = rendered(
        &format!("http://{address}/?kind=dns&page=2"),
        profile.path(),
    )
    .await;
    let shown = table(&document, "recent-errors");
    assert!(
        shown
            .iter()
            .all(|row| row[2] == "DNS lookup failed: no such host")
    );
    let shown: Vec<String> = shown.into_iter().map(|row| row[1].clone()).collect();
    assert_eq!(shown, second);
    assert_eq!(text_of(&document, "#errors-page"), "page 2");
    let (document, _) = rendered(&format!("http://{address}/?kind=timeout"), profile.path()).await;
    assert_eq!(table(&document, "recent-errors"), [["none".to_owned()]]);

    // What a person sees, wide and narrow (the long error beside its
    // domain), and a record open.
    let page = format!("http://{address}/");
    let wide = screenshot(&page, profile.path(), 1280, "status-page-1280.png").await;
    let narrow = screenshot(&page, profile.path(), 800, "status-page-800.png").await;
    assert_ne!(std::fs::read(wide).unwrap(), std::fs::read(narrow).unwrap());
    let record = format!("http://{address}/?search=rich.test");
    screenshot(&record, profile.path(), 1280, "status-page-record.png").await;

    worker.kill().await.unwrap();
    database.drop().await;
}
