//! `worker [--once]`: the service.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use scheduler_application::{DomainProcessor, Scheduler, SystemClock};
use scheduler_domain::{MetadataExtractor, WorkerId};
use scheduler_http_extractor::HttpExtractor;
use scheduler_storage_seaorm::{Backend, PoolerMode, TableSignal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{CliError, Schema, open_repository};
use crate::http::{Endpoint, install_metrics};
use crate::open_files;
use crate::settings::Settings;

pub(super) async fn run(settings: &Settings, once: bool) -> Result<ExitCode, CliError> {
    // Listen before anything slow starts: a signal during start-up then
    // stops the worker cleanly instead of killing it.
    let signals = Signals::listen();
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(signals, shutdown.clone()));
    // Bad fetch settings (an unreadable PEM file) stop start-up before the
    // database is touched.
    let extractor = Arc::new(HttpExtractor::new(settings.fetch.clone())?);
    serve(settings, extractor, once, shutdown).await
}

/// The worker behind `worker [--once]` with any extractor: opens the
/// database (creating the table on SQLite, checking it on Postgres), then
/// drains it (`once`) or serves until
/// `shutdown` is cancelled. The end-to-end benchmark runs it with a null
/// extractor to measure the queue alone.
///
/// # Errors
///
/// [`CliError`] when the database cannot be opened or a drain fails.
pub async fn serve<E>(
    settings: &Settings,
    extractor: Arc<E>,
    once: bool,
    shutdown: CancellationToken,
) -> Result<ExitCode, CliError>
where
    E: MetadataExtractor + 'static,
{
    let repository = Arc::new(open_repository(settings, Schema::Worker).await?);
    // A configured id gets a random suffix too: two replicas given the same
    // id must still never pass each other's lease checks.
    let worker = settings
        .worker_id
        .as_deref()
        .map_or_else(default_worker_id, |id| {
            WorkerId::new(format!("{id}:{}", random_suffix()))
        });
    // The pooler means something on Postgres only.
    let database = match (repository.backend(), settings.database.pooler) {
        (Backend::Sqlite, _) => "sqlite".to_owned(),
        (Backend::Postgres, PoolerMode::None) => "postgres, direct".to_owned(),
        (Backend::Postgres, pooler) => format!("postgres through a {pooler} pooler"),
    };
    info!(
        worker = %worker,
        database,
        batch_size = settings.scheduler.batch_size,
        poll_interval_ms = settings.scheduler.poll_interval.as_millis() as u64,
        concurrency = settings.scheduler.concurrency,
        max_instances = settings.scheduler.max_instances,
        diagnostic_dir = %settings.diagnostic_dir.display(),
        "worker {worker} starting"
    );
    let mut scheduler_settings = settings.scheduler.clone();
    let open_files = open_files::raise_open_files_limit();
    // A domain reads its linked pages at once: a socket for each.
    let sockets_per_domain = settings.fetch.contact_pages.max(1) as u64;
    if let Some(domains) = open_files::domains_allowed(open_files, sockets_per_domain)
        && scheduler_settings.concurrency as u64 > domains
    {
        let fitted = usize::try_from(domains).unwrap_or(usize::MAX).max(1);
        warn!(
            "scheduler.concurrency = {} needs up to {sockets_per_domain} sockets per domain in \
             flight, but the open-file limit is {} (ulimit -n; LimitNOFILE= in a systemd unit): \
             running {fitted} at once",
            scheduler_settings.concurrency,
            open_files.unwrap_or_default(),
        );
        scheduler_settings.concurrency = fitted;
    }
    let processor = Arc::new(DomainProcessor::new(
        Arc::clone(&repository),
        extractor,
        Arc::new(SystemClock),
        worker.clone(),
        scheduler_settings,
    ));
    // The endpoint outlives the scheduler by the last writes: it stops
    // after them, so that a scrape during shutdown still answers.
    let endpoint_stop = CancellationToken::new();
    let endpoint = match settings.http.listen {
        Some(listen) => {
            let endpoint = Endpoint {
                listen,
                hosts: settings.http.hosts.clone(),
                token_file: settings.http.token_file.clone(),
                metrics: install_metrics()?,
                activity: processor.activity(),
                worker: worker.to_string(),
                scheduler_interval: settings.scheduler.interval,
                shutdown: shutdown.clone(),
            };
            let (_, server) = endpoint
                .start(
                    Arc::clone(&repository),
                    settings.http.refresh,
                    endpoint_stop.clone(),
                )
                .await?;
            Some(server)
        }
        None => None,
    };
    let poll_interval = settings.scheduler.poll_interval;
    let signal = Arc::new(if once {
        // A drain never waits for new rows: it needs no listener.
        TableSignal::polling(poll_interval)
    } else {
        let signal = repository.work_signal(poll_interval);
        let poll_s = poll_interval.as_secs_f64();
        if signal.listens() {
            info!(
                "when idle: LISTEN for new pending rows (polling every {poll_s}s while the \
                 listener is down)"
            );
        } else {
            info!(
                "when idle: polling every {poll_s}s (no LISTEN with pooler = transaction or SQLite)"
            );
        }
        signal
    });
    let scheduler = Scheduler::new(processor, signal);

    let outcome = if once {
        scheduler
            .drain(&shutdown)
            .await
            .map(|drained| {
                let totals = drained.totals;
                #[allow(clippy::print_stdout)]
                {
                    let counted = |count: usize, one: &str, many: &str| {
                        format!("{count} {}", if count == 1 { one } else { many })
                    };
                    println!(
                        "processed {} in {}: {} completed, {} failed, {} to retry later, \
                         {} released, {} rescued",
                        counted(totals.claimed, "domain", "domains"),
                        counted(drained.claims, "claim", "claims"),
                        totals.completed,
                        totals.failed,
                        totals.retried,
                        totals.released,
                        drained.rescued,
                    );
                }
                ExitCode::SUCCESS
            })
            .map_err(|error| CliError::Failed(error.to_string()))
    } else {
        // Writes the database never answers must not keep the process
        // past its grace period: the leases cover what is left.
        let deadline = settings.scheduler.shutdown_grace + SHUTDOWN_SLACK;
        tokio::select! {
            () = scheduler.run(shutdown.clone()) => Ok(ExitCode::SUCCESS),
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(deadline).await;
            } => {
                error!(
                    "domains still in flight {}s after the shutdown signal; exiting, their rows \
                     are rescued when their leases expire",
                    deadline.as_secs()
                );
                Err(CliError::Failed("shutdown did not finish in time".into()))
            }
        }
    };
    endpoint_stop.cancel();
    if let Some(server) = endpoint {
        let _ = server.await;
    }
    repository.close().await;
    outcome
}

/// How long past the grace period a shutdown may take before the process
/// gives up on the last writes.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(30);

/// `host:pid:random`, so `locked_by` tells which process holds a row.
fn default_worker_id() -> WorkerId {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".to_owned());
    // Host names may be long; the pid, the random part and the claim
    // number after it must survive `WorkerId`'s cap.
    let host: String = host.chars().take(48).collect();
    WorkerId::new(format!("{host}:{}:{}", std::process::id(), random_suffix()))
}

fn random_suffix() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    random[..8].to_owned()
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM; a second one ends
/// the process at once (rows still `processing` are rescued once their
/// lease expires).
async fn cancel_on_signal(mut signals: Signals, shutdown: CancellationToken) {
    signals.next().await;
    info!("shutdown signal received: finishing the domains in flight (signal again to force)");
    shutdown.cancel();
    signals.next().await;
    warn!("second signal: exiting now; unfinished rows are rescued when their lease expires");
    std::process::exit(130);
}

/// SIGINT and SIGTERM, registered when created (on Unix; elsewhere Ctrl-C,
/// registered when first awaited).
struct Signals {
    #[cfg(unix)]
    streams: Vec<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = [SignalKind::interrupt(), SignalKind::terminate()]
                .into_iter()
                .filter_map(|kind| {
                    signal(kind)
                        .map_err(|error| warn!("cannot listen for signal {kind:?}: {error}"))
                        .ok()
                })
                .collect();
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if !self.streams.is_empty() {
            let arrivals = self
                .streams
                .iter_mut()
                .map(|stream| Box::pin(stream.recv()));
            futures::future::select_all(arrivals).await;
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
