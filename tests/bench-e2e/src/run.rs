//! One run of the real worker against a seeded database: its
//! configuration file, the child process, the sampling until the queue is
//! done, the stop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use domain_scheduler::settings::Settings;
use scheduler_domain::DomainName;

use crate::database::{self, BenchDatabase, FinishedRow};
use crate::probe::Probe;
use crate::profile;
use crate::{BenchError, Options, WorkerProgram, io_error};

/// How often the worker's /proc figures are sampled.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How many samples pass between two looks at the queue.
const SAMPLES_PER_QUEUE_CHECK: u64 = 4;
/// How long the worker may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// When a run is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// No row pending or processing: every row completed or failed.
    Empty,
    /// No row processing and none due within
    /// [`database::RETRY_HORIZON`]: what is left waits for a later retry.
    Settled,
}

/// What the worker's run left to compute figures from.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) started: SystemTime,
    /// When the rows were read, after the worker stopped.
    pub(crate) observed_at: DateTime<Utc>,
    pub(crate) probe: Probe,
    pub(crate) round_trips: Option<u64>,
    pub(crate) concurrency: usize,
    pub(crate) pool: u32,
}

/// Seeds `names`, runs the worker with `fetch` as its `[fetch]` section
/// (before the options' `--set`s) until the queue is done as `until`
/// says, stops it and reads every row. With `record`, the worker's CPU
/// profile of the drain is written there.
pub(crate) async fn drain(
    options: &Options,
    (program, record): (&WorkerProgram, Option<&Path>),
    names: &[DomainName],
    database: &BenchDatabase,
    fetch: &[String],
    until: Until,
) -> Result<(Run, Vec<FinishedRow>), BenchError> {
    database.seed(names).await?;
    let dir = tempfile::tempdir().map_err(io_error("creating the run's directory"))?;
    let config = write_config(options, dir.path(), database, fetch)?;
    // Read back as the worker will: the socket bound uses its real values.
    let settings = Settings::load(Some(&config), |_| None)?;
    let mut observer = database.observer().await?;
    let round_trips_before = database.round_trips(&mut observer).await?;

    let log_path = dir.path().join("worker.log");
    let started = SystemTime::now();
    let mut child = spawn_worker(options, program, &config, &log_path)?;
    let mut probe = Probe::new(child.id());
    let deadline = Instant::now() + Duration::from_secs(options.timeout_seconds);
    let mut recorder = Recording::Wanted(record);
    let mut outcomes = Outcomes::default();
    let watched = watch(
        &mut child,
        (&mut probe, &mut recorder),
        (&mut observer, &mut outcomes),
        names.len(),
        (until, deadline),
    )
    .await;
    // Before the worker stops: the profile is of the drain alone.
    let recorded = match recorder {
        Recording::Running(recorder) => recorder.finish(),
        Recording::Wanted(_) => Ok(()),
    };
    stop(&mut child);
    recorded?;
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
    let mut rows = observer.rows().await?;
    let observed_at = Utc::now();
    outcomes.note(&rows);
    for row in &mut rows {
        row.first_settled_at = outcomes.first.get(&row.domain).copied();
    }
    let round_trips = round_trips_after
        .zip(round_trips_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok((
        Run {
            started,
            observed_at,
            probe,
            round_trips,
            concurrency: settings.scheduler.concurrency,
            pool: settings.database.max_connections,
        },
        rows,
    ))
}

/// The worker's CPU profile: asked for (where to), then being recorded.
enum Recording<'a> {
    Wanted(Option<&'a Path>),
    Running(profile::Recorder),
}

/// When each row first had an outcome, from the rows seen changing while
/// the worker runs: a row requeued after a failure may be tried again
/// later in the run, and only its last update stays in the table.
#[derive(Debug, Default)]
struct Outcomes {
    first: HashMap<String, DateTime<Utc>>,
    /// The latest `updated_at` seen: the next look reads from there on.
    seen_until: Option<DateTime<Utc>>,
}

impl Outcomes {
    fn note(&mut self, rows: &[FinishedRow]) {
        for row in rows {
            if let Some(updated_at) = row.updated_at {
                self.seen_until = self.seen_until.max(Some(updated_at));
                if row.has_outcome() {
                    self.first.entry(row.domain.clone()).or_insert(updated_at);
                }
            }
        }
    }

    async fn look(&mut self, observer: &mut database::Observer) -> Result<(), BenchError> {
        let rows = observer.rows_updated_since(self.seen_until).await?;
        self.note(&rows);
        Ok(())
    }
}

/// Samples the worker until the queue is empty (or the deadline passes);
/// the last sample is taken while it still runs. Its resident memory is
/// noted when half of the `domains` are done, to tell growth from a peak.
/// A profile asked for starts with the first row done: every thread of
/// the worker exists by then, and `perf record -p` follows only those.
async fn watch(
    child: &mut Child,
    (probe, recording): (&mut Probe, &mut Recording<'_>),
    (observer, outcomes): (&mut database::Observer, &mut Outcomes),
    domains: usize,
    (until, deadline): (Until, Instant),
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
        let unfinished = match until {
            Until::Empty => observer.unfinished().await?,
            Until::Settled => {
                // Rows are requeued and may be tried again in this run: its
                // figures time first outcomes, which only watching sees. A
                // run until empty reads its rows once, at the end, and is
                // spared the queries.
                outcomes.look(observer).await?;
                observer.unsettled().await?
            }
        };
        if let Recording::Wanted(Some(file)) = recording
            && (unfinished as usize) < domains
        {
            *recording = Recording::Running(profile::Recorder::start(child.id(), file)?);
        }
        if probe.rss_kib_half_done.is_none() && unfinished as usize * 2 <= domains {
            probe.rss_kib_half_done = Some(probe.rss_kib);
        }
        if unfinished == 0 || Instant::now() > deadline {
            probe.sample();
            return Ok(());
        }
    }
}

fn spawn_worker(
    options: &Options,
    program: &WorkerProgram,
    config: &Path,
    log: &Path,
) -> Result<Child, BenchError> {
    let log_file = std::fs::File::create(log).map_err(io_error("creating the worker's log"))?;
    let log_copy = log_file
        .try_clone()
        .map_err(io_error("creating the worker's log"))?;
    let mut command = Command::new(&program.path);
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

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The worker's configuration file: the database, the `[fetch]` lines
/// given (how the sites are reached), the concurrency asked for and every
/// `--set`; everything else at the worker's defaults.
pub(crate) fn write_config(
    options: &Options,
    dir: &Path,
    database: &BenchDatabase,
    fetch: &[String],
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
    sections
        .entry("fetch".into())
        .or_default()
        .extend(fetch.iter().cloned());
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
pub(crate) fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}
