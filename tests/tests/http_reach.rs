//! How the HTTP extractor reaches a domain against real local servers: the
//! fallbacks a browser would take (`www.`, plain `http://`) and
//! `robots.txt`.

use scheduler_domain::metadata::ReachedVia;
use scheduler_domain::{
    DomainName, ExtractionError, FailureKind, MetadataExtractor, SiteMetadata, error_kind,
};
use scheduler_http_extractor::{FetchSettings, HttpExtractor, ResolveRule, RobotsMode};
use scheduler_tests::dns_fixture::DnsFixture;
use scheduler_tests::https_fixture::{FixtureBuilder, FixtureServer, Site};

fn page(title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><title>{title}</title></head>\
         <body><h1>{title}</h1></body></html>"
    )
}

/// A home page with no e-mail and a link to `/kontakt/`, and that page
/// with one.
fn home_and_contact(builder: FixtureBuilder, host: &str) -> FixtureBuilder {
    builder
        .site(
            host,
            Site::html(
                "<!doctype html><html lang=\"en\"><head><title>Bakery</title></head><body>\
                 <nav><a href=\"/kontakt/\">Kontakt</a></nav><p>Bread since 1950.</p></body></html>",
            ),
        )
        .page(
            host,
            "/kontakt/",
            Site::html(format!(
                "<html><body><p>Write to info@{host}</p></body></html>"
            )),
        )
}

fn extractor(settings: FetchSettings) -> HttpExtractor {
    HttpExtractor::new(settings).unwrap_or_else(|error| panic!("extractor: {error}"))
}

async fn extract(http: &HttpExtractor, name: &str) -> Result<SiteMetadata, ExtractionError> {
    let domain = DomainName::parse(name).unwrap_or_else(|error| panic!("{name}: {error}"));
    MetadataExtractor::extract(http, &domain).await
}

/// `builder` with `txt` as the `robots.txt` of `host`.
fn robots_txt(builder: FixtureBuilder, host: &str, txt: &str) -> FixtureBuilder {
    builder.page(
        host,
        "/robots.txt",
        Site::bytes("text/plain", txt.to_owned()),
    )
}

/// The paths `host` was asked for, in order.
fn paths(server: &FixtureServer, host: &str) -> Vec<String> {
    server
        .requests(host)
        .into_iter()
        .map(|request| request.path)
        .collect()
}

fn robots_requests(server: &FixtureServer, host: &str) -> usize {
    server
        .requests(host)
        .iter()
        .filter(|request| request.path == "/robots.txt")
        .count()
}

/// `settings` with names that no resolve rule answers looked up at a
/// local DNS server that knows none of them (NXDOMAIN), not at the
/// host's; the server lives as long as the returned fixture.
async fn unknown_names_nxdomain(settings: FetchSettings) -> (FetchSettings, DnsFixture) {
    let dns = DnsFixture::builder()
        .start()
        .await
        .unwrap_or_else(|error| panic!("DNS fixture: {error}"));
    let settings = FetchSettings {
        nameservers: vec![dns.nameserver()],
        ..settings
    };
    (settings, dns)
}

fn obeying(settings: FetchSettings) -> FetchSettings {
    FetchSettings {
        robots: RobotsMode::Obey,
        ..settings
    }
}

// --- www. and plain http -------------------------------------------------------

#[tokio::test]
async fn a_site_only_under_www_is_reached_there() {
    let server = FixtureServer::builder()
        .site("www.bakery.invalid", Site::html(page("Bakery")))
        .start()
        .await
        .unwrap();
    let (settings, _dns) = unknown_names_nxdomain(server.fetch_settings()).await;
    let http = extractor(settings);

    let metadata = extract(&http, "bakery.invalid").await.unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Bakery"));
    assert_eq!(metadata.url, "https://www.bakery.invalid/");
    let reached = metadata.reached.unwrap();
    assert_eq!(reached.url, "https://www.bakery.invalid/");
    assert_eq!(reached.via, ReachedVia::Www);
    let because = reached.because.unwrap_or_default();
    assert!(
        because.starts_with("DNS lookup failed: bakery.invalid"),
        "{because}"
    );
}

#[tokio::test]
async fn a_certificate_for_www_only_is_reached_at_www() {
    let server = FixtureServer::builder()
        .site("www.certshop.test", Site::html(page("Cert shop")))
        .start()
        .await
        .unwrap();
    let mut settings = server.fetch_settings();
    // The bare name reaches the same server, whose certificate does not
    // name it.
    settings
        .resolve
        .push(ResolveRule::new("certshop.test", server.ip()).unwrap());
    let http = extractor(settings);

    let metadata = extract(&http, "certshop.test").await.unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Cert shop"));
    let reached = metadata.reached.unwrap();
    assert_eq!(reached.via, ReachedVia::Www);
    assert_eq!(reached.url, "https://www.certshop.test/");
    let because = reached.because.unwrap_or_default();
    assert!(because.starts_with("TLS failed: "), "{because}");
    assert_eq!(server.request_count("certshop.test"), 0);
}

#[tokio::test]
async fn a_site_on_the_first_url_records_https_without_a_reason() {
    let server = FixtureServer::builder()
        .site("bakery.test", Site::html(page("Bakery")))
        .site("www.bakery.test", Site::html(page("Other")))
        .start()
        .await
        .unwrap();

    let metadata = extract(&extractor(server.fetch_settings()), "www.bakery.test")
        .await
        .unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Bakery"));
    let reached = metadata.reached.clone().unwrap();
    assert_eq!(reached.via, ReachedVia::Https);
    assert_eq!(reached.because, None);
    let json = serde_json::to_value(metadata.document()).unwrap();
    assert_eq!(
        json["reached"],
        serde_json::json!({"url": "https://bakery.test/", "via": "https"})
    );
    assert_eq!(server.request_count("www.bakery.test"), 0);
}

/// A server with nothing on port 443 that serves `host` over plain HTTP,
/// `www.` included (both resolve to it).
async fn plain_http_only(host: &str) -> FixtureServer {
    home_and_contact(FixtureServer::builder().only_plain_http(), host)
        .site(&format!("www.{host}"), Site::html(page("Not this one")))
        .start()
        .await
        .unwrap_or_else(|error| panic!("fixture: {error}"))
}

#[tokio::test]
async fn a_plain_http_site_is_read_over_http_contact_pages_included() {
    let server = plain_http_only("bakery-plain.com").await;
    let http = extractor(server.fetch_settings());

    let metadata = extract(&http, "bakery-plain.com").await.unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Bakery"));
    assert_eq!(metadata.url, "http://bakery-plain.com/");
    let reached = metadata.reached.unwrap();
    assert_eq!(reached.via, ReachedVia::Http);
    assert_eq!(reached.url, "http://bakery-plain.com/");
    let because = reached.because.unwrap_or_default();
    assert!(
        because.starts_with("connection failed: connection refused"),
        "{because}"
    );
    assert_eq!(metadata.emails, ["info@bakery-plain.com"]);
    assert_eq!(
        metadata.contact_pages[0].url,
        "http://bakery-plain.com/kontakt/"
    );
    assert_eq!(server.request_count("www.bakery-plain.com"), 0);
}

#[tokio::test]
async fn without_plain_http_a_site_with_no_https_fails_as_before() {
    let server = plain_http_only("bakery-plain.com").await;
    let http = extractor(FetchSettings {
        plain_http: false,
        ..server.fetch_settings()
    });

    let error = extract(&http, "bakery-plain.com").await.unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "connection failed: connection refused ({}:443)",
            server.ip()
        )
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert_eq!(server.request_count("bakery-plain.com"), 0);
}

#[tokio::test]
async fn an_answer_from_the_bare_name_is_final() {
    let server = FixtureServer::builder()
        .site("gone.test", Site::status(404))
        .site("www.gone.test", Site::html(page("Gone")))
        .plain_http()
        .start()
        .await
        .unwrap();

    let error = extract(&extractor(server.fetch_settings()), "gone.test")
        .await
        .unwrap_err();

    assert_eq!(error.to_string(), "HTTP 404 from https://gone.test/");
    assert_eq!(server.request_count("gone.test"), 1);
    assert_eq!(server.request_count("www.gone.test"), 0);
}

#[tokio::test]
async fn when_every_try_fails_a_later_answer_is_the_error() {
    // No name answers over https (the certificate names neither); www.
    // answers over http, with the server's 404 for a host it does not
    // serve.
    let server = FixtureServer::builder()
        .site("elsewhere.test", Site::html(page("Elsewhere")))
        .plain_http()
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        retries: 0,
        resolve: vec![
            ResolveRule::new("www.broken.invalid", server.ip()).unwrap(),
            ResolveRule::new("elsewhere.test", server.ip()).unwrap(),
        ],
        ..server.fetch_settings()
    };
    let (settings, _dns) = unknown_names_nxdomain(settings).await;
    let http = extractor(settings);

    let error = extract(&http, "broken.invalid").await.unwrap_err();

    // The bare name does not resolve, www. fails TLS, http://www. answers.
    assert_eq!(
        error.to_string(),
        "HTTP 404 from http://www.broken.invalid/"
    );
    assert_eq!(server.request_count("www.broken.invalid"), 1);
}

// --- robots.txt ------------------------------------------------------------------

#[tokio::test]
async fn a_home_page_disallowed_by_robots_is_a_permanent_error() {
    let site = FixtureServer::builder().site("private.test", Site::html(page("Private")));
    let server = robots_txt(site, "private.test", "User-agent: *\nDisallow: /\n")
        .start()
        .await
        .unwrap();
    let http = extractor(obeying(server.fetch_settings()));

    let error = extract(&http, "private.test").await.unwrap_err();

    assert_eq!(
        error.to_string(),
        "disallowed by robots.txt: https://private.test/"
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert_eq!(error_kind(&error.to_string()), "robots");
    assert_eq!(paths(&server, "private.test"), ["/robots.txt"]);
}

#[tokio::test]
async fn robots_is_read_once_per_site_for_the_home_and_contact_pages() {
    let server = robots_txt(
        home_and_contact(FixtureServer::builder(), "bakery-open.com"),
        "bakery-open.com",
        "User-agent: *\nDisallow: /admin/\n\nUser-agent: domain-scheduler\nDisallow: /cart/\n",
    )
    .start()
    .await
    .unwrap();
    let http = extractor(obeying(server.fetch_settings()));

    let metadata = extract(&http, "bakery-open.com").await.unwrap();

    assert_eq!(metadata.emails, ["info@bakery-open.com"]);
    assert_eq!(robots_requests(&server, "bakery-open.com"), 1);
    let robots = &server.requests("bakery-open.com")[0];
    assert_eq!(robots.path, "/robots.txt");
    assert_eq!(
        robots.header("user-agent"),
        Some(http.settings().user_agent.as_str())
    );

    // A second extraction of the same site in the run asks no more.
    extract(&http, "bakery-open.com").await.unwrap();
    assert_eq!(robots_requests(&server, "bakery-open.com"), 1);
}

#[tokio::test]
async fn a_disallowed_contact_page_is_skipped_and_recorded() {
    let site = home_and_contact(FixtureServer::builder(), "bakery-shy.com");
    let server = robots_txt(
        site,
        "bakery-shy.com",
        "User-agent: *\nDisallow: /kontakt/\n",
    )
    .start()
    .await
    .unwrap();
    let http = extractor(obeying(server.fetch_settings()));

    let metadata = extract(&http, "bakery-shy.com").await.unwrap();

    assert!(metadata.emails.is_empty(), "{:?}", metadata.emails);
    assert_eq!(metadata.contact_pages.len(), 1);
    assert_eq!(
        metadata.contact_pages[0].error.as_deref(),
        Some("disallowed by robots.txt: https://bakery-shy.com/kontakt/")
    );
    assert_eq!(paths(&server, "bakery-shy.com"), ["/robots.txt", "/"]);
}

#[tokio::test]
async fn a_missing_robots_txt_allows_everything() {
    let server = FixtureServer::builder()
        .site("bakery.test", Site::html(page("Bakery")))
        .page("bakery.test", "/robots.txt", Site::status(404))
        .start()
        .await
        .unwrap();
    let http = extractor(obeying(server.fetch_settings()));

    let metadata = extract(&http, "bakery.test").await.unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Bakery"));
    assert_eq!(robots_requests(&server, "bakery.test"), 1);
}

#[tokio::test]
async fn a_failing_robots_txt_fails_the_domain_for_now() {
    let server = FixtureServer::builder()
        .site("bakery.test", Site::html(page("Bakery")))
        .page("bakery.test", "/robots.txt", Site::status(503))
        .start()
        .await
        .unwrap();
    let http = extractor(obeying(FetchSettings {
        retries: 0,
        ..server.fetch_settings()
    }));

    let error = extract(&http, "bakery.test").await.unwrap_err();

    assert_eq!(
        error.to_string(),
        "HTTP 503 from https://bakery.test/robots.txt"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    // Not cached: the next attempt asks again.
    let _ = extract(&http, "bakery.test").await.unwrap_err();
    assert_eq!(robots_requests(&server, "bakery.test"), 2);
    assert_eq!(server.request_count("bakery.test"), 2);
}

#[tokio::test]
async fn ignoring_robots_never_asks_for_it() {
    let site = home_and_contact(FixtureServer::builder(), "bakery-open.com");
    let server = robots_txt(site, "bakery-open.com", "User-agent: *\nDisallow: /\n")
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());
    assert_eq!(http.settings().robots, RobotsMode::Ignore);

    let metadata = extract(&http, "bakery-open.com").await.unwrap();

    assert_eq!(metadata.emails, ["info@bakery-open.com"]);
    assert_eq!(robots_requests(&server, "bakery-open.com"), 0);
}
