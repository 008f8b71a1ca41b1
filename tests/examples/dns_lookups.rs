//! Resolver throughput: the HTTP extractor looks up N names, C at a time,
//! twice (cold, then within the TTL), against a local DNS server on
//! 127.0.0.53:53. Each name points at a loopback address of its own, port
//! 1, where the connection is refused at once, so a fetch costs its lookup and little
//! else. Prints fetches per second, the queries the server saw, and the
//! most threads the process had.
//!
//! ```text
//! cargo run --release -p scheduler-tests --example dns_lookups -- async 5000 256
//! ```
//!
//! Both resolvers read `/etc/resolv.conf`; run it under a private mount
//! whose resolv.conf names the local server (see docs/performance.md).
// A benchmark's start-up may panic on a bad argument, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use scheduler_domain::ExtractionError;
use scheduler_http_extractor::{DnsResolver, FetchSettings, HttpExtractor, Url};
use scheduler_tests::dns_fixture::DnsFixture;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dns = match args.next().as_deref() {
        Some("system") => DnsResolver::System,
        _ => DnsResolver::Async,
    };
    let names: usize = args.next().map_or(Ok(5000), |n| n.parse())?;
    let in_flight: usize = args.next().map_or(Ok(256), |n| n.parse())?;

    let mut server = DnsFixture::builder().ttl(300);
    for index in 0..names {
        // An address of its own for each name, so that no per-address
        // limit makes them wait for one another.
        let [_, _, high, low] = u32::try_from(index)?.to_be_bytes();
        server = server.name(
            &format!("site{index}.bench.test"),
            [127, 1 + high, low, 1].into(),
        );
    }
    let server = server
        .start_at(SocketAddr::from(([127, 0, 0, 53], 53)))
        .await?;
    let http = HttpExtractor::new(FetchSettings {
        dns,
        allow_private_networks: true,
        retries: 0,
        ..FetchSettings::default()
    })?;

    let peak = Arc::new(AtomicUsize::new(threads()));
    println!(
        "{dns}: {names} names, {in_flight} at once; threads at start {}",
        threads()
    );
    let sampler = tokio::spawn({
        let peak = Arc::clone(&peak);
        async move {
            loop {
                peak.fetch_max(threads(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    for pass in ["cold", "warm"] {
        let queries_before = server.total_queries();
        let started = Instant::now();
        let outcomes: Vec<Result<_, ExtractionError>> = futures::stream::iter(0..names)
            .map(|index| {
                let http = &http;
                async move {
                    let url = Url::parse(&format!("https://site{index}.bench.test:1/")).unwrap();
                    http.fetch(&url).await
                }
            })
            .buffer_unordered(in_flight)
            .collect()
            .await;
        let elapsed = started.elapsed();
        // Refused at port 1 means the name resolved.
        let resolved = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Err(ExtractionError::Connection(_))))
            .count();
        println!(
            "{pass}: {:.0} fetches/s ({resolved} of {names} resolved in {:.2} s), {} DNS queries",
            names as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            server.total_queries() - queries_before,
        );
    }
    sampler.abort();
    println!("peak threads {}", peak.load(Ordering::Relaxed));
    Ok(())
}

/// The process's threads now, from /proc (0 where there is none).
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|count| count.trim().parse().ok())
        })
        .unwrap_or(0)
}
