//! [`Admission`]: how many domains are fetched at once, adapted to what
//! the parsing threads can take.
//!
//! `scheduler.concurrency` is sized for the internet: a thousand domains
//! in flight, most of them waiting on slow hosts. On a fast network the
//! same thousand would all be fetched at once and wait, page in memory and
//! connection open, for the parsing threads, costing memory and buying
//! nothing. So a domain is admitted to fetching under a limit that follows
//! the parsing threads: it grows while a thread finds no page to parse and
//! domains wait here (the network is the bottleneck: more in flight
//! helps), and shrinks while pages queue for the threads (the cores are:
//! more in flight would only wait). A domain waiting here holds no socket
//! and no buffer. The scheduler's `concurrency` stays the ceiling.
//!
//! The limit moves at most once per [`ADJUST_EVERY`], by what the threads
//! saw since its last move: a queue that filled shrinks it, else an idle
//! thread with domains waiting grows it. A page arrives a network's wait
//! after its domain is admitted, so a limit that moved on every event
//! would overshoot: on the internet it swung from its floor to a thousand
//! and back within a second, admitting a thousand domains in one burst
//! (their handshakes, bodies and buffers at once: the process's memory
//! peaked with each burst) and then leaving the threads idle while it
//! climbed back.
//!
//! A domain that waits on the network for longer than [`SLOW_NETWORK`]
//! gives its place back ([`Admitted::while_on_network`]): the limit is of
//! domains on their way to the parsing threads, not of slow hosts, which
//! the scheduler's `concurrency` and the per-address and byte budgets
//! bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The limit never goes below this: enough domains to keep the parsing
/// threads of a large machine fed on a fast network.
const FLOOR: usize = 16;
/// The limit the worker starts with.
const START: usize = 64;
/// Growth per idle parsing thread: an eighth of the limit (at least one),
/// so that the limit reaches the thousands within a few dozen idle moments
/// on a slow network.
const GROWTH_DIVISOR: usize = 8;
/// A domain waiting on the network longer than this gives its place
/// back. On a fast network a fetch takes milliseconds and every domain
/// keeps its place until its pages are parsed; on the internet the
/// places go to domains about to deliver pages rather than to hosts that
/// are slow, dead or rate-limiting (a fifth of sites take longer than
/// this to answer, and a host that never answers would otherwise hold
/// its place for its whole time limit).
pub(crate) const SLOW_NETWORK: Duration = Duration::from_secs(1);
/// Shrinkage per move while pages queue behind a full queue: a
/// sixteenth, slower than growth, so that a burst of pages does not starve
/// the threads after it.
const SHRINK_DIVISOR: usize = 16;
/// The limit moves at most this often: growth compounds to about three
/// times a second (from the floor to a thousand in under four seconds),
/// slow enough for the pages of the domains last admitted to arrive
/// before it grows much further.
pub(crate) const ADJUST_EVERY: Duration = Duration::from_millis(100);

/// The adaptive limit of domains being fetched at once.
#[derive(Debug)]
pub(crate) struct Admission {
    permits: Arc<Semaphore>,
    limit: Mutex<Limit>,
    /// Domains waiting to be admitted.
    waiting: AtomicUsize,
    ceiling: usize,
}

#[derive(Debug)]
struct Limit {
    /// Permits in all, admitted domains' included.
    current: usize,
    /// Permits to take out of circulation as admitted domains give theirs
    /// back (a shrink when none was free).
    owed: usize,
    /// When the limit last moved (or was created).
    moved_at: Instant,
    /// A thread found nothing to parse with domains waiting, since the
    /// last move.
    idle_seen: bool,
    /// Pages queued behind a full queue since the last move.
    full_seen: bool,
}

/// One admitted domain's place; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct Admitted {
    permit: Option<OwnedSemaphorePermit>,
    admission: Arc<Admission>,
}

impl Admission {
    /// A limit between [`FLOOR`] and `ceiling` (the domains in flight at
    /// most), starting at [`START`].
    pub(crate) fn new(ceiling: usize) -> Arc<Admission> {
        let ceiling = ceiling.max(FLOOR);
        let start = START.min(ceiling);
        Arc::new(Admission {
            permits: Arc::new(Semaphore::new(start)),
            limit: Mutex::new(Limit {
                current: start,
                owed: 0,
                moved_at: Instant::now(),
                idle_seen: false,
                full_seen: false,
            }),
            waiting: AtomicUsize::new(0),
            ceiling,
        })
    }

    /// Waits for a place, first come first served.
    pub(crate) async fn admit(self: &Arc<Self>) -> Admitted {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        Admitted {
            permit,
            admission: Arc::clone(self),
        }
    }

    /// A parsing thread found no page to parse (it says so again every
    /// [`ADJUST_EVERY`] while it stays idle): with domains waiting here,
    /// the limit grows at its next move.
    pub(crate) fn thread_idle(&self) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut limit = self.limit.lock().unwrap_or_else(PoisonError::into_inner);
        limit.idle_seen = true;
        self.maybe_move(&mut limit);
    }

    /// Pages queue for the parsing threads: the limit shrinks at its next
    /// move.
    pub(crate) fn pages_queued(&self) {
        let mut limit = self.limit.lock().unwrap_or_else(PoisonError::into_inner);
        limit.full_seen = true;
        self.maybe_move(&mut limit);
    }

    /// Moves the limit if [`ADJUST_EVERY`] has passed since its last move:
    /// down if pages queued meanwhile (the cores are the bottleneck), else
    /// up if a thread was idle with domains waiting (the network is).
    fn maybe_move(&self, limit: &mut Limit) {
        let now = Instant::now();
        if now.duration_since(limit.moved_at) < ADJUST_EVERY {
            return;
        }
        if limit.full_seen {
            self.shrink(limit);
        } else if limit.idle_seen {
            self.grow(limit);
        } else {
            return;
        }
        limit.moved_at = now;
        limit.idle_seen = false;
        limit.full_seen = false;
    }

    fn grow(&self, limit: &mut Limit) {
        let step = (limit.current / GROWTH_DIVISOR).max(1);
        let grown = (limit.current + step).min(self.ceiling);
        let mut added = grown - limit.current;
        limit.current = grown;
        // A debt from an earlier shrink is forgiven before new permits.
        let forgiven = added.min(limit.owed);
        limit.owed -= forgiven;
        added -= forgiven;
        self.permits.add_permits(added);
        crate::observe::admission_limit(grown);
    }

    fn shrink(&self, limit: &mut Limit) {
        let step = (limit.current / SHRINK_DIVISOR).max(1);
        let shrunk = limit.current.saturating_sub(step).max(FLOOR);
        let removed = limit.current - shrunk;
        limit.current = shrunk;
        let taken = self.permits.forget_permits(removed);
        limit.owed += removed - taken;
        crate::observe::admission_limit(shrunk);
    }

    /// The limit now.
    #[cfg(test)]
    fn limit(&self) -> usize {
        self.limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current
    }
}

impl Admitted {
    /// Waits for `network` (a fetch: the lookup, the connection, the
    /// answer, the body), giving the place back if the wait outlasts
    /// [`SLOW_NETWORK`]. Such a domain waits on its host, not on the
    /// cores: it no longer counts against the limit, so a slow, hanging
    /// or trickling host does not keep another domain from starting.
    /// What it then holds is a socket; its page's bytes stay under the
    /// byte budget.
    pub(crate) async fn while_on_network<T>(&mut self, network: impl Future<Output = T>) -> T {
        if self.permit.is_none() {
            return network.await;
        }
        let mut network = std::pin::pin!(network);
        tokio::select! {
            biased;
            done = &mut network => return done,
            () = tokio::time::sleep(SLOW_NETWORK) => {}
        }
        self.give_back();
        network.await
    }

    fn give_back(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut limit = self
            .admission
            .limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if limit.owed > 0 {
            limit.owed -= 1;
            permit.forget();
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.give_back();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    async fn admit_all(admission: &Arc<Admission>, count: usize) -> Vec<Admitted> {
        let mut admitted = Vec::new();
        for _ in 0..count {
            admitted.push(admission.admit().await);
        }
        admitted
    }

    fn is_waiting(admission: &Arc<Admission>) -> tokio::task::JoinHandle<Admitted> {
        let admission = Arc::clone(admission);
        tokio::spawn(async move { admission.admit().await })
    }

    #[tokio::test(start_paused = true)]
    async fn a_domain_past_the_limit_waits_until_one_is_done() {
        let admission = Admission::new(1000);
        let mut admitted = admit_all(&admission, START).await;
        let next = is_waiting(&admission);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!next.is_finished(), "admitted past the limit");
        admitted.pop();
        tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("admitted once a place was given back")
            .expect("the task ran");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_parsing_thread_with_domains_waiting_lets_more_in() {
        let admission = Admission::new(1000);
        let _admitted = admit_all(&admission, START).await;
        tokio::time::sleep(ADJUST_EVERY).await;
        // Idle threads and nobody waiting: the limit stays.
        admission.thread_idle();
        assert_eq!(admission.limit(), START);
        let next = is_waiting(&admission);
        tokio::time::sleep(Duration::from_millis(10)).await;
        admission.thread_idle();
        assert_eq!(admission.limit(), START + START / GROWTH_DIVISOR);
        tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("admitted once the limit grew")
            .expect("the task ran");
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_grows_to_the_ceiling_and_no_further() {
        let admission = Admission::new(100);
        let _admitted = admit_all(&admission, START).await;
        let _waiting: Vec<_> = (0..200).map(|_| is_waiting(&admission)).collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        for _ in 0..50 {
            tokio::time::advance(ADJUST_EVERY).await;
            admission.thread_idle();
        }
        assert_eq!(admission.limit(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_moves_once_per_interval_whatever_the_number_of_events() {
        let admission = Admission::new(1000);
        let _admitted = admit_all(&admission, START).await;
        let _waiting: Vec<_> = (0..200).map(|_| is_waiting(&admission)).collect();
        tokio::time::sleep(ADJUST_EVERY).await;
        for _ in 0..100 {
            admission.thread_idle();
        }
        let grown = START + START / GROWTH_DIVISOR;
        assert_eq!(
            admission.limit(),
            grown,
            "a burst of idle moments grew it more than once"
        );
        tokio::time::advance(ADJUST_EVERY / 2).await;
        admission.thread_idle();
        assert_eq!(admission.limit(), grown, "moved again within the interval");
        tokio::time::advance(ADJUST_EVERY / 2).await;
        admission.thread_idle();
        assert_eq!(admission.limit(), grown + grown / GROWTH_DIVISOR);
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_that_filled_since_the_last_move_wins_over_idle_threads() {
        let admission = Admission::new(1000);
        let _admitted = admit_all(&admission, START).await;
        let _waiting: Vec<_> = (0..200).map(|_| is_waiting(&admission)).collect();
        tokio::time::sleep(ADJUST_EVERY / 2).await;
        // Pages queued, then the threads emptied the queue: the pages of
        // the domains admitted are arriving faster than they are parsed.
        admission.pages_queued();
        tokio::time::advance(ADJUST_EVERY / 2).await;
        admission.thread_idle();
        assert_eq!(admission.limit(), START - START / SHRINK_DIVISOR);
    }

    #[tokio::test(start_paused = true)]
    async fn queued_pages_shrink_the_limit_as_admitted_domains_finish_down_to_the_floor() {
        let admission = Admission::new(1000);
        let mut admitted = admit_all(&admission, START).await;
        for _ in 0..200 {
            tokio::time::advance(ADJUST_EVERY).await;
            admission.pages_queued();
        }
        assert_eq!(admission.limit(), FLOOR);
        // Every place was taken: the shrink is paid as domains finish, so
        // that only FLOOR are ever admitted again.
        admitted.truncate(FLOOR - 1);
        let next = is_waiting(&admission);
        let after = is_waiting(&admission);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(next.is_finished());
        assert!(!after.is_finished(), "admitted past the shrunk limit");
    }

    #[tokio::test(start_paused = true)]
    async fn a_domain_slow_on_the_network_gives_its_place_to_the_next() {
        let admission = Admission::new(1000);
        let mut admitted = admit_all(&admission, START).await;
        let next = is_waiting(&admission);
        let mut slow = admitted.pop().expect("START is not zero");
        let host_answers = tokio::time::sleep(SLOW_NETWORK * 10);
        let fetching = tokio::spawn(async move {
            slow.while_on_network(host_answers).await;
            slow
        });
        tokio::time::sleep(SLOW_NETWORK / 2).await;
        assert!(!next.is_finished(), "admitted while the fetch was quick");
        let _next = tokio::time::timeout(SLOW_NETWORK, next)
            .await
            .expect("admitted once the fetch outlasted SLOW_NETWORK")
            .expect("the task ran");
        // The slow domain carries on, and finishing gives nothing back
        // twice: the limit still holds.
        let slow = fetching.await.expect("the fetch ran");
        drop(slow);
        let after = is_waiting(&admission);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!after.is_finished(), "admitted past the limit");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quick_fetch_keeps_its_place() {
        let admission = Admission::new(1000);
        let mut admitted = admit_all(&admission, START).await;
        let page = admitted[0]
            .while_on_network(async {
                tokio::time::sleep(SLOW_NETWORK / 4).await;
                "page"
            })
            .await;
        assert_eq!(page, "page");
        let next = is_waiting(&admission);
        tokio::time::sleep(SLOW_NETWORK * 2).await;
        assert!(!next.is_finished(), "a quick fetch gave its place away");
    }
}
