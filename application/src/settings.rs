//! The knobs of a batch and of the scheduler loop.

use std::time::Duration;

use chrono::TimeDelta;

/// How one batch runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSettings {
    /// Rows claimed per batch (`DOMAIN_SCHEDULER_BATCH_SIZE`, 50).
    pub batch_size: u32,
    /// Domains fetched at once within a batch (64).
    pub concurrency: usize,
    /// How long a claim is leased (15 minutes): past it, the rescue sweep
    /// hands the row to another worker. Longer than a batch can take.
    pub lease: Duration,
    /// The longest one domain's fetch can take (4 minutes): a domain is only
    /// started while at least this much of the lease is left.
    pub fetch_budget: Duration,
    /// After shutdown is asked for, how long in-flight fetches may still run
    /// before they are abandoned and their rows released (20 s).
    pub shutdown_grace: Duration,
    /// When to give up on transient failures.
    pub retry: RetryPolicy,
}

/// When and how often a transient failure is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (3); then the row goes to `error`.
    pub max_attempts: u32,
    /// Wait before the second attempt (5 minutes); doubled for each next one.
    pub base_delay: Duration,
    /// The longest wait (6 hours).
    pub max_delay: Duration,
}

/// How the scheduler loop runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// Time between ticks (`DOMAIN_SCHEDULER_INTERVAL_MINUTES`, 1 minute).
    pub interval: Duration,
    /// Batches running at once at most (`DOMAIN_SCHEDULER_MAX_INSTANCES`, 3).
    pub max_instances: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            batch_size: 50,
            concurrency: 64,
            lease: Duration::from_secs(15 * 60),
            fetch_budget: Duration::from_secs(4 * 60),
            shutdown_grace: Duration::from_secs(20),
            retry: RetryPolicy::default(),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_secs(5 * 60),
            max_delay: Duration::from_secs(6 * 60 * 60),
        }
    }
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            interval: Duration::from_secs(60),
            max_instances: 3,
        }
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
}
