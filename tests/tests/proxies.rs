//! Fetching through a proxy, against real local proxies (HTTP `CONNECT`
//! and SOCKS5) in front of the local HTTPS fixture: credentials, proxies
//! given by name, and where each scheme resolves the site's name.
// Helpers of a test binary panic like its tests: a failed expectation is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scheduler_domain::ExtractionError;
use scheduler_http_extractor::{FetchSettings, HttpExtractor, HttpExtractorError, ProxyUrl, Url};
use scheduler_tests::dns_fixture::DnsFixture;
use scheduler_tests::https_fixture::{ConnectProxy, FixtureServer, Site};
use scheduler_tests::socks_fixture::{SocksProxy, SocksTarget};

fn page(title: &str) -> String {
    format!("<!doctype html><html><head><title>{title}</title></head><body></body></html>")
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|error| panic!("bad test URL {text:?}: {error}"))
}

fn extractor(settings: FetchSettings) -> HttpExtractor {
    HttpExtractor::new(settings).unwrap_or_else(|error| panic!("extractor: {error}"))
}

async fn acme() -> FixtureServer {
    FixtureServer::builder()
        .site("acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap_or_else(|error| panic!("fixture server: {error}"))
}

/// Settings that reach `acme.test` only through `proxy`, with no rule to
/// resolve it here.
fn through(server: &FixtureServer, proxy: &str) -> FetchSettings {
    FetchSettings {
        proxy: Some(ProxyUrl::parse(proxy).unwrap()),
        proxy_trusted: true,
        retries: 0,
        resolve: Vec::new(),
        ..server.fetch_settings()
    }
}

/// Base64 of `worker:s3cret`, the credentials the proxy expects.
const PROXY_TOKEN: &str = "d29ya2VyOnMzY3JldA==";

/// The site `acme.test` and a proxy that tunnels to it when given
/// `worker:s3cret`.
async fn site_behind_proxy() -> (FixtureServer, ConnectProxy) {
    let server = FixtureServer::builder()
        .site("acme.test", Site::html(page("Acme")))
        .start()
        .await
        .unwrap_or_else(|error| panic!("fixture server: {error}"));
    let proxy = ConnectProxy::start(server.ip(), Some(PROXY_TOKEN))
        .await
        .unwrap_or_else(|error| panic!("proxy: {error}"));
    (server, proxy)
}

#[tokio::test]
async fn fetches_go_through_the_proxy_with_its_credentials_and_names_resolved_there() {
    let (server, proxy) = site_behind_proxy().await;
    let settings = FetchSettings {
        proxy: Some(ProxyUrl::parse(&proxy.url(Some("worker:s3cret"))).unwrap()),
        proxy_trusted: true,
        // No resolve rule: `acme.test` resolves nowhere but at the proxy.
        resolve: Vec::new(),
        ..server.fetch_settings()
    };

    let metadata = extractor(settings)
        .extract_url(&url("https://acme.test/"))
        .await
        .unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Acme"));
    let connects = proxy.requests();
    assert_eq!(connects.len(), 1);
    assert_eq!(connects[0].method, "CONNECT");
    assert_eq!(connects[0].path, "acme.test:443");
    assert_eq!(
        connects[0].header("proxy-authorization"),
        Some(format!("Basic {PROXY_TOKEN}").as_str())
    );
    assert_eq!(server.request_count("acme.test"), 1);
}

#[tokio::test]
async fn a_proxy_refusing_the_credentials_fails_without_showing_them() {
    let (server, proxy) = site_behind_proxy().await;
    let settings = FetchSettings {
        proxy: Some(ProxyUrl::parse(&proxy.url(Some("worker:wrong-s3cret"))).unwrap()),
        proxy_trusted: true,
        retries: 0,
        ..server.fetch_settings()
    };

    let error = extractor(settings)
        .extract_url(&url("https://acme.test/"))
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(!message.contains("s3cret"), "{message}");
    assert_eq!(server.request_count("acme.test"), 0);
    assert_eq!(proxy.requests().len(), 1);
}

#[tokio::test]
async fn an_unconfirmed_proxy_is_refused_at_start_up() {
    let settings = FetchSettings {
        proxy: Some(ProxyUrl::parse("socks5h://worker:s3cret@127.0.0.1:1080").unwrap()),
        ..FetchSettings::default()
    };
    let error = HttpExtractor::new(settings).unwrap_err();
    assert!(matches!(error, HttpExtractorError::Setting(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("proxy_trusted"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test]
async fn an_http_proxy_given_by_a_name_that_resolves_to_a_private_address_is_used() {
    let server = acme().await;
    let proxy = ConnectProxy::start(server.ip(), None).await.unwrap();

    let metadata = extractor(through(&server, &proxy.url_by_name()))
        .extract_url(&url("https://acme.test/"))
        .await
        .unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Acme"));
    let connects = proxy.requests();
    assert_eq!(connects.len(), 1);
    assert_eq!(connects[0].path, "acme.test:443");
}

#[tokio::test]
async fn a_socks5h_proxy_given_by_name_is_handed_the_sites_name() {
    let server = acme().await;
    let proxy = SocksProxy::start(server.ip()).await.unwrap();

    let metadata = extractor(through(&server, &proxy.url_by_name("socks5h")))
        .extract_url(&url("https://acme.test/"))
        .await
        .unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Acme"));
    assert_eq!(
        proxy.targets(),
        vec![SocksTarget::Name("acme.test".to_owned(), 443)]
    );
}

#[tokio::test]
async fn a_socks5_proxy_given_by_name_is_handed_the_address_resolved_here() {
    let server = acme().await;
    let proxy = SocksProxy::start(server.ip()).await.unwrap();
    let settings = FetchSettings {
        // The site's name resolves here, by the fixture's rule.
        resolve: server.fetch_settings().resolve,
        ..through(&server, &proxy.url_by_name("socks5"))
    };

    let metadata = extractor(settings)
        .extract_url(&url("https://acme.test/"))
        .await
        .unwrap();

    assert_eq!(metadata.title.as_deref(), Some("Acme"));
    assert_eq!(
        proxy.targets(),
        vec![SocksTarget::Address((server.ip(), 443).into())]
    );
}

#[tokio::test]
async fn through_socks5_a_site_name_resolving_to_a_private_address_is_refused_here() {
    let server = acme().await;
    let proxy = SocksProxy::start(server.ip()).await.unwrap();
    // The proxy's name and the site's both resolve to loopback addresses.
    let dns = DnsFixture::builder()
        .name("proxy.test", "127.0.0.1".parse().unwrap())
        .name("intranet.test", server.ip())
        .start()
        .await
        .unwrap();
    let proxy_url = proxy
        .url_by_name("socks5")
        .replace("localhost", "proxy.test");
    let settings = FetchSettings {
        nameservers: vec![dns.nameserver()],
        ..through(&server, &proxy_url)
    };

    let error = extractor(settings)
        .extract_url(&url("https://intranet.test/"))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, ExtractionError::ForbiddenAddress { host, .. } if host == "intranet.test"),
        "{error:?}"
    );
    assert!(proxy.targets().is_empty(), "{:?}", proxy.targets());
}
