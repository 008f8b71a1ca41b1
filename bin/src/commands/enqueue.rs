//! `enqueue`: add domains to the queue.

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read};
use std::process::ExitCode;

use scheduler_domain::{DomainName, DomainRepository};

use super::{CliError, Schema, open_repository};
use crate::cli::EnqueueArgs;
use crate::settings::Settings;

/// One raw entry and where it came from, for error messages.
struct Entry {
    origin: String,
    raw: String,
}

pub(super) async fn run(settings: &Settings, args: EnqueueArgs) -> Result<ExitCode, CliError> {
    let entries = read_entries(&args)?;
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    let mut invalid = 0usize;
    for entry in &entries {
        match DomainName::parse(&entry.raw) {
            Ok(name) => {
                if seen.insert(name.clone()) {
                    names.push(name);
                }
            }
            Err(error) => {
                invalid += 1;
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("{}: {error}", entry.origin);
                }
            }
        }
    }
    let repository = open_repository(settings, Schema::MigrateSqlite).await?;
    let report = repository
        .enqueue(&names, chrono::Utc::now())
        .await
        .map_err(|error| CliError::Failed(format!("nothing was enqueued: {error}")));
    repository.close().await;
    let report = report?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "enqueued {} new, {} already present, {} invalid",
            report.added.len(),
            report.already_present.len(),
            invalid
        );
    }
    Ok(if invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_entries(args: &EnqueueArgs) -> Result<Vec<Entry>, CliError> {
    let mut entries: Vec<Entry> = args
        .domains
        .iter()
        .enumerate()
        .map(|(index, raw)| Entry {
            origin: format!("argument {}", index + 1),
            raw: raw.clone(),
        })
        .collect();
    let source: Option<(String, Box<dyn Read>)> = match &args.file {
        Some(path) if path.as_os_str() == "-" => Some(("stdin".into(), Box::new(io::stdin()))),
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|error| {
                CliError::Failed(format!("cannot read {}: {error}", path.display()))
            })?;
            Some((path.display().to_string(), Box::new(file)))
        }
        None if args.domains.is_empty() => Some(("stdin".into(), Box::new(io::stdin()))),
        None => None,
    };
    if let Some((origin, reader)) = source {
        for (number, line) in BufReader::new(reader).lines().enumerate() {
            let line =
                line.map_err(|error| CliError::Failed(format!("cannot read {origin}: {error}")))?;
            let raw = line.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            entries.push(Entry {
                origin: format!("{origin} line {}", number + 1),
                raw: raw.to_owned(),
            });
        }
    }
    Ok(entries)
}
