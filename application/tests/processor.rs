//! One domain from claim to written outcome, against mockall mocks of both
//! ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use mockall::Sequence;
use scheduler_application::{
    ClaimError, Clock, DomainProcessor, Outcomes, SchedulerSettings, grace_deadline,
};
use scheduler_domain::{
    ClaimedDomain, DomainId, ExtractionError, MockDomainRepository, MockMetadataExtractor,
    RepositoryError, SiteMetadata, WorkerId, WriteOutcome,
};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).unwrap()
}

fn claimed(raw: &str, attempts: u32) -> ClaimedDomain {
    ClaimedDomain {
        id: DomainId::random(),
        raw_domain: raw.to_owned(),
        attempts,
    }
}

fn metadata_for(domain: &str) -> SiteMetadata {
    SiteMetadata {
        url: format!("https://{domain}/"),
        title: Some(format!("Welcome to {domain}")),
        ..SiteMetadata::default()
    }
}

fn settings() -> SchedulerSettings {
    SchedulerSettings {
        batch_size: 10,
        concurrency: 4,
        lease: Duration::from_secs(600),
        fetch_budget: Duration::from_secs(120),
        shutdown_grace: Duration::from_secs(5),
        max_attempts: 3,
        retry_delay: Duration::from_secs(60),
        max_retry_delay: Duration::from_secs(3600),
        ..SchedulerSettings::default()
    }
}

fn processor(
    repository: MockDomainRepository,
    extractor: MockMetadataExtractor,
) -> DomainProcessor<MockDomainRepository, MockMetadataExtractor> {
    DomainProcessor::new(
        Arc::new(repository),
        Arc::new(extractor),
        Arc::new(FixedClock(noon())),
        WorkerId::new("worker-a"),
        settings(),
    )
}

fn expect_claim(repository: &mut MockDomainRepository, rows: Vec<ClaimedDomain>) {
    repository
        .expect_claim()
        .times(1)
        .returning(move |request| {
            assert_eq!(request.worker.as_str(), "worker-a/1");
            assert_eq!(request.limit, 10);
            assert_eq!(request.now, noon());
            assert_eq!(
                request.lease_until,
                noon() + chrono::TimeDelta::seconds(600)
            );
            let rows = rows.clone();
            Box::pin(async move { Ok(rows) })
        });
}

/// One claim of `batch_size` rows taken to the end, `concurrency` domains
/// at once: what the scheduler does with each claim, without its loop.
trait RunClaim {
    async fn run_claim(&self, shutdown: &CancellationToken) -> Result<Outcomes, ClaimError>;
}

impl RunClaim for DomainProcessor<MockDomainRepository, MockMetadataExtractor> {
    async fn run_claim(&self, shutdown: &CancellationToken) -> Result<Outcomes, ClaimError> {
        let settings = self.settings();
        let (claim, rows) = self.claim(settings.batch_size).await?;
        let mut outcomes = Outcomes {
            claimed: rows.len(),
            ..Outcomes::default()
        };
        let grace_over = grace_deadline(shutdown.clone(), settings.shutdown_grace);
        let finished: Vec<_> = futures::stream::iter(rows)
            .map(|row| self.process(&claim, row, shutdown, &grace_over))
            .buffer_unordered(settings.concurrency.max(1))
            .collect()
            .await;
        // Ends the grace timer's task.
        grace_over.cancel();
        for outcome in finished {
            outcomes.count(outcome);
        }
        Ok(outcomes)
    }
}

/// Records every write as (operation, domain id, message).
type Writes = Arc<Mutex<Vec<(&'static str, DomainId, String)>>>;

fn record_writes(repository: &mut MockDomainRepository) -> Writes {
    let writes: Writes = Arc::default();
    let log = Arc::clone(&writes);
    repository
        .expect_complete()
        .returning(move |id, _, metadata, _| {
            log.lock()
                .unwrap()
                .push(("complete", id, metadata.title.clone().unwrap_or_default()));
            Box::pin(async { Ok(WriteOutcome::Written) })
        });
    let log = Arc::clone(&writes);
    repository
        .expect_complete_many()
        .returning(move |completions| {
            let mut log = log.lock().unwrap();
            for completion in completions {
                let title = completion.metadata.title.clone().unwrap_or_default();
                log.push(("complete", completion.id.clone(), title));
            }
            let outcomes = vec![WriteOutcome::Written; completions.len()];
            Box::pin(async move { Ok(outcomes) })
        });
    let log = Arc::clone(&writes);
    repository
        .expect_fail()
        .returning(move |id, _, message, _| {
            log.lock().unwrap().push(("fail", id, message.to_owned()));
            Box::pin(async { Ok(WriteOutcome::Written) })
        });
    let log = Arc::clone(&writes);
    repository
        .expect_retry_later()
        .returning(move |id, _, message, next, now| {
            log.lock().unwrap().push((
                "retry_later",
                id,
                format!("{message} @ {}", (next - now).num_seconds()),
            ));
            Box::pin(async { Ok(WriteOutcome::Written) })
        });
    let log = Arc::clone(&writes);
    repository
        .expect_release()
        .returning(move |id, _, not_before, now| {
            let wait =
                not_before.map_or_else(String::new, |at| format!("@ {}", (at - now).num_seconds()));
            log.lock().unwrap().push(("release", id, wait));
            Box::pin(async { Ok(WriteOutcome::Written) })
        });
    writes
}

fn writes_for(writes: &Writes, id: DomainId) -> Vec<(&'static str, String)> {
    writes
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, written, _)| *written == id)
        .map(|(op, _, message)| (*op, message.clone()))
        .collect()
}

#[tokio::test]
async fn an_extraction_error_fails_only_its_own_domain() {
    let rows = vec![
        claimed("alpha.test", 1),
        claimed("broken.test", 1),
        claimed("gamma.test", 1),
    ];
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, rows.clone());
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().times(3).returning(|domain| {
        let domain = domain.to_string();
        Box::pin(async move {
            if domain == "broken.test" {
                Err(ExtractionError::HttpStatus {
                    status: 404,
                    url: "https://broken.test/".into(),
                })
            } else {
                Ok(metadata_for(&domain))
            }
        })
    });

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(
        (summary.claimed, summary.completed, summary.failed),
        (3, 2, 1)
    );
    assert_eq!(
        writes_for(&writes, rows[0].id.clone()),
        [("complete", "Welcome to alpha.test".into())]
    );
    assert_eq!(
        writes_for(&writes, rows[1].id.clone()),
        [("fail", "HTTP 404 from https://broken.test/".into())]
    );
    assert_eq!(
        writes_for(&writes, rows[2].id.clone()),
        [("complete", "Welcome to gamma.test".into())]
    );
}

#[tokio::test]
async fn claim_and_each_result_are_separate_repository_calls_in_order() {
    let row = claimed("alpha.test", 1);
    let mut repository = MockDomainRepository::new();
    let mut order = Sequence::new();
    let claimed_rows = vec![row.clone()];
    repository
        .expect_claim()
        .times(1)
        .in_sequence(&mut order)
        .returning(move |_| {
            let rows = claimed_rows.clone();
            Box::pin(async move { Ok(rows) })
        });
    let id = row.id;
    repository
        .expect_complete()
        .withf(move |written, worker, _, _| *written == id && worker.as_str() == "worker-a/1")
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|domain| {
        let metadata = metadata_for(domain.as_str());
        Box::pin(async move { Ok(metadata) })
    });

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.completed, 1);
}

#[tokio::test]
async fn a_failing_result_write_is_recorded_as_error_by_a_separate_write() {
    let row = claimed("alpha.test", 1);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row.clone()]);
    let mut order = Sequence::new();
    repository
        .expect_complete()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _, _| {
            Box::pin(async {
                Err(RepositoryError::Database(
                    "value too long for column".into(),
                ))
            })
        });
    let id = row.id;
    repository
        .expect_fail()
        .withf(move |written, _, message, _| {
            *written == id
                && message
                    == "could not write the result: database error: value too long for column"
        })
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::Written) }));
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|domain| {
        let metadata = metadata_for(domain.as_str());
        Box::pin(async move { Ok(metadata) })
    });

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((summary.completed, summary.failed), (0, 1));
}

#[tokio::test]
async fn an_invalid_domain_fails_without_a_fetch() {
    let row = claimed("not a domain", 1);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row.clone()]);
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().never();

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(summary.failed, 1);
    let written = writes_for(&writes, row.id);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].0, "fail");
    assert!(
        written[0].1.contains("is not a valid domain name"),
        "{}",
        written[0].1
    );
}

#[tokio::test]
async fn a_raw_value_is_standardized_before_the_fetch() {
    let row = claimed("  HTTP://WWW.Example.COM/about?x=1 ", 1);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row]);
    let _writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor
        .expect_extract()
        .withf(|domain| domain.as_str() == "example.com")
        .times(1)
        .returning(|domain| {
            let metadata = metadata_for(domain.as_str());
            Box::pin(async move { Ok(metadata) })
        });

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.completed, 1);
}

fn refused() -> ExtractionError {
    ExtractionError::Connection("connection refused".into())
}

#[tokio::test]
async fn a_transient_failure_is_retried_later_with_backoff() {
    let first = claimed("alpha.test", 1);
    let second = claimed("beta.test", 2);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![first.clone(), second.clone()]);
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor
        .expect_extract()
        .returning(|_| Box::pin(async { Err(refused()) }));

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(summary.retried, 2);
    assert_eq!(
        writes_for(&writes, first.id),
        [(
            "retry_later",
            "connection failed: connection refused @ 60".into()
        )]
    );
    assert_eq!(
        writes_for(&writes, second.id),
        [(
            "retry_later",
            "connection failed: connection refused @ 120".into()
        )]
    );
}

#[tokio::test]
async fn a_transient_failure_on_the_last_attempt_is_an_error() {
    let row = claimed("alpha.test", 3);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row.clone()]);
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor
        .expect_extract()
        .returning(|_| Box::pin(async { Err(refused()) }));

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(summary.failed, 1);
    assert_eq!(
        writes_for(&writes, row.id),
        [(
            "fail",
            "connection failed: connection refused (gave up after 3 attempts)".into()
        )]
    );
}

#[tokio::test]
async fn a_lost_lease_is_counted_and_not_overwritten() {
    let row = claimed("alpha.test", 1);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row]);
    repository
        .expect_complete()
        .times(1)
        .returning(|_, _, _, _| Box::pin(async { Ok(WriteOutcome::LeaseLost) }));
    repository.expect_fail().never();
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|domain| {
        let metadata = metadata_for(domain.as_str());
        Box::pin(async move { Ok(metadata) })
    });

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((summary.lease_lost, summary.completed), (1, 0));
}

#[tokio::test]
async fn an_outcome_that_cannot_be_written_is_left_for_the_rescue_sweep() {
    let row = claimed("alpha.test", 1);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row]);
    repository.expect_fail().times(1).returning(|_, _, _, _| {
        Box::pin(async { Err(RepositoryError::Unavailable("connection reset".into())) })
    });
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|_| {
        Box::pin(async {
            Err(ExtractionError::HttpStatus {
                status: 410,
                url: "https://alpha.test/".into(),
            })
        })
    });

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((summary.unrecorded, summary.failed), (1, 0));
}

#[tokio::test]
async fn a_failed_claim_is_a_claim_error_and_nothing_is_fetched() {
    let mut repository = MockDomainRepository::new();
    repository.expect_claim().returning(|_| {
        Box::pin(async {
            Err(RepositoryError::Timeout(
                "canceling statement due to statement timeout".into(),
            ))
        })
    });
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().never();

    let error = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "could not claim domains: database statement timed out: canceling statement due to \
         statement timeout"
    );
}

#[tokio::test]
async fn after_shutdown_claimed_domains_not_started_are_released() {
    let rows = vec![claimed("alpha.test", 1), claimed("beta.test", 1)];
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, rows.clone());
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().never();
    let shutdown = CancellationToken::new();
    shutdown.cancel();

    let summary = processor(repository, extractor)
        .run_claim(&shutdown)
        .await
        .unwrap();

    assert_eq!(summary.released, 2);
    for row in rows {
        assert_eq!(writes_for(&writes, row.id), [("release", String::new())]);
    }
}

#[tokio::test(start_paused = true)]
async fn an_extraction_outliving_the_shutdown_grace_is_abandoned_and_released() {
    let row = claimed("slow.test", 1);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row.clone()]);
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|domain| {
        let metadata = metadata_for(domain.as_str());
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(metadata)
        })
    });
    let shutdown = CancellationToken::new();
    let processor = processor(repository, extractor);
    let batch = processor.run_claim(&shutdown);
    let cancel_soon = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        shutdown.cancel();
    };
    let (summary, ()) = tokio::join!(batch, cancel_soon);

    assert_eq!(summary.unwrap().released, 1);
    assert_eq!(writes_for(&writes, row.id), [("release", String::new())]);
}

#[tokio::test(start_paused = true)]
async fn an_extraction_within_the_shutdown_grace_is_finished() {
    let row = claimed("quick.test", 1);
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row.clone()]);
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|domain| {
        let metadata = metadata_for(domain.as_str());
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(metadata)
        })
    });
    let shutdown = CancellationToken::new();
    let processor = processor(repository, extractor);
    let batch = processor.run_claim(&shutdown);
    let cancel_soon = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        shutdown.cancel();
    };
    let (summary, ()) = tokio::join!(batch, cancel_soon);

    assert_eq!(summary.unwrap().completed, 1);
    assert_eq!(
        writes_for(&writes, row.id),
        [("complete", "Welcome to quick.test".into())]
    );
}

#[tokio::test]
async fn an_empty_claim_is_an_empty_summary() {
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, Vec::new());
    let summary = processor(repository, MockMetadataExtractor::new())
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary, Outcomes::default());
}

/// An extractor that answers every site, counting its calls.
fn counting_extractor() -> (MockMetadataExtractor, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(move |domain| {
        counted.fetch_add(1, Ordering::SeqCst);
        let metadata = metadata_for(domain.as_str());
        Box::pin(async move { Ok(metadata) })
    });
    (extractor, calls)
}

/// A repository that claims `row`, whose result writes fail as
/// `Unavailable` the first `failures` times (all of them for `None`), and
/// that refuses any other write; with the number of writes tried.
fn database_away(
    row: &ClaimedDomain,
    failures: Option<usize>,
) -> (MockDomainRepository, Arc<AtomicUsize>) {
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, vec![row.clone()]);
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tries);
    let id = row.id.clone();
    repository
        .expect_complete()
        .withf(move |written, worker, metadata, _| {
            *written == id
                && worker.as_str() == "worker-a/1"
                && metadata.title.as_deref() == Some("Welcome to alpha.test")
        })
        .returning(move |_, _, _, _| {
            let tried = counted.fetch_add(1, Ordering::SeqCst);
            let away = failures.is_none_or(|failures| tried < failures);
            Box::pin(async move {
                if away {
                    Err(RepositoryError::Unavailable("connection refused".into()))
                } else {
                    Ok(WriteOutcome::Written)
                }
            })
        });
    repository.expect_retry_later().never();
    repository.expect_fail().never();
    repository.expect_release().never();
    (repository, tries)
}

#[tokio::test(start_paused = true)]
async fn a_result_the_database_could_not_take_is_written_again_not_fetched_again() {
    let row = claimed("alpha.test", 1);
    let (repository, tries) = database_away(&row, Some(2));
    let (extractor, fetches) = counting_extractor();

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(
        (summary.completed, summary.retried, summary.unrecorded),
        (1, 0, 0)
    );
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_result_is_dropped_once_the_database_stays_away_past_the_lease() {
    let row = claimed("alpha.test", 1);
    let (repository, tries) = database_away(&row, None);
    let (extractor, fetches) = counting_extractor();
    let started = tokio::time::Instant::now();

    let summary = processor(repository, extractor)
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!((summary.completed, summary.unrecorded), (0, 1));
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // Tried until the 600 s lease ran out, with waits that grow to 30 s:
    // a few dozen writes, not one per second.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(600) && waited < Duration::from_secs(660),
        "{waited:?}"
    );
    let tries = tries.load(Ordering::SeqCst);
    assert!((10..=40).contains(&tries), "{tries} writes tried");
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_result_write_no_longer_than_the_grace() {
    let row = claimed("alpha.test", 1);
    let (repository, tries) = database_away(&row, None);
    let (extractor, fetches) = counting_extractor();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.cancel();
    });
    let started = tokio::time::Instant::now();

    let summary = processor(repository, extractor)
        .run_claim(&shutdown)
        .await
        .unwrap();

    assert_eq!(summary.unrecorded, 1);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // Shutdown at 10 s and a grace of 5 s.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
    assert!(tries.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn a_domain_is_not_started_when_its_fetch_could_outlast_the_lease() {
    let row = claimed("alpha.test", 1);
    let mut repository = MockDomainRepository::new();
    repository.expect_claim().returning(move |_| {
        let rows = vec![row.clone()];
        Box::pin(async move { Ok(rows) })
    });
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().never();
    let processor = DomainProcessor::new(
        Arc::new(repository),
        Arc::new(extractor),
        Arc::new(FixedClock(noon())),
        WorkerId::new("worker-a"),
        SchedulerSettings {
            lease: Duration::from_secs(60),
            fetch_budget: Duration::from_secs(120),
            ..settings()
        },
    );

    let summary = processor
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(summary.released, 1);
    assert_eq!(writes.lock().unwrap()[0].0, "release");
}

#[tokio::test]
async fn each_claim_takes_and_writes_under_an_id_of_its_own() {
    let claimants = Arc::new(Mutex::new(Vec::new()));
    let mut repository = MockDomainRepository::new();
    let seen = Arc::clone(&claimants);
    repository.expect_claim().returning(move |request| {
        seen.lock()
            .unwrap()
            .push(request.worker.as_str().to_owned());
        Box::pin(async { Ok(vec![claimed("alpha.test", 1)]) })
    });
    let seen = Arc::clone(&claimants);
    repository
        .expect_complete()
        .returning(move |_, worker, _, _| {
            seen.lock().unwrap().push(format!("wrote as {worker}"));
            Box::pin(async { Ok(WriteOutcome::Written) })
        });
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|domain| {
        let metadata = metadata_for(domain.as_str());
        Box::pin(async move { Ok(metadata) })
    });
    let processor = processor(repository, extractor);

    processor
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();
    processor
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(
        *claimants.lock().unwrap(),
        [
            "worker-a/1",
            "wrote as worker-a/1",
            "worker-a/2",
            "wrote as worker-a/2"
        ]
    );
}

#[tokio::test]
async fn a_busy_address_hands_the_domain_back_for_the_wait_it_asked_without_a_failure() {
    let rows = vec![claimed("shared.test", 2), claimed("alone.test", 1)];
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, rows.clone());
    let writes = record_writes(&mut repository);
    let mut extractor = MockMetadataExtractor::new();
    extractor.expect_extract().returning(|domain| {
        let domain = domain.to_string();
        Box::pin(async move {
            if domain == "shared.test" {
                Err(ExtractionError::AddressBusy {
                    address: "203.0.113.7".into(),
                    retry_in_seconds: 30,
                })
            } else {
                Ok(metadata_for(&domain))
            }
        })
    });

    let processor = processor(repository, extractor);
    let summary = processor
        .run_claim(&CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(
        (
            summary.deferred,
            summary.completed,
            summary.failed,
            summary.retried
        ),
        (1, 1, 0, 0)
    );
    // An idle claimer looks again when the row is due, not an hour later.
    let wait = processor.idle_wait(Duration::from_secs(3600));
    assert!(
        wait <= Duration::from_secs(30) && wait > Duration::from_secs(25),
        "{wait:?}"
    );
    // Back to pending for 30 s, by the release that does not count the
    // attempt, and nothing recorded as an error.
    assert_eq!(
        writes_for(&writes, rows[0].id.clone()),
        [("release", "@ 30".into())]
    );
}

#[tokio::test]
async fn a_claim_that_returns_more_rows_than_asked_releases_the_surplus_at_once() {
    let rows: Vec<ClaimedDomain> = (0..12)
        .map(|index| claimed(&format!("site{index}.test"), 1))
        .collect();
    let surplus: Vec<DomainId> = rows[10..].iter().map(|row| row.id.clone()).collect();
    let mut repository = MockDomainRepository::new();
    expect_claim(&mut repository, rows.clone());
    let released = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&released);
    repository
        .expect_release()
        .times(2)
        .returning(move |id, claimant, not_before, _| {
            assert_eq!(claimant.as_str(), "worker-a/1");
            assert_eq!(not_before, None);
            log.lock().unwrap().push(id);
            Box::pin(async { Ok(WriteOutcome::Written) })
        });
    let processor = processor(repository, MockMetadataExtractor::new());

    let (_, kept) = processor.claim(10).await.unwrap();

    assert_eq!(kept, rows[..10]);
    assert_eq!(*released.lock().unwrap(), surplus);
}
