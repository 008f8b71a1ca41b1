//! `status`: counts per state and the latest errors.

use std::process::ExitCode;

use scheduler_domain::{DomainRepository, Rate, StatusReport, StatusRequest};

use super::{CliError, Schema, open_repository};
use crate::cli::StatusArgs;
use crate::settings::Settings;

pub(super) async fn run(settings: &Settings, args: StatusArgs) -> Result<ExitCode, CliError> {
    let repository = open_repository(settings, Schema::Columns).await?;
    let report = repository
        .status(
            StatusRequest::at(chrono::Utc::now())
                .with_details()
                .with_errors(args.errors),
        )
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
    let lag = report.oldest_pending_seconds.map_or_else(
        || "none due".to_owned(),
        |seconds| format!("the next in line has waited {}", age(seconds)),
    );
    let mut lines = vec![
        format!(
            "pending     {:>8}  ({} waiting for a retry; {lag})",
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
    let hour = &report.last_hour;
    lines.push(String::new());
    lines.push(format!(
        "last hour   {:>8}  finished ({} completed, {} failed): {}",
        hour.completed + hour.failed,
        hour.completed,
        hour.failed,
        Rate::of(hour.completed + hour.failed, 3600.0)
    ));
    if !report.error_kinds.is_empty() {
        lines.push(String::new());
        lines.push("errors by kind:".into());
        for kind in &report.error_kinds {
            lines.push(format!("  {:>8}  {}", kind.count, kind.kind));
        }
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

/// `3h 20m`, `4m 10s`, `12s`: two units at most.
fn age(seconds: u64) -> String {
    let (days, hours, minutes, seconds) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_two_units_at_most() {
        assert_eq!(age(12), "12s");
        assert_eq!(age(250), "4m 10s");
        assert_eq!(age(12_000), "3h 20m");
        assert_eq!(age(3 * 86_400 + 7200 + 59), "3d 2h");
    }
}
