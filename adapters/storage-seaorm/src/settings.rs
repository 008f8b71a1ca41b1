//! How to reach the database, and how the worker's sessions behave there.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What sits between the worker and Postgres.
///
/// The Postgres path is built for the strictest case whatever the mode:
/// no prepared statements and no session state, every setting applied with
/// `SET LOCAL` inside each transaction. The mode tells operators and the
/// rest of the worker which session features (LISTEN/NOTIFY, session
/// advisory locks) are off limits: all of them under `transaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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

/// Everything the storage adapter needs to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// `postgres://`, `postgresql://` or `sqlite://` URL the worker uses.
    pub url: String,
    /// What sits between the worker and Postgres.
    pub pooler: PoolerMode,
    /// A direct or session-mode URL for migrations; `url` when absent.
    pub migration_url: Option<String>,
    /// Connections in the pool.
    pub max_connections: u32,
    /// `statement_timeout` of every transaction the worker runs.
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout` of every transaction.
    pub idle_in_transaction_timeout: Duration,
    /// How long to wait for a free connection from the pool.
    pub acquire_timeout: Duration,
    /// A pooled Postgres connection idle at least this long is pinged
    /// before use (and replaced if it is gone); busier ones are used as
    /// they are.
    pub ping_connections_idle_for: Duration,
    /// How long a Postgres migration waits for a lock (another migration,
    /// or a transaction using the table while a column is added) before it
    /// gives up.
    pub migration_lock_timeout: Duration,
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
            max_connections: 10,
            statement_timeout: Duration::from_secs(90),
            idle_in_transaction_timeout: Duration::from_secs(120),
            acquire_timeout: Duration::from_secs(30),
            ping_connections_idle_for: Duration::from_secs(10),
            migration_lock_timeout: Duration::from_secs(10),
        }
    }

    /// The URL migrations run on.
    pub fn migration_url(&self) -> &str {
        self.migration_url.as_deref().unwrap_or(&self.url)
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
    fn pooler_mode_deserializes_lowercase() {
        let mode: PoolerMode = serde_json::from_str("\"session\"").unwrap();
        assert_eq!(mode, PoolerMode::Session);
        assert!(serde_json::from_str::<PoolerMode>("\"Session\"").is_err());
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
