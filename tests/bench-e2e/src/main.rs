//! `bench-e2e`: the worker in service mode, end to end, on this machine.
//!
//! Starts a local HTTPS server (the real TLS path) that plays N distinct
//! sites `dNNNNNN.bench.test`, each serving a real page of the corpus,
//! seeds N pending rows in a fresh database, then runs the real worker as
//! a child process (this program again, with a hidden role argument, so
//! that the memory, CPU and sockets measured are the worker's alone) until
//! the queue is empty, stops it with SIGTERM and prints one table. A bare
//! kuchikiki parse of the same pages on two threads, measured first, is
//! the yardstick of every figure.
//!
//! `just bench-e2e [--db postgres] [--domains 2000] [--concurrency 16]
//! [--latency-ms 200] [--null-extractor] [--json figures.json]`
//!
//! With `--internet [--seed 15]`, the run is two: the same sites with no
//! latency (the baseline), then a simulated internet of the same length
//! shaped like a real list of business domains (slow, dead, refusing and
//! rate-limiting hosts, redirects, names only under `www.`; see
//! [`mix`]) served on distinct loopback addresses with a DNS server of
//! its own ([`dns`], [`internet`]); one table compares them
//! ([`internet_report`] lists its figures). All traffic stays on loopback.
#![allow(clippy::print_stdout)] // The table is this program's output.

mod corpus;
mod database;
mod dns;
mod internet;
mod internet_report;
mod internet_run;
mod mix;
mod probe;
mod profile;
mod report;
mod run;
mod worker;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use scheduler_domain::DomainName;
use scheduler_tests::https_fixture::{FixtureServer, Site};
use serde::Serialize;

use crate::corpus::Corpus;
use crate::database::{BenchDatabase, DatabaseKind, FinishedRow};
use crate::report::{Figures, Percentiles};
use crate::run::{Run, Until, toml_string};

/// The sites' names end in this; one wildcard certificate name and one
/// resolve rule cover them all.
const SITE_SUFFIX: &str = "bench.test";
/// How long the bare parse runs.
const BARE_PARSE_FOR: Duration = Duration::from_secs(3);
/// Threads of the bare parse: the machine's two cores.
const BARE_PARSE_THREADS: usize = 2;

/// End-to-end benchmark of the worker in service mode.
#[derive(Debug, Parser)]
#[command(name = "bench-e2e")]
struct Options {
    /// The database the worker drains.
    #[arg(long, value_enum, default_value = "postgres")]
    db: DatabaseKind,
    /// Pending rows seeded, one distinct site each.
    #[arg(long, default_value_t = 2000)]
    domains: usize,
    /// `scheduler.concurrency` of the worker (its default when not given).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Delay the server adds before every response, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How long the server keeps an idle connection open for another
    /// request, in seconds (nginx's default is 75); 0 closes each one after
    /// its answer.
    #[arg(long, default_value_t = 75)]
    keep_alive_seconds: u64,
    /// An extractor that answers at once with fixed metadata: the queue alone.
    #[arg(long)]
    null_extractor: bool,
    /// Writes the figures as JSON there too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The corpus of real pages the sites serve.
    #[arg(long, default_value_os_t = default_corpus())]
    corpus: PathBuf,
    /// A worker setting, `section.key=value` (value in TOML), e.g.
    /// `--set scheduler.batch_size=100`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// An environment variable for the worker alone, `NAME=VALUE`, e.g.
    /// `MALLOC_ARENA_MAX=2` or a profiler's `LD_PRELOAD`. Repeatable.
    #[arg(long = "worker-env", value_name = "NAME=VALUE")]
    worker_env: Vec<String>,
    /// Server connections of the PgBouncer pool (`--db pgbouncer`).
    #[arg(long, default_value_t = 10)]
    pgbouncer_pool: u32,
    /// Gives up waiting for the queue to empty after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_seconds: u64,
    /// Runs the simulated internet (see `docs/performance.md`): the same
    /// sites first with no latency, then shaped like a real list of
    /// business domains, in one table.
    #[arg(long)]
    internet: bool,
    /// The seed the internet mix is drawn from.
    #[arg(long, default_value_t = 15)]
    seed: u64,
    /// Records the worker with `perf record` (frame-pointer call graphs)
    /// into this file while it drains (with `--internet`: the internet's
    /// drain; with several `--worker-program`s: `FILE` with each label in
    /// its extension); `--attribute-profile` reads it.
    #[arg(long, value_name = "FILE")]
    perf_record: Option<PathBuf>,
    /// Prints the share of the recorded worker's CPU samples by part of
    /// the work (TLS, HTTP, parse, ...) and exits: no run.
    #[arg(long, value_name = "FILE")]
    attribute_profile: Option<PathBuf>,
    /// Another build of this program to run as the worker, `LABEL=PATH`
    /// (e.g. one linked with another allocator). Repeatable: each runs in
    /// turn against the same sites, a fresh database each, and one table
    /// compares them. Without it, this program is the worker.
    #[arg(long = "worker-program", value_name = "LABEL=PATH")]
    worker_programs: Vec<String>,
    /// The role of the child process: runs the worker with this file.
    #[arg(long, hide = true)]
    worker_config: Option<PathBuf>,
}

fn default_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("corpus: {0}")]
    Corpus(String),
    #[error("bad option: {0}")]
    Usage(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage: {0}")]
    Storage(String),
    #[error(transparent)]
    PgBouncer(#[from] scheduler_tests::pgbouncer::PgBouncerError),
    #[error("worker configuration: {0}")]
    Settings(#[from] domain_scheduler::settings::SettingsError),
    #[error("the worker exited early ({status}); its log:\n{log}")]
    WorkerExited { status: String, log: String },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> BenchError {
    let context = context.into();
    move |source| BenchError::Io { context, source }
}

fn main() -> ExitCode {
    let options = Options::parse();
    if let Some(config) = &options.worker_config {
        return worker::run(config, options.null_extractor);
    }
    if let Some(recording) = &options.attribute_profile {
        return match profile::attribute(recording) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("bench-e2e: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(BARE_PARSE_THREADS)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-e2e: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = if options.internet {
        runtime
            .block_on(internet_run::bench(&options))
            .map(|figures| (figures.table(), to_json(&figures)))
    } else {
        runtime
            .block_on(bench(&options))
            .map(|figures| (report::tables(&figures), to_json(&figures)))
    };
    match outcome {
        Ok((table, json)) => {
            print!("{table}");
            if let Some(path) = &options.json {
                let written = json.and_then(|json| std::fs::write(path, json + "\n"));
                if let Err(error) = written {
                    eprintln!("bench-e2e: cannot write {}: {error}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench-e2e: {error}");
            ExitCode::FAILURE
        }
    }
}

fn to_json(figures: &impl Serialize) -> io::Result<String> {
    serde_json::to_string_pretty(figures).map_err(io::Error::other)
}

/// `dNNNNNN.bench.test`: site number `index`.
fn site_name(index: usize) -> String {
    format!("d{index:06}.{SITE_SUFFIX}")
}

/// The number of a site from its host name.
fn site_index(host: &str) -> Option<usize> {
    host.strip_suffix(SITE_SUFFIX)?
        .strip_suffix('.')?
        .strip_prefix('d')?
        .parse()
        .ok()
}

/// A program that runs the worker: a label for the tables and its path.
#[derive(Debug, Clone)]
struct WorkerProgram {
    label: String,
    path: PathBuf,
}

impl Options {
    /// The `--worker-program`s, or this program alone.
    fn worker_programs(&self) -> Result<Vec<WorkerProgram>, BenchError> {
        if self.worker_programs.is_empty() {
            let path = std::env::current_exe().map_err(io_error("finding this program"))?;
            return Ok(vec![WorkerProgram {
                label: "this build".into(),
                path,
            }]);
        }
        self.worker_programs
            .iter()
            .map(|given| match given.split_once('=') {
                Some((label, path)) if !label.is_empty() && Path::new(path).is_file() => {
                    Ok(WorkerProgram {
                        label: label.to_owned(),
                        path: PathBuf::from(path),
                    })
                }
                _ => Err(BenchError::Usage(format!(
                    "--worker-program {given:?}: expected LABEL=PATH of an existing file"
                ))),
            })
            .collect()
    }

    /// The one worker program of a run that compares no programs.
    fn the_worker_program(&self) -> Result<WorkerProgram, BenchError> {
        match self.worker_programs()?.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(BenchError::Usage(
                "--internet compares the internet with no latency: give at most one \
                 --worker-program"
                    .into(),
            )),
        }
    }
}

/// One run per worker program, in the order given.
async fn bench(options: &Options) -> Result<Vec<Figures>, BenchError> {
    let programs = options.worker_programs()?;
    let corpus = Arc::new(Corpus::load(&options.corpus)?);
    // Before anything else runs, so that the yardstick has the machine.
    let bare_parse = {
        let corpus = Arc::clone(&corpus);
        tokio::task::spawn_blocking(move || corpus.bare_parse(BARE_PARSE_THREADS, BARE_PARSE_FOR))
            .await
            .map_err(|error| BenchError::Corpus(format!("bare parse failed: {error}")))?
    };
    let names = site_names(options.domains, site_name)?;
    let mut all = Vec::with_capacity(programs.len());
    for program in &programs {
        // A server of its own: the times of first connections are this
        // program's.
        let server = start_fixture(options, &corpus).await?;
        let fetch = fixture_fetch_settings(&server);
        let database = BenchDatabase::create(options.db, options.pgbouncer_pool).await?;
        let record = options
            .perf_record
            .as_ref()
            .map(|file| match programs.len() {
                1 => file.clone(),
                _ => file.with_extension(format!("{}.perf", program.label)),
            });
        let outcome = run::drain(
            options,
            (program, record.as_deref()),
            &names,
            &database,
            &fetch,
            Until::Empty,
        )
        .await;
        database.remove().await;
        let (run, rows) = outcome?;
        let mut figures = figures(options, &corpus, bare_parse, &server, run, &rows);
        figures.worker = program.label.clone();
        all.push(figures);
    }
    Ok(all)
}

/// `name(index)` for the first `count` sites, as the queue takes them.
fn site_names(count: usize, name: fn(usize) -> String) -> Result<Vec<DomainName>, BenchError> {
    (0..count)
        .map(|index| {
            DomainName::parse(&name(index))
                .map_err(|error| BenchError::Usage(format!("site name: {error}")))
        })
        .collect()
}

/// The fixture server playing `dNNNNNN.bench.test`, site *i* serving
/// corpus page *i*, after `--latency-ms`.
async fn start_fixture(
    options: &Options,
    corpus: &Arc<Corpus>,
) -> Result<FixtureServer, BenchError> {
    let corpus = Arc::clone(corpus);
    let mut builder = FixtureServer::builder()
        .sites_under(SITE_SUFFIX, move |host| {
            site_index(host).map(|index| Site::shared_html(Arc::clone(corpus.page(index))))
        })
        .response_delay(Duration::from_millis(options.latency_ms));
    if options.keep_alive_seconds > 0 {
        builder = builder.keep_alive(Duration::from_secs(options.keep_alive_seconds));
    }
    builder
        .start()
        .await
        .map_err(io_error("starting the HTTPS server"))
}

/// The `[fetch]` lines that reach the fixture: its resolve rule and CA.
fn fixture_fetch_settings(server: &FixtureServer) -> Vec<String> {
    vec![
        format!(
            "resolve = {{ {} = {} }}",
            toml_string(&format!("*.{SITE_SUFFIX}")),
            toml_string(&server.ip().to_string())
        ),
        format!(
            "extra_root_certificates = [{}]",
            toml_string(&server.ca_pem_path().to_string_lossy())
        ),
        "allow_private_networks = true".into(),
        // Every site here shares the fixture's one address: at the polite
        // default this would measure one shared host, not the engine. The
        // politeness itself is measured by `--internet`, where sites have
        // addresses of their own.
        "per_address = 256".into(),
    ]
}

fn figures(
    options: &Options,
    corpus: &Corpus,
    bare_parse: corpus::BareParse,
    server: &FixtureServer,
    run: Run,
    rows: &[FinishedRow],
) -> Figures {
    let first_connections = server.first_connection_times();
    let count = |status: &str| rows.iter().filter(|row| row.status == status).count();
    let finished: Vec<&FinishedRow> = rows
        .iter()
        .filter(|row| row.status == "completed" || row.status == "error")
        .collect();
    let started = chrono::DateTime::<chrono::Utc>::from(run.started);
    let wall_seconds = finished
        .iter()
        .filter_map(|row| row.updated_at)
        .max()
        .map(|last| (last - started).as_seconds_f64())
        .unwrap_or(0.0)
        .max(f64::EPSILON);
    let per_domain: Vec<f64> = finished
        .iter()
        .filter_map(|row| {
            let first = chrono::DateTime::<chrono::Utc>::from(*first_connections.get(&row.domain)?);
            Some((row.updated_at? - first).as_seconds_f64() * 1e3)
        })
        .collect();
    let html_bytes: usize = rows
        .iter()
        .filter(|row| row.status == "completed")
        .filter_map(|row| site_index(&row.domain))
        .map(|index| corpus.page(index).len())
        .sum();
    let done = finished.len().max(1) as f64;
    Figures {
        worker: String::new(),
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        database: options.db,
        null_extractor: options.null_extractor,
        latency_ms: options.latency_ms,
        keep_alive_seconds: options.keep_alive_seconds,
        concurrency: run.concurrency,
        database_pool: run.pool,
        corpus_pages: corpus.len(),
        corpus_mb: corpus.bytes() as f64 / 1e6,
        domains: rows.len(),
        completed: count("completed"),
        failed: count("error"),
        unfinished: count("pending") + count("processing"),
        wall_seconds,
        domains_per_second: finished.len() as f64 / wall_seconds,
        html_mb_per_second: (!options.null_extractor)
            .then(|| html_bytes as f64 / 1e6 / wall_seconds),
        html_mb_per_cpu_second: (!options.null_extractor)
            .then(|| html_bytes as f64 / 1e6 / run.probe.cpu_seconds().max(f64::EPSILON)),
        per_domain_ms: Percentiles::of(per_domain),
        cpu_ms_per_domain: run.probe.cpu_seconds() * 1e3 / done,
        peak_rss_mb: megabytes(run.probe.peak_rss_kib),
        rss_mb_half_done: run.probe.rss_kib_half_done.map(megabytes),
        rss_mb_at_end: megabytes(run.probe.rss_kib),
        max_open_sockets: run.probe.max_sockets,
        round_trips_per_domain: run.round_trips.map(|trips| trips as f64 / done),
        bare_parse,
    }
}

fn megabytes(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_and_numbers_round_trip() {
        assert_eq!(site_name(42), "d000042.bench.test");
        assert_eq!(site_index("d000042.bench.test"), Some(42));
        assert_eq!(site_index("x000042.bench.test"), None);
        assert_eq!(site_index("d000042.other.test"), None);
    }
}
