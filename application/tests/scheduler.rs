//! The scheduler loop and the drain, against mockall mocks of both ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scheduler_application::{
    BatchProcessor, BatchSettings, RetryPolicy, Scheduler, SchedulerSettings, SystemClock,
};
use scheduler_domain::{
    ClaimedDomain, DomainId, MockDomainRepository, MockMetadataExtractor, RepositoryError,
    RescueReport, SiteMetadata, WorkerId, WriteOutcome,
};
use tokio_util::sync::CancellationToken;

fn one_row() -> Vec<ClaimedDomain> {
    vec![ClaimedDomain {
        id: DomainId::random(),
        raw_domain: "alpha.test".into(),
        attempts: 1,
    }]
}

fn scheduler(
    repository: MockDomainRepository,
    extractor: MockMetadataExtractor,
    max_instances: usize,
) -> Scheduler<MockDomainRepository, MockMetadataExtractor> {
    let processor = BatchProcessor::new(
        Arc::new(repository),
        Arc::new(extractor),
        Arc::new(SystemClock),
        WorkerId::new("worker-a"),
        BatchSettings {
            retry: RetryPolicy::default(),
            ..BatchSettings::default()
        },
    );
    Scheduler::new(
        Arc::new(processor),
        SchedulerSettings {
            interval: Duration::from_secs(60),
            max_instances,
        },
    )
}

fn repository_with_rescue() -> MockDomainRepository {
    let mut repository = MockDomainRepository::new();
    repository
        .expect_rescue_expired()
        .returning(|_, _| Box::pin(async { Ok(RescueReport::default()) }));
    repository
        .expect_complete()
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    // Batches still fetching when a test stops the loop past the shutdown
    // grace give their rows back.
    repository
        .expect_release()
        .returning(|_, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    repository
}

/// An extractor that takes `seconds` and tracks how many run at once.
fn slow_extractor(
    seconds: u64,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
) -> MockMetadataExtractor {
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(move |_| {
        let running = Arc::clone(&running);
        let peak = Arc::clone(&peak);
        Box::pin(async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(SiteMetadata::default())
        })
    });
    extractor
}

#[tokio::test(start_paused = true)]
async fn batches_overlap_up_to_max_instances_and_busy_ticks_are_skipped() {
    let claims = Arc::new(AtomicUsize::new(0));
    let mut repository = repository_with_rescue();
    let counter = Arc::clone(&claims);
    repository.expect_claim().returning(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(one_row()) })
    });
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    // Each batch takes 150 s against a 60 s interval: without the limit, three
    // batches would overlap at t=120 s.
    let extractor = slow_extractor(150, Arc::clone(&running), Arc::clone(&peak));
    let scheduler = scheduler(repository, extractor, 2);
    let shutdown = CancellationToken::new();

    let stop_later = async {
        tokio::time::sleep(Duration::from_secs(10 * 60)).await;
        shutdown.cancel();
    };
    tokio::join!(scheduler.run(shutdown.clone()), stop_later);

    assert_eq!(peak.load(Ordering::SeqCst), 2);
    let claimed = claims.load(Ordering::SeqCst);
    // 11 ticks in 10 minutes; the skipped ones claimed nothing.
    assert!((3..11).contains(&claimed), "{claimed} claims");
}

#[tokio::test(start_paused = true)]
async fn a_failed_claim_is_logged_and_the_next_tick_goes_on() {
    let claims = Arc::new(AtomicUsize::new(0));
    let mut repository = repository_with_rescue();
    let counter = Arc::clone(&claims);
    repository.expect_claim().returning(move |_| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if call == 0 {
                Err(RepositoryError::Timeout(
                    "canceling statement due to statement timeout".into(),
                ))
            } else {
                Ok(one_row())
            }
        })
    });
    let completed = Arc::new(AtomicUsize::new(0));
    let mut extractor = MockMetadataExtractor::new();
    let done = Arc::clone(&completed);
    extractor.expect_extract().returning(move |_| {
        done.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(SiteMetadata::default()) })
    });
    let scheduler = scheduler(repository, extractor, 1);
    let shutdown = CancellationToken::new();

    let stop_later = async {
        tokio::time::sleep(Duration::from_secs(90)).await;
        shutdown.cancel();
    };
    tokio::join!(scheduler.run(shutdown.clone()), stop_later);

    assert_eq!(claims.load(Ordering::SeqCst), 2);
    assert_eq!(completed.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_claiming_and_waits_for_the_batch_in_flight() {
    let mut repository = repository_with_rescue();
    repository
        .expect_claim()
        .times(1)
        .returning(|_| Box::pin(async { Ok(one_row()) }));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let extractor = slow_extractor(10, Arc::clone(&running), Arc::clone(&peak));
    let scheduler = scheduler(repository, extractor, 3);
    let shutdown = CancellationToken::new();

    let stop_soon = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        shutdown.cancel();
    };
    tokio::join!(scheduler.run(shutdown.clone()), stop_soon);

    assert_eq!(peak.load(Ordering::SeqCst), 1);
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn drain_runs_batches_until_a_claim_comes_back_empty() {
    let remaining = Arc::new(AtomicUsize::new(5));
    let mut repository = repository_with_rescue();
    let left = Arc::clone(&remaining);
    repository.expect_claim().returning(move |request| {
        // Hands out rows two at a time until five are gone.
        let mut rows = Vec::new();
        while rows.len() < 2.min(request.limit as usize)
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            rows.extend(one_row());
        }
        Box::pin(async move { Ok(rows) })
    });
    let mut extractor = MockMetadataExtractor::new();
    extractor
        .expect_extract()
        .times(5)
        .returning(|_| Box::pin(async { Ok(SiteMetadata::default()) }));
    let scheduler = scheduler(repository, extractor, 3);

    let drained = scheduler.drain(&CancellationToken::new()).await.unwrap();

    assert_eq!(drained.totals.claimed, 5);
    assert_eq!(drained.totals.completed, 5);
    assert_eq!(drained.batches, 3);
}

#[tokio::test]
async fn drain_reports_a_failed_claim() {
    let mut repository = repository_with_rescue();
    repository.expect_claim().returning(|_| {
        Box::pin(async { Err(RepositoryError::Unavailable("connection refused".into())) })
    });
    let scheduler = scheduler(repository, MockMetadataExtractor::new(), 1);
    let error = scheduler
        .drain(&CancellationToken::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("connection refused"), "{error}");
}

#[tokio::test]
async fn a_failing_rescue_sweep_does_not_stop_the_drain() {
    let mut repository = MockDomainRepository::new();
    repository
        .expect_rescue_expired()
        .times(1)
        .returning(|_, _| Box::pin(async { Err(RepositoryError::Unavailable("gone".into())) }));
    repository
        .expect_claim()
        .returning(|_| Box::pin(async { Ok(Vec::new()) }));
    let scheduler = scheduler(repository, MockMetadataExtractor::new(), 1);
    let drained = scheduler.drain(&CancellationToken::new()).await.unwrap();
    assert_eq!(drained.totals.claimed, 0);
}
