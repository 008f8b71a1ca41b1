//! Group commits: the completions of domains that finish at about the same
//! time are written in one transaction.
//!
//! No timer holds a write back: a writer takes whatever completions are
//! waiting when it is free, so an idle worker writes each at once, and a
//! busy one writes many per round trip and commit. A group the database
//! refuses because of a row is written again row by row, each in a
//! transaction of its own and a few at a time, so one row that cannot be
//! written never spoils the others. A group that failed because the
//! database is away or slow ([`RepositoryError::is_transient`]) is not:
//! one write per row would multiply the load just as the database comes
//! back; each row's task tries again with backoff instead.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use scheduler_domain::{
    Completion, DomainId, DomainRepository, RepositoryError, SiteMetadata, WorkerId, WriteOutcome,
};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::observe::{self, WriteKind};

/// Writers at once: each holds one database connection while it writes.
const WRITERS: usize = 4;

/// The most completions in one transaction.
const MAX_GROUP: usize = 128;

/// Rows of a refused group written at once, each on a connection of its
/// own: few, so that claims and the rescue sweep still get connections.
const FALLBACK_CONCURRENCY: usize = 2;

type Reply = oneshot::Sender<Result<WriteOutcome, Unwritten>>;

/// A completion the database did not take, with its metadata handed back
/// so that the write can be tried again without fetching the site again.
#[derive(Debug)]
pub(crate) struct Unwritten {
    pub(crate) error: RepositoryError,
    /// `None` only when the writers stopped while holding it. Boxed: the
    /// failure is rare, the metadata large.
    pub(crate) metadata: Option<Box<SiteMetadata>>,
}

/// Where domain tasks hand their completions.
#[derive(Debug, Clone)]
pub(crate) struct GroupWriter {
    sender: mpsc::UnboundedSender<(Completion, Reply)>,
}

impl GroupWriter {
    /// Starts the writers on `tasks`; they end once every clone of the
    /// returned writer is dropped and what was handed in is written.
    pub(crate) fn start<R: DomainRepository + 'static>(
        repository: Arc<R>,
        tasks: &TaskTracker,
    ) -> GroupWriter {
        let (sender, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tasks.spawn(write_groups(Arc::clone(&repository), Arc::clone(&receiver)));
        }
        GroupWriter { sender }
    }

    /// Writes one completion with whatever others are waiting, and returns
    /// its own outcome. Takes the metadata by value: it travels to the
    /// writer, and comes back only when the write failed.
    pub(crate) async fn complete(
        &self,
        id: DomainId,
        worker: &WorkerId,
        metadata: SiteMetadata,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, Unwritten> {
        let (reply, outcome) = oneshot::channel();
        let completion = Completion {
            id,
            worker: worker.clone(),
            metadata,
            now,
        };
        if let Err(mpsc::error::SendError((completion, _))) = self.sender.send((completion, reply))
        {
            return Err(Unwritten {
                error: stopped(),
                metadata: Some(Box::new(completion.metadata)),
            });
        }
        outcome.await.unwrap_or_else(|_| {
            Err(Unwritten {
                error: stopped(),
                metadata: None,
            })
        })
    }
}

fn stopped() -> RepositoryError {
    RepositoryError::Unavailable("the result writers have stopped".into())
}

async fn write_groups<R: DomainRepository>(
    repository: Arc<R>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<(Completion, Reply)>>>,
) {
    loop {
        let mut group = Vec::new();
        {
            // One writer gathers at a time; the others write meanwhile.
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            group.push(first);
            while group.len() < MAX_GROUP {
                match receiver.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
        }
        write_group(repository.as_ref(), group).await;
    }
}

async fn write_group<R: DomainRepository>(repository: &R, group: Vec<(Completion, Reply)>) {
    let (completions, replies): (Vec<Completion>, Vec<Reply>) = group.into_iter().unzip();
    let outcomes = if completions.len() == 1 {
        write_alone(repository, &completions).await
    } else {
        let started = Instant::now();
        let written = repository.complete_many(&completions).await;
        observe::written(WriteKind::Group, started.elapsed());
        match written {
            Ok(outcomes) if outcomes.len() == completions.len() => {
                outcomes.into_iter().map(Ok).collect()
            }
            Err(error) if error.is_transient() => {
                observe::database_error("complete_many", &error);
                debug!(
                    rows = completions.len(),
                    error = %error,
                    "a group write failed with the database away or slow; each row tries again later"
                );
                vec![Err(error); completions.len()]
            }
            Ok(_) | Err(_) => {
                if let Err(error) = &written {
                    observe::database_error("complete_many", error);
                }
                debug!(
                    rows = completions.len(),
                    "a group write was refused; writing its rows one by one"
                );
                write_alone(repository, &completions).await
            }
        }
    };
    for ((reply, outcome), completion) in replies.into_iter().zip(outcomes).zip(completions) {
        let outcome = outcome.map_err(|error| Unwritten {
            error,
            metadata: Some(Box::new(completion.metadata)),
        });
        // A domain task that is gone (shutdown) no longer needs its answer.
        let _ = reply.send(outcome);
    }
}

/// Each completion in a transaction of its own, a few at a time, in order.
async fn write_alone<R: DomainRepository>(
    repository: &R,
    completions: &[Completion],
) -> Vec<Result<WriteOutcome, RepositoryError>> {
    let mut outcomes = Vec::with_capacity(completions.len());
    for few in completions.chunks(FALLBACK_CONCURRENCY) {
        let alone = few.iter().map(|completion| async move {
            let started = Instant::now();
            let written = repository
                .complete(
                    completion.id.clone(),
                    &completion.worker,
                    &completion.metadata,
                    completion.now,
                )
                .await;
            observe::written(WriteKind::Single, started.elapsed());
            written
        });
        outcomes.extend(futures::future::join_all(alone).await);
    }
    outcomes
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use chrono::TimeZone;
    use scheduler_domain::MockDomainRepository;

    use super::*;

    fn group_of(count: usize) -> (Vec<(Completion, Reply)>, Vec<oneshot::Receiver<ReplyValue>>) {
        (0..count)
            .map(|index| {
                let (reply, answer) = oneshot::channel();
                let completion = Completion {
                    id: DomainId::random(),
                    worker: WorkerId::new("worker-a/1"),
                    metadata: SiteMetadata {
                        title: Some(format!("site {index}")),
                        ..SiteMetadata::default()
                    },
                    now: Utc.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).unwrap(),
                };
                ((completion, reply), answer)
            })
            .unzip()
    }

    type ReplyValue = Result<WriteOutcome, Unwritten>;

    #[tokio::test]
    async fn a_group_that_failed_with_the_database_away_is_not_written_row_by_row() {
        let mut repository = MockDomainRepository::new();
        repository.expect_complete_many().times(1).returning(|_| {
            Box::pin(async { Err(RepositoryError::Unavailable("connection reset".into())) })
        });
        repository.expect_complete().times(0);
        let (group, answers) = group_of(5);

        write_group(&repository, group).await;

        for answer in answers {
            let unwritten = answer.await.unwrap().unwrap_err();
            assert!(unwritten.error.is_transient(), "{:?}", unwritten.error);
            assert!(unwritten.metadata.is_some(), "the metadata comes back");
        }
    }

    #[tokio::test]
    async fn a_refused_group_is_written_row_by_row_a_few_at_a_time() {
        let mut repository = MockDomainRepository::new();
        repository.expect_complete_many().times(1).returning(|_| {
            Box::pin(async { Err(RepositoryError::Database("value too long".into())) })
        });
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (now, most) = (Arc::clone(&in_flight), Arc::clone(&peak));
        repository
            .expect_complete()
            .times(6)
            .returning(move |_, _, metadata, _| {
                let (now, most) = (Arc::clone(&now), Arc::clone(&most));
                let refused = metadata.title.as_deref() == Some("site 3");
                Box::pin(async move {
                    most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    if refused {
                        Err(RepositoryError::Database("value too long".into()))
                    } else {
                        Ok(WriteOutcome::Written)
                    }
                })
            });
        let (group, answers) = group_of(6);

        write_group(&repository, group).await;

        let mut written = 0;
        for (index, answer) in answers.into_iter().enumerate() {
            match answer.await.unwrap() {
                Ok(WriteOutcome::Written) => written += 1,
                Err(unwritten) => assert_eq!(index, 3, "{:?}", unwritten.error),
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(written, 5);
        assert_eq!(peak.load(Ordering::SeqCst), FALLBACK_CONCURRENCY);
    }
}
