//! The service pipeline and the drain, against mockall mocks of the ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scheduler_application::{DomainProcessor, Polling, Scheduler, SchedulerSettings, SystemClock};
use scheduler_domain::{
    ClaimRequest, ClaimedDomain, DomainId, MockDomainRepository, MockMetadataExtractor,
    RepositoryError, RescueReport, SiteMetadata, WorkSignal, WorkerId, WriteOutcome,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A queue of `rows` due rows that claims hand out, `limit` at a time.
#[derive(Clone)]
struct Queue {
    left: Arc<AtomicUsize>,
    claims: Arc<AtomicUsize>,
}

impl Queue {
    fn new(rows: usize) -> Queue {
        Queue {
            left: Arc::new(AtomicUsize::new(rows)),
            claims: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn take(&self, request: &ClaimRequest) -> Vec<ClaimedDomain> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        let mut rows = Vec::new();
        while rows.len() < request.limit as usize
            && self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            rows.push(ClaimedDomain {
                id: DomainId::random(),
                raw_domain: format!("site{}.test", self.left.load(Ordering::SeqCst)),
                attempts: 1,
            });
        }
        rows
    }

    fn add(&self, rows: usize) {
        self.left.fetch_add(rows, Ordering::SeqCst);
    }
}

/// A repository whose claims hand out `queue`'s rows and whose rescue
/// sweeps find nothing; the writes are the caller's to expect.
fn claiming_from(queue: &Queue) -> MockDomainRepository {
    let mut repository = MockDomainRepository::new();
    repository
        .expect_rescue_expired()
        .returning(|_, _| Box::pin(async { Ok(RescueReport::default()) }));
    let queue = queue.clone();
    repository.expect_claim().returning(move |request| {
        let rows = queue.take(&request);
        Box::pin(async move { Ok(rows) })
    });
    repository
}

/// [`claiming_from`], every write succeeding.
fn repository(queue: &Queue) -> MockDomainRepository {
    let mut repository = claiming_from(queue);
    repository
        .expect_complete()
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    repository.expect_complete_many().returning(|group| {
        let outcomes = vec![WriteOutcome::Written; group.len()];
        Box::pin(async move { Ok(outcomes) })
    });
    repository
        .expect_release()
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    repository
}

/// Counts finished extractions and wakes `done` at each; the domain
/// `slow.test`-like rows listed in `slow` take `slow_for`.
#[derive(Clone, Default)]
struct Extractions {
    finished: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    done: Arc<Notify>,
}

impl Extractions {
    /// An extractor whose `nth` call (0-based) of every call listed in
    /// `slow_calls` takes `slow_for`, the others `each`.
    fn extractor(
        &self,
        each: Duration,
        slow_calls: &[usize],
        slow_for: Duration,
    ) -> MockMetadataExtractor {
        let calls = Arc::new(AtomicUsize::new(0));
        let slow_calls = slow_calls.to_vec();
        let this = self.clone();
        let mut extractor = MockMetadataExtractor::new();
        extractor.expect_extract().returning(move |_| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let wait = if slow_calls.contains(&call) {
                slow_for
            } else {
                each
            };
            let this = this.clone();
            Box::pin(async move {
                let now = this.running.fetch_add(1, Ordering::SeqCst) + 1;
                this.peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(wait).await;
                this.running.fetch_sub(1, Ordering::SeqCst);
                this.finished.fetch_add(1, Ordering::SeqCst);
                this.done.notify_waiters();
                Ok(SiteMetadata::default())
            })
        });
        extractor
    }

    async fn until_finished(&self, count: usize) {
        loop {
            let notified = self.done.notified();
            if self.finished.load(Ordering::SeqCst) >= count {
                return;
            }
            notified.await;
        }
    }
}

fn settings() -> SchedulerSettings {
    SchedulerSettings {
        // Long enough that nothing in these tests happens by the clock
        // unless the test means it to.
        interval: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(3600),
        // Fewer slots than rows, so that claiming as room frees up shows.
        concurrency: 64,
        ..SchedulerSettings::default()
    }
}

fn scheduler<S: WorkSignal + 'static>(
    repository: MockDomainRepository,
    extractor: MockMetadataExtractor,
    settings: SchedulerSettings,
    signal: Arc<S>,
) -> Scheduler<MockDomainRepository, MockMetadataExtractor, S> {
    let processor = DomainProcessor::new(
        Arc::new(repository),
        Arc::new(extractor),
        Arc::new(SystemClock),
        WorkerId::new("worker-a"),
        settings,
    );
    Scheduler::new(Arc::new(processor), signal)
}

/// Serves until `until` resolves or `limit` of (paused) time has passed;
/// returns whether `until` came first.
async fn serve_until<S: WorkSignal + 'static>(
    scheduler: &Scheduler<MockDomainRepository, MockMetadataExtractor, S>,
    until: impl Future<Output = ()>,
    limit: Duration,
) -> bool {
    let shutdown = CancellationToken::new();
    let watcher = async {
        let reached = tokio::time::timeout(limit, until).await.is_ok();
        shutdown.cancel();
        reached
    };
    let ((), reached) = tokio::join!(scheduler.run(shutdown.clone()), watcher);
    reached
}

#[tokio::test(start_paused = true)]
async fn a_backlog_larger_than_a_batch_drains_without_waiting_for_the_interval() {
    let queue = Queue::new(170);
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::from_millis(200), &[], Duration::ZERO);
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        settings(),
        Arc::new(Polling::every(Duration::from_secs(3600))),
    );

    let drained = serve_until(
        &scheduler,
        extractions.until_finished(170),
        Duration::from_secs(10),
    )
    .await;

    assert!(
        drained,
        "{} of 170 done within 10 s",
        extractions.finished.load(Ordering::SeqCst)
    );
    assert!(extractions.peak.load(Ordering::SeqCst) <= 64);
    // Room is claimed as it frees up: more than 170 / 50 claims, but far
    // fewer than one per domain.
    let claims = queue.claims.load(Ordering::SeqCst);
    assert!((4..=40).contains(&claims), "{claims} claims");
}

#[tokio::test(start_paused = true)]
async fn a_slow_site_holds_one_slot_not_a_batch() {
    let queue = Queue::new(40);
    let extractions = Extractions::default();
    // The first domain takes 10 minutes; the others a second each.
    let extractor = extractions.extractor(Duration::from_secs(1), &[0], Duration::from_secs(600));
    let settings = SchedulerSettings {
        batch_size: 4,
        concurrency: 4,
        ..settings()
    };
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        settings,
        Arc::new(Polling::every(Duration::from_secs(3600))),
    );

    // 39 fast domains on the 3 free slots take 13 s.
    let drained = serve_until(
        &scheduler,
        extractions.until_finished(39),
        Duration::from_secs(30),
    )
    .await;

    assert!(
        drained,
        "{} of 39 done within 30 s",
        extractions.finished.load(Ordering::SeqCst)
    );
    assert_eq!(extractions.peak.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn concurrency_bounds_the_domains_in_flight() {
    let queue = Queue::new(100);
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::from_secs(5), &[], Duration::ZERO);
    let settings = SchedulerSettings {
        batch_size: 5,
        concurrency: 8,
        max_instances: 2,
        ..settings()
    };
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        settings,
        Arc::new(Polling::every(Duration::from_secs(3600))),
    );

    let drained = serve_until(
        &scheduler,
        extractions.until_finished(100),
        Duration::from_secs(120),
    )
    .await;

    assert!(drained);
    assert_eq!(extractions.peak.load(Ordering::SeqCst), 8);
}

/// A signal the test fires by hand.
#[derive(Default)]
struct Doorbell {
    rung: Notify,
    waits: AtomicUsize,
}

impl WorkSignal for Doorbell {
    async fn wait(&self, longest: Duration) {
        self.waits.fetch_add(1, Ordering::SeqCst);
        let _ = tokio::time::timeout(longest, self.rung.notified()).await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_worker_claims_as_soon_as_it_is_signalled() {
    let queue = Queue::new(0);
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::ZERO, &[], Duration::ZERO);
    let doorbell = Arc::new(Doorbell::default());
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        SchedulerSettings {
            max_instances: 1,
            ..settings()
        },
        Arc::clone(&doorbell),
    );
    let started = tokio::time::Instant::now();

    let arrives = async {
        // Idle: the claim found nothing and the claimer waits.
        while doorbell.waits.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        queue.add(3);
        doorbell.rung.notify_waiters();
        extractions.until_finished(3).await;
    };
    let done = serve_until(&scheduler, arrives, Duration::from_secs(600)).await;

    assert!(done);
    // Not the hour of the interval: the rows were taken when the bell rang.
    assert!(
        started.elapsed() < Duration::from_secs(31),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn polling_finds_new_rows_within_the_poll_interval() {
    let queue = Queue::new(0);
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::ZERO, &[], Duration::ZERO);
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        settings(),
        Arc::new(Polling::every(Duration::from_secs(2))),
    );
    let started = tokio::time::Instant::now();

    let arrives = async {
        tokio::time::sleep(Duration::from_secs(7)).await;
        queue.add(5);
        extractions.until_finished(5).await;
    };
    assert!(serve_until(&scheduler, arrives, Duration::from_secs(600)).await);
    assert!(
        started.elapsed() <= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn max_per_minute_paces_the_domains_started() {
    let queue = Queue::new(1_000);
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::ZERO, &[], Duration::ZERO);
    let settings = SchedulerSettings {
        max_per_minute: NonZeroU32::new(120),
        ..settings()
    };
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        settings,
        Arc::new(Polling::every(Duration::from_secs(1))),
    );

    serve_until(&scheduler, std::future::pending(), Duration::from_secs(30)).await;

    // Two a second, for 30 seconds, and the first at once.
    let started = 1_000 - queue.left.load(Ordering::SeqCst);
    assert!((55..=63).contains(&started), "{started} started in 30 s");
}

#[tokio::test(start_paused = true)]
async fn a_failed_claim_is_logged_and_retried() {
    let queue = Queue::new(3);
    let mut repository = MockDomainRepository::new();
    repository
        .expect_rescue_expired()
        .returning(|_, _| Box::pin(async { Ok(RescueReport::default()) }));
    repository
        .expect_complete()
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    repository.expect_complete_many().returning(|group| {
        let outcomes = vec![WriteOutcome::Written; group.len()];
        Box::pin(async move { Ok(outcomes) })
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let rows = queue.clone();
    repository.expect_claim().returning(move |request| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        let taken = if call == 0 {
            Vec::new()
        } else {
            rows.take(&request)
        };
        Box::pin(async move {
            if call == 0 {
                Err(RepositoryError::Timeout(
                    "canceling statement due to statement timeout".into(),
                ))
            } else {
                Ok(taken)
            }
        })
    });
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::ZERO, &[], Duration::ZERO);
    let settings = SchedulerSettings {
        max_instances: 1,
        poll_interval: Duration::from_secs(1),
        ..settings()
    };
    let scheduler = scheduler(
        repository,
        extractor,
        settings,
        Arc::new(Polling::every(Duration::from_secs(1))),
    );

    assert!(
        serve_until(
            &scheduler,
            extractions.until_finished(3),
            Duration::from_secs(60)
        )
        .await
    );
    assert!(calls.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_claiming_and_waits_for_the_domains_in_flight() {
    let queue = Queue::new(1);
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::from_secs(10), &[], Duration::ZERO);
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        settings(),
        Arc::new(Polling::every(Duration::from_secs(1))),
    );

    serve_until(
        &scheduler,
        tokio::time::sleep(Duration::from_secs(5)),
        Duration::from_secs(60),
    )
    .await;

    // The domain in flight finished within the grace period.
    assert_eq!(extractions.finished.load(Ordering::SeqCst), 1);
    assert_eq!(extractions.running.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn drain_runs_until_the_claims_come_back_short() {
    let queue = Queue::new(120);
    let extractions = Extractions::default();
    let extractor = extractions.extractor(Duration::ZERO, &[], Duration::ZERO);
    let settings = SchedulerSettings {
        batch_size: 50,
        ..settings()
    };
    let scheduler = scheduler(
        repository(&queue),
        extractor,
        settings,
        Arc::new(Polling::every(Duration::from_secs(1))),
    );

    let drained = scheduler.drain(&CancellationToken::new()).await.unwrap();

    assert_eq!(drained.totals.claimed, 120);
    assert_eq!(drained.totals.completed, 120);
    assert!(drained.claims >= 3, "{} claims took rows", drained.claims);
}

#[tokio::test]
async fn drain_reports_a_failed_claim() {
    let mut repository = MockDomainRepository::new();
    repository
        .expect_rescue_expired()
        .returning(|_, _| Box::pin(async { Ok(RescueReport::default()) }));
    repository.expect_claim().returning(|_| {
        Box::pin(async { Err(RepositoryError::Unavailable("connection refused".into())) })
    });
    let scheduler = scheduler(
        repository,
        MockMetadataExtractor::new(),
        settings(),
        Arc::new(Polling::every(Duration::from_secs(1))),
    );
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
    let scheduler = scheduler(
        repository,
        MockMetadataExtractor::new(),
        settings(),
        Arc::new(Polling::every(Duration::from_secs(1))),
    );
    let drained = scheduler.drain(&CancellationToken::new()).await.unwrap();
    assert_eq!(drained.totals.completed, 0);
}

/// A repository whose group writes fail as a whole, and whose single
/// writes refuse the domain titled `refused`.
fn repository_refusing_one(queue: &Queue, groups: Arc<AtomicUsize>) -> MockDomainRepository {
    let mut repository = claiming_from(queue);
    repository.expect_complete_many().returning(move |group| {
        groups.fetch_add(1, Ordering::SeqCst);
        let refused = group
            .iter()
            .any(|completion| completion.metadata.title.as_deref() == Some("refused"));
        let outcomes = vec![WriteOutcome::Written; group.len()];
        Box::pin(async move {
            if refused {
                Err(RepositoryError::Database(
                    "value too long for type character varying(10)".into(),
                ))
            } else {
                Ok(outcomes)
            }
        })
    });
    repository.expect_complete().returning(|_, _, metadata, _| {
        let refused = metadata.title.as_deref() == Some("refused");
        Box::pin(async move {
            if refused {
                Err(RepositoryError::Database(
                    "value too long for type character varying(10)".into(),
                ))
            } else {
                Ok(WriteOutcome::Written)
            }
        })
    });
    repository
        .expect_fail()
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    repository
}

#[tokio::test]
async fn results_that_finish_together_are_written_in_groups() {
    let queue = Queue::new(200);
    let groups = Arc::new(AtomicUsize::new(0));
    let mut extractor = MockMetadataExtractor::new();
    extractor
        .expect_extract()
        .returning(|_| Box::pin(async { Ok(SiteMetadata::default()) }));
    let scheduler = scheduler(
        repository_refusing_one(&queue, Arc::clone(&groups)),
        extractor,
        settings(),
        Arc::new(Polling::every(Duration::from_secs(1))),
    );

    let drained = scheduler.drain(&CancellationToken::new()).await.unwrap();

    assert_eq!(drained.totals.completed, 200);
    let groups = groups.load(Ordering::SeqCst);
    assert!(groups < 100, "{groups} group writes for 200 results");
}

#[tokio::test]
async fn a_row_the_database_refuses_does_not_spoil_its_group() {
    let queue = Queue::new(60);
    let mut extractor = MockMetadataExtractor::new();
    let calls = Arc::new(AtomicUsize::new(0));
    extractor.expect_extract().returning(move |_| {
        // The seventh result is one the database cannot take.
        let call = calls.fetch_add(1, Ordering::SeqCst);
        let title = if call == 6 { "refused" } else { "fine" };
        Box::pin(async move {
            Ok(SiteMetadata {
                title: Some(title.into()),
                ..SiteMetadata::default()
            })
        })
    });
    let scheduler = scheduler(
        repository_refusing_one(&queue, Arc::new(AtomicUsize::new(0))),
        extractor,
        settings(),
        Arc::new(Polling::every(Duration::from_secs(1))),
    );

    let drained = scheduler.drain(&CancellationToken::new()).await.unwrap();

    assert_eq!(drained.totals.completed, 59);
    assert_eq!(drained.totals.failed, 1);
}

/// `written`, or the error of a database that is `away`.
fn while_away<T>(away: bool, written: T) -> Result<T, RepositoryError> {
    if away {
        Err(RepositoryError::Unavailable("connection refused".into()))
    } else {
        Ok(written)
    }
}

#[tokio::test(start_paused = true)]
async fn results_held_back_by_a_database_outage_are_written_when_it_is_back() {
    let queue = Queue::new(30);
    let back_at = tokio::time::Instant::now() + Duration::from_secs(10);
    let away = move || tokio::time::Instant::now() < back_at;
    let mut repository = claiming_from(&queue);
    repository.expect_complete_many().returning(move |group| {
        let written = while_away(away(), vec![WriteOutcome::Written; group.len()]);
        Box::pin(async move { written })
    });
    repository.expect_complete().returning(move |_, _, _, _| {
        let written = while_away(away(), WriteOutcome::Written);
        Box::pin(async move { written })
    });
    repository.expect_retry_later().never();
    repository.expect_fail().never();
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&fetches);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(SiteMetadata::default()) })
    });
    let scheduler = scheduler(
        repository,
        extractor,
        settings(),
        Arc::new(Polling::every(Duration::from_secs(1))),
    );

    let drained = scheduler.drain(&CancellationToken::new()).await.unwrap();

    assert_eq!(drained.totals.completed, 30);
    assert_eq!(drained.totals.unrecorded, 0);
    assert_eq!(fetches.load(Ordering::SeqCst), 30);
}
