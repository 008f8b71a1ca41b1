//! Politeness per IP address: at most `fetch.per_address` requests at once
//! to one address, and an address that answers 429 or 503 slowed down as a
//! whole.
//!
//! Shared hosting puts thousands of sites on one address, and its limits
//! are per address, not per site: a worker that spreads its requests over
//! many names of one host is still one client to it. So every request
//! waits for a permit of the address it is about to reach. An address
//! that asked for time (`429`, or `503` with a `Retry-After`) is
//! paused for that time and allowed fewer requests at once afterwards,
//! one more for every run of answers without complaint.
//!
//! A fetch never waits here longer than `fetch.address_wait`: a domain
//! whose address is paused or has a long queue is handed back
//! ([`Busy`]) to be tried later, so it does not hold a place that domains
//! on other addresses could use.
//!
//! The state is one small entry per address in use, or slowed down: an
//! address left as it was never seen (nothing in flight, no pause, its full
//! limit) is forgotten at once; the others once idle for [`IDLE_EXPIRY`].
//! The table never holds more than [`MAX_ADDRESSES`] of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// An address unused this long is forgotten (its pause included, once
/// over).
pub(crate) const IDLE_EXPIRY: Duration = Duration::from_secs(300);

/// The most addresses remembered at once; beyond it the idle ones are
/// swept at once, and an address that finds the table full of busy ones
/// is served without a limit rather than remembered.
pub(crate) const MAX_ADDRESSES: usize = 65_536;

/// The pause after a 429 or 503 that gave no usable `Retry-After`.
const DEFAULT_PAUSE: Duration = Duration::from_secs(5);

/// The longest pause an answer can impose: a `Retry-After` of a day must
/// not park an address for the whole run.
const LONGEST_PAUSE: Duration = Duration::from_secs(120);

/// Answers without complaint after which a slowed-down address is allowed
/// one more request at once.
const CALM_ANSWERS_PER_STEP: u32 = 8;

/// Waiting fetches per permit beyond which a new one is handed back at
/// once instead of queueing.
const QUEUE_PER_PERMIT: usize = 4;

/// The shortest wait a domain handed back is given.
const MIN_RETRY_IN: Duration = Duration::from_secs(1);

/// What a request is assumed to hold its place for, before any has been
/// seen at the address.
const FIRST_TYPICAL_REQUEST: Duration = Duration::from_secs(1);

/// The weight of the latest request in the smoothed duration.
const TYPICAL_WEIGHT: f64 = 0.2;

/// The gate every request passes: one per extractor.
#[derive(Debug)]
pub(crate) struct Politeness {
    per_address: usize,
    max_wait: Duration,
    addresses: Mutex<HashMap<IpAddr, Address>>,
}

/// What one address is doing.
#[derive(Debug)]
struct Address {
    in_flight: usize,
    waiting: usize,
    /// Requests allowed at once now: `per_address`, lowered after a 429
    /// or 503.
    limit: usize,
    paused_until: Option<Instant>,
    calm_answers: u32,
    last_used: Instant,
    freed: Arc<Notify>,
    /// How long a request here holds its place, smoothed.
    typical_request: Duration,
}

/// The address cannot take this request soon: try the domain again after
/// `retry_in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy {
    pub(crate) address: IpAddr,
    pub(crate) retry_in: Duration,
}

/// One request's place at its address; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct AddressPermit {
    gate: Arc<Politeness>,
    address: Option<IpAddr>,
    since: Instant,
}

impl Drop for AddressPermit {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            self.gate.release(address, self.since.elapsed());
        }
    }
}

impl AddressPermit {
    /// Tells the gate how the address answered: a 429, or a 503 with a
    /// `Retry-After`, pauses it (for `retry_after` when given) and lowers
    /// its limit; any other answer counts towards raising it again.
    pub(crate) fn answered(&self, status: u16, retry_after: Option<Duration>) {
        if let Some(address) = self.address {
            self.gate.answered(address, status, retry_after);
        }
    }
}

/// How a wait for an address ended without a permit.
enum Wait {
    Until(Instant),
    Freed(Arc<Notify>),
}

impl Politeness {
    /// A gate allowing `per_address` requests at once per address, that
    /// hands a request back once it would wait longer than `max_wait`.
    pub(crate) fn new(per_address: usize, max_wait: Duration) -> Arc<Politeness> {
        Arc::new(Politeness {
            per_address: per_address.max(1),
            max_wait,
            addresses: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for a place at `address`, at most `max_wait`.
    ///
    /// # Errors
    ///
    /// [`Busy`] when the address is paused beyond the wait, its queue is
    /// long, or no place came free in time.
    pub(crate) async fn enter(self: &Arc<Self>, address: IpAddr) -> Result<AddressPermit, Busy> {
        let give_up_at = Instant::now() + self.max_wait;
        let mut queued = false;
        loop {
            let wait = {
                let mut addresses = self.lock();
                let now = Instant::now();
                if !addresses.contains_key(&address) && addresses.len() >= MAX_ADDRESSES {
                    sweep(&mut addresses, now);
                    if addresses.len() >= MAX_ADDRESSES {
                        // Every remembered address is busy: serving this one
                        // unlimited beats growing without bound.
                        return Ok(AddressPermit {
                            gate: Arc::clone(self),
                            address: None,
                            since: now,
                        });
                    }
                }
                let entry = addresses
                    .entry(address)
                    .or_insert_with(|| Address::new(self.per_address, now));
                entry.last_used = now;
                if queued {
                    entry.waiting -= 1;
                    queued = false;
                }
                match entry.paused_until {
                    Some(until) if until > now => {
                        if until > give_up_at {
                            return Err(Busy {
                                address,
                                retry_in: until - now,
                            });
                        }
                        Wait::Until(until)
                    }
                    _ if entry.in_flight < entry.limit => {
                        entry.paused_until = None;
                        entry.in_flight += 1;
                        return Ok(AddressPermit {
                            gate: Arc::clone(self),
                            address: Some(address),
                            since: now,
                        });
                    }
                    _ => {
                        if entry.waiting >= entry.limit * QUEUE_PER_PERMIT || now >= give_up_at {
                            return Err(Busy {
                                address,
                                retry_in: entry.expected_wait(),
                            });
                        }
                        entry.waiting += 1;
                        queued = true;
                        Wait::Freed(Arc::clone(&entry.freed))
                    }
                }
            };
            let woke = match wait {
                Wait::Until(until) => {
                    tokio::time::sleep_until(until).await;
                    true
                }
                Wait::Freed(freed) => tokio::select! {
                    () = freed.notified() => true,
                    () = tokio::time::sleep_until(give_up_at) => false,
                },
            };
            if !woke {
                let retry_in = self.unqueue(address);
                return Err(Busy { address, retry_in });
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Address>> {
        // The table holds counters only; a panic elsewhere leaves them
        // usable.
        self.addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Leaves the queue of `address`; returns when to try again.
    fn unqueue(&self, address: IpAddr) -> Duration {
        match self.lock().get_mut(&address) {
            Some(entry) => {
                entry.waiting = entry.waiting.saturating_sub(1);
                entry.expected_wait()
            }
            None => MIN_RETRY_IN,
        }
    }

    fn release(&self, address: IpAddr, held: Duration) {
        let mut addresses = self.lock();
        let now = Instant::now();
        let Some(entry) = addresses.get_mut(&address) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if entry.at_rest(self.per_address, now) {
            // Nothing here differs from an address never seen: most
            // addresses carry one site, asked once, and remembering each
            // for IDLE_EXPIRY would grow the table with the list.
            addresses.remove(&address);
            return;
        }
        entry.typical_request =
            entry.typical_request.mul_f64(1.0 - TYPICAL_WEIGHT) + held.mul_f64(TYPICAL_WEIGHT);
        entry.last_used = now;
        entry.freed.notify_one();
    }

    fn answered(&self, address: IpAddr, status: u16, retry_after: Option<Duration>) {
        let mut addresses = self.lock();
        let Some(entry) = addresses.get_mut(&address) else {
            return;
        };
        // A 429 is the address asking for time; a 503 only when it says
        // for how long (many sites answer 503 for reasons of their own).
        if status == 429 || (status == 503 && retry_after.is_some()) {
            let pause = retry_after.unwrap_or(DEFAULT_PAUSE).min(LONGEST_PAUSE);
            let until = Instant::now() + pause;
            entry.paused_until = Some(entry.paused_until.map_or(until, |was| was.max(until)));
            entry.limit = (entry.limit / 2).max(1);
            entry.calm_answers = 0;
        } else if entry.limit < self.per_address {
            entry.calm_answers += 1;
            if entry.calm_answers >= CALM_ANSWERS_PER_STEP {
                entry.calm_answers = 0;
                entry.limit += 1;
                entry.freed.notify_one();
            }
        }
    }

    /// Addresses remembered now (for tests and the sweep).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.lock().len()
    }
}

impl Address {
    fn new(limit: usize, now: Instant) -> Address {
        Address {
            in_flight: 0,
            waiting: 0,
            limit,
            paused_until: None,
            calm_answers: 0,
            last_used: now,
            freed: Arc::new(Notify::new()),
            typical_request: FIRST_TYPICAL_REQUEST,
        }
    }

    /// When a request handed back now could expect a place: the queue ahead
    /// of it worked off at the address's pace, spread by a random quarter
    /// so that the domains handed back together do not all return at once.
    fn expected_wait(&self) -> Duration {
        let ahead = (self.in_flight + self.waiting + 1) as f64 / self.limit.max(1) as f64;
        let nominal = self
            .typical_request
            .mul_f64(ahead)
            .clamp(MIN_RETRY_IN, LONGEST_PAUSE);
        nominal + nominal.mul_f64(fastrand::f64() / 4.0)
    }

    /// Nothing in flight or waiting, and no pause.
    fn quiet(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.waiting == 0
            && self.paused_until.is_none_or(|until| until <= now)
    }

    /// Quiet with the full limit: the state of an address never seen.
    fn at_rest(&self, per_address: usize, now: Instant) -> bool {
        self.quiet(now) && self.limit >= per_address
    }

    fn idle(&self, now: Instant) -> bool {
        self.quiet(now) && now.duration_since(self.last_used) >= IDLE_EXPIRY
    }
}

/// Drops the entries of addresses idle for [`IDLE_EXPIRY`].
fn sweep(addresses: &mut HashMap<IpAddr, Address>, now: Instant) {
    addresses.retain(|_, entry| !entry.idle(now));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::Ipv4Addr;

    use super::*;

    const SHARED: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_limit_enter_one_address_and_others_are_not_held_up() {
        let gate = Politeness::new(2, Duration::from_secs(10));
        let first = gate.enter(SHARED).await.unwrap();
        let _second = gate.enter(SHARED).await.unwrap();
        let third = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.enter(SHARED).await.map(|_| Instant::now()) }
        });
        // Another address is served at once while the first is full.
        let started = Instant::now();
        let _other = gate.enter(OTHER).await.unwrap();
        assert_eq!(Instant::now(), started);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !third.is_finished(),
            "a third request entered a full address"
        );
        drop(first);
        let entered_at = third.await.unwrap().unwrap();
        assert_eq!(entered_at, started + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_address_hands_a_request_back_after_the_longest_wait() {
        let gate = Politeness::new(1, Duration::from_secs(3));
        let _held = gate.enter(SHARED).await.unwrap();
        let started = Instant::now();
        let busy = gate.enter(SHARED).await.unwrap_err();
        assert_eq!(busy.address, SHARED);
        assert_eq!(Instant::now() - started, Duration::from_secs(3));
        // The request that gave up no longer counts as waiting.
        assert_eq!(gate.lock()[&SHARED].waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_queue_is_not_joined() {
        let gate = Politeness::new(1, Duration::from_secs(60));
        let _held = gate.enter(SHARED).await.unwrap();
        let mut queued = Vec::new();
        for _ in 0..QUEUE_PER_PERMIT {
            let gate = Arc::clone(&gate);
            queued.push(tokio::spawn(async move { gate.enter(SHARED).await }));
        }
        tokio::task::yield_now().await;
        let started = Instant::now();
        let busy = gate.enter(SHARED).await.unwrap_err();
        assert_eq!(Instant::now(), started, "handed back at once");
        // One in flight and four waiting ahead of it, a second each, at one
        // at a time: about six seconds, spread by up to a quarter.
        assert!(
            busy.retry_in >= Duration::from_secs(6) && busy.retry_in <= Duration::from_millis(7500),
            "{:?}",
            busy.retry_in
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_with_retry_after_pauses_the_whole_address_and_lowers_its_limit() {
        let gate = Politeness::new(4, Duration::from_secs(10));
        let permit = gate.enter(SHARED).await.unwrap();
        permit.answered(429, Some(Duration::from_secs(30)));
        drop(permit);
        // Another site on the same address is handed back for the pause.
        let busy = gate.enter(SHARED).await.unwrap_err();
        assert_eq!(busy.retry_in, Duration::from_secs(30));
        assert_eq!(gate.lock()[&SHARED].limit, 2);
        // Other addresses are not paused.
        gate.enter(OTHER).await.unwrap();
        // After the pause it takes requests again.
        tokio::time::sleep(Duration::from_secs(30)).await;
        gate.enter(SHARED).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_pause_is_waited_out_instead_of_handed_back() {
        let gate = Politeness::new(4, Duration::from_secs(10));
        gate.enter(SHARED)
            .await
            .unwrap()
            .answered(503, Some(Duration::from_secs(2)));
        let started = Instant::now();
        gate.enter(SHARED).await.unwrap();
        assert_eq!(Instant::now() - started, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_of_any_size_pauses_at_most_the_longest_pause() {
        let gate = Politeness::new(4, Duration::from_secs(10));
        gate.enter(SHARED)
            .await
            .unwrap()
            .answered(429, Some(Duration::from_secs(u64::MAX / 4)));
        let busy = gate.enter(SHARED).await.unwrap_err();
        assert_eq!(busy.retry_in, LONGEST_PAUSE);
    }

    #[tokio::test(start_paused = true)]
    async fn calm_answers_raise_a_lowered_limit_back_step_by_step() {
        let gate = Politeness::new(4, Duration::from_secs(10));
        gate.enter(SHARED).await.unwrap().answered(429, None);
        tokio::time::sleep(DEFAULT_PAUSE).await;
        assert_eq!(gate.lock()[&SHARED].limit, 2);
        // A request held throughout keeps the address's entry to read.
        let _held = gate.enter(SHARED).await.unwrap();
        for _ in 0..CALM_ANSWERS_PER_STEP * 4 {
            gate.enter(SHARED).await.unwrap().answered(200, None);
        }
        assert_eq!(gate.lock()[&SHARED].limit, 4, "never above per_address");
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_left_as_new_is_forgotten_at_once() {
        let gate = Politeness::new(2, Duration::from_secs(1));
        let permits: Vec<AddressPermit> = futures::future::join_all(
            (0..100u8).map(|host| gate.enter(IpAddr::V4(Ipv4Addr::new(192, 0, 2, host)))),
        )
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(gate.remembered(), 100, "addresses in use are remembered");
        drop(permits);
        assert_eq!(gate.remembered(), 0, "a quiet address keeps no entry");
        // One that asked for time is remembered past its last request.
        let permit = gate.enter(SHARED).await.unwrap();
        permit.answered(429, Some(Duration::from_secs(2)));
        drop(permit);
        assert_eq!(gate.remembered(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_addresses_are_forgotten_and_the_table_stays_bounded() {
        let gate = Politeness::new(4, Duration::from_secs(1));
        for host in 0..100u8 {
            // A 429 lowers the limit: the entry outlives the request.
            let permit = gate
                .enter(IpAddr::V4(Ipv4Addr::new(192, 0, 2, host)))
                .await
                .unwrap();
            permit.answered(429, Some(Duration::from_secs(1)));
        }
        assert_eq!(gate.remembered(), 100);
        tokio::time::sleep(IDLE_EXPIRY).await;
        sweep(&mut gate.lock(), Instant::now());
        assert_eq!(gate.remembered(), 0);
    }
}
