//! Group commits: the completions of domains that finish at about the same
//! time are written in one transaction.
//!
//! No timer holds a write back: a writer takes whatever completions are
//! waiting when it is free, so an idle worker writes each at once, and a
//! busy one writes many per round trip and commit. A group the database
//! refuses as a whole is written again row by row, each in a transaction
//! of its own, so one row that cannot be written never spoils the others.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use scheduler_domain::{
    Completion, DomainId, DomainRepository, RepositoryError, SiteMetadata, WorkerId, WriteOutcome,
};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::debug;

/// Writers at once: each holds one database connection while it writes.
const WRITERS: usize = 4;

/// The most completions in one transaction.
const MAX_GROUP: usize = 128;

type Reply = oneshot::Sender<Result<WriteOutcome, RepositoryError>>;

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
    /// writer, and the caller has no use for it afterwards.
    pub(crate) async fn complete(
        &self,
        id: DomainId,
        worker: &WorkerId,
        metadata: SiteMetadata,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, RepositoryError> {
        let (reply, outcome) = oneshot::channel();
        let completion = Completion {
            id,
            worker: worker.clone(),
            metadata,
            now,
        };
        self.sender
            .send((completion, reply))
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
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
        match repository.complete_many(&completions).await {
            Ok(outcomes) if outcomes.len() == completions.len() => {
                outcomes.into_iter().map(Ok).collect()
            }
            Ok(_) | Err(_) => {
                debug!(
                    rows = completions.len(),
                    "a group write failed; writing its rows one by one"
                );
                write_alone(repository, &completions).await
            }
        }
    };
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        // A domain task that is gone (shutdown) no longer needs its answer.
        let _ = reply.send(outcome);
    }
}

/// Each completion in a transaction of its own.
async fn write_alone<R: DomainRepository>(
    repository: &R,
    completions: &[Completion],
) -> Vec<Result<WriteOutcome, RepositoryError>> {
    let alone = completions.iter().map(|completion| {
        repository.complete(
            completion.id.clone(),
            &completion.worker,
            &completion.metadata,
            completion.now,
        )
    });
    futures::future::join_all(alone).await
}
