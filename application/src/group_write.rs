//! Group commits: the completions of domains that finish at about the same
//! time are written in one transaction.
//!
//! No timer holds a write back: a writer takes whatever completions are
//! waiting when it is free, so an idle worker writes each at once, and a
//! busy one writes many per round trip and commit. A group the database
//! refuses as a whole is written again row by row, each in a transaction
//! of its own, so one row that cannot be written never spoils the others.

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
            Ok(_) | Err(_) => {
                if let Err(error) = &written {
                    observe::database_error("complete_many", error);
                }
                debug!(
                    rows = completions.len(),
                    "a group write failed; writing its rows one by one"
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

/// Each completion in a transaction of its own.
async fn write_alone<R: DomainRepository>(
    repository: &R,
    completions: &[Completion],
) -> Vec<Result<WriteOutcome, RepositoryError>> {
    let alone = completions.iter().map(|completion| async move {
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
    futures::future::join_all(alone).await
}
