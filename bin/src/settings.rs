//! The worker's configuration: defaults < TOML file < environment, into a
//! typed [`Settings`] that is validated before anything starts.
//!
//! Each section is the settings type of the crate it configures, with its
//! defaults and its checks: `[scheduler]` is the application's
//! [`SchedulerSettings`], `[database]` the storage adapter's
//! [`StorageSettings`], `[fetch]` the HTTP adapter's [`FetchSettings`]. This
//! module only layers the sources, maps the environment variables (the old
//! service's names among them) onto keys, and checks what spans sections.

use std::path::{Path, PathBuf};

use config::{Config, File, FileFormat};
use scheduler_application::SchedulerSettings;
use scheduler_domain::InvalidSetting;
use scheduler_http_extractor::FetchSettings;
use scheduler_storage_seaorm::StorageSettings;
use serde::Deserialize;

pub use crate::http::HttpSettings;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "domain-scheduler.toml";

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
    /// The same, in a file: named, with the likely key for an unknown one.
    #[error("invalid configuration in {}: {reason}", path.display())]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was probably meant.
        reason: String,
    },
    /// An environment variable holds a value that is not accepted.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Environment {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why, and what is accepted.
        reason: String,
    },
    /// A key holds a value out of range or otherwise not accepted.
    #[error(transparent)]
    Value(#[from] InvalidSetting),
}

/// Daily diagnostic files kept unless `diagnostic_retention` says otherwise:
/// two weeks.
pub const DEFAULT_DIAGNOSTIC_RETENTION: usize = 14;

/// The whole configuration. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the daily diagnostic file goes (`DIAGNOSTIC_DIR`).
    pub diagnostic_dir: PathBuf,
    /// Daily diagnostic files kept, today's included; older ones are
    /// removed as a new day's file starts.
    pub diagnostic_retention: usize,
    /// `locked_by` of this worker's claims; `host:pid:random` when empty.
    pub worker_id: Option<String>,
    /// `[database]`
    pub database: StorageSettings,
    /// `[scheduler]`
    pub scheduler: SchedulerSettings,
    /// `[fetch]`
    pub fetch: FetchSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[http]`: the operators' endpoint.
    pub http: HttpSettings,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `human` or `json` (`DOMAIN_SCHEDULER_LOG_FORMAT`).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `info,scheduler_storage_seaorm=debug`
    /// (`RUST_LOG` wins when set).
    pub level: String,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(try_from = "String")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per event.
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        <LogFormat as clap::ValueEnum>::from_str(word.trim(), true)
            .map_err(|_| format!("unknown log format {word:?} (expected human or json)"))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            diagnostic_dir: std::env::temp_dir().join("domain-scheduler"),
            diagnostic_retention: DEFAULT_DIAGNOSTIC_RETENTION,
            worker_id: None,
            database: StorageSettings::default(),
            scheduler: SchedulerSettings::default(),
            fetch: FetchSettings::default(),
            log: LogSettings::default(),
            http: HttpSettings::default(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// The environment variables read, and the key each one sets. The first
/// five are the old service's names.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("DOMAIN_SCHEDULER_INTERVAL_MINUTES", "scheduler.interval"),
    ("DOMAIN_SCHEDULER_BATCH_SIZE", "scheduler.batch_size"),
    ("DOMAIN_SCHEDULER_MAX_INSTANCES", "scheduler.max_instances"),
    ("DIAGNOSTIC_DIR", "diagnostic_dir"),
    ("DATABASE_POOLER", "database.pooler"),
    ("DATABASE_MIGRATION_URL", "database.migration_url"),
    ("DATABASE_MIGRATION_POOLER", "database.migration_pooler"),
    ("DOMAIN_SCHEDULER_CONCURRENCY", "scheduler.concurrency"),
    ("DOMAIN_SCHEDULER_POLL_INTERVAL", "scheduler.poll_interval"),
    (
        "DOMAIN_SCHEDULER_MAX_PER_MINUTE",
        "scheduler.max_per_minute",
    ),
    ("DOMAIN_SCHEDULER_WORKER_ID", "worker_id"),
    ("DOMAIN_SCHEDULER_LOG_FORMAT", "log.format"),
    ("DOMAIN_SCHEDULER_HTTP_LISTEN", "http.listen"),
];

/// `worker_id` is the first part of `locked_by`; the rest (`:random/N`)
/// must fit in the domain's 100-character cap of a worker id.
const WORKER_ID_MAX_CHARS: usize = 64;

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
        let file = match path {
            Some(path) if !path.exists() => {
                return Err(SettingsError::MissingFile(path.to_owned()));
            }
            Some(path) => File::from(path).format(FileFormat::Toml),
            None => File::from(Path::new(DEFAULT_CONFIG_FILE))
                .format(FileFormat::Toml)
                .required(false),
        };
        let environment: Vec<(&'static str, &'static str, String)> = ENVIRONMENT
            .iter()
            .filter_map(|(name, key)| {
                let value = lookup(name)?.trim().to_owned();
                (!value.is_empty()).then_some((*name, *key, value))
            })
            .collect();
        // Each variable is read alone first, so that a bad one is named as
        // the variable the operator set, not as the key it maps to.
        for (name, key, value) in &environment {
            read(Config::builder().set_override(*key, value.as_str())).map_err(|reason| {
                SettingsError::Environment {
                    name,
                    value: value.clone(),
                    reason,
                }
            })?;
        }
        let mut builder = Config::builder().add_source(file);
        for (_, key, value) in &environment {
            builder = builder
                .set_override(*key, value.as_str())
                .map_err(|error| SettingsError::Invalid(error.to_string()))?;
        }
        let file_read = path
            .map(Path::to_path_buf)
            .or_else(|| Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.exists()));
        let mut settings = read(Ok(builder)).map_err(|reason| {
            let reason = explained(&reason);
            match file_read {
                Some(path) => SettingsError::InvalidFile { path, reason },
                None => SettingsError::Invalid(reason),
            }
        })?;
        settings.scheduler.fetch_budget = settings.fetch.budget();
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        self.scheduler.validate()?;
        self.fetch.validate()?;
        self.database.validate()?;
        self.http.validate()?;
        if self.diagnostic_retention == 0 {
            return Err(InvalidSetting::new(
                "diagnostic_retention",
                "0",
                "at least 1 (the number of daily diagnostic files kept, today's included)",
            )
            .into());
        }
        if let Some(id) = &self.worker_id
            && id.chars().count() > WORKER_ID_MAX_CHARS
        {
            return Err(InvalidSetting::new(
                "worker_id",
                format!("{id:?}"),
                format!(
                    "at most {WORKER_ID_MAX_CHARS} characters (a random suffix and the claim \
                     number are added to it in locked_by)"
                ),
            )
            .into());
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|error| {
            InvalidSetting::new(
                "log.level",
                format!("{:?}", self.log.level),
                format!(
                    "a tracing filter such as \"info\" or \"warn,domain_scheduler=debug\" ({error})"
                ),
            )
        })?;
        Ok(())
    }
}

/// Builds the layers and reads them into [`Settings`]; the error is the
/// `config` crate's message, which names the key at fault.
/// A deserialisation error with what was probably meant: the closest key
/// to an unknown one (among those the error lists), the form of an
/// address.
fn explained(reason: &str) -> String {
    if let Some((unknown, expected)) = reason
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'))
    {
        let closest = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|key| (strsim::levenshtein(unknown, key), key))
            .filter(|(distance, key)| *distance <= key.len().max(unknown.len()) / 3 + 1)
            .min();
        if let Some((_, key)) = closest {
            return format!("{reason} (did you mean `{key}`?)");
        }
    }
    if reason.contains("invalid socket address syntax") {
        return format!(
            "{reason} (an address and a port, e.g. \"127.0.0.1:9464\", \"0.0.0.0:9464\" or \"[::1]:9464\")"
        );
    }
    reason.to_owned()
}

fn read(
    builder: Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError>,
) -> Result<Settings, String> {
    builder
        .and_then(|builder| builder.build())
        .and_then(Config::try_deserialize)
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, environment: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.toml");
        std::fs::write(&path, file).unwrap();
        let environment: Vec<(String, String)> = environment
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Settings::load(Some(&path), |name| {
            environment
                .iter()
                .find(|(variable, _)| variable == name)
                .map(|(_, value)| value.clone())
        })
    }

    #[test]
    fn a_misspelt_key_names_the_file_and_the_key_meant() {
        let error = load("[scheduler]\nconcurency = 5\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("config.toml"), "{error}");
        assert!(error.contains("concurency"), "{error}");
        assert!(error.contains("did you mean `concurrency`?"), "{error}");
        let far = load("[scheduler]\nxyzzy = 5\n", &[])
            .unwrap_err()
            .to_string();
        assert!(!far.contains("did you mean"), "{far}");
        let listen = load("[http]\nlisten = \"9464\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(listen.contains("e.g. \"127.0.0.1:9464\""), "{listen}");
    }

    #[test]
    fn the_old_service_environment_keeps_its_meaning() {
        let settings = load(
            "",
            &[
                ("DOMAIN_SCHEDULER_INTERVAL_MINUTES", "2"),
                ("DOMAIN_SCHEDULER_BATCH_SIZE", "25"),
                ("DOMAIN_SCHEDULER_MAX_INSTANCES", "4"),
                ("DATABASE_URL", "postgres://worker@db/app"),
            ],
        )
        .unwrap();
        assert_eq!(settings.scheduler.interval.as_secs(), 120);
        assert_eq!(settings.scheduler.batch_size, 25);
        assert_eq!(settings.scheduler.max_instances, 4);
        assert_eq!(settings.database.url, "postgres://worker@db/app");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let settings = load(
            "[scheduler]\nbatch_size = 10\npoll_interval = \"250ms\"\n",
            &[("DOMAIN_SCHEDULER_BATCH_SIZE", "30")],
        )
        .unwrap();
        assert_eq!(settings.scheduler.batch_size, 30);
        assert_eq!(settings.scheduler.poll_interval.as_millis(), 250);
    }

    #[test]
    fn the_fetch_budget_follows_the_fetch_section() {
        let settings = load(
            "[fetch]\ntimeout = \"10s\"\nretries = 1\ncontact_pages = 1\n",
            &[],
        )
        .unwrap();
        assert_eq!(settings.scheduler.fetch_budget, settings.fetch.budget());
        // The home page with its retry, then one contact page: 10 s each.
        assert_eq!(settings.scheduler.fetch_budget.as_secs(), 2 * 10);
        // A lease shorter than that is refused.
        let error = load("[scheduler]\nlease = \"60s\"\n", &[]).unwrap_err();
        assert!(error.to_string().contains("scheduler.lease"), "{error}");
    }

    #[test]
    fn max_per_minute_is_unset_by_default_and_read_when_given() {
        assert_eq!(load("", &[]).unwrap().scheduler.max_per_minute, None);
        let settings = load("", &[("DOMAIN_SCHEDULER_MAX_PER_MINUTE", "50")]).unwrap();
        assert_eq!(settings.scheduler.max_per_minute.map(|n| n.get()), Some(50));
        let error = load("[scheduler]\nmax_per_minute = 0\n", &[]).unwrap_err();
        assert!(error.to_string().contains("max_per_minute"), "{error}");
    }

    #[test]
    fn the_endpoint_is_off_unless_an_address_is_given() {
        assert_eq!(load("", &[]).unwrap().http.listen, None);
        let settings = load(
            "[http]\nrefresh = \"2s\"\n",
            &[("DOMAIN_SCHEDULER_HTTP_LISTEN", "127.0.0.1:9464")],
        )
        .unwrap();
        assert_eq!(
            settings.http.listen.map(|address| address.to_string()),
            Some("127.0.0.1:9464".to_owned())
        );
        assert_eq!(settings.http.refresh.as_secs(), 2);
        let error = load("", &[("DOMAIN_SCHEDULER_HTTP_LISTEN", "localhost")]).unwrap_err();
        assert!(
            error.to_string().contains("DOMAIN_SCHEDULER_HTTP_LISTEN"),
            "{error}"
        );
        let error = load("[http]\nrefresh = \"50ms\"\n", &[]).unwrap_err();
        assert!(error.to_string().contains("http.refresh"), "{error}");
    }

    #[test]
    fn the_log_format_reads_in_any_case() {
        let settings = load("[log]\nformat = \"JSON\"\n", &[]).unwrap();
        assert_eq!(settings.log.format, LogFormat::Json);
    }
}
