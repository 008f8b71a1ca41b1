//! The child's side: the real worker in service mode, configured from the
//! file the bench wrote, exactly as the `domain-scheduler worker` binary
//! wires it, until SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use domain_scheduler::commands::CliError;
use domain_scheduler::commands::worker::serve;
use domain_scheduler::settings::Settings;
use domain_scheduler::telemetry::{DiagnosticFile, init_telemetry};
use scheduler_domain::{DomainName, ExtractionError, MetadataExtractor, SiteMetadata};
use scheduler_http_extractor::HttpExtractor;
use tokio_util::sync::CancellationToken;

/// Answers every domain at once with the same metadata: the queue alone.
#[derive(Debug)]
struct NullExtractor;

impl MetadataExtractor for NullExtractor {
    async fn extract(&self, domain: &DomainName) -> Result<SiteMetadata, ExtractionError> {
        Ok(SiteMetadata {
            url: domain.home_page_url(),
            title: Some("Benchmark".to_owned()),
            description: Some("A fixed answer of the null extractor.".to_owned()),
            language: Some("en".to_owned()),
            ..SiteMetadata::default()
        })
    }
}

/// Runs the worker with the configuration at `config` and reports as the
/// binary does.
pub(crate) fn run(config: &Path, null_extractor: bool) -> ExitCode {
    match serve_until_terminated(config, null_extractor) {
        Ok(code) => code,
        Err(error) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("bench worker: {error}");
            }
            error.exit_code()
        }
    }
}

fn serve_until_terminated(config: &Path, null_extractor: bool) -> Result<ExitCode, CliError> {
    // The file is the whole configuration: a DATABASE_URL in the shell
    // must not send the benchmark's writes anywhere else.
    let settings = Settings::load(Some(config), |_| None)?;
    let _telemetry = init_telemetry(
        settings.log.format,
        &settings.log.level,
        Some(DiagnosticFile {
            dir: &settings.diagnostic_dir,
            retention: settings.diagnostic_retention,
        }),
    )?;
    let runtime = domain_scheduler::runtime()
        .map_err(|error| CliError::Failed(format!("cannot start the runtime: {error}")))?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|error| CliError::Failed(format!("cannot listen for SIGTERM: {error}")))?;
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            terminate.recv().await;
            on_signal.cancel();
        });
        if null_extractor {
            serve(&settings, Arc::new(NullExtractor), false, shutdown).await
        } else {
            let extractor = Arc::new(HttpExtractor::new(settings.fetch.clone())?);
            serve(&settings, extractor, false, shutdown).await
        }
    })
}
