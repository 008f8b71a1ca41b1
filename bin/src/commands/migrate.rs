//! `migrate`: create or complete the `domains` table.

use std::process::ExitCode;

use scheduler_storage_seaorm::{SeaOrmRepository, redacted_url};

use super::CliError;
use crate::settings::Settings;

pub(super) async fn run(settings: &Settings) -> Result<ExitCode, CliError> {
    let storage = &settings.database;
    let report = SeaOrmRepository::migrate(storage).await?;
    let target = redacted_url(storage.migration_url());
    #[allow(clippy::print_stdout)]
    {
        if report.is_unchanged() {
            println!("{target}: the domains table is up to date");
        } else {
            if report.created_table {
                println!("{target}: created the domains table");
            }
            for column in &report.added_columns {
                println!("{target}: added column {column}");
            }
            for index in &report.added_indexes {
                println!("{target}: created index {index}");
            }
            for index in &report.rebuilt_indexes {
                println!("{target}: rebuilt invalid index {index}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
