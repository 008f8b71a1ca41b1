//! The throughput the status page charts: rows finished or put back per
//! minute, tallied from each row's latest change ([`MinuteTally`]), the
//! same way by every repository.

use std::collections::BTreeMap;

use crate::{LastHour, StatusReport};

/// The rows whose latest change fell within one minute, by what that
/// change was. The table keeps only each row's latest change: a row counts
/// in the minute it was last written, until it is written again (a retried
/// row leaves its minute when it is claimed again; a finished one when it
/// is requeued).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MinuteCounts {
    /// Whole minutes between the change and the report's `now` (0: the
    /// last minute; a change stamped after `now` counts as 0).
    pub minutes_ago: u32,
    /// Rows `completed` in that minute.
    pub completed: u64,
    /// Rows moved to `error` in that minute.
    pub failed: u64,
    /// Rows put back to `pending` with a time to wait for (a retry, or a
    /// deferral while the site's address was busy) in that minute.
    pub retried: u64,
}

impl MinuteCounts {
    /// Whether nothing happened in the minute.
    pub fn is_empty(&self) -> bool {
        self.completed == 0 && self.failed == 0 && self.retried == 0
    }
}

/// What a row's latest change was, as [`MinuteCounts`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinuteChange {
    /// Now `completed`.
    Completed,
    /// Now `error`.
    Failed,
    /// Back to `pending` with a time to wait for.
    Retried,
}

/// Rows' latest changes added up by minute, into a report's
/// [`StatusReport::last_hour`] and [`StatusReport::per_minute`].
#[derive(Debug, Clone, Default)]
pub struct MinuteTally {
    minutes: BTreeMap<u32, MinuteCounts>,
}

impl MinuteTally {
    /// The minutes the tally reads: the last hour, or the chart's window
    /// when longer.
    pub fn window(throughput_minutes: u32) -> u32 {
        throughput_minutes.max(60)
    }

    /// Counts `rows` changed `minutes_ago` whole minutes before the report
    /// (negative: stamped after it, counted in the last minute).
    pub fn add(&mut self, minutes_ago: i64, change: MinuteChange, rows: u64) {
        let minute = u32::try_from(minutes_ago.max(0)).unwrap_or(u32::MAX);
        let counts = self.minutes.entry(minute).or_insert(MinuteCounts {
            minutes_ago: minute,
            ..MinuteCounts::default()
        });
        match change {
            MinuteChange::Completed => counts.completed += rows,
            MinuteChange::Failed => counts.failed += rows,
            MinuteChange::Retried => counts.retried += rows,
        }
    }

    /// Writes the last hour's totals and the minutes within
    /// `throughput_minutes` into `report`.
    pub fn finish(self, report: &mut StatusReport, throughput_minutes: u32) {
        let mut hour = LastHour::default();
        for counts in self
            .minutes
            .values()
            .filter(|counts| counts.minutes_ago < 60)
        {
            hour.completed += counts.completed;
            hour.failed += counts.failed;
        }
        report.last_hour = hour;
        report.per_minute = self
            .minutes
            .into_values()
            .filter(|counts| counts.minutes_ago < throughput_minutes && !counts.is_empty())
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_hour_and_the_chart_read_the_same_minutes() {
        let mut tally = MinuteTally::default();
        tally.add(-1, MinuteChange::Completed, 2);
        tally.add(0, MinuteChange::Failed, 1);
        tally.add(59, MinuteChange::Retried, 4);
        tally.add(60, MinuteChange::Completed, 8);
        tally.add(200, MinuteChange::Failed, 16);
        let mut report = StatusReport::default();
        tally.finish(&mut report, 120);
        assert_eq!(
            report.last_hour,
            LastHour {
                completed: 2,
                failed: 1
            }
        );
        let minutes: Vec<(u32, u64, u64, u64)> = report
            .per_minute
            .iter()
            .map(|m| (m.minutes_ago, m.completed, m.failed, m.retried))
            .collect();
        assert_eq!(minutes, [(0, 2, 1, 0), (59, 0, 0, 4), (60, 8, 0, 0)]);
        assert_eq!(MinuteTally::window(0), 60);
        assert_eq!(MinuteTally::window(1440), 1440);
    }
}
