//! One module per subcommand, and the error they share.

mod enqueue;
mod extract;
mod input;
mod migrate;
mod progress;
mod requeue;
mod status;
pub mod worker;

use std::process::ExitCode;

use scheduler_http_extractor::HttpExtractorError;
use scheduler_storage_seaorm::{Backend, SeaOrmRepository, StorageError};

use tracing::warn;

use crate::cli::Command;
use crate::settings::{Settings, SettingsError};
use crate::telemetry::DiagnosticDirError;

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A configuration value is not accepted (exit 2).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The diagnostic directory cannot be used (exit 2).
    #[error(transparent)]
    DiagnosticDir(#[from] DiagnosticDirError),
    /// The fetch settings cannot be used, e.g. an unreadable PEM file (exit 2).
    #[error(transparent)]
    Extractor(#[from] HttpExtractorError),
    /// The operators' endpoint cannot start, e.g. its address is in use
    /// (exit 2).
    #[error(transparent)]
    Endpoint(#[from] crate::http::EndpointError),
    /// The arguments do not make sense together (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The database could not be reached or refused an operation (exit 1).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else that went wrong at run time (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// 2 for bad usage or configuration, 1 for failures at run time.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Settings(_)
            | CliError::DiagnosticDir(_)
            | CliError::Extractor(_)
            | CliError::Endpoint(_)
            | CliError::Usage(_) => ExitCode::from(2),
            CliError::Storage(_) | CliError::Failed(_) => ExitCode::from(1),
        }
    }
}

/// Runs `command` with `settings`.
///
/// # Errors
///
/// [`CliError`], whose exit code the process returns.
pub async fn run(command: Command, settings: &Settings) -> Result<ExitCode, CliError> {
    match command {
        Command::Worker(args) => worker::run(settings, args.once).await,
        Command::Enqueue(args) => enqueue::run(settings, args).await,
        Command::Requeue(args) => requeue::run(settings, args).await,
        Command::Status(args) => status::run(settings, args).await,
        Command::Extract(args) => extract::run(settings, args).await,
        Command::Migrate => migrate::run(settings).await,
    }
}

/// What a command needs of the table beyond its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// The worker: missing indexes and the missing trigger are worth a
    /// warning (claims scan more; new rows wait for the next poll).
    Worker,
    /// A command that reads or inserts: the columns are enough.
    Columns,
}

/// Connects. On SQLite the table is first created or completed, so the
/// embedded default works from an empty directory; on Postgres nothing is
/// changed (that is `migrate`'s job): the table is checked, a missing table
/// or column is refused naming `migrate`, and for the worker a missing
/// index or trigger is a warning.
async fn open_repository(
    settings: &Settings,
    schema: Schema,
) -> Result<SeaOrmRepository, CliError> {
    let storage = &settings.database;
    if Backend::from_url(&storage.url)? == Backend::Sqlite {
        // The migration logs what it changed.
        SeaOrmRepository::migrate(storage).await?;
        return Ok(SeaOrmRepository::connect(storage).await?);
    }
    let repository = SeaOrmRepository::connect(storage).await?;
    let check = repository.check_schema().await?;
    if schema == Schema::Worker {
        if !check.missing_indexes.is_empty() {
            warn!(
                indexes = ?check.missing_indexes,
                "the domains table lacks indexes the worker relies on: claims and rescues scan \
                 more of the table until `domain-scheduler migrate` builds them"
            );
        }
        if check.missing_notify_trigger && repository.pooler().keeps_sessions() {
            warn!(
                "the domains table has no trigger to wake idle workers: new rows are seen at \
                 the next poll until `domain-scheduler migrate` adds it"
            );
        }
    }
    Ok(repository)
}
