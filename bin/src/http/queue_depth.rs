//! The queue's depth over the last day, as this worker saw it: the due
//! rows (`pending` minus those waiting for a retry) of each refresh of the
//! gauges, the latest sample of each minute kept. The table cannot say how
//! deep the queue was an hour ago, so this history starts when the worker
//! does and costs the database nothing beyond the gauges' own read.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// Minutes kept: the chart's longest window.
pub(super) const MINUTES: u32 = 24 * 60;

/// The due rows at one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(super) struct QueueMinute {
    /// Whole minutes before the page's `now`.
    pub(super) minutes_ago: u32,
    /// Due rows at the minute's last sample.
    pub(super) due: u64,
}

/// One sample a minute, oldest first, at most [`MINUTES`].
#[derive(Debug, Default)]
pub(super) struct QueueDepth {
    /// (minutes since the epoch, due rows)
    samples: Mutex<VecDeque<(i64, u64)>>,
}

fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

impl QueueDepth {
    /// Keeps `due` as the depth of `at`'s minute.
    pub(super) fn record(&self, at: DateTime<Utc>, due: u64) {
        let minute = minute_of(at);
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        match samples.back_mut() {
            Some((last, depth)) if *last == minute => *depth = due,
            _ => samples.push_back((minute, due)),
        }
        while samples
            .front()
            .is_some_and(|(first, _)| minute - first >= i64::from(MINUTES))
        {
            samples.pop_front();
        }
    }

    /// The minutes of the last day with a sample, as of `now`, latest
    /// first.
    pub(super) fn minutes(&self, now: DateTime<Utc>) -> Vec<QueueMinute> {
        let now = minute_of(now);
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples
            .iter()
            .rev()
            .filter_map(|&(minute, due)| {
                let minutes_ago = u32::try_from((now - minute).max(0)).ok()?;
                (minutes_ago < MINUTES).then_some(QueueMinute { minutes_ago, due })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn keeps_the_last_sample_of_each_minute_for_a_day() {
        let start = DateTime::from_timestamp(1_800_000_000 / 60 * 60, 0).unwrap();
        let depth = QueueDepth::default();
        depth.record(start, 10);
        depth.record(start + TimeDelta::seconds(30), 12);
        depth.record(start + TimeDelta::minutes(2), 7);
        let now = start + TimeDelta::minutes(2) + TimeDelta::seconds(5);
        assert_eq!(
            depth.minutes(now),
            [
                QueueMinute {
                    minutes_ago: 0,
                    due: 7
                },
                QueueMinute {
                    minutes_ago: 2,
                    due: 12
                }
            ]
        );
        // A day later only the newest sample is left.
        depth.record(start + TimeDelta::minutes(i64::from(MINUTES) + 1), 3);
        let later = start + TimeDelta::minutes(i64::from(MINUTES) + 1);
        let kept: Vec<u64> = depth.minutes(later).iter().map(|m| m.due).collect();
        assert_eq!(kept, [3, 7]);
    }
}
