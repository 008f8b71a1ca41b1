//! The `domain-scheduler` program: reads the configuration, sets up logs,
//! wires the adapters into the use cases, and runs one subcommand. The
//! binary's `main` only calls [`main_entry`]; the modules are public so the
//! cross-crate tests can wire the worker exactly as the binary does.
//!
//! # Layout
//!
//! - [`cli`]: the command line (clap).
//! - [`settings`]: defaults < TOML file < environment, validated.
//! - [`telemetry`]: stderr logs and the daily diagnostic file.
//! - [`open_files`]: the open-file limit raised for a socket per domain in
//!   flight.
//! - [`http`]: the operators' endpoint: Prometheus metrics, health and
//!   readiness probes, and a live status page.
//! - [`commands`]: one module per subcommand, and [`commands::CliError`]
//!   with its exit codes.

#[cfg(all(feature = "jemalloc", feature = "mimalloc"))]
compile_error!("the features `jemalloc` and `mimalloc` each choose the allocator: enable one");

/// jemalloc, the default: less CPU per domain than the C library's
/// allocator or mimalloc (`docs/performance.md`, *CPU per domain, before
/// and after, and the allocator*).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// mimalloc, to compare (`docs/performance.md`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cli;
pub mod commands;
pub mod http;
pub mod open_files;
pub mod settings;
pub mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::CliError;
use crate::settings::Settings;

/// Parses the command line and the configuration, runs the command, and
/// returns the process's exit code.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => return report(&CliError::from(error)),
    };
    let format = cli.log_format.unwrap_or(settings.log.format);
    // Only the worker writes the diagnostic file; the other commands report
    // on stdout and keep stderr for warnings.
    let (level, diagnostics) = match cli.command {
        Command::Worker(_) => (
            settings.log.level.as_str(),
            Some(telemetry::DiagnosticFile {
                dir: &settings.diagnostic_dir,
                retention: settings.diagnostic_retention,
            }),
        ),
        _ => ("warn", None),
    };
    // Held to the end: the diagnostic file's last lines are written when it
    // is dropped.
    let _telemetry = match telemetry::init_telemetry(format, level, diagnostics) {
        Ok(guard) => guard,
        Err(error) => return report(&CliError::from(error)),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            return report(&CliError::Failed(format!(
                "cannot start the runtime: {error}"
            )));
        }
    };
    match runtime.block_on(commands::run(cli.command, &settings)) {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

/// The runtime every command runs on; the end-to-end benchmark runs its
/// worker on it too, so that its figures are the binary's.
///
/// # Errors
///
/// When the operating system refuses the runtime's threads or its I/O driver.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn report(error: &CliError) -> ExitCode {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("domain-scheduler: {error}");
    }
    error.exit_code()
}
