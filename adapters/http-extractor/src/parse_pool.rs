//! [`ParsePool`]: the threads that parse pages, one per core.
//!
//! Parsing is CPU work that must not hold a runtime thread. On tokio's
//! blocking pool each page could land on a different thread, and glibc
//! gives each thread that allocates its own arena, which keeps the memory
//! it once held: memory then grew with the number of threads that ever
//! parsed (up to `concurrency`), not with the cores. A fixed set of threads
//! keeps the arenas (and the regex caches, one per thread) to one per core;
//! more parses at once than cores would buy no speed anyway.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::admission::{ADJUST_EVERY, Admission};

/// Pages waiting per thread past which the queue counts as full: enough
/// to keep every thread busy between two arrivals, not so many that pages
/// wait in memory for long.
const QUEUED_PER_THREAD: usize = 4;

/// One parse to run.
type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of parsing threads fed from one queue.
#[derive(Debug)]
pub(crate) struct ParsePool {
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not yet taken by a thread.
    queued: Arc<AtomicUsize>,
    /// Queued jobs past which the queue is full.
    full_at: usize,
    /// Told when a thread is idle and when the queue is full.
    admission: Arc<Admission>,
}

/// The next job, or `None` once the pool is gone. A thread that finds
/// none tells `admission`, and tells it again every [`ADJUST_EVERY`] while
/// it waits, so that the limit keeps growing while work is due.
fn next_job(queue: &mpsc::Receiver<Job>, admission: &Admission) -> Option<Job> {
    match queue.try_recv() {
        Ok(job) => return Some(job),
        Err(mpsc::TryRecvError::Disconnected) => return None,
        Err(mpsc::TryRecvError::Empty) => {}
    }
    loop {
        admission.thread_idle();
        match queue.recv_timeout(ADJUST_EVERY) {
            Ok(job) => return Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// The job panicked (hostile bytes that will fail again).
#[derive(Debug)]
pub(crate) struct Panicked(pub(crate) String);

impl ParsePool {
    /// Starts `threads` parsing threads; they end when the pool is dropped.
    /// `admission` hears when a thread finds nothing to parse and when
    /// pages queue.
    ///
    /// # Errors
    ///
    /// The OS error when no thread could be started.
    pub(crate) fn new(threads: usize, admission: Arc<Admission>) -> std::io::Result<ParsePool> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        for index in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let queued = Arc::clone(&queued);
            let admission = Arc::clone(&admission);
            std::thread::Builder::new()
                .name(format!("parse-{index}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job.
                        let queue = receiver.lock().unwrap_or_else(PoisonError::into_inner);
                        let Some(job) = next_job(&queue, &admission) else {
                            return;
                        };
                        drop(queue);
                        queued.fetch_sub(1, Ordering::AcqRel);
                        job();
                    }
                })?;
        }
        Ok(ParsePool {
            jobs: sender,
            queued,
            full_at: threads.max(1) * QUEUED_PER_THREAD,
            admission,
        })
    }

    /// Runs `work` on a parsing thread and returns its result.
    ///
    /// # Errors
    ///
    /// [`Panicked`] when `work` panicked (or the pool is gone).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Panicked> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(work)).map_err(|payload| {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the parser panicked".to_owned());
                Panicked(message)
            });
            crate::observe::extracted(started.elapsed());
            // A caller that gave up (shutdown) no longer needs the answer.
            let _ = reply.send(outcome);
        });
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.full_at {
            self.admission.pages_queued();
        }
        self.jobs
            .send(job)
            .map_err(|_| Panicked("the parsing threads are gone".to_owned()))?;
        answer
            .await
            .map_err(|_| Panicked("the parsing thread stopped".to_owned()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_and_a_panic_is_an_error_not_a_lost_thread() {
        let pool = ParsePool::new(1, Admission::new(16)).unwrap();
        assert_eq!(pool.run(|| 6 * 7).await.unwrap(), 42);
        let panicked = pool
            .run(|| -> u32 { panic!("hostile bytes") })
            .await
            .unwrap_err();
        assert_eq!(panicked.0, "hostile bytes");
        // The one thread survived the panic.
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("parse-0"));
    }
}
