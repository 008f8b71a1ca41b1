//! [`TableSignal`]: when an idle worker should look for due rows again.
//!
//! On a connection that keeps its session (`pooler = "none"` or
//! `"session"`), one pooled connection `LISTEN`s on the channel that the
//! `domains_notify_pending` trigger (created by the migration) notifies when
//! a row becomes `pending`: an idle worker claims within moments of an
//! insert. When that connection is lost, the worker polls every
//! `poll_interval` until it is back. Behind a transaction pooler, where a
//! `LISTEN` would register on a server connection shared with other
//! clients and be lost at the next transaction, and on SQLite, the worker
//! only polls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scheduler_domain::WorkSignal;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

/// The channel the trigger notifies.
pub(crate) const NOTIFY_CHANNEL: &str = "domains_pending";

/// The longest wait between two attempts to re-establish a lost listener.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(30);

/// Wakes an idle worker: on a `NOTIFY`, or after `poll_interval` while no
/// listener is connected (always, where none can be).
#[derive(Debug)]
pub struct TableSignal {
    poll_interval: Duration,
    /// Whether a listener was started (it may be reconnecting right now).
    listens: bool,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// A listener is connected and subscribed.
    listening: AtomicBool,
    wake: Notify,
}

impl TableSignal {
    /// A signal that only polls.
    pub fn polling(poll_interval: Duration) -> TableSignal {
        TableSignal {
            poll_interval,
            listens: false,
            shared: Arc::default(),
        }
    }

    /// A signal that listens on a connection of `pool` (in a task of its
    /// own, which re-establishes a lost connection and ends when the pool
    /// is closed), and polls while it cannot.
    pub(crate) fn listening(pool: sqlx::PgPool, poll_interval: Duration) -> TableSignal {
        let signal = TableSignal {
            listens: true,
            ..TableSignal::polling(poll_interval)
        };
        tokio::spawn(listen(pool, Arc::clone(&signal.shared)));
        signal
    }

    /// Whether this signal listens for notifications (else it only polls).
    pub fn listens(&self) -> bool {
        self.listens
    }

    /// Whether a listener is connected right now (a poll stands in while
    /// it is not).
    pub fn is_listening(&self) -> bool {
        self.shared.listening.load(Ordering::Acquire)
    }
}

impl WorkSignal for TableSignal {
    async fn wait(&self, longest: Duration) {
        let longest = if self.is_listening() {
            longest
        } else {
            self.poll_interval.min(longest)
        };
        // Even a poller waits for the wake-up: the listener coming up sends
        // one, so nobody sleeps a whole poll past it. A notification that
        // came while nobody waited left a permit: the claim that follows
        // finds its row.
        let _ = tokio::time::timeout(longest, self.shared.wake.notified()).await;
    }
}

impl Shared {
    fn wake_all(&self) {
        // Every worker waiting now, and the next one to wait if none is.
        self.wake.notify_waiters();
        self.wake.notify_one();
    }
}

async fn listen(pool: sqlx::PgPool, shared: Arc<Shared>) {
    let mut failures: u32 = 0;
    while !pool.is_closed() {
        match subscribe(&pool).await {
            Ok(mut listener) => {
                failures = 0;
                shared.listening.store(true, Ordering::Release);
                info!(channel = NOTIFY_CHANNEL, "listening for new pending rows");
                // Rows may have come while nobody listened.
                shared.wake_all();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => shared.wake_all(),
                        Ok(None) => {
                            warn!("the listening connection was lost; polling until it is back");
                            break;
                        }
                        Err(error) => {
                            if !pool.is_closed() {
                                warn!(%error, "listening failed: {error}; polling until it is back");
                            }
                            break;
                        }
                    }
                }
                shared.listening.store(false, Ordering::Release);
                // Workers waiting for a notification would sleep out their
                // whole idle wait: wake them to claim (and find out whether
                // the database is there), then poll.
                shared.wake_all();
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                if !pool.is_closed() {
                    debug!(%error, "cannot listen yet: {error}");
                }
            }
        }
        let wait = Duration::from_millis(250)
            .saturating_mul(1 << failures.min(10))
            .min(MAX_RECONNECT_WAIT);
        tokio::time::sleep(wait).await;
    }
}

async fn subscribe(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnection is this module's: it marks the gap and polls meanwhile.
    listener.eager_reconnect(false);
    listener.listen(NOTIFY_CHANNEL).await?;
    Ok(listener)
}
