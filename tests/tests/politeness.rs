//! Politeness per IP address and cheap dead hosts, against real local
//! HTTPS servers: each fixture server is one loopback address carrying
//! many sites, as a shared host does.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures::future::join_all;
use scheduler_domain::ExtractionError;
use scheduler_http_extractor::{FetchSettings, HttpExtractor, Url};
use scheduler_tests::https_fixture::{FixtureServer, Site};

fn page(title: &str) -> String {
    format!("<!doctype html><html><head><title>{title}</title></head><body>{title}</body></html>")
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|error| panic!("bad test URL {text:?}: {error}"))
}

fn extractor(settings: FetchSettings) -> HttpExtractor {
    HttpExtractor::new(settings).unwrap_or_else(|error| panic!("extractor: {error}"))
}

/// A server of `sites` sites `site0.shared.test` …, answering after `delay`.
async fn shared_host(sites: usize, delay: Duration) -> FixtureServer {
    let mut builder = FixtureServer::builder().response_delay(delay);
    for n in 0..sites {
        builder = builder.site(&format!("site{n}.shared.test"), Site::html(page("Shared")));
    }
    builder.start().await.unwrap()
}

#[tokio::test]
async fn no_more_than_per_address_requests_reach_one_address_at_once() {
    let server = shared_host(12, Duration::from_millis(150)).await;
    let http = extractor(FetchSettings {
        per_address: 3,
        address_wait: Duration::from_secs(30),
        ..server.fetch_settings()
    });

    let fetched = join_all((0..12).map(|n| {
        let http = &http;
        async move {
            http.extract_url(&url(&format!("https://site{n}.shared.test/")))
                .await
        }
    }))
    .await;

    for result in &fetched {
        assert_eq!(result.as_ref().unwrap().title.as_deref(), Some("Shared"));
    }
    assert_eq!(server.peak_concurrent_requests(), 3);
}

#[tokio::test]
async fn a_busy_address_hands_its_sites_back_and_does_not_hold_up_another_address() {
    let shared = shared_host(8, Duration::from_secs(2)).await;
    let other = FixtureServer::builder()
        .site("alone.test", Site::html(page("Alone")))
        .start()
        .await
        .unwrap();
    let mut settings = FetchSettings {
        per_address: 1,
        address_wait: Duration::from_millis(200),
        ..shared.fetch_settings()
    };
    settings.resolve.extend(other.resolve_rules());
    settings
        .extra_root_certificates
        .push(other.ca_pem_path().to_owned());
    let http = extractor(settings);

    let started = Instant::now();
    let shared_sites = join_all((0..8).map(|n| {
        let http = &http;
        async move {
            http.extract_url(&url(&format!("https://site{n}.shared.test/")))
                .await
        }
    }));
    let alone = async {
        // Once the shared address is full.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let result = http.extract_url(&url("https://alone.test/")).await;
        (result, started.elapsed())
    };
    let (shared_results, (alone, alone_took)) = tokio::join!(shared_sites, alone);

    assert_eq!(alone.unwrap().title.as_deref(), Some("Alone"));
    assert!(alone_took < Duration::from_secs(1), "{alone_took:?}");
    let busy = shared_results
        .iter()
        .filter(|result| matches!(result, Err(ExtractionError::AddressBusy { .. })))
        .count();
    let done = shared_results
        .iter()
        .filter(|result| result.is_ok())
        .count();
    assert_eq!((done, busy), (1, 7), "{shared_results:?}");
    let deferral = shared_results
        .iter()
        .find_map(|result| result.as_ref().err()?.deferral())
        .unwrap();
    assert!(deferral >= Duration::from_secs(1), "{deferral:?}");
    assert_eq!(shared.peak_concurrent_requests(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_pauses_every_site_of_that_address() {
    let server = FixtureServer::builder()
        .site(
            "limited.test",
            Site::status(429).with_header("Retry-After", "3"),
        )
        .site("neighbour.test", Site::html(page("Neighbour")))
        .start()
        .await
        .unwrap();
    let patient = extractor(FetchSettings {
        retries: 0,
        address_wait: Duration::from_secs(10),
        ..server.fetch_settings()
    });
    let impatient = extractor(FetchSettings {
        retries: 0,
        address_wait: Duration::from_millis(500),
        ..server.fetch_settings()
    });

    let limited = |http: &HttpExtractor| {
        let http = http.clone();
        async move {
            let error = http
                .extract_url(&url("https://limited.test/"))
                .await
                .unwrap_err();
            assert!(
                matches!(error, ExtractionError::HttpStatus { status: 429, .. }),
                "{error:?}"
            );
        }
    };

    // After the 429, another site on the same address waits the pause out…
    limited(&patient).await;
    let started = Instant::now();
    let neighbour = patient
        .extract_url(&url("https://neighbour.test/"))
        .await
        .unwrap();
    assert_eq!(neighbour.title.as_deref(), Some("Neighbour"));
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // …or, when the pause is longer than it may wait, is handed back. Each
    // extractor learns of the 429 itself: its gate is its own.
    limited(&impatient).await;
    let error = impatient
        .extract_url(&url("https://neighbour.test/"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ExtractionError::AddressBusy { .. }),
        "{error:?}"
    );
    assert_eq!(server.request_count("neighbour.test"), 1);
}

#[tokio::test]
async fn a_host_that_accepts_and_never_answers_costs_the_first_byte_limit_not_the_whole_fetch() {
    let server = FixtureServer::builder()
        .response_delay(Duration::from_secs(20))
        .site("silent.test", Site::html(page("Silent")))
        .start()
        .await
        .unwrap();
    let http = extractor(FetchSettings {
        first_byte_timeout: Duration::from_secs(1),
        retries: 0,
        ..server.fetch_settings()
    });

    let started = Instant::now();
    let error = http
        .extract_url(&url("https://silent.test/"))
        .await
        .unwrap_err();

    assert_eq!(error, ExtractionError::Timeout { seconds: 1 });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_trickling_slower_than_a_kibibyte_a_second_is_abandoned_before_the_time_limit() {
    let server = FixtureServer::builder()
        .site("trickle.test", Site::slow_body(Duration::from_millis(500)))
        .start()
        .await
        .unwrap();
    let http = extractor(FetchSettings {
        total_timeout: Duration::from_secs(60),
        retries: 0,
        ..server.fetch_settings()
    });

    let started = Instant::now();
    let error = http
        .extract_url(&url("https://trickle.test/"))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        ExtractionError::TooSlow {
            bytes: 10 * 1024,
            seconds: 10
        }
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_body_announced_large_that_trickles_gives_back_the_budget_other_pages_wait_for() {
    let server = FixtureServer::builder()
        .site("trickle.test", Site::slow_body(Duration::from_millis(500)))
        .site("quick.test", Site::html(page("Quick")))
        .start()
        .await
        .unwrap();
    // The trickler announces 10 MB: its first share is the whole budget
    // (the smallest allowed).
    let http = extractor(FetchSettings {
        body_budget_bytes: 8 * 1024 * 1024,
        max_body_bytes: 8 * 1024 * 1024,
        total_timeout: Duration::from_secs(60),
        retries: 0,
        ..server.fetch_settings()
    });
    let trickling = {
        let http = http.clone();
        tokio::spawn(async move { http.extract_url(&url("https://trickle.test/")).await })
    };
    // Until the trickler's head has arrived and taken its share.
    while server.request_count("trickle.test") == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let quick = http.extract_url(&url("https://quick.test/")).await.unwrap();

    assert_eq!(quick.title.as_deref(), Some("Quick"));
    // The trickler is abandoned only after its 10 s window: the quick
    // page did not wait for that.
    assert!(
        !trickling.is_finished(),
        "the quick page waited for the trickler to give up"
    );
    let error = trickling.await.unwrap().unwrap_err();
    assert!(
        matches!(error, ExtractionError::TooSlow { .. }),
        "{error:?}"
    );
}
