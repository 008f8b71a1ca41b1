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
#![allow(clippy::print_stdout)] // The table is this program's output.

mod corpus;
mod database;
mod probe;
mod report;
mod worker;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use domain_scheduler::settings::Settings;
use scheduler_domain::DomainName;
use scheduler_tests::https_fixture::{FixtureServer, Site};

use crate::corpus::Corpus;
use crate::database::{BenchDatabase, DatabaseKind, FinishedRow};
use crate::probe::Probe;
use crate::report::{Figures, Percentiles};

/// The sites' names end in this; one wildcard certificate name and one
/// resolve rule cover them all.
const SITE_SUFFIX: &str = "bench.test";
/// How often the worker's /proc figures are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How many samples pass between two looks at the queue.
const SAMPLES_PER_QUEUE_CHECK: u64 = 4;
/// How long the bare parse runs.
const BARE_PARSE_FOR: Duration = Duration::from_secs(3);
/// Threads of the bare parse: the machine's two cores.
const BARE_PARSE_THREADS: usize = 2;
/// How long the worker may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

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
    match runtime.block_on(bench(&options)) {
        Ok(figures) => {
            print!("{}", figures.table());
            if let Some(path) = &options.json {
                let written = serde_json::to_string_pretty(&figures)
                    .map_err(io::Error::other)
                    .and_then(|json| std::fs::write(path, json + "\n"));
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

async fn bench(options: &Options) -> Result<Figures, BenchError> {
    let corpus = Arc::new(Corpus::load(&options.corpus)?);
    // Before anything else runs, so that the yardstick has the machine.
    let bare_parse = {
        let corpus = Arc::clone(&corpus);
        tokio::task::spawn_blocking(move || corpus.bare_parse(BARE_PARSE_THREADS, BARE_PARSE_FOR))
            .await
            .map_err(|error| BenchError::Corpus(format!("bare parse failed: {error}")))?
    };
    let names = (0..options.domains)
        .map(|index| {
            DomainName::parse(&site_name(index))
                .map_err(|error| BenchError::Usage(format!("site name: {error}")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let server = {
        let corpus = Arc::clone(&corpus);
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
            .map_err(io_error("starting the HTTPS server"))?
    };
    let database = BenchDatabase::create(options.db, options.pgbouncer_pool).await?;
    let outcome = drain(options, &names, &server, &database).await;
    database.remove().await;
    let (run, rows) = outcome?;
    Ok(figures(options, &corpus, bare_parse, &server, run, &rows))
}

/// What the worker's run left to compute figures from.
struct Run {
    started: SystemTime,
    probe: Probe,
    round_trips: Option<u64>,
    concurrency: usize,
    pool: u32,
}

async fn drain(
    options: &Options,
    names: &[DomainName],
    server: &FixtureServer,
    database: &BenchDatabase,
) -> Result<(Run, Vec<FinishedRow>), BenchError> {
    database.seed(names).await?;
    let dir = tempfile::tempdir().map_err(io_error("creating the run's directory"))?;
    let config = write_config(options, dir.path(), server, database)?;
    // Read back as the worker will: the socket bound uses its real values.
    let settings = Settings::load(Some(&config), |_| None)?;
    let mut observer = database.observer().await?;
    let round_trips_before = database.round_trips(&mut observer).await?;

    let log_path = dir.path().join("worker.log");
    let started = SystemTime::now();
    let mut child = spawn_worker(options, &config, &log_path)?;
    let mut probe = Probe::new(child.id());
    let deadline = Instant::now() + Duration::from_secs(options.timeout_seconds);
    let watched = watch(&mut child, &mut probe, &mut observer, names.len(), deadline).await;
    stop(&mut child);
    if let Err(error) = watched {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        return Err(match error {
            BenchError::WorkerExited { status, .. } => BenchError::WorkerExited {
                status,
                log: tail(&log, 40),
            },
            other => other,
        });
    }
    let round_trips_after = database.round_trips(&mut observer).await?;
    let rows = observer.rows().await?;
    let round_trips = round_trips_after
        .zip(round_trips_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok((
        Run {
            started,
            probe,
            round_trips,
            concurrency: settings.scheduler.concurrency,
            pool: settings.database.max_connections,
        },
        rows,
    ))
}

/// Samples the worker until the queue is empty (or the deadline passes);
/// the last sample is taken while it still runs. Its resident memory is
/// noted when half of the `domains` are done, to tell growth from a peak.
async fn watch(
    child: &mut Child,
    probe: &mut Probe,
    observer: &mut database::Observer,
    domains: usize,
    deadline: Instant,
) -> Result<(), BenchError> {
    loop {
        tokio::time::sleep(SAMPLE_EVERY).await;
        probe.sample();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(BenchError::WorkerExited {
                status: status.to_string(),
                log: String::new(),
            });
        }
        if !probe.samples.is_multiple_of(SAMPLES_PER_QUEUE_CHECK) {
            continue;
        }
        let unfinished = observer.unfinished().await?;
        if probe.rss_kib_half_done.is_none() && unfinished as usize * 2 <= domains {
            probe.rss_kib_half_done = Some(probe.rss_kib);
        }
        if unfinished == 0 || Instant::now() > deadline {
            probe.sample();
            return Ok(());
        }
    }
}

fn spawn_worker(options: &Options, config: &Path, log: &Path) -> Result<Child, BenchError> {
    let program = std::env::current_exe().map_err(io_error("finding this program"))?;
    let log_file = std::fs::File::create(log).map_err(io_error("creating the worker's log"))?;
    let log_copy = log_file
        .try_clone()
        .map_err(io_error("creating the worker's log"))?;
    let mut command = Command::new(program);
    command
        .arg("--worker-config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log_copy)
        .stderr(log_file);
    if options.null_extractor {
        command.arg("--null-extractor");
    }
    for variable in &options.worker_env {
        let (name, value) = variable.split_once('=').ok_or_else(|| {
            BenchError::Usage(format!("--worker-env {variable:?}: expected NAME=VALUE"))
        })?;
        command.env(name, value);
    }
    command.spawn().map_err(io_error("starting the worker"))
}

/// SIGTERM, as a service manager stops the worker; SIGKILL if it does not
/// stop in time.
fn stop(child: &mut Child) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    );
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    eprintln!("bench-e2e: the worker did not stop within {STOP_TIMEOUT:?} of SIGTERM; killing it");
    let _ = child.kill();
    let _ = child.wait();
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The worker's configuration file: the database, the sites' resolve rule
/// and CA, the concurrency asked for and every `--set`; everything else
/// at the worker's defaults.
fn write_config(
    options: &Options,
    dir: &Path,
    server: &FixtureServer,
    database: &BenchDatabase,
) -> Result<PathBuf, BenchError> {
    let worker_database = database.worker_database();
    let mut text = format!(
        "diagnostic_dir = {}\n\n[database]\nurl = {}\npooler = \"{}\"\n",
        toml_string(&dir.join("diagnostics").to_string_lossy()),
        toml_string(&worker_database.url),
        worker_database.pooler,
    );
    if let Some(url) = &worker_database.migration_url {
        text.push_str(&format!("migration_url = {}\n", toml_string(url)));
    }
    let mut sections: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(concurrency) = options.concurrency {
        sections
            .entry("scheduler".into())
            .or_default()
            .push(format!("concurrency = {concurrency}"));
    }
    sections.entry("fetch".into()).or_default().extend([
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
    ]);
    for setting in &options.settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| BenchError::Usage(format!("--set {setting:?}: expected KEY=VALUE")))?;
        match key.trim().split_once('.') {
            Some((section, key)) if section != "database" => sections
                .entry(section.to_owned())
                .or_default()
                .push(format!("{key} = {}", value.trim())),
            Some((_, key)) => text.push_str(&format!("{key} = {}\n", value.trim())),
            None => text.insert_str(0, &format!("{} = {}\n", key.trim(), value.trim())),
        }
    }
    let mut names: Vec<&String> = sections.keys().collect();
    names.sort();
    for name in names {
        text.push_str(&format!("\n[{name}]\n{}\n", sections[name].join("\n")));
    }
    let path = dir.join("worker.toml");
    std::fs::write(&path, text).map_err(io_error("writing the worker's configuration"))?;
    Ok(path)
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
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
