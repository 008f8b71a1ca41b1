//! The HTTP extractor against a real local HTTPS server: the whole https
//! path (resolve rules, TLS with a private CA, redirects, limits, retries,
//! the address filter) with no mocked client.

use std::time::{Duration, Instant};

use scheduler_domain::{
    DomainName, ExtractionError, FailureKind, MetadataExtractor, SiteKind, SiteMetadata,
};
use scheduler_http_extractor::{
    DEFAULT_USER_AGENT, FetchSettings, HttpExtractor, HttpExtractorError, ResolveRule, Url,
};
use scheduler_tests::dns_fixture::DnsFixture;
use scheduler_tests::https_fixture::{FixtureServer, Site, closed_address};

fn page(title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><title>{title}</title>\
         <meta name=\"description\" content=\"{title} makes things\"></head>\
         <body><h1>{title}</h1></body></html>"
    )
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|error| panic!("bad test URL {text:?}: {error}"))
}

fn extractor(settings: FetchSettings) -> HttpExtractor {
    HttpExtractor::new(settings).unwrap_or_else(|error| panic!("extractor: {error}"))
}

#[tokio::test]
async fn a_redirect_to_a_port_browsers_never_fetch_is_refused() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::redirect("http://acme.test:25/"))
        .start()
        .await
        .unwrap();

    let error = extractor(server.fetch_settings())
        .extract_url(&url("https://acme.test/"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExtractionError::BlockedPort { port: 25, .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
}

#[tokio::test]
async fn follows_redirects_and_reports_the_final_url() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::redirect("https://www.acme.test/home"))
        .site("www.acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());

    let metadata = http.extract_url(&url("https://acme.test/")).await.unwrap();

    assert_eq!(metadata.url, "https://www.acme.test/home");
    assert_eq!(metadata.title.as_deref(), Some("Acme"));
    assert_eq!(server.request_count("acme.test"), 1);
    let requests = server.requests("www.acme.test");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/home");
}

#[tokio::test]
async fn sends_a_descriptive_user_agent_and_browser_like_accept_headers() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap();
    extractor(server.fetch_settings())
        .fetch(&url("https://acme.test/"))
        .await
        .unwrap();

    let request = &server.requests("acme.test")[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert!(DEFAULT_USER_AGENT.starts_with("domain-scheduler/0."));
    assert_eq!(
        request.header("accept"),
        Some("text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
    );
    assert_eq!(request.header("accept-language"), Some("en;q=0.9,*;q=0.5"));
    let encodings = request.header("accept-encoding").unwrap_or_default();
    for encoding in ["gzip", "br", "deflate"] {
        assert!(encodings.contains(encoding), "{encodings}");
    }
}

#[tokio::test]
async fn the_port_fetches_the_domains_home_page() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());
    let domain = DomainName::parse("ACME.test").unwrap();

    let metadata = MetadataExtractor::extract(&http, &domain).await.unwrap();

    assert_eq!(metadata.url, "https://acme.test/");
    assert_eq!(metadata.title.as_deref(), Some("Acme"));
    assert_eq!(server.requests("acme.test")[0].path, "/");
}

#[tokio::test]
async fn plain_http_input_is_fetched_over_https() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());

    let metadata = http
        .extract_url(&url("http://acme.test/about"))
        .await
        .unwrap();

    assert_eq!(metadata.url, "https://acme.test/about");
    assert_eq!(server.request_count("acme.test"), 1);
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let server = FixtureServer::builder()
        .site("zip.test", Site::gzip_html(page("Zipped")))
        .start()
        .await
        .unwrap();

    let metadata = extractor(server.fetch_settings())
        .extract_url(&url("https://zip.test/"))
        .await
        .unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Zipped"));
}

#[tokio::test]
async fn not_found_is_permanent_and_not_retried() {
    let server = FixtureServer::builder()
        .site("gone.test", Site::status(404))
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());

    let error = http
        .extract_url(&url("https://gone.test/"))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        ExtractionError::HttpStatus {
            status: 404,
            url: "https://gone.test/".into()
        }
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert_eq!(error.to_string(), "HTTP 404 from https://gone.test/");
    assert_eq!(server.request_count("gone.test"), 1);
}

#[tokio::test]
async fn a_503_then_200_is_retried_and_succeeds() {
    let server = FixtureServer::builder()
        .site(
            "busy.test",
            Site::status(503).then(Site::html(page("Busy"))),
        )
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());

    let metadata = http.extract_url(&url("https://busy.test/")).await.unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Busy"));
    assert_eq!(server.request_count("busy.test"), 2);
}

#[tokio::test]
async fn a_persistent_503_is_tried_once_plus_the_configured_retries() {
    let server = FixtureServer::builder()
        .site("down.test", Site::status(503))
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        retries: 2,
        ..server.fetch_settings()
    };

    let error = extractor(settings)
        .fetch(&url("https://down.test/"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExtractionError::HttpStatus { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert_eq!(server.request_count("down.test"), 3);
}

#[tokio::test]
async fn a_short_retry_after_is_waited_for() {
    let server = FixtureServer::builder()
        .site(
            "throttled.test",
            Site::status(429)
                .with_header("Retry-After", "1")
                .then(Site::html(page("Later"))),
        )
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());
    let started = Instant::now();

    let metadata = http
        .extract_url(&url("https://throttled.test/"))
        .await
        .unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Later"));
    assert_eq!(server.request_count("throttled.test"), 2);
    // The backoff alone would be 20ms: the second request waited for the
    // server's one second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_long_retry_after_is_left_to_the_scheduler() {
    let server = FixtureServer::builder()
        .site(
            "throttled.test",
            Site::status(503).with_header("Retry-After", "3600"),
        )
        .start()
        .await
        .unwrap();

    let error = extractor(server.fetch_settings())
        .fetch(&url("https://throttled.test/"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExtractionError::HttpStatus { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert_eq!(server.request_count("throttled.test"), 1);
}

#[tokio::test]
async fn connection_refused_is_transient_and_retried_with_backoff() {
    let closed = closed_address().await.unwrap();
    let backoff = Duration::from_millis(200);
    let settings = |retries| FetchSettings {
        retries,
        retry_backoff: backoff,
        resolve: vec![ResolveRule::new("refused.test", closed).unwrap()],
        ..FetchSettings::default()
    };
    let target = url("https://refused.test/");

    let started = Instant::now();
    let error = extractor(settings(2)).fetch(&target).await.unwrap_err();
    let elapsed = started.elapsed();

    assert_eq!(
        error.to_string(),
        format!("connection failed: connection refused ({closed}:443)")
    );
    assert!(matches!(error, ExtractionError::Connection(_)), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Transient);
    // Two retries wait at least half their nominal backoff each: 100ms after
    // the first attempt and 200ms after the second.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
}

#[tokio::test]
async fn a_server_that_hangs_up_is_retried_the_configured_number_of_times() {
    let server = FixtureServer::builder()
        .site("hangup.test", Site::hang_up())
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        retries: 3,
        ..server.fetch_settings()
    };

    let error = extractor(settings)
        .fetch(&url("https://hangup.test/"))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), FailureKind::Transient, "{error:?}");
    assert_eq!(server.request_count("hangup.test"), 4);
}

/// The scheduler's attempts at one domain (`scheduler.max_attempts`).
const MAX_ATTEMPTS: usize = 3;

#[tokio::test]
async fn a_dead_site_gets_one_request_plus_the_retries_per_attempt() {
    let server = FixtureServer::builder()
        .site("dead.test", Site::hang_up())
        .start()
        .await
        .unwrap();
    let http = extractor(FetchSettings {
        retries: 3,
        ..server.fetch_settings()
    });

    for _ in 0..MAX_ATTEMPTS {
        let error = http
            .extract_url(&url("https://dead.test/"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), FailureKind::Transient, "{error:?}");
    }

    // max_attempts × (1 + retries), the documented worst case.
    assert_eq!(server.request_count("dead.test"), MAX_ATTEMPTS * (1 + 3));
}

#[tokio::test]
async fn a_trickling_site_gets_one_request_per_attempt_within_the_timeout() {
    let server = FixtureServer::builder()
        .site("slow.test", Site::slow_body(Duration::from_millis(50)))
        .start()
        .await
        .unwrap();
    let http = extractor(FetchSettings {
        total_timeout: Duration::from_secs(1),
        retries: 3,
        ..server.fetch_settings()
    });
    let started = Instant::now();

    for _ in 0..MAX_ATTEMPTS {
        let error = http
            .extract_url(&url("https://slow.test/"))
            .await
            .unwrap_err();
        assert_eq!(error, ExtractionError::Timeout { seconds: 1 });
    }

    // A timeout has spent the attempt: it is not retried in place.
    assert_eq!(server.request_count("slow.test"), MAX_ATTEMPTS);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[tokio::test]
async fn quick_retries_share_the_time_limit_of_their_attempt() {
    // Each request fails after 300 ms: ten retries would take over 3 s.
    let server = FixtureServer::builder()
        .site("flaky.test", Site::hang_up())
        .response_delay(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let http = extractor(FetchSettings {
        total_timeout: Duration::from_secs(1),
        retries: 10,
        ..server.fetch_settings()
    });
    let started = Instant::now();

    let error = http.fetch(&url("https://flaky.test/")).await.unwrap_err();

    assert_eq!(error.kind(), FailureKind::Transient, "{error:?}");
    let requests = server.request_count("flaky.test");
    assert!((1..=4).contains(&requests), "{requests} requests in 1 s");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn a_trickling_body_hits_the_total_timeout() {
    let server = FixtureServer::builder()
        .site("slow.test", Site::slow_body(Duration::from_millis(50)))
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        total_timeout: Duration::from_secs(1),
        retries: 0,
        ..server.fetch_settings()
    };

    let started = Instant::now();
    let error = extractor(settings)
        .fetch(&url("https://slow.test/"))
        .await
        .unwrap_err();

    assert_eq!(error, ExtractionError::Timeout { seconds: 1 });
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.request_count("slow.test"), 1);
}

#[tokio::test]
async fn a_redirect_loop_stops_at_the_limit() {
    let server = FixtureServer::builder()
        .site("loop.test", Site::redirect("https://loop.test/"))
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        max_redirects: 3,
        ..server.fetch_settings()
    };

    let error = extractor(settings)
        .fetch(&url("https://loop.test/"))
        .await
        .unwrap_err();

    assert_eq!(error, ExtractionError::TooManyRedirects { limit: 3 });
    assert_eq!(error.kind(), FailureKind::Permanent);
    // The first request and three followed redirects; the fourth redirect
    // is refused without a request, and nothing is retried.
    assert_eq!(server.request_count("loop.test"), 4);
}

#[tokio::test]
async fn an_image_is_not_html() {
    let server = FixtureServer::builder()
        .site(
            "image.test",
            Site::bytes("image/png", b"\x89PNG\r\n\x1a\n0000".to_vec()),
        )
        .start()
        .await
        .unwrap();

    let error = extractor(server.fetch_settings())
        .extract_url(&url("https://image.test/"))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        ExtractionError::NotHtml {
            content_type: "image/png".into(),
            url: "https://image.test/".into()
        }
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert_eq!(server.request_count("image.test"), 1);
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_cap_and_still_parsed() {
    let server = FixtureServer::builder()
        .site("endless.test", Site::endless_body())
        .start()
        .await
        .unwrap();
    let cap = 64 * 1024;
    let settings = FetchSettings {
        max_body_bytes: cap,
        ..server.fetch_settings()
    };
    let http = extractor(settings);

    let page = http.fetch(&url("https://endless.test/")).await.unwrap();
    assert_eq!(page.body.len(), cap);
    assert!(page.truncated);
    assert!(
        page.headers
            .iter()
            .any(|(name, value)| name == "content-type" && value == "text/html")
    );

    let metadata = http
        .extract_url(&url("https://endless.test/"))
        .await
        .unwrap();
    assert_eq!(metadata.title.as_deref(), Some("Endless"));
}

#[tokio::test]
async fn a_short_page_is_read_whole() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap();

    let fetched = extractor(server.fetch_settings())
        .fetch(&url("https://acme.test/"))
        .await
        .unwrap();

    assert_eq!(fetched.body, page("Acme").into_bytes());
    assert!(!fetched.truncated);
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.redirects, 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_through_the_system_is_refused() {
    // No resolve rule: `localhost` goes through the resolver, which answers
    // it locally; the only DNS server is a port nothing answers on, so the
    // machine's own DNS plays no part.
    let http = extractor(FetchSettings {
        retries: 0,
        nameservers: vec![scheduler_http_extractor::Nameserver::new(
            "127.0.0.1:9".parse().unwrap(),
        )],
        ..FetchSettings::default()
    });

    let error = http
        .extract_url(&url("https://localhost/"))
        .await
        .unwrap_err();

    match &error {
        ExtractionError::ForbiddenAddress { host, address } => {
            assert_eq!(host, "localhost");
            assert!(address == "127.0.0.1" || address == "::1", "{address}");
        }
        other => panic!("expected ForbiddenAddress, got {other:?}"),
    }
    assert_eq!(error.kind(), FailureKind::Permanent);
}

#[tokio::test]
async fn private_ip_literals_are_refused_unless_allowed() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap();
    let at_ip = url(&format!("https://{}/", server.ip()));

    let refused = extractor(server.fetch_settings())
        .fetch(&at_ip)
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        ExtractionError::ForbiddenAddress {
            host: server.ip().to_string(),
            address: server.ip().to_string()
        }
    );

    // Allowed, the request reaches the server, which has no site by that
    // name: the 404 proves the filter was what stopped it before.
    let allowed = extractor(FetchSettings {
        allow_private_networks: true,
        ..server.fetch_settings()
    })
    .fetch(&at_ip)
    .await
    .unwrap_err();
    assert!(
        matches!(allowed, ExtractionError::HttpStatus { status: 404, .. }),
        "{allowed:?}"
    );
    assert_eq!(server.request_count(&server.ip().to_string()), 1);
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused() {
    let server = FixtureServer::builder()
        .site("evil.test", Site::redirect("https://localhost/admin"))
        .site(
            "meta.test",
            Site::redirect("http://169.254.169.254/latest/meta-data/"),
        )
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());

    let to_localhost = http.fetch(&url("https://evil.test/")).await.unwrap_err();
    assert!(
        matches!(&to_localhost, ExtractionError::ForbiddenAddress { host, .. } if host == "localhost"),
        "{to_localhost:?}"
    );

    let to_metadata = http.fetch(&url("https://meta.test/")).await.unwrap_err();
    assert_eq!(
        to_metadata,
        ExtractionError::ForbiddenAddress {
            host: "169.254.169.254".into(),
            address: "169.254.169.254".into()
        }
    );
    assert_eq!(
        to_metadata.to_string(),
        "refused to fetch 169.254.169.254: it resolves to a non-public address 169.254.169.254"
    );
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_a_permanent_tls_failure() {
    let trusted = FixtureServer::builder()
        .site("trusted.test", Site::html(page("Trusted")))
        .start()
        .await
        .unwrap();
    let stranger = FixtureServer::builder()
        .site("stranger.test", Site::html(page("Stranger")))
        .start()
        .await
        .unwrap();
    // The stranger's address, but only the other server's CA trusted.
    let settings = FetchSettings {
        resolve: stranger.resolve_rules(),
        ..trusted.fetch_settings()
    };

    let error = extractor(settings)
        .fetch(&url("https://stranger.test/"))
        .await
        .unwrap_err();

    assert!(matches!(error, ExtractionError::Tls(_)), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Permanent);
    let message = error.to_string();
    assert_eq!(
        message,
        "TLS failed: invalid peer certificate: UnknownIssuer (stranger.test:443)"
    );
    assert_eq!(stranger.request_count("stranger.test"), 0);
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_a_permanent_dns_failure() {
    // The names are looked up at a local server that knows none of them,
    // not at the host's DNS.
    let dns = DnsFixture::builder().start().await.unwrap();
    let http = extractor(FetchSettings {
        retries: 0,
        nameservers: vec![dns.nameserver()],
        ..FetchSettings::default()
    });

    let error = http
        .fetch(&url("https://no-such-host.invalid/"))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, ExtractionError::Dns(message) if message.starts_with("no-such-host.invalid: ")),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
}

#[tokio::test]
async fn huge_response_headers_fail_fast_instead_of_exhausting_the_worker() {
    let mut site = Site::html(page("Heavy"));
    for index in 0..500 {
        site = site.with_header(&format!("X-Padding-{index}"), &"x".repeat(100));
    }
    let server = FixtureServer::builder()
        .site("heavy.test", site)
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        retries: 0,
        ..server.fetch_settings()
    };

    let error = extractor(settings)
        .fetch(&url("https://heavy.test/"))
        .await
        .unwrap_err();

    assert!(matches!(error, ExtractionError::Other(_)), "{error:?}");
    assert!(error.to_string().contains("https://heavy.test/"), "{error}");
}

#[tokio::test]
async fn garbage_instead_of_http_is_an_error_not_a_hang() {
    let server = FixtureServer::builder()
        .site("noise.test", Site::garbage())
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        retries: 0,
        ..server.fetch_settings()
    };

    let error = extractor(settings)
        .fetch(&url("https://noise.test/"))
        .await
        .unwrap_err();

    assert!(matches!(error, ExtractionError::Other(_)), "{error:?}");
    assert_eq!(server.request_count("noise.test"), 1);
}

#[tokio::test]
async fn other_schemes_are_refused_as_invalid() {
    let error = extractor(FetchSettings::default())
        .fetch(&url("ftp://acme.test/"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExtractionError::InvalidDomain(_)),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
}

#[test]
fn an_unreadable_certificate_file_is_named_at_start_up() {
    let missing = std::env::temp_dir().join("no-such-dir-for-fixtures/ca.pem");
    let error = HttpExtractor::new(FetchSettings {
        extra_root_certificates: vec![missing.clone()],
        ..FetchSettings::default()
    })
    .unwrap_err();

    assert!(
        matches!(&error, HttpExtractorError::UnreadableCertificateFile { path, .. } if *path == missing),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
}

#[test]
fn a_file_without_certificates_is_refused_at_start_up() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "this is not a certificate\n").unwrap();

    let error = HttpExtractor::new(FetchSettings {
        extra_root_certificates: vec![file.path().to_owned()],
        ..FetchSettings::default()
    })
    .unwrap_err();

    assert!(
        matches!(error, HttpExtractorError::InvalidCertificateFile { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&file.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("no `BEGIN CERTIFICATE` block"),
        "{message}"
    );
}

#[test]
fn a_user_agent_that_is_not_a_header_value_is_refused_at_start_up() {
    let error = HttpExtractor::new(FetchSettings {
        user_agent: "bot\r\nX-Injected: 1".to_owned(),
        ..FetchSettings::default()
    })
    .unwrap_err();

    assert!(matches!(error, HttpExtractorError::Client(_)), "{error:?}");
    assert!(error.to_string().contains("user agent"), "{error}");
}

#[test]
fn resolve_rules_are_validated_with_the_entry_in_the_message() {
    let error = ResolveRule::parse("*.internal.test", "127.0.0.300").unwrap_err();
    assert!(
        matches!(error, HttpExtractorError::InvalidResolveRule { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "invalid resolve rule `*.internal.test = 127.0.0.300`: \
         \"127.0.0.300\" is not an IPv4 or IPv6 address"
    );
    let rule = ResolveRule::parse("*.internal.test", "127.0.0.2").unwrap();
    assert!(rule.matches("db.internal.test"));
    assert!(!rule.matches("internal.test"));
}

// --- contact pages --------------------------------------------------------------
// Real-looking top-level domains: `.test` addresses are placeholders to the
// e-mail rules. The fixture's resolve rules keep every name on loopback.

/// Extracts `home` with the server's settings, which must succeed.
async fn extract_site(server: &FixtureServer, home: &str) -> SiteMetadata {
    extractor(server.fetch_settings())
        .extract_url(&url(home))
        .await
        .unwrap_or_else(|error| panic!("{home}: {error}"))
}

/// The paths `host` was asked for, in order.
fn paths(server: &FixtureServer, host: &str) -> Vec<String> {
    server
        .requests(host)
        .into_iter()
        .map(|request| request.path)
        .collect()
}

fn home_without_email(links: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><title>Acme</title></head>\
         <body><nav>{links}</nav><main><p>Brass widgets since 1987.</p></main></body></html>"
    )
}

#[tokio::test]
async fn a_sites_contact_pages_are_read_at_once_not_one_after_the_other() {
    let server = FixtureServer::builder()
        .site(
            "acme-widgets.com",
            Site::html(home_without_email(
                r#"<a href="/about/">About us</a><a href="/contact/">Contact</a>"#,
            )),
        )
        .page(
            "acme-widgets.com",
            "/contact/",
            Site::html("<html><body><p>sales@acme-widgets.com</p></body></html>"),
        )
        .page(
            "acme-widgets.com",
            "/about/",
            Site::html("<html><body><p>hello@acme-widgets.com</p></body></html>"),
        )
        // Each answer waits: two requests sent together overlap.
        .response_delay(Duration::from_millis(300))
        .start()
        .await
        .unwrap();

    let metadata = extract_site(&server, "https://acme-widgets.com/").await;

    assert_eq!(metadata.contact_pages.len(), 2);
    assert_eq!(
        server.peak_concurrent_requests(),
        2,
        "the home page alone, then both contact pages together"
    );
    // Merged in the plan's order, whatever order they arrived in.
    assert_eq!(
        metadata.emails,
        ["sales@acme-widgets.com", "hello@acme-widgets.com"]
    );
}

#[tokio::test]
async fn an_email_only_on_the_contact_page_is_found_and_attributed_to_it() {
    let server = FixtureServer::builder()
        .site(
            "acme-widgets.com",
            Site::html(home_without_email(
                r#"<a href="/products/">Products</a><a href="/about/">About us</a><a href="/contact/">Contact</a>"#,
            )),
        )
        .page(
            "acme-widgets.com",
            "/contact/",
            Site::html(
                "<html><body><h1>Contact</h1><p>Write to <a href=\"mailto:sales@acme-widgets.com\">sales@acme-widgets.com</a> \
                 or call +1 415-555-2671.</p><a href=\"https://www.linkedin.com/company/acme\">LinkedIn</a></body></html>",
            ),
        )
        .page(
            "acme-widgets.com",
            "/about/",
            Site::html("<html><body><p>Founded 1987. hello@acme-widgets.com</p></body></html>"),
        )
        .start()
        .await
        .unwrap();
    let metadata = extract_site(&server, "https://acme-widgets.com/").await;

    assert_eq!(
        metadata.emails,
        ["sales@acme-widgets.com", "hello@acme-widgets.com"]
    );
    assert_eq!(metadata.phones, ["+14155552671"]);
    assert_eq!(
        metadata.social.linkedin.as_deref(),
        Some("https://www.linkedin.com/company/acme")
    );
    let source = |value: &str| {
        metadata
            .contact_sources
            .iter()
            .find(|source| source.value == value)
            .map(|source| source.page.clone())
    };
    assert_eq!(
        source("sales@acme-widgets.com").as_deref(),
        Some("https://acme-widgets.com/contact/")
    );
    assert_eq!(
        source("hello@acme-widgets.com").as_deref(),
        Some("https://acme-widgets.com/about/")
    );
    // The home page first; its two contact pages are read at once.
    let mut asked = paths(&server, "acme-widgets.com");
    asked[1..].sort();
    assert_eq!(asked, ["/", "/about/", "/contact/"]);
    assert_eq!(metadata.contact_pages.len(), 2);
    assert!(
        metadata
            .contact_pages
            .iter()
            .all(|page| page.error.is_none())
    );
    let json = serde_json::to_value(metadata.document()).unwrap();
    assert_eq!(
        json["contact_sources"][0]["page"],
        "https://acme-widgets.com/contact/"
    );
}

#[tokio::test]
async fn a_german_sites_impressum_gives_its_email_and_phone() {
    let server = FixtureServer::builder()
        .site(
            "moebel-schmidt.de",
            Site::html(
                "<!doctype html><html lang=\"de\"><head><title>Möbel Schmidt</title></head><body>\
                 <main><p>Handgefertigte Möbel aus Eiche.</p></main>\
                 <footer><a href=\"/datenschutz\">Datenschutz</a> <a href=\"/impressum\">Impressum</a></footer>\
                 </body></html>",
            ),
        )
        .page(
            "moebel-schmidt.de",
            "/impressum",
            Site::html(
                "<!doctype html><html lang=\"de\"><body><h1>Impressum</h1>\
                 <p>Möbel Schmidt GmbH<br>Hauptstraße 5, 10115 Berlin</p>\
                 <p>Telefon: +49 30 1234567<br>E-Mail: info@moebel-schmidt.de</p></body></html>",
            ),
        )
        .start()
        .await
        .unwrap();
    let metadata = extract_site(&server, "https://moebel-schmidt.de/").await;

    assert_eq!(metadata.emails, ["info@moebel-schmidt.de"]);
    assert_eq!(metadata.phones, ["+49301234567"]);
    let paths: Vec<String> = server
        .requests("moebel-schmidt.de")
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(
        paths,
        ["/", "/impressum"],
        "the privacy page is no contact page"
    );
}

#[tokio::test]
async fn a_contact_link_or_redirect_to_another_site_is_never_followed() {
    let server = FixtureServer::builder()
        .site(
            "acme-widgets.com",
            Site::html(home_without_email(
                r#"<a href="https://agency-studio.com/contact">Contact our agency</a><a href="/kontakt">Kontakt</a>"#,
            )),
        )
        .page(
            "acme-widgets.com",
            "/kontakt",
            Site::redirect("https://agency-studio.com/kontakt"),
        )
        .site(
            "agency-studio.com",
            Site::html("<html><body>studio@agency-studio.com</body></html>"),
        )
        .start()
        .await
        .unwrap();
    let metadata = extract_site(&server, "https://acme-widgets.com/").await;

    assert!(metadata.emails.is_empty(), "{:?}", metadata.emails);
    assert_eq!(server.request_count("agency-studio.com"), 0);
    assert_eq!(metadata.contact_pages.len(), 1);
    let error = metadata.contact_pages[0]
        .error
        .as_deref()
        .unwrap_or_default();
    assert!(error.contains("another site"), "{error}");
}

#[tokio::test]
async fn contact_pages_are_skipped_when_the_home_page_has_enough_or_they_are_off() {
    let links = r#"<a href="/contact/">Contact</a>"#;
    let with_email = format!(
        "<html><body><nav>{links}</nav><p>Mail us: info@acme-widgets.com</p></body></html>"
    );
    let server = FixtureServer::builder()
        .site("acme-widgets.com", Site::html(with_email))
        .site("quiet-shop.com", Site::html(home_without_email(links)))
        .start()
        .await
        .unwrap();
    extract_site(&server, "https://acme-widgets.com/").await;
    assert_eq!(server.request_count("acme-widgets.com"), 1);

    let off = FetchSettings {
        contact_pages: 0,
        ..server.fetch_settings()
    };
    extractor(off)
        .extract_url(&url("https://quiet-shop.com/"))
        .await
        .unwrap();
    assert_eq!(server.request_count("quiet-shop.com"), 1);
}

/// A home page that states a company in its text, not in its footer: an
/// imprint would give it, a home page's reading does not.
fn home_stating_a_company_in_its_text(links: &str) -> String {
    format!(
        "<!doctype html><html lang=\"de\"><head><title>Acme</title></head><body>\
         <nav>{links}</nav><main><p>Acme Widgets GmbH<br>Hauptstraße 5, 10115 Berlin<br>\
         Handelsregister: Amtsgericht Charlottenburg HRB 123456</p></main></body></html>"
    )
}

#[tokio::test]
async fn a_site_that_answers_every_path_with_its_home_page_is_read_once() {
    let server = FixtureServer::builder()
        .site(
            "acme-widgets.de",
            Site::html(home_stating_a_company_in_its_text(
                r#"<a href="/kontakt">Kontakt</a><a href="/impressum">Impressum</a>"#,
            )),
        )
        .start()
        .await
        .unwrap();
    let metadata = extract_site(&server, "https://acme-widgets.de/").await;

    // Both were fetched: only their bytes tell that they are the home page.
    let mut asked = paths(&server, "acme-widgets.de");
    asked[1..].sort();
    assert_eq!(asked, ["/", "/impressum", "/kontakt"]);
    let notes: Vec<(&str, Option<&str>)> = metadata
        .contact_pages
        .iter()
        .map(|page| (page.url.as_str(), page.error.as_deref()))
        .collect();
    assert_eq!(
        notes,
        [
            (
                "https://acme-widgets.de/kontakt",
                Some("the home page again, not read twice")
            ),
            (
                "https://acme-widgets.de/impressum",
                Some("the home page again, not read twice")
            ),
        ]
    );
    // The home page's text read as an imprint would have stated it.
    let company = metadata.company.unwrap_or_default();
    assert_eq!(company.legal_name, None);
    assert_eq!(company.address, None);
    assert!(company.identifiers.is_empty(), "{:?}", company.identifiers);
}

#[tokio::test]
async fn a_contact_link_that_redirects_to_the_home_page_is_not_read_again() {
    let server = FixtureServer::builder()
        .site(
            "acme-widgets.com",
            Site::html(home_without_email(r#"<a href="/contact">Contact</a>"#)),
        )
        .page("acme-widgets.com", "/contact", Site::redirect("/"))
        .start()
        .await
        .unwrap();
    let metadata = extract_site(&server, "https://acme-widgets.com/").await;

    assert_eq!(paths(&server, "acme-widgets.com"), ["/", "/contact", "/"]);
    assert_eq!(metadata.contact_pages.len(), 1);
    assert_eq!(metadata.contact_pages[0].url, "https://acme-widgets.com/");
    assert_eq!(
        metadata.contact_pages[0].error.as_deref(),
        Some("the home page again, not read twice")
    );
}

#[tokio::test]
async fn a_failing_contact_page_never_fails_the_domain() {
    let server = FixtureServer::builder()
        .site(
            "acme-widgets.com",
            Site::html(home_without_email(r#"<a href="/contact">Contact</a>"#)),
        )
        .page("acme-widgets.com", "/contact", Site::status(500))
        .start()
        .await
        .unwrap();
    let metadata = extract_site(&server, "https://acme-widgets.com/").await;
    assert_eq!(metadata.title.as_deref(), Some("Acme"));
    assert_eq!(metadata.contact_pages.len(), 1);
    let error = metadata.contact_pages[0]
        .error
        .as_deref()
        .unwrap_or_default();
    assert!(error.contains("HTTP 500"), "{error}");
    // One attempt: a contact page is not worth the retries.
    assert_eq!(server.request_count("acme-widgets.com"), 2);
}

// --- pages that are not the business ----------------------------------------------

const CLOUDFLARE_CHALLENGE: &str = "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head>\
    <body><script>(function(){window._cf_chl_opt={cvId: '3',cType: 'managed'};var a = document.createElement('script');\
    a.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8a';document.head.appendChild(a);}());</script></body></html>";

#[tokio::test]
async fn a_cloudflare_challenge_fails_transiently_without_an_immediate_retry() {
    let challenge = Site::bytes("text/html; charset=UTF-8", CLOUDFLARE_CHALLENGE)
        .with_header("Server", "cloudflare")
        .with_header("cf-mitigated", "challenge");
    let challenged_403 = Site::status(403)
        .with_header("Server", "cloudflare")
        .with_header("cf-mitigated", "challenge");
    let server = FixtureServer::builder()
        .site("acme.test", challenge)
        .site("blocked.test", challenged_403)
        .start()
        .await
        .unwrap();
    let http = extractor(server.fetch_settings());

    for host in ["acme.test", "blocked.test"] {
        let error = http
            .extract_url(&url(&format!("https://{host}/")))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            ExtractionError::BotChallenge {
                provider: "Cloudflare".into()
            },
            "{host}"
        );
        assert_eq!(error.kind(), FailureKind::Transient);
        assert!(error.to_string().starts_with("bot challenge by Cloudflare"));
        assert_eq!(server.request_count(host), 1, "{host}: retried in place");
    }
}

/// A shop's home page with a bot-protection sensor in its `<head>`.
fn shop_with_sensor(sensor: &str) -> String {
    let products: String = (1..=24)
        .map(|n| format!("<li><a href=\"/p/{n}\">Brass widget no. {n}</a><p>Hand-turned brass, made to order and shipped within five days.</p></li>"))
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><title>Acme Widgets</title>\
         <meta name=\"description\" content=\"Hand-turned brass widgets.\">\
         <meta property=\"og:site_name\" content=\"Acme Widgets\">{sensor}</head>\
         <body><main><h1>Brass widgets</h1><ul>{products}</ul></main></body></html>"
    )
}

#[tokio::test]
async fn a_shop_carrying_a_bot_sensor_completes_with_its_data() {
    let perimeterx = shop_with_sensor(
        "<script>window._pxAppId = 'PXu6b0qd2S';</script>\
         <script src=\"https://client.perimeterx.net/PXu6b0qd2S/main.min.js\" async></script>",
    );
    let aws_waf = shop_with_sensor(
        "<script type=\"text/javascript\" src=\"https://a1b2c3.edge.sdk.awswaf.com/a1b2c3/0123ab/challenge.js\" defer></script>",
    );
    let server = FixtureServer::builder()
        .site("px-shop.test", Site::html(&perimeterx))
        .site("waf-shop.test", Site::html(&aws_waf))
        .start()
        .await
        .unwrap();
    for (host, sensor) in [("px-shop.test", "PerimeterX"), ("waf-shop.test", "AWS WAF")] {
        let metadata = extract_site(&server, &format!("https://{host}/")).await;
        assert_eq!(metadata.site_kind, SiteKind::Site, "{host}");
        assert_eq!(
            metadata.site_name.as_deref(),
            Some("Acme Widgets"),
            "{host}"
        );
        assert_eq!(
            metadata.description.as_deref(),
            Some("Hand-turned brass widgets."),
            "{host}"
        );
        assert!(
            metadata
                .tech
                .iter()
                .any(|tech| tech.name == sensor && tech.category == "security"),
            "{host}: {:?}",
            metadata.tech
        );
    }
}

#[tokio::test]
async fn a_parked_domain_is_completed_with_its_kind_and_no_contacts() {
    let server = FixtureServer::builder()
        .site(
            "acme-widgets.com",
            Site::html(
                "<html><head><title>acme-widgets.com is for sale</title></head><body>\
                 <a href=\"https://sedo.com/search/details/?domain=acme-widgets.com\">Buy this domain</a>\
                 <a href=\"/contact\">Contact</a><p>domains@sedo.com</p>\
                 <script src=\"https://img.sedoparking.com/js/main.js\"></script></body></html>",
            ),
        )
        .start()
        .await
        .unwrap();
    let metadata = extract_site(&server, "https://acme-widgets.com/").await;
    assert_eq!(metadata.site_kind, SiteKind::Parked);
    assert_eq!(
        metadata.site_kind_detail.as_deref(),
        Some("for sale at Sedo")
    );
    assert!(metadata.emails.is_empty());
    assert_eq!(
        paths(&server, "acme-widgets.com"),
        ["/"],
        "no contact page of a parked domain"
    );
    let json = serde_json::to_value(metadata.document()).unwrap();
    assert_eq!(json["site_kind"], "parked");
}
