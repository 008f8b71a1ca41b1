//! Logs: human or JSON lines on stderr, and the daily diagnostic file.

use std::fs::{self, DirBuilder};
use std::io::{self, IsTerminal};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use scheduler_application::DIAGNOSTICS_TARGET;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::settings::LogFormat;

/// The daily files' names: `domain_scheduler.YYYY-MM-DD.log` (UTC dates).
const FILE_PREFIX: &str = "domain_scheduler";
const FILE_SUFFIX: &str = "log";

/// The diagnostic directory could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot use diagnostic directory {path} (diagnostic_dir / DIAGNOSTIC_DIR): {source}")]
pub struct DiagnosticDirError {
    /// The directory.
    pub path: PathBuf,
    /// What the file system said, or why the directory is not safe to use.
    pub source: io::Error,
}

/// Where the diagnostic file goes and how many days of it are kept.
#[derive(Debug, Clone, Copy)]
pub struct DiagnosticFile<'a> {
    /// The directory (`diagnostic_dir`).
    pub dir: &'a Path,
    /// Daily files kept, today's included (`diagnostic_retention`).
    pub retention: usize,
}

/// Keeps the diagnostic file's background writer running: the lines still
/// buffered are written when it is dropped, so hold it until the process
/// ends.
#[derive(Debug)]
#[must_use = "dropping it stops the diagnostic file's writer"]
pub struct TelemetryGuard {
    _flushes_on_drop: Option<WorkerGuard>,
}

/// Installs the global subscriber: stderr logs filtered by `RUST_LOG` or
/// `level`, and, when `diagnostics` is given, the events of the diagnostics
/// target in `domain_scheduler.YYYY-MM-DD.log` there, written by a
/// background thread, the oldest files beyond the retention removed.
///
/// # Errors
///
/// [`DiagnosticDirError`] when the directory cannot be created, is not safe
/// to write to, or no file can be opened there.
pub fn init_telemetry(
    format: LogFormat,
    level: &str,
    diagnostics: Option<DiagnosticFile<'_>>,
) -> Result<TelemetryGuard, DiagnosticDirError> {
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
    let (diagnostics, guard) = match diagnostics {
        Some(file) => {
            let appender = daily_appender(file)?;
            // Lines wait in memory rather than being dropped when the disk
            // is slow: each is a summary or a failure someone may look for.
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(false)
                .thread_name("diagnostic-file")
                .finish(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false)
                .with_filter(Targets::new().with_target(DIAGNOSTICS_TARGET, tracing::Level::INFO));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    // A second initialisation (tests calling into the CLI twice) keeps the
    // first subscriber; that is not an error worth stopping for.
    let _ = Registry::default()
        .with(stderr)
        .with(diagnostics)
        .try_init();
    if let Some((value, error)) = rejected {
        tracing::warn!("ignoring RUST_LOG={value:?}, not a log filter ({error}); using {level:?}");
    }
    Ok(TelemetryGuard {
        _flushes_on_drop: guard,
    })
}

/// The rolling daily file in a directory made safe to write to.
fn daily_appender(file: DiagnosticFile<'_>) -> Result<RollingFileAppender, DiagnosticDirError> {
    let fail = |source| DiagnosticDirError {
        path: file.dir.to_owned(),
        source,
    };
    prepare_private_dir(file.dir).map_err(fail)?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .filename_suffix(FILE_SUFFIX)
        .max_log_files(file.retention.max(1))
        .build(file.dir)
        .map_err(|error| fail(io::Error::other(error)))
}

/// Creates `dir` (mode 0700) when missing, and refuses one that another
/// user could have planted or can write to. The default directory sits in
/// the shared temporary directory, where anyone may create
/// `domain-scheduler` first, as a symbolic link to a file of ours or as a
/// directory holding links named like our files: appending there would
/// write wherever they point.
fn prepare_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let metadata = fs::symlink_metadata(dir)?;
    if metadata.file_type().is_symlink() {
        return Err(io::Error::other(
            "it is a symbolic link; give the directory itself",
        ));
    }
    if !metadata.is_dir() {
        return Err(io::Error::other("it is not a directory"));
    }
    let me = rustix::process::geteuid().as_raw();
    if metadata.uid() != me {
        return Err(io::Error::other(format!(
            "it belongs to user {} and this process runs as user {me}",
            metadata.uid()
        )));
    }
    if metadata.permissions().mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "others may write to it (mode {:o}); chmod go-w it",
            metadata.permissions().mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    #[test]
    fn a_missing_directory_is_created_for_this_user_alone() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a").join("diagnostics");
        prepare_private_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A second start finds it as it left it.
        prepare_private_dir(&dir).unwrap();
    }

    #[test]
    fn a_symbolic_link_in_place_of_the_directory_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("elsewhere");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
        let planted = base.path().join("domain-scheduler");
        symlink(&target, &planted).unwrap();
        let error = prepare_private_dir(&planted).unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
    }

    #[test]
    fn a_directory_others_can_write_to_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("shared");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let error = prepare_private_dir(&dir).unwrap_err();
        assert!(error.to_string().contains("others may write"), "{error}");
    }

    #[test]
    fn the_daily_file_is_named_by_its_date_and_old_days_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        for day in 1..=5 {
            fs::write(
                dir.path()
                    .join(format!("domain_scheduler.2020-01-0{day}.log")),
                "old\n",
            )
            .unwrap();
        }
        let mut appender = daily_appender(DiagnosticFile {
            dir: dir.path(),
            retention: 3,
        })
        .unwrap();
        std::io::Write::write_all(&mut appender, b"today\n").unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        let today = chrono::Utc::now().format("domain_scheduler.%Y-%m-%d.log");
        assert!(names.contains(&today.to_string()), "{names:?}");
    }
}
