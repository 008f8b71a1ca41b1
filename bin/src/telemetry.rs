//! Logs: human or JSON lines on stderr, and the daily diagnostic file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{NaiveDate, Utc};
use scheduler_application::DIAGNOSTICS_TARGET;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::settings::LogFormat;

/// The diagnostic directory could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot use diagnostic directory {path} (diagnostic_dir / DIAGNOSTIC_DIR): {source}")]
pub struct DiagnosticDirError {
    /// The directory.
    pub path: PathBuf,
    /// What the file system said.
    pub source: io::Error,
}

/// Installs the global subscriber: stderr logs filtered by `RUST_LOG` or
/// `level`, and, when `diagnostic_dir` is given, the events of the
/// diagnostics target in `domain_scheduler_YYYYMMDD.log` there.
///
/// # Errors
///
/// [`DiagnosticDirError`] when the directory cannot be created or written.
pub fn init_telemetry(
    format: LogFormat,
    level: &str,
    diagnostic_dir: Option<&Path>,
) -> Result<(), DiagnosticDirError> {
    // `level` was validated with the settings; `RUST_LOG` was not.
    let configured = || EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, rejected) = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(error) => (configured(), Some((value, error))),
        },
        _ => (configured(), None),
    };
    let stderr = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(io::stderr)
            .with_current_span(true)
            .boxed(),
    }
    .with_filter(filter);
    let diagnostics = diagnostic_dir
        .map(DailyFile::create)
        .transpose()?
        .map(|file| {
            tracing_subscriber::fmt::layer()
                .with_writer(file)
                .with_ansi(false)
                .with_target(false)
                .with_filter(Targets::new().with_target(DIAGNOSTICS_TARGET, tracing::Level::INFO))
        });
    // A second initialisation (tests calling into the CLI twice) keeps the
    // first subscriber; that is not an error worth stopping for.
    let _ = Registry::default()
        .with(stderr)
        .with(diagnostics)
        .try_init();
    if let Some((value, error)) = rejected {
        tracing::warn!("ignoring RUST_LOG={value:?}, not a log filter ({error}); using {level:?}");
    }
    Ok(())
}

/// Appends to `domain_scheduler_YYYYMMDD.log` (UTC date) in a directory,
/// switching files when the date changes.
#[derive(Debug)]
pub struct DailyFile {
    dir: PathBuf,
    current: Mutex<Option<(NaiveDate, File)>>,
}

impl DailyFile {
    /// Creates the directory if needed and checks that a file can be opened
    /// there, so a bad directory stops start-up instead of losing logs.
    ///
    /// # Errors
    ///
    /// [`DiagnosticDirError`] naming the directory.
    pub fn create(dir: &Path) -> Result<DailyFile, DiagnosticDirError> {
        let fail = |source| DiagnosticDirError {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(fail)?;
        let today = Utc::now().date_naive();
        let file = open_for(dir, today).map_err(fail)?;
        Ok(DailyFile {
            dir: dir.to_owned(),
            current: Mutex::new(Some((today, file))),
        })
    }

    /// The file name for `date`.
    pub fn file_name(date: NaiveDate) -> String {
        format!("domain_scheduler_{}.log", date.format("%Y%m%d"))
    }
}

fn open_for(dir: &Path, date: NaiveDate) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(DailyFile::file_name(date)))
}

/// One event's write into the day's file.
#[derive(Debug)]
pub struct DailyFileWriter<'a> {
    dir: &'a Path,
    current: MutexGuard<'a, Option<(NaiveDate, File)>>,
}

impl Write for DailyFileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let today = Utc::now().date_naive();
        if !matches!(&*self.current, Some((date, _)) if *date == today) {
            *self.current = Some((today, open_for(self.dir, today)?));
        }
        match &mut *self.current {
            Some((_, file)) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut *self.current {
            Some((_, file)) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for DailyFile {
    type Writer = DailyFileWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        // A poisoned lock only means another thread panicked mid-write; the
        // file itself is still fine to append to.
        let current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        DailyFileWriter {
            dir: &self.dir,
            current,
        }
    }
}
