use reqwest::header::HeaderValue;

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[test]
fn http_is_upgraded_keeping_path_and_explicit_port() {
    assert_eq!(
        upgrade_to_https(&url("http://acme.test/about?x=1"))
            .unwrap()
            .as_str(),
        "https://acme.test/about?x=1"
    );
    assert_eq!(
        upgrade_to_https(&url("http://acme.test:8080/"))
            .unwrap()
            .as_str(),
        "https://acme.test:8080/"
    );
    assert_eq!(
        upgrade_to_https(&url("http://acme.test:80/"))
            .unwrap()
            .as_str(),
        "https://acme.test/"
    );
}

#[test]
fn pages_of_a_plain_http_site_keep_their_scheme() {
    let https_site = url("https://acme.test/");
    let plain_site = url("http://acme.test/");
    let link = url("http://acme.test/kontakt/");
    assert_eq!(
        within_site_url(&link, &https_site).unwrap().as_str(),
        "https://acme.test/kontakt/"
    );
    assert_eq!(
        within_site_url(&link, &plain_site).unwrap().as_str(),
        "http://acme.test/kontakt/"
    );
    assert!(within_site_url(&url("ftp://acme.test/"), &plain_site).is_err());
}

#[test]
fn other_schemes_are_a_permanent_invalid_domain() {
    let error = upgrade_to_https(&url("ftp://acme.test/")).unwrap_err();
    assert!(
        matches!(error, ExtractionError::InvalidDomain(_)),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
}

#[test]
fn redirects_resolve_relative_locations_and_refuse_other_schemes() {
    let here = url("https://acme.test/a/b");
    let mut headers = HeaderMap::new();
    headers.insert(LOCATION, HeaderValue::from_static("../c"));
    assert_eq!(
        redirect_target(&here, StatusCode::FOUND, &headers).map(String::from),
        Some("https://acme.test/c".to_owned())
    );
    assert_eq!(
        redirect_target(&here, StatusCode::NOT_MODIFIED, &headers),
        None
    );
    headers.insert(LOCATION, HeaderValue::from_static("javascript:alert(1)"));
    assert_eq!(redirect_target(&here, StatusCode::FOUND, &headers), None);
    headers.insert(LOCATION, HeaderValue::from_static("http://www.acme.test/"));
    assert_eq!(
        redirect_target(&here, StatusCode::MOVED_PERMANENTLY, &headers).map(String::from),
        Some("http://www.acme.test/".to_owned())
    );
    assert_eq!(
        redirect_target(&here, StatusCode::FOUND, &HeaderMap::new()),
        None
    );
}

#[test]
fn blocked_ports_are_sorted_and_refused_only_when_named() {
    assert!(BLOCKED_PORTS.windows(2).all(|pair| pair[0] < pair[1]));
    for blocked in [
        "http://example.com:25/",
        "https://example.com:6667/x",
        "http://example.com:0/",
    ] {
        assert!(
            matches!(
                check_port(&url(blocked)),
                Err(ExtractionError::BlockedPort { .. })
            ),
            "{blocked}"
        );
    }
    for allowed in [
        "https://example.com/",
        "http://example.com:8080/",
        "https://example.com:8443/",
    ] {
        assert!(check_port(&url(allowed)).is_ok(), "{allowed}");
    }
}
