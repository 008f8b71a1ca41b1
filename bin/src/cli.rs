//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::settings::LogFormat;

/// Fetches the home page of each domain waiting in the `domains` table,
/// extracts what the site says about itself, and writes it back.
///
/// Configuration: defaults < domain-scheduler.toml (or --config) <
/// environment (DATABASE_URL, DOMAIN_SCHEDULER_INTERVAL_MINUTES,
/// DOMAIN_SCHEDULER_BATCH_SIZE, DOMAIN_SCHEDULER_MAX_INSTANCES,
/// DIAGNOSTIC_DIR, ...). With none, it uses the SQLite file
/// domain-scheduler.db in the working directory.
///
/// Exit codes: 0 success, 1 runtime failure (or invalid input to enqueue),
/// 2 bad usage or configuration.
#[derive(Debug, Parser)]
#[command(name = "domain-scheduler", version, propagate_version = true)]
pub struct Cli {
    /// A TOML configuration file (default: ./domain-scheduler.toml if present).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log format on stderr (overrides log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker: keep `scheduler.concurrency` domains in flight while
    /// rows are due, and pick up new ones as they arrive (LISTEN on a direct
    /// or session connection, polling behind a transaction pooler). Stops
    /// cleanly on SIGINT/SIGTERM. With `http.listen` set
    /// (DOMAIN_SCHEDULER_HTTP_LISTEN), also serves a status page at `/`,
    /// Prometheus metrics at `/metrics`, and `/healthz` and `/readyz`.
    Worker(WorkerArgs),
    /// Add domains to the queue as `pending` (standardized; duplicates skipped).
    Enqueue(EnqueueArgs),
    /// Show the rows in each state, how long the next due row has waited,
    /// what finished in the last hour, the most frequent kinds of error and
    /// the latest errors (one consistent snapshot).
    Status(StatusArgs),
    /// Fetch one site (or read a saved page) and print its metadata as JSON.
    /// Uses no database.
    Extract(ExtractArgs),
    /// Create the domains table, or add the columns the worker needs to an
    /// existing one.
    Migrate,
}

/// `worker`
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Process what is due now, then exit (instead of serving).
    #[arg(long)]
    pub once: bool,
}

/// `enqueue`
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Domains or URLs. With none and no --file, one per line from stdin.
    #[arg(value_name = "DOMAIN")]
    pub domains: Vec<String>,

    /// Read domains from a file, one per line (`-` for stdin). Blank lines
    /// and lines starting with `#` are skipped.
    #[arg(long, short, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// `status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// How many recent errors to list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub errors: u32,
}

/// `extract`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["target", "html"])))]
pub struct ExtractArgs {
    /// A domain or URL to fetch.
    #[arg(value_name = "DOMAIN|URL")]
    pub target: Option<String>,

    /// Read the page from this file instead of fetching it (needs --url).
    #[arg(long, value_name = "FILE", requires = "url", conflicts_with = "target")]
    pub html: Option<PathBuf>,

    /// The URL the saved page was served from (to resolve relative links).
    #[arg(long, value_name = "URL", requires = "html")]
    pub url: Option<String>,
}
