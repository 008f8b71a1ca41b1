//! The worker's configuration: defaults < TOML file < environment, into a
//! typed [`Settings`] that is validated before anything starts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, File, FileFormat};
use scheduler_application::{BatchSettings, RetryPolicy, SchedulerSettings};
use scheduler_http_extractor::{FetchSettings, ResolveRule};
use scheduler_storage_seaorm::{PoolerMode, StorageSettings, redacted_url};
use serde::Deserialize;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "domain-scheduler.toml";

/// The embedded default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://domain-scheduler.db?mode=rwc";

/// A configuration that cannot be used. Each message names the key (or the
/// environment variable), the value, and what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file given with `--config` does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// The file is not valid TOML, or a key is unknown or of the wrong type.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// An environment variable holds a value that is not accepted.
    #[error("environment variable {name}={value:?} is invalid: expected {expected}")]
    Environment {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A key holds a value out of range or otherwise not accepted.
    #[error("configuration key {key} = {value} is invalid: expected {expected}")]
    Value {
        /// The key, dotted (`scheduler.batch_size`).
        key: &'static str,
        /// The value found.
        value: String,
        /// What is accepted.
        expected: String,
    },
}

/// The whole configuration. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the daily diagnostic file goes (`DIAGNOSTIC_DIR`).
    pub diagnostic_dir: PathBuf,
    /// `locked_by` of this worker's claims; `host:pid:random` when empty.
    pub worker_id: Option<String>,
    /// The database.
    pub database: DatabaseSection,
    /// The scheduler loop and its batches.
    pub scheduler: SchedulerSection,
    /// Fetching home pages.
    pub fetch: FetchSection,
    /// Logs.
    pub log: LogSection,
}

/// `[database]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `DATABASE_URL`: `postgres://...` or `sqlite://...`.
    pub url: String,
    /// `transaction` | `session` | `none`: what sits in front of Postgres.
    #[serde(deserialize_with = "pooler_keyword")]
    pub pooler: PoolerMode,
    /// A direct or session-mode URL for migrations.
    pub migration_url: Option<String>,
    /// Connections in the pool.
    pub max_connections: u32,
    /// `statement_timeout` of every transaction, in seconds.
    pub statement_timeout_seconds: f64,
    /// `idle_in_transaction_session_timeout` of every transaction, in seconds.
    pub idle_in_transaction_timeout_seconds: f64,
}

/// `[scheduler]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSection {
    /// `DOMAIN_SCHEDULER_INTERVAL_MINUTES`
    pub interval_minutes: f64,
    /// `DOMAIN_SCHEDULER_BATCH_SIZE`
    pub batch_size: u32,
    /// `DOMAIN_SCHEDULER_MAX_INSTANCES`
    pub max_instances: usize,
    /// Domains fetched at once within a batch.
    pub concurrency: usize,
    /// How long a claim is leased before the rescue sweep may take it back.
    pub lease_minutes: f64,
    /// Attempts before a transiently failing domain goes to `error`.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub retry_delay_minutes: f64,
    /// The longest wait between attempts.
    pub max_retry_delay_minutes: f64,
    /// Time in-flight fetches get to finish after SIGINT/SIGTERM.
    pub shutdown_grace_seconds: f64,
}

/// `[fetch]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSection {
    /// Time to open a connection, in seconds.
    pub connect_timeout_seconds: f64,
    /// Time for one attempt as a whole, in seconds.
    pub timeout_seconds: f64,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// The most of a page read, in KiB.
    pub max_body_kib: usize,
    /// Retries of a transient failure within one attempt of the scheduler.
    pub retries: u32,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// Host (or `*.suffix`) -> IP address, like curl's `--resolve`.
    pub resolve: BTreeMap<String, String>,
    /// PEM files trusted besides the built-in roots.
    pub extra_root_certificates: Vec<PathBuf>,
    /// Whether sites may resolve to private or loopback addresses.
    pub allow_private_networks: bool,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `human` or `json`.
    #[serde(deserialize_with = "log_format_keyword")]
    pub format: LogFormat,
    /// A tracing filter such as `info` or `info,scheduler_storage_seaorm=debug`
    /// (`RUST_LOG` wins when set).
    pub level: String,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per event.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            diagnostic_dir: std::env::temp_dir().join("domain-scheduler"),
            worker_id: None,
            database: DatabaseSection::default(),
            scheduler: SchedulerSection::default(),
            fetch: FetchSection::default(),
            log: LogSection::default(),
        }
    }
}

impl Default for DatabaseSection {
    fn default() -> Self {
        let storage = StorageSettings::new(DEFAULT_DATABASE_URL);
        DatabaseSection {
            url: storage.url,
            pooler: storage.pooler,
            migration_url: None,
            max_connections: storage.max_connections,
            statement_timeout_seconds: storage.statement_timeout.as_secs_f64(),
            idle_in_transaction_timeout_seconds: storage.idle_in_transaction_timeout.as_secs_f64(),
        }
    }
}

impl fmt::Debug for DatabaseSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The storage settings' Debug hides the passwords.
        fmt::Debug::fmt(&self.storage(), f)
    }
}

impl DatabaseSection {
    /// What the storage adapter needs.
    pub fn storage(&self) -> StorageSettings {
        let mut storage = StorageSettings::new(self.url.clone());
        storage.pooler = self.pooler;
        storage.migration_url = self.migration_url.clone();
        storage.max_connections = self.max_connections;
        storage.statement_timeout = seconds(self.statement_timeout_seconds);
        storage.idle_in_transaction_timeout = seconds(self.idle_in_transaction_timeout_seconds);
        storage
    }
}

impl Default for SchedulerSection {
    fn default() -> Self {
        let batch = BatchSettings::default();
        let scheduler = SchedulerSettings::default();
        SchedulerSection {
            interval_minutes: scheduler.interval.as_secs_f64() / 60.0,
            batch_size: batch.batch_size,
            max_instances: scheduler.max_instances,
            concurrency: batch.concurrency,
            lease_minutes: batch.lease.as_secs_f64() / 60.0,
            max_attempts: batch.retry.max_attempts,
            retry_delay_minutes: batch.retry.base_delay.as_secs_f64() / 60.0,
            max_retry_delay_minutes: batch.retry.max_delay.as_secs_f64() / 60.0,
            shutdown_grace_seconds: batch.shutdown_grace.as_secs_f64(),
        }
    }
}

impl Default for FetchSection {
    fn default() -> Self {
        let fetch = FetchSettings::default();
        FetchSection {
            connect_timeout_seconds: fetch.connect_timeout.as_secs_f64(),
            timeout_seconds: fetch.total_timeout.as_secs_f64(),
            max_redirects: fetch.max_redirects,
            max_body_kib: fetch.max_body_bytes / 1024,
            retries: fetch.retries,
            user_agent: None,
            resolve: BTreeMap::new(),
            extra_root_certificates: Vec::new(),
            allow_private_networks: fetch.allow_private_networks,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// The environment variables read, with the key each one sets and what it
/// accepts. The first five are the old service's names.
const ENVIRONMENT: &[(&str, &str, ValueKind)] = &[
    ("DATABASE_URL", "database.url", ValueKind::Text),
    (
        "DOMAIN_SCHEDULER_INTERVAL_MINUTES",
        "scheduler.interval_minutes",
        ValueKind::PositiveNumber,
    ),
    (
        "DOMAIN_SCHEDULER_BATCH_SIZE",
        "scheduler.batch_size",
        ValueKind::WholeNumber,
    ),
    (
        "DOMAIN_SCHEDULER_MAX_INSTANCES",
        "scheduler.max_instances",
        ValueKind::WholeNumber,
    ),
    ("DIAGNOSTIC_DIR", "diagnostic_dir", ValueKind::Text),
    (
        "DATABASE_POOLER",
        "database.pooler",
        ValueKind::OneOf(&PoolerMode::WORDS),
    ),
    (
        "DATABASE_MIGRATION_URL",
        "database.migration_url",
        ValueKind::Text,
    ),
    (
        "DOMAIN_SCHEDULER_CONCURRENCY",
        "scheduler.concurrency",
        ValueKind::WholeNumber,
    ),
    ("DOMAIN_SCHEDULER_WORKER_ID", "worker_id", ValueKind::Text),
    (
        "DOMAIN_SCHEDULER_LOG_FORMAT",
        "log.format",
        ValueKind::OneOf(LOG_FORMATS),
    ),
];

/// `worker_id` is the first part of `locked_by`; the rest (`:random/N`)
/// must fit in the domain's 100-character cap of a worker id.
const WORKER_ID_MAX_CHARS: usize = 64;

#[derive(Debug, Clone, Copy)]
enum ValueKind {
    Text,
    WholeNumber,
    PositiveNumber,
    /// One of these words, in any case.
    OneOf(&'static [&'static str]),
}

/// Reads `database.pooler` through [`PoolerMode`]'s `FromStr`, whose error
/// names the accepted words (serde's enum error through `config` does not).
fn pooler_keyword<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<PoolerMode, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// The words of [`LogFormat`].
const LOG_FORMATS: &[&str] = &["human", "json"];

/// Reads `log.format`, naming the accepted words when it is neither.
fn log_format_keyword<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<LogFormat, D::Error> {
    let text = String::deserialize(deserializer)?;
    <LogFormat as clap::ValueEnum>::from_str(text.trim(), true).map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown log format {text:?} (expected {})",
            LOG_FORMATS.join(" or ")
        ))
    })
}

impl Settings {
    /// Loads the defaults, then the TOML file (`path`, else
    /// [`DEFAULT_CONFIG_FILE`] when it exists), then the environment
    /// (`lookup` is `std::env::var` outside tests), and validates the result.
    ///
    /// # Errors
    ///
    /// [`SettingsError`] naming the key or variable at fault.
    pub fn load(
        path: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let mut builder = Config::builder();
        match path {
            Some(path) if !path.exists() => {
                return Err(SettingsError::MissingFile(path.to_owned()));
            }
            Some(path) => builder = builder.add_source(File::from(path).format(FileFormat::Toml)),
            None => {
                builder = builder.add_source(
                    File::from(Path::new(DEFAULT_CONFIG_FILE))
                        .format(FileFormat::Toml)
                        .required(false),
                );
            }
        }
        for (name, key, kind) in ENVIRONMENT {
            let Some(value) = lookup(name).filter(|value| !value.trim().is_empty()) else {
                continue;
            };
            let invalid = |expected: &str| SettingsError::Environment {
                name,
                value: value.clone(),
                expected: expected.to_owned(),
            };
            builder = match kind {
                ValueKind::Text => builder.set_override(*key, value.trim()),
                ValueKind::OneOf(words) => {
                    let word = value.trim().to_ascii_lowercase();
                    if !words.contains(&word.as_str()) {
                        return Err(invalid(&format!("one of {}", words.join(", "))));
                    }
                    builder.set_override(*key, word)
                }
                ValueKind::WholeNumber => {
                    let number: u64 = value
                        .trim()
                        .parse()
                        .map_err(|_| invalid("a whole number, such as 50"))?;
                    builder.set_override(*key, number)
                }
                ValueKind::PositiveNumber => {
                    let number: f64 = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n: &f64| n.is_finite() && *n > 0.0)
                        .ok_or_else(|| invalid("a number greater than 0, such as 1 or 0.5"))?;
                    builder.set_override(*key, number)
                }
            }
            .map_err(|error| SettingsError::Invalid(error.to_string()))?;
        }
        let settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|error| SettingsError::Invalid(error.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let scheduler = &self.scheduler;
        let fetch = &self.fetch;
        let database = &self.database;
        positive("scheduler.interval_minutes", scheduler.interval_minutes)?;
        in_range(
            "scheduler.batch_size",
            u64::from(scheduler.batch_size),
            1,
            10_000,
        )?;
        in_range(
            "scheduler.max_instances",
            scheduler.max_instances as u64,
            1,
            64,
        )?;
        in_range(
            "scheduler.concurrency",
            scheduler.concurrency as u64,
            1,
            1_000,
        )?;
        positive("scheduler.lease_minutes", scheduler.lease_minutes)?;
        in_range(
            "scheduler.max_attempts",
            u64::from(scheduler.max_attempts),
            1,
            100,
        )?;
        non_negative(
            "scheduler.retry_delay_minutes",
            scheduler.retry_delay_minutes,
        )?;
        non_negative(
            "scheduler.max_retry_delay_minutes",
            scheduler.max_retry_delay_minutes,
        )?;
        non_negative(
            "scheduler.shutdown_grace_seconds",
            scheduler.shutdown_grace_seconds,
        )?;
        positive(
            "fetch.connect_timeout_seconds",
            fetch.connect_timeout_seconds,
        )?;
        positive("fetch.timeout_seconds", fetch.timeout_seconds)?;
        in_range("fetch.max_redirects", fetch.max_redirects as u64, 0, 30)?;
        in_range(
            "fetch.max_body_kib",
            fetch.max_body_kib as u64,
            16,
            64 * 1024,
        )?;
        in_range("fetch.retries", u64::from(fetch.retries), 0, 10)?;
        in_range(
            "database.max_connections",
            u64::from(database.max_connections),
            1,
            1_000,
        )?;
        postgres_timeout(
            "database.statement_timeout_seconds",
            database.statement_timeout_seconds,
        )?;
        postgres_timeout(
            "database.idle_in_transaction_timeout_seconds",
            database.idle_in_transaction_timeout_seconds,
        )?;
        // Every fetch in flight may hold a whole body in memory.
        let in_flight_bytes = (scheduler.max_instances as u128)
            * (scheduler.concurrency as u128)
            * (fetch.max_body_kib as u128)
            * 1024;
        if in_flight_bytes > MAX_IN_FLIGHT_BODY_BYTES {
            return Err(SettingsError::Value {
                key: "scheduler.max_instances × scheduler.concurrency × fetch.max_body_kib",
                value: format!(
                    "{} × {} × {} KiB",
                    scheduler.max_instances, scheduler.concurrency, fetch.max_body_kib
                ),
                expected: "at most 4 GiB of page bodies in flight at once".into(),
            });
        }
        let fetch_budget = self.fetch_budget();
        let lease = seconds(scheduler.lease_minutes * 60.0);
        if lease < fetch_budget + LEASE_HEADROOM {
            return Err(SettingsError::Value {
                key: "scheduler.lease_minutes",
                value: scheduler.lease_minutes.to_string(),
                expected: format!(
                    "a lease longer than the slowest fetch (fetch.retries + 1 attempts of \
                     fetch.timeout_seconds plus their backoffs: {}s) plus {}s",
                    fetch_budget.as_secs(),
                    LEASE_HEADROOM.as_secs()
                ),
            });
        }
        for url in [Some(&database.url), database.migration_url.as_ref()]
            .into_iter()
            .flatten()
        {
            let lower = url.to_ascii_lowercase();
            if !["postgres://", "postgresql://", "sqlite:"]
                .iter()
                .any(|scheme| lower.starts_with(scheme))
            {
                let key = if Some(url) == database.migration_url.as_ref() {
                    "database.migration_url"
                } else {
                    "database.url"
                };
                return Err(SettingsError::Value {
                    key,
                    value: redacted_url(url),
                    expected: "a postgres://, postgresql:// or sqlite:// URL".into(),
                });
            }
        }
        if let Some(id) = &self.worker_id
            && id.chars().count() > WORKER_ID_MAX_CHARS
        {
            return Err(SettingsError::Value {
                key: "worker_id",
                value: format!("{id:?}"),
                expected: format!(
                    "at most {WORKER_ID_MAX_CHARS} characters (a random suffix and the batch \
                     number are added to it in locked_by)"
                ),
            });
        }
        self.resolve_rules()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|error| {
            SettingsError::Value {
                key: "log.level",
                value: format!("{:?}", self.log.level),
                expected: format!(
                    "a tracing filter such as \"info\" or \"warn,domain_scheduler=debug\" ({error})"
                ),
            }
        })?;
        Ok(())
    }

    fn resolve_rules(&self) -> Result<Vec<ResolveRule>, SettingsError> {
        self.fetch
            .resolve
            .iter()
            .map(|(host, address)| {
                ResolveRule::parse(host, address).map_err(|error| SettingsError::Value {
                    key: "fetch.resolve",
                    value: format!("{host:?} = {address:?}"),
                    expected: format!("a host or *.suffix mapped to an IP address ({error})"),
                })
            })
            .collect()
    }

    /// What the storage adapter needs.
    pub fn storage(&self) -> StorageSettings {
        self.database.storage()
    }

    /// What the HTTP extractor needs.
    ///
    /// # Errors
    ///
    /// [`SettingsError::Value`] for a bad `fetch.resolve` entry (already
    /// checked by [`Settings::load`]).
    pub fn fetch(&self) -> Result<FetchSettings, SettingsError> {
        let fetch = &self.fetch;
        let defaults = FetchSettings::default();
        Ok(FetchSettings {
            connect_timeout: seconds(fetch.connect_timeout_seconds),
            total_timeout: seconds(fetch.timeout_seconds),
            max_redirects: fetch.max_redirects,
            max_body_bytes: fetch.max_body_kib * 1024,
            retries: fetch.retries,
            user_agent: fetch.user_agent.clone().unwrap_or(defaults.user_agent),
            resolve: self.resolve_rules()?,
            extra_root_certificates: fetch.extra_root_certificates.clone(),
            allow_private_networks: fetch.allow_private_networks,
            ..defaults
        })
    }

    /// The longest one domain's fetch can take: every attempt to its time
    /// limit, and the longest wait before each retry.
    pub fn fetch_budget(&self) -> Duration {
        let attempts = self.fetch.retries + 1;
        seconds(self.fetch.timeout_seconds).saturating_mul(attempts)
            + LONGEST_RETRY_WAIT.saturating_mul(self.fetch.retries)
    }

    /// What each batch runs with.
    pub fn batch(&self) -> BatchSettings {
        let scheduler = &self.scheduler;
        BatchSettings {
            batch_size: scheduler.batch_size,
            concurrency: scheduler.concurrency,
            lease: seconds(scheduler.lease_minutes * 60.0),
            fetch_budget: self.fetch_budget(),
            shutdown_grace: seconds(scheduler.shutdown_grace_seconds),
            retry: RetryPolicy {
                max_attempts: scheduler.max_attempts,
                base_delay: seconds(scheduler.retry_delay_minutes * 60.0),
                max_delay: seconds(scheduler.max_retry_delay_minutes * 60.0),
            },
        }
    }

    /// What the scheduler loop runs with.
    pub fn scheduler(&self) -> SchedulerSettings {
        SchedulerSettings {
            interval: seconds(self.scheduler.interval_minutes * 60.0),
            max_instances: self.scheduler.max_instances,
        }
    }
}

/// The most page bytes all fetches in flight may hold at once.
const MAX_IN_FLIGHT_BODY_BYTES: u128 = 4 * 1024 * 1024 * 1024;
/// Time a lease keeps beyond the slowest fetch, for the writes.
const LEASE_HEADROOM: Duration = Duration::from_secs(60);
/// The longest wait between two quick retries of one fetch (backoff or
/// `Retry-After`).
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(30);

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::MAX)
}

fn positive(key: &'static str, value: f64) -> Result<(), SettingsError> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(())
    } else {
        Err(SettingsError::Value {
            key,
            value: value.to_string(),
            expected: "a number greater than 0".into(),
        })
    }
}

/// Postgres reads timeouts as whole milliseconds up to 2^31 - 1, and 0
/// turns them off.
fn postgres_timeout(key: &'static str, value: f64) -> Result<(), SettingsError> {
    if value.is_finite() && (0.001..=2_147_483.0).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::Value {
            key,
            value: value.to_string(),
            expected: "a number of seconds from 0.001 to 2147483".into(),
        })
    }
}

fn non_negative(key: &'static str, value: f64) -> Result<(), SettingsError> {
    if value.is_finite() && (0.0..1e9).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::Value {
            key,
            value: value.to_string(),
            expected: "a number of 0 or more".into(),
        })
    }
}

fn in_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), SettingsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::Value {
            key,
            value: value.to_string(),
            expected: format!("a whole number from {min} to {max}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_format_words_are_exactly_the_formats() {
        let variants = <LogFormat as clap::ValueEnum>::value_variants();
        assert_eq!(variants.len(), LOG_FORMATS.len());
        for word in LOG_FORMATS {
            assert!(
                <LogFormat as clap::ValueEnum>::from_str(word, false).is_ok(),
                "{word}"
            );
        }
    }
}
