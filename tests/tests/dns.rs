//! The HTTP extractor's asynchronous resolver against a real local DNS
//! server (`fetch.nameservers`) and a real local HTTPS server: answers and
//! NXDOMAIN cached, failures classified by type, the address filter on
//! every address it returns.

use std::net::IpAddr;

use scheduler_domain::{ExtractionError, FailureKind};
use scheduler_http_extractor::{DnsResolver, FetchSettings, HttpExtractor, ResolveRule, Url};
use scheduler_tests::dns_fixture::DnsFixture;
use scheduler_tests::https_fixture::{FixtureServer, Site};

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|error| panic!("bad test URL {text:?}: {error}"))
}

fn extractor(settings: FetchSettings) -> HttpExtractor {
    HttpExtractor::new(settings).unwrap_or_else(|error| panic!("extractor: {error}"))
}

fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|error| panic!("bad test address {text:?}: {error}"))
}

/// Settings that find names through `dns` only: no resolve rules, and
/// private addresses allowed, since the HTTPS fixture is on loopback.
fn through(dns: &DnsFixture, server: &FixtureServer) -> FetchSettings {
    FetchSettings {
        resolve: Vec::new(),
        nameservers: vec![dns.nameserver()],
        allow_private_networks: true,
        retries: 0,
        ..server.fetch_settings()
    }
}

#[tokio::test]
async fn an_answer_is_asked_for_once_within_its_ttl() {
    let server = FixtureServer::builder()
        .site("acme.test", Site::html("<title>Acme</title>"))
        .start()
        .await
        .unwrap();
    let dns = DnsFixture::builder()
        .name("acme.test", server.ip())
        .ttl(300)
        .start()
        .await
        .unwrap();
    let http = extractor(through(&dns, &server));

    http.fetch(&url("https://acme.test/")).await.unwrap();
    let after_first = dns.queries("acme.test");
    for _ in 0..3 {
        http.fetch(&url("https://ACME.test/")).await.unwrap();
    }

    // One A and one AAAA query, then the cache.
    assert_eq!(after_first, 2);
    assert_eq!(dns.queries("acme.test"), after_first);
    assert_eq!(server.request_count("acme.test"), 4);
}

#[tokio::test]
async fn nxdomain_is_a_permanent_dns_failure_and_is_cached_too() {
    let server = FixtureServer::builder().start().await.unwrap();
    let dns = DnsFixture::builder().start().await.unwrap();
    let http = extractor(through(&dns, &server));

    let error = http.fetch(&url("https://gone.test/")).await.unwrap_err();
    let after_first = dns.queries("gone.test");
    let again = http.fetch(&url("https://gone.test/")).await.unwrap_err();

    assert_eq!(
        error.to_string(),
        "DNS lookup failed: gone.test: no such domain (NXDOMAIN)"
    );
    assert!(matches!(&error, ExtractionError::Dns(_)), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert_eq!(again.to_string(), error.to_string());
    assert!(after_first > 0);
    assert_eq!(dns.queries("gone.test"), after_first);
}

#[tokio::test]
async fn a_failing_server_is_a_temporary_failure_and_is_asked_again() {
    let server = FixtureServer::builder().start().await.unwrap();
    let dns = DnsFixture::builder()
        .failing("flaky.test")
        .start()
        .await
        .unwrap();
    let http = extractor(through(&dns, &server));

    let error = http.fetch(&url("https://flaky.test/")).await.unwrap_err();
    let after_first = dns.queries("flaky.test");
    http.fetch(&url("https://flaky.test/")).await.unwrap_err();

    assert_eq!(
        error.to_string(),
        "DNS lookup failed for now: flaky.test: the DNS server failed to answer (SERVFAIL)"
    );
    assert_ne!(error.kind(), FailureKind::Permanent);
    assert!(dns.queries("flaky.test") > after_first);
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused_on_every_hop() {
    let server = FixtureServer::builder()
        .site("evil.test", Site::redirect("https://internal.test/admin"))
        .start()
        .await
        .unwrap();
    let dns = DnsFixture::builder()
        .name("internal.test", ip("10.0.0.5"))
        .name("mixed.test", ip("192.168.1.9"))
        .name("mixed.test", ip("fd00::9"))
        .start()
        .await
        .unwrap();
    let settings = FetchSettings {
        // The first hop is trusted by a rule; the second goes to DNS.
        resolve: vec![ResolveRule::new("evil.test", server.ip()).unwrap()],
        allow_private_networks: false,
        ..through(&dns, &server)
    };
    let http = extractor(settings);

    let direct = http
        .fetch(&url("https://internal.test/"))
        .await
        .unwrap_err();
    let redirected = http.fetch(&url("https://evil.test/")).await.unwrap_err();
    let mixed = http.fetch(&url("https://mixed.test/")).await.unwrap_err();

    for error in [&direct, &redirected] {
        assert!(
            matches!(error, ExtractionError::ForbiddenAddress { host, address }
                if host == "internal.test" && address == "10.0.0.5"),
            "{error:?}"
        );
        assert_eq!(error.kind(), FailureKind::Permanent);
    }
    assert!(
        matches!(&mixed, ExtractionError::ForbiddenAddress { host, .. } if host == "mixed.test"),
        "{mixed:?}"
    );
    assert_eq!(server.request_count("evil.test"), 1);
}

#[tokio::test]
async fn localhost_resolves_without_a_dns_server_when_private_networks_are_allowed() {
    // The only server never answers: `localhost` is answered locally
    // (RFC 6761, and `/etc/hosts`), and refused only by the filter.
    let nowhere = "127.0.0.1:9".parse().unwrap();
    for dns in [DnsResolver::Async, DnsResolver::System] {
        let nameservers = match dns {
            DnsResolver::Async => vec![scheduler_http_extractor::Nameserver::new(nowhere)],
            DnsResolver::System => Vec::new(),
        };
        let refused = extractor(FetchSettings {
            dns,
            nameservers: nameservers.clone(),
            retries: 0,
            ..FetchSettings::default()
        })
        .fetch(&url("https://localhost:4/"))
        .await
        .unwrap_err();
        assert!(
            matches!(&refused, ExtractionError::ForbiddenAddress { host, .. } if host == "localhost"),
            "{dns}: {refused:?}"
        );

        let reached = extractor(FetchSettings {
            dns,
            nameservers,
            retries: 0,
            allow_private_networks: true,
            ..FetchSettings::default()
        })
        .fetch(&url("https://localhost:4/"))
        .await
        .unwrap_err();
        // Resolved, then refused by the port nothing listens on.
        assert!(
            matches!(&reached, ExtractionError::Connection(message) if message.contains("refused")),
            "{dns}: {reached:?}"
        );
    }
}
