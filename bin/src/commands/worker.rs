//! `worker [--once]`: the service.

use std::process::ExitCode;
use std::sync::Arc;

use scheduler_application::{BatchProcessor, Scheduler, SystemClock};
use scheduler_domain::WorkerId;
use scheduler_http_extractor::HttpExtractor;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{CliError, open_repository};
use crate::settings::Settings;

pub(super) async fn run(settings: &Settings, once: bool) -> Result<ExitCode, CliError> {
    // Bad fetch settings (an unreadable PEM file) stop start-up before the
    // database is touched.
    let extractor = Arc::new(HttpExtractor::new(settings.fetch()?)?);
    let repository = Arc::new(open_repository(settings).await?);
    let worker = settings
        .worker_id
        .as_deref()
        .map_or_else(default_worker_id, WorkerId::new);
    info!(
        worker = %worker,
        backend = repository.backend().as_str(),
        pooler = %settings.database.pooler,
        batch_size = settings.scheduler.batch_size,
        concurrency = settings.scheduler.concurrency,
        max_instances = settings.scheduler.max_instances,
        diagnostic_dir = %settings.diagnostic_dir.display(),
        "worker {worker} starting"
    );
    let processor = Arc::new(BatchProcessor::new(
        Arc::clone(&repository),
        extractor,
        Arc::new(SystemClock),
        worker,
        settings.batch(),
    ));
    let scheduler = Scheduler::new(processor, settings.scheduler());
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    let outcome = if once {
        scheduler
            .drain(&shutdown)
            .await
            .map(|drained| {
                let totals = drained.totals;
                #[allow(clippy::print_stdout)]
                {
                    println!(
                        "processed {} domains in {} batches: {} completed, {} failed, {} to retry \
                         later, {} released, {} rescued",
                        totals.claimed,
                        drained.batches,
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
        scheduler.run(shutdown).await;
        Ok(ExitCode::SUCCESS)
    };
    repository.close().await;
    outcome
}

/// `host:pid:random`, so `locked_by` tells which process holds a row.
fn default_worker_id() -> WorkerId {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    WorkerId::new(format!("{host}:{}:{}", std::process::id(), &random[..8]))
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM; a second one ends
/// the process at once (rows still `processing` are rescued once their
/// lease expires).
async fn cancel_on_signal(shutdown: CancellationToken) {
    wait_for_signal().await;
    info!("shutdown signal received: finishing the domains in flight (signal again to force)");
    shutdown.cancel();
    wait_for_signal().await;
    warn!("second signal: exiting now; unfinished rows are rescued when their lease expires");
    std::process::exit(130);
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            warn!("cannot listen for SIGTERM ({error}); only SIGINT stops the worker");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
