//! [`SchedulerSettings`]: the `[scheduler]` section of the configuration,
//! with its defaults and its checks, and the [`RetryPolicy`] it implies.

use std::num::NonZeroU32;
use std::time::Duration;

use chrono::TimeDelta;
use scheduler_domain::InvalidSetting;
use scheduler_domain::settings::{check_duration, check_range, duration, duration_text};
use serde::Deserialize;

/// How the worker claims and processes domains. Every key is optional; a
/// duration reads `"90s"`, `"15m"`, or a bare number in the unit of the
/// key's older name (`interval_minutes = 1`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSettings {
    /// The longest an idle worker waits before it looks for due rows again
    /// and runs the rescue sweep (1 minute;
    /// `DOMAIN_SCHEDULER_INTERVAL_MINUTES`).
    #[serde(alias = "interval_minutes", deserialize_with = "duration::minutes")]
    pub interval: Duration,
    /// How often an idle worker that cannot `LISTEN` (behind a transaction
    /// pooler, on SQLite, or while its listener reconnects) looks for due
    /// rows (1 s). Each look is one indexed claim statement.
    #[serde(deserialize_with = "duration::seconds")]
    pub poll_interval: Duration,
    /// Rows taken per claim at most (50; `DOMAIN_SCHEDULER_BATCH_SIZE`).
    pub batch_size: u32,
    /// Claim statements in flight at once (3;
    /// `DOMAIN_SCHEDULER_MAX_INSTANCES`).
    pub max_instances: usize,
    /// Domains in flight at once (1024; `DOMAIN_SCHEDULER_CONCURRENCY`):
    /// claimed and not yet written, most of them waiting on the network.
    /// Rows are claimed as slots free up, so a slow site holds one slot.
    /// Waiting costs a socket and a few kilobytes; what costs CPU and
    /// memory has budgets of its own (a parsing thread per core, the
    /// body budget), so this is sized for the internet's latency.
    pub concurrency: usize,
    /// Domains started per minute at most (unset: as fast as `concurrency`
    /// allows). For a paid proxy or a small uplink.
    pub max_per_minute: Option<NonZeroU32>,
    /// How long a claim is leased (15 minutes): past it, the rescue sweep
    /// hands the row to another worker.
    #[serde(alias = "lease_minutes", deserialize_with = "duration::minutes")]
    pub lease: Duration,
    /// Attempts in all, the first included (3); then the row goes to `error`.
    pub max_attempts: u32,
    /// Wait before the second attempt (5 minutes); doubled for each next one.
    #[serde(alias = "retry_delay_minutes", deserialize_with = "duration::minutes")]
    pub retry_delay: Duration,
    /// The longest wait between attempts (6 hours).
    #[serde(
        alias = "max_retry_delay_minutes",
        deserialize_with = "duration::minutes"
    )]
    pub max_retry_delay: Duration,
    /// After SIGINT/SIGTERM, how long in-flight domains may still run before
    /// they are abandoned and their rows released (20 s).
    #[serde(
        alias = "shutdown_grace_seconds",
        deserialize_with = "duration::seconds"
    )]
    pub shutdown_grace: Duration,
    /// The longest one domain's fetch can take, from the fetch settings
    /// (not a key of its own): a domain is only started while at least this
    /// much of its lease is left.
    #[serde(skip)]
    pub fetch_budget: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            batch_size: 50,
            max_instances: 3,
            concurrency: 1024,
            max_per_minute: None,
            lease: Duration::from_secs(15 * 60),
            max_attempts: 3,
            retry_delay: Duration::from_secs(5 * 60),
            max_retry_delay: Duration::from_secs(6 * 60 * 60),
            shutdown_grace: Duration::from_secs(20),
            fetch_budget: Duration::from_secs(4 * 60),
        }
    }
}

/// Time a lease keeps beyond the slowest fetch, for the writes.
pub const LEASE_HEADROOM: Duration = Duration::from_secs(60);

const A_DAY: Duration = Duration::from_secs(24 * 60 * 60);
const A_YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

impl SchedulerSettings {
    /// Checks every key, and that the lease outlasts the slowest fetch.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] naming the first key at fault.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let ms = Duration::from_millis;
        check_duration("scheduler.interval", self.interval, ms(10), A_DAY)?;
        check_duration("scheduler.poll_interval", self.poll_interval, ms(10), A_DAY)?;
        check_range("scheduler.batch_size", self.batch_size, 1, 10_000)?;
        check_range("scheduler.max_instances", self.max_instances, 1, 64)?;
        check_range("scheduler.concurrency", self.concurrency, 1, 16_384)?;
        if let Some(pace) = self.max_per_minute {
            check_range("scheduler.max_per_minute", pace.get(), 1, 1_000_000)?;
        }
        check_range("scheduler.max_attempts", self.max_attempts, 1, 100)?;
        check_duration("scheduler.retry_delay", self.retry_delay, ms(0), A_YEAR)?;
        check_duration(
            "scheduler.max_retry_delay",
            self.max_retry_delay,
            ms(0),
            A_YEAR,
        )?;
        check_duration(
            "scheduler.shutdown_grace",
            self.shutdown_grace,
            ms(0),
            A_DAY,
        )?;
        let shortest_lease = self.fetch_budget.saturating_add(LEASE_HEADROOM);
        if self.lease < shortest_lease {
            return Err(InvalidSetting::new(
                "scheduler.lease",
                format!("{:?}", duration_text(self.lease)),
                format!(
                    "a lease longer than the slowest fetch ({}, from the [fetch] settings) plus \
                     {}",
                    duration_text(self.fetch_budget),
                    duration_text(LEASE_HEADROOM)
                ),
            ));
        }
        check_duration("scheduler.lease", self.lease, shortest_lease, A_DAY * 7)
    }

    /// When and how often a transient failure is retried.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            base_delay: self.retry_delay,
            max_delay: self.max_retry_delay,
        }
    }
}

/// When and how often a transient failure is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; then the row goes to `error`.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each next one.
    pub base_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        SchedulerSettings::default().retry()
    }
}

impl RetryPolicy {
    /// The wait before the next attempt, after `attempts` attempts so far:
    /// `base_delay * 2^(attempts - 1)`, at most `max_delay`.
    pub fn delay_after(&self, attempts: u32) -> TimeDelta {
        let doublings = attempts.saturating_sub(1).min(30);
        let delay = self
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX)
    }

    /// Whether another attempt is allowed after `attempts` attempts.
    pub fn allows_another(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(300),
        };
        assert_eq!(policy.delay_after(1), TimeDelta::seconds(60));
        assert_eq!(policy.delay_after(2), TimeDelta::seconds(120));
        assert_eq!(policy.delay_after(3), TimeDelta::seconds(240));
        assert_eq!(policy.delay_after(4), TimeDelta::seconds(300));
        assert_eq!(policy.delay_after(200), TimeDelta::seconds(300));
    }

    #[test]
    fn another_attempt_only_below_the_maximum() {
        let policy = RetryPolicy::default();
        assert!(policy.allows_another(2));
        assert!(!policy.allows_another(3));
    }

    #[test]
    fn the_defaults_are_valid() {
        SchedulerSettings::default().validate().unwrap();
    }

    #[test]
    fn old_numeric_keys_and_new_durations_read_the_same() {
        let old: SchedulerSettings = serde_json::from_str(
            r#"{"interval_minutes": 2, "lease_minutes": 20, "retry_delay_minutes": 1,
                "max_retry_delay_minutes": 60, "shutdown_grace_seconds": 5}"#,
        )
        .unwrap();
        let new: SchedulerSettings = serde_json::from_str(
            r#"{"interval": "2m", "lease": "20m", "retry_delay": "60s",
                "max_retry_delay": "1h", "shutdown_grace": "5s"}"#,
        )
        .unwrap();
        assert_eq!(old, new);
        assert_eq!(new.interval, Duration::from_secs(120));
        assert_eq!(new.shutdown_grace, Duration::from_secs(5));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_str::<SchedulerSettings>(r#"{"intervall": "1m"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `intervall`"), "{error}");
    }

    #[test]
    fn a_lease_shorter_than_the_slowest_fetch_is_refused() {
        let settings = SchedulerSettings {
            lease: Duration::from_secs(4 * 60),
            fetch_budget: Duration::from_secs(4 * 60),
            ..SchedulerSettings::default()
        };
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("scheduler.lease = \"240s\""), "{error}");
        assert!(error.contains("slowest fetch (240s"), "{error}");
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let settings = SchedulerSettings {
            concurrency: 0,
            ..SchedulerSettings::default()
        };
        let error = settings.validate().unwrap_err();
        assert_eq!(error.key, "scheduler.concurrency");
        let settings = SchedulerSettings {
            poll_interval: Duration::ZERO,
            ..SchedulerSettings::default()
        };
        assert_eq!(
            settings.validate().unwrap_err().key,
            "scheduler.poll_interval"
        );
    }
}
