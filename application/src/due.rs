//! When rows this worker handed back become due again. No signal announces
//! a row that becomes due by the clock (a `NOTIFY` comes only with new
//! rows), so an idle claimer wakes at the next of these times rather than
//! at `interval`.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The most times remembered; past it the latest are forgotten (the
/// earliest are the ones that shorten a wait).
const MOST_REMEMBERED: usize = 4096;

/// The times, earliest first.
#[derive(Debug, Default)]
pub(crate) struct DueTimes {
    times: Mutex<BTreeSet<Instant>>,
}

impl DueTimes {
    /// Remembers that a row is due again at `at`.
    pub(crate) fn note(&self, at: Instant) {
        let mut times = self.lock();
        times.insert(at);
        if times.len() > MOST_REMEMBERED {
            times.pop_last();
        }
    }

    /// How long to wait for the next look: zero when a remembered time has
    /// come (it is then forgotten), else until the next one, at most
    /// `longest`.
    pub(crate) fn wait(&self, longest: Duration) -> Duration {
        let now = Instant::now();
        let mut times = self.lock();
        let mut came = false;
        while times.first().is_some_and(|&first| first <= now) {
            times.pop_first();
            came = true;
        }
        if came {
            return Duration::ZERO;
        }
        times
            .first()
            .map_or(longest, |&next| longest.min(next - now))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Instant>> {
        // A set of instants stays usable whatever panicked while it was held.
        self.times.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn each_time_wakes_a_claimer_once_and_the_next_one_is_kept() {
        let due = DueTimes::default();
        assert_eq!(due.wait(HOUR), HOUR);
        let start = Instant::now();
        due.note(start + Duration::from_secs(10));
        due.note(start + Duration::from_secs(4));
        assert_eq!(due.wait(HOUR), Duration::from_secs(4));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(due.wait(HOUR), Duration::ZERO);
        assert_eq!(due.wait(HOUR), Duration::from_secs(6));
        assert_eq!(due.wait(Duration::from_secs(1)), Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(due.wait(HOUR), Duration::ZERO);
        assert_eq!(due.wait(HOUR), HOUR);
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_times_are_kept_when_too_many_are_noted() {
        let due = DueTimes::default();
        let start = Instant::now();
        for second in (1..=MOST_REMEMBERED as u64 + 10).rev() {
            due.note(start + Duration::from_secs(second));
        }
        assert_eq!(due.lock().len(), MOST_REMEMBERED);
        assert_eq!(due.wait(HOUR), Duration::from_secs(1));
    }
}
