//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
/// Exit codes: 0 success, 1 runtime failure (or invalid input to enqueue or
/// requeue, or a name requeue found no row for),
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
    ///
    /// A file or stdin is streamed in chunks, each chunk its own transaction:
    /// if the import stops half-way, the chunks already written stay, and a
    /// rerun reports them as already present. Progress goes to stderr (a bar
    /// on a terminal, a line every --progress-interval otherwise), each
    /// invalid line with its line number; the summary goes to stdout. Exit
    /// code 1 when any entry was invalid (the valid ones are enqueued).
    Enqueue(EnqueueArgs),
    /// Put finished rows back to `pending`: `attempts` 0, `next_attempt_at`
    /// and the lease cleared, `updated_at` set to now (so they queue behind
    /// the rows already waiting); `last_error` stays until the next attempt
    /// overwrites it.
    ///
    /// Only `error` and `completed` rows move; `processing` rows belong to a
    /// worker and are never touched, `pending` rows are already queued. The
    /// selectors combine with AND; with none, nothing is requeued unless
    /// --all says so. Exit code 1 when a domain given is invalid or has no
    /// row (the others are still requeued).
    Requeue(RequeueArgs),
    /// Show the rows in each state, how long the next due row has waited,
    /// what finished in the last hour, the most frequent kinds of error and
    /// the latest errors (one consistent snapshot).
    Status(StatusArgs),
    /// Fetch one site (or read a saved page) and print its metadata as JSON.
    /// Uses no database.
    Extract(ExtractArgs),
    /// Create the domains table, or add the columns, indexes and trigger the
    /// worker needs to an existing one. On Postgres it is the only command
    /// that changes the schema; the others check it at start.
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

    /// Names per transaction when streaming a file or stdin.
    #[arg(long, default_value_t = 5000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chunk_size: u32,

    /// How often a progress line is written when stderr is not a terminal
    /// ("5s", "1m"; "0s": after every chunk).
    #[arg(long, default_value = "5s", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub progress_interval: Duration,
}

/// `requeue`
#[derive(Debug, Args)]
pub struct RequeueArgs {
    /// Only the rows of these domains or URLs (standardized as `enqueue`
    /// stores them).
    #[arg(value_name = "DOMAIN")]
    pub domains: Vec<String>,

    /// Only the rows of the domains in this file, one per line (`-` for
    /// stdin). Blank lines and lines starting with `#` are skipped.
    #[arg(long, short, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Only rows in this state (repeat for both; default: error and
    /// completed).
    #[arg(long, value_enum, value_name = "STATE")]
    pub status: Vec<RequeueState>,

    /// Only rows whose `updated_at` is older than this ("7d", "12h",
    /// "30m"); rows without one count as old.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,

    /// Only rows whose `last_error` matches this SQL LIKE pattern, ignoring
    /// case: `%` any text, `_` one character, `\` makes the next one
    /// literal; the pattern covers the whole message, so `'HTTP 5%'` is a
    /// prefix and `'%timed out%'` a substring.
    #[arg(long, value_name = "PATTERN", conflicts_with = "error_contains")]
    pub error_like: Option<String>,

    /// Only rows whose `last_error` contains this text, ignoring case
    /// (`%`, `_` and `\` are plain characters here).
    #[arg(long, value_name = "TEXT")]
    pub error_contains: Option<String>,

    /// Every `error` and `completed` row: needed when no other selector is
    /// given, so that a forgotten filter cannot requeue the whole table.
    #[arg(long, conflicts_with_all = ["domains", "file", "status", "older_than", "error_like", "error_contains"])]
    pub all: bool,

    /// Count the rows that would move and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A state `requeue` takes rows from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RequeueState {
    /// Rows given up on.
    Error,
    /// Rows fetched and extracted.
    Completed,
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
