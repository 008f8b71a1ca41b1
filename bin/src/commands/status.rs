//! `status`: counts per state and the latest errors.

use std::process::ExitCode;

use scheduler_domain::{DomainRepository, StatusReport};

use super::{CliError, Schema, open_repository};
use crate::cli::StatusArgs;
use crate::settings::Settings;

pub(super) async fn run(settings: &Settings, args: StatusArgs) -> Result<ExitCode, CliError> {
    let repository = open_repository(settings, Schema::MigrateSqlite).await?;
    let report = repository
        .status(chrono::Utc::now(), args.errors)
        .await
        .map_err(|error| CliError::Failed(error.to_string()));
    repository.close().await;
    let report = report?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)
            .map_err(|error| CliError::Failed(format!("cannot render JSON: {error}")))?
    } else {
        render(&report)
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

fn render(report: &StatusReport) -> String {
    let mut lines = vec![
        format!(
            "pending     {:>8}  ({} waiting for a retry)",
            report.pending, report.waiting_for_retry
        ),
        format!(
            "processing  {:>8}  ({} with an expired lease)",
            report.processing, report.expired_leases
        ),
        format!("completed   {:>8}", report.completed),
        format!("error       {:>8}", report.error),
    ];
    if report.other > 0 {
        lines.push(format!(
            "other       {:>8}  (status not used by this worker)",
            report.other
        ));
    }
    if !report.recent_errors.is_empty() {
        lines.push(String::new());
        lines.push("recent errors:".into());
        for sample in &report.recent_errors {
            lines.push(format!(
                "  {}  {}  {}",
                sample.at.format("%Y-%m-%d %H:%M:%S"),
                sample.domain,
                sample.error
            ));
        }
    }
    lines.join("\n")
}
