//! How to reach the database, and how the worker's sessions behave there.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use scheduler_domain::InvalidSetting;
use scheduler_domain::settings::{check_duration, check_range, duration};
use serde::Deserialize;

/// The database the worker uses when none is configured: a SQLite file in
/// the working directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://domain-scheduler.db?mode=rwc";

/// What sits between the worker and Postgres.
///
/// The Postgres path is built for the strictest case whatever the mode:
/// no prepared statements and no session state, every setting applied with
/// `SET LOCAL` inside each transaction. The mode tells operators and the
/// rest of the worker which session features (LISTEN/NOTIFY, session
/// advisory locks) are off limits: all of them under `transaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum PoolerMode {
    /// A transaction pooler (PgBouncer `pool_mode = transaction`, Supavisor
    /// on 6543): consecutive transactions may run on different server
    /// connections shared with other clients.
    #[default]
    Transaction,
    /// A session pooler: one server connection per client connection.
    Session,
    /// A direct connection to the server.
    None,
}

impl PoolerMode {
    /// Every word accepted in configuration.
    pub const WORDS: [&'static str; 3] = ["transaction", "session", "none"];

    /// The word used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolerMode::Transaction => "transaction",
            PoolerMode::Session => "session",
            PoolerMode::None => "none",
        }
    }

    /// Whether session state (session `SET`, LISTEN/NOTIFY, session advisory
    /// locks) survives from one transaction to the next.
    pub fn keeps_sessions(self) -> bool {
        !matches!(self, PoolerMode::Transaction)
    }
}

impl fmt::Display for PoolerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pooler mode that is none of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pooler mode {0:?} (expected transaction, session or none)")]
pub struct UnknownPoolerMode(pub String);

impl TryFrom<String> for PoolerMode {
    type Error = UnknownPoolerMode;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        word.parse()
    }
}

impl FromStr for PoolerMode {
    type Err = UnknownPoolerMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "transaction" => Ok(PoolerMode::Transaction),
            "session" => Ok(PoolerMode::Session),
            "none" => Ok(PoolerMode::None),
            _ => Err(UnknownPoolerMode(s.to_owned())),
        }
    }
}

/// Everything the storage adapter needs to connect: the `[database]`
/// section of the configuration. A duration reads `"90s"` or a bare number
/// of seconds.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `postgres://`, `postgresql://` or `sqlite://` URL the worker uses
    /// (`DATABASE_URL`).
    pub url: String,
    /// What sits between the worker and Postgres (`DATABASE_POOLER`).
    pub pooler: PoolerMode,
    /// A direct or session-mode URL for migrations; `url` when absent
    /// (`DATABASE_MIGRATION_URL`).
    pub migration_url: Option<String>,
    /// What sits in front of `migration_url` (`DATABASE_MIGRATION_POOLER`);
    /// when absent, `pooler` if the migration runs on `url`, else `none`
    /// (a separate migration URL is meant to keep its session).
    pub migration_pooler: Option<PoolerMode>,
    /// Connections in the pool (10).
    pub max_connections: u32,
    /// `statement_timeout` of every transaction the worker runs (90 s).
    #[serde(
        alias = "statement_timeout_seconds",
        deserialize_with = "duration::seconds"
    )]
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout` of every transaction (120 s).
    #[serde(
        alias = "idle_in_transaction_timeout_seconds",
        deserialize_with = "duration::seconds"
    )]
    pub idle_in_transaction_timeout: Duration,
    /// How long to wait for a free connection from the pool (30 s).
    #[serde(skip)]
    pub acquire_timeout: Duration,
    /// A pooled Postgres connection idle at least this long is pinged
    /// before use (and replaced if it is gone); busier ones are used as
    /// they are (10 s).
    #[serde(skip)]
    pub ping_connections_idle_for: Duration,
    /// How long a Postgres migration waits for a lock (another migration,
    /// or a transaction using the table while a column is added) before it
    /// gives up (10 s).
    #[serde(skip)]
    pub migration_lock_timeout: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings::new(DEFAULT_DATABASE_URL)
    }
}

impl StorageSettings {
    /// The defaults for `url`: a transaction pooler assumed, 10 connections,
    /// `statement_timeout` 90 s, `idle_in_transaction_session_timeout` 120 s,
    /// 30 s to acquire a connection, a ping before using a connection idle
    /// for 10 s, 10 s for a migration's lock waits.
    pub fn new(url: impl Into<String>) -> StorageSettings {
        StorageSettings {
            url: url.into(),
            pooler: PoolerMode::default(),
            migration_url: None,
            migration_pooler: None,
            max_connections: 10,
            statement_timeout: Duration::from_secs(90),
            idle_in_transaction_timeout: Duration::from_secs(120),
            acquire_timeout: Duration::from_secs(30),
            ping_connections_idle_for: Duration::from_secs(10),
            migration_lock_timeout: Duration::from_secs(10),
        }
    }

    /// Checks every key; a URL in an error has its password hidden.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] naming the first key at fault.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        check_range("database.max_connections", self.max_connections, 1, 1_000)?;
        // Postgres reads timeouts as whole milliseconds up to 2^31 - 1, and
        // 0 turns them off.
        let postgres_max = Duration::from_secs(2_147_483);
        for (key, timeout) in [
            ("database.statement_timeout", self.statement_timeout),
            (
                "database.idle_in_transaction_timeout",
                self.idle_in_transaction_timeout,
            ),
        ] {
            check_duration(key, timeout, Duration::from_millis(1), postgres_max)?;
        }
        for (key, url) in [
            ("database.url", Some(&self.url)),
            ("database.migration_url", self.migration_url.as_ref()),
        ] {
            let Some(url) = url else { continue };
            let lower = url.to_ascii_lowercase();
            if !["postgres://", "postgresql://", "sqlite:"]
                .iter()
                .any(|scheme| lower.starts_with(scheme))
            {
                return Err(InvalidSetting::new(
                    key,
                    redacted_url(url),
                    "a postgres://, postgresql:// or sqlite:// URL",
                ));
            }
        }
        Ok(())
    }

    /// The URL migrations run on.
    pub fn migration_url(&self) -> &str {
        self.migration_url.as_deref().unwrap_or(&self.url)
    }

    /// What sits in front of [`StorageSettings::migration_url`].
    pub fn migration_pooler(&self) -> PoolerMode {
        match (self.migration_pooler, &self.migration_url) {
            (Some(pooler), _) => pooler,
            (None, None) => self.pooler,
            (None, Some(_)) => PoolerMode::None,
        }
    }
}

/// The URL with its password hidden, for logs and `Debug`.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot have a password at all.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageSettings")
            .field("url", &redacted_url(&self.url))
            .field("pooler", &self.pooler)
            .field(
                "migration_url",
                &self.migration_url.as_deref().map(redacted_url),
            )
            .field("migration_pooler", &self.migration_pooler)
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .field(
                "idle_in_transaction_timeout",
                &self.idle_in_transaction_timeout,
            )
            .field("acquire_timeout", &self.acquire_timeout)
            .field("ping_connections_idle_for", &self.ping_connections_idle_for)
            .field("migration_lock_timeout", &self.migration_lock_timeout)
            .finish()
    }
}

/// A duration as Postgres reads a setting: whole seconds as `90s`,
/// otherwise milliseconds, a partial millisecond rounded up: Postgres reads
/// `0` as "no timeout", so a non-zero duration must never come out as zero.
pub(crate) fn postgres_duration(duration: Duration) -> String {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooler_modes_parse_from_configuration_words() {
        assert_eq!("transaction".parse(), Ok(PoolerMode::Transaction));
        assert_eq!("Session".parse(), Ok(PoolerMode::Session));
        assert_eq!("none".parse(), Ok(PoolerMode::None));
        let error = "pgbouncer".parse::<PoolerMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown pooler mode \"pgbouncer\" (expected transaction, session or none)"
        );
    }

    #[test]
    fn pooler_mode_deserializes_in_any_case_and_names_the_accepted_words() {
        let mode: PoolerMode = serde_json::from_str("\"Session\"").unwrap();
        assert_eq!(mode, PoolerMode::Session);
        let error = serde_json::from_str::<PoolerMode>("\"pgbouncer\"").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected transaction, session or none"),
            "{error}"
        );
    }

    #[test]
    fn old_second_keys_and_new_durations_read_the_same() {
        let old: StorageSettings = serde_json::from_str(
            r#"{"statement_timeout_seconds": 30, "idle_in_transaction_timeout_seconds": 1.5}"#,
        )
        .unwrap();
        let new: StorageSettings = serde_json::from_str(
            r#"{"statement_timeout": "30s", "idle_in_transaction_timeout": "1500ms"}"#,
        )
        .unwrap();
        assert!(old == new);
        assert_eq!(new.statement_timeout, Duration::from_secs(30));
        assert_eq!(new.url, DEFAULT_DATABASE_URL);
        new.validate().unwrap();
    }

    #[test]
    fn a_url_of_another_kind_is_refused_with_its_password_hidden() {
        let settings = StorageSettings::new("mysql://user:secret@db.example.com/app");
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("database.url"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn defaults_hold_the_session_settings_of_the_old_service() {
        let settings = StorageSettings::new("postgres://localhost/db");
        assert_eq!(postgres_duration(settings.statement_timeout), "90s");
        assert_eq!(
            postgres_duration(settings.idle_in_transaction_timeout),
            "120s"
        );
        assert_eq!(postgres_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(settings.migration_url(), "postgres://localhost/db");
    }

    #[test]
    fn migrations_go_through_the_workers_pooler_unless_a_url_of_their_own_is_given() {
        let mut settings = StorageSettings::new("postgres://pooler:6543/db");
        assert_eq!(settings.migration_pooler(), PoolerMode::Transaction);
        settings.migration_url = Some("postgres://db:5432/db".into());
        assert_eq!(settings.migration_pooler(), PoolerMode::None);
        settings.migration_pooler = Some(PoolerMode::Transaction);
        assert_eq!(settings.migration_pooler(), PoolerMode::Transaction);
    }

    #[test]
    fn every_pooler_word_names_its_mode() {
        for word in PoolerMode::WORDS {
            assert_eq!(word.parse::<PoolerMode>().unwrap().as_str(), word);
        }
    }

    #[test]
    fn partial_milliseconds_round_up_instead_of_disabling_the_timeout() {
        assert_eq!(postgres_duration(Duration::from_micros(1)), "1ms");
        assert_eq!(postgres_duration(Duration::from_micros(500)), "1ms");
        assert_eq!(postgres_duration(Duration::from_micros(1_001)), "2ms");
        assert_eq!(postgres_duration(Duration::from_nanos(999_999_999)), "1s");
        assert_eq!(postgres_duration(Duration::from_millis(2_000)), "2s");
        assert_eq!(postgres_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn debug_output_hides_passwords() {
        let mut settings = StorageSettings::new("postgres://worker:s3cret@db:6543/postgres");
        settings.migration_url = Some("postgres://admin:hunter2@db:5432/postgres".into());
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("worker:***@db:6543"), "{shown}");
    }
}
