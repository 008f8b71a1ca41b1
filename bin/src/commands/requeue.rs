//! `requeue`: finished rows back to `pending`.

use std::process::ExitCode;

use scheduler_domain::{
    DomainName, DomainRepository, DomainStatus, ErrorPattern, RequeueSelection,
};

use super::input::{self, LineSource};
use super::{CliError, Schema, open_repository};
use crate::cli::{RequeueArgs, RequeueState};
use crate::settings::Settings;

pub(super) async fn run(settings: &Settings, args: RequeueArgs) -> Result<ExitCode, CliError> {
    let now = chrono::Utc::now();
    let (selection, invalid) = selection(&args, now)?;
    if selection.is_everything() && !args.all {
        return Err(CliError::Usage(
            "requeue needs a selector (DOMAIN, --file, --status, --older-than, --error-like, \
             --error-contains), or --all to requeue every error and completed row"
                .into(),
        ));
    }
    let repository = open_repository(settings, Schema::Columns).await?;
    let report = repository
        .requeue(&selection, args.dry_run, now)
        .await
        .map_err(|error| CliError::Failed(format!("nothing was requeued: {error}")));
    repository.close().await;
    let report = report?;
    #[allow(clippy::print_stderr)]
    for name in &report.not_found {
        eprintln!("{name}: no such domain in the table");
    }
    #[allow(clippy::print_stderr)]
    for (name, status) in &report.left_alone {
        eprintln!("{name}: {status}, left alone");
    }
    let verb = if args.dry_run {
        "would requeue"
    } else {
        "requeued"
    };
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{verb} {} row{}; {} not found, {} left alone, {invalid} invalid{}",
            report.requeued,
            if report.requeued == 1 { "" } else { "s" },
            report.not_found.len(),
            report.left_alone.len(),
            if args.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            }
        );
    }
    Ok(if invalid > 0 || !report.not_found.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The selection the arguments ask for, and how many given names were
/// invalid (each reported on stderr).
fn selection(
    args: &RequeueArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(RequeueSelection, u64), CliError> {
    let mut selection = RequeueSelection::new();
    for state in &args.status {
        let status = match state {
            RequeueState::Error => DomainStatus::Error,
            RequeueState::Completed => DomainStatus::Completed,
        };
        selection = selection
            .with_status(status)
            .map_err(|error| CliError::Usage(error.to_string()))?;
    }
    if let Some(age) = args.older_than {
        let cutoff = chrono::Duration::from_std(age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .ok_or_else(|| CliError::Usage(format!("--older-than {age:?} is too long")))?;
        selection = selection.updated_before(cutoff);
    }
    if let Some(pattern) = &args.error_like {
        selection = selection.error_matching(ErrorPattern::Like(pattern.clone()));
    }
    if let Some(text) = &args.error_contains {
        selection = selection.error_matching(ErrorPattern::Contains(text.clone()));
    }
    let mut names = Vec::new();
    let mut invalid = 0u64;
    let mut add = |entry: input::Entry| match DomainName::parse(&entry.raw) {
        Ok(name) => names.push(name),
        Err(error) => {
            invalid += 1;
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{}: {error}", entry.origin);
            }
        }
    };
    input::arguments(&args.domains).for_each(&mut add);
    if let Some(source) = LineSource::open(args.file.as_deref(), false)? {
        // A list of names to requeue is read whole (it becomes one `IN`
        // list); the reads block, stdin maybe for long.
        tokio::task::block_in_place(|| {
            source.for_each(|entry, _| {
                add(entry);
                true
            })
        })?;
    }
    if (!args.domains.is_empty() || args.file.is_some()) && names.is_empty() {
        return Err(CliError::Failed(
            "none of the domains given is valid: nothing was requeued".into(),
        ));
    }
    Ok((selection.domains(names), invalid))
}
