//! [`plan`]: the changes from what is there to what the worker needs.
//! Pure: it reads no database and changes none.

use tracing::info;

use super::existing::{Existing, IndexState};
use super::report::MigrationReport;
use super::schema::{
    COLUMNS, DOMAIN_INDEX, INDEXES, IndexSpec, SQLITE_UUID, postgres_create_table,
    sqlite_create_table,
};
use crate::backend::Backend;

/// The changes a migration makes.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) report: MigrationReport,
    /// Table and column changes (and indexes of a new, empty table): one
    /// transaction.
    pub(super) in_transaction: Vec<String>,
    /// Index builds on an existing Postgres table, each a statement of its
    /// own, after the transaction.
    pub(super) concurrent: Vec<String>,
}

/// The changes that bring what `existing` describes to the schema.
pub(super) fn plan(existing: &Existing, backend: Backend) -> Plan {
    let mut plan = Plan::default();
    let mut indexes: Vec<&IndexSpec> = INDEXES.iter().collect();
    if existing.columns.is_empty() {
        plan.report.created_table = true;
        plan.in_transaction.push(match backend {
            Backend::Postgres => postgres_create_table(),
            Backend::Sqlite => sqlite_create_table(),
        });
    } else {
        for column in COLUMNS
            .iter()
            .filter(|c| !existing.columns.iter().any(|e| e == c.name))
        {
            plan.in_transaction.push(match backend {
                Backend::Postgres => format!(
                    "ALTER TABLE domains ADD COLUMN IF NOT EXISTS {} {}",
                    column.name, column.postgres_add
                ),
                Backend::Sqlite => format!(
                    "ALTER TABLE domains ADD COLUMN {} {}",
                    column.name, column.sqlite_add
                ),
            });
            plan.report.added_columns.push(column.name.to_owned());
            if backend == Backend::Sqlite && column.name == "id" {
                // SQLite cannot give an added column an expression default:
                // existing rows get their ids now, rows inserted later by
                // other systems from a trigger. A row without an id could
                // not be claimed.
                plan.in_transaction.extend([
                    format!("UPDATE domains SET id = {SQLITE_UUID} WHERE id IS NULL"),
                    format!(
                        "CREATE TRIGGER IF NOT EXISTS domains_default_id AFTER INSERT ON domains \
                         FOR EACH ROW WHEN NEW.id IS NULL BEGIN \
                         UPDATE domains SET id = {SQLITE_UUID} WHERE rowid = NEW.rowid; END"
                    ),
                ]);
            }
        }
        if !existing.unique_domain {
            indexes.insert(0, &DOMAIN_INDEX);
        }
    }
    // A new table is empty: its indexes are built at once, in the same
    // transaction. SQLite has one writer anyway.
    let concurrently = backend == Backend::Postgres && !plan.report.created_table;
    let building: Vec<&String> = existing
        .indexes
        .iter()
        .filter(|(_, state)| **state == IndexState::Building)
        .map(|(name, _)| name)
        .collect();
    if !building.is_empty() {
        // Another migration is building indexes of this table: a build
        // started here would only wait for it (index builds on one table
        // take turns), holding this start-up back. It finishes the job.
        info!(
            ?building,
            "another migration is building indexes of domains; leaving them to it"
        );
        return plan;
    }
    for index in indexes {
        match existing.indexes.get(index.name) {
            Some(IndexState::Valid | IndexState::Building) => {}
            Some(IndexState::Invalid) => {
                plan.concurrent
                    .push(format!("REINDEX INDEX CONCURRENTLY {}", index.name));
                plan.report.rebuilt_indexes.push(index.name.to_owned());
            }
            None => {
                if concurrently {
                    plan.concurrent.push(index.create(backend, true));
                } else {
                    plan.in_transaction.push(index.create(backend, false));
                }
                plan.report.added_indexes.push(index.name.to_owned());
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const CLAIM: &str = "domains_claim_idx";
    const LEASE: &str = "domains_lease_idx";

    fn table(columns: &[&str], indexes: &[(&str, IndexState)], unique_domain: bool) -> Existing {
        Existing {
            columns: columns.iter().map(|&name| name.to_owned()).collect(),
            indexes: indexes
                .iter()
                .map(|&(name, state)| (name.to_owned(), state))
                .collect::<BTreeMap<_, _>>(),
            unique_domain,
        }
    }

    fn every_column() -> Vec<&'static str> {
        COLUMNS.iter().map(|column| column.name).collect()
    }

    fn complete_table() -> Existing {
        table(
            &every_column(),
            &[(CLAIM, IndexState::Valid), (LEASE, IndexState::Valid)],
            true,
        )
    }

    #[test]
    fn an_empty_database_gets_the_table_and_its_indexes_in_one_transaction() {
        for backend in [Backend::Postgres, Backend::Sqlite] {
            let plan = plan(&table(&[], &[], false), backend);
            let create_table = match backend {
                Backend::Postgres => postgres_create_table(),
                Backend::Sqlite => sqlite_create_table(),
            };
            // The new table's `domain` is UNIQUE already: no index for it.
            assert_eq!(
                plan.in_transaction,
                [
                    create_table,
                    INDEXES[0].create(backend, false),
                    INDEXES[1].create(backend, false),
                ],
                "{backend:?}"
            );
            assert!(plan.concurrent.is_empty(), "{backend:?}");
            assert_eq!(
                plan.report,
                MigrationReport {
                    created_table: true,
                    added_indexes: vec![CLAIM.to_owned(), LEASE.to_owned()],
                    ..MigrationReport::default()
                }
            );
        }
        assert!(postgres_create_table().contains("id uuid PRIMARY KEY DEFAULT gen_random_uuid()"));
        assert!(sqlite_create_table().contains("id TEXT PRIMARY KEY NOT NULL DEFAULT (lower("));
    }

    #[test]
    fn a_complete_table_needs_nothing() {
        for backend in [Backend::Postgres, Backend::Sqlite] {
            let plan = plan(&complete_table(), backend);
            assert!(plan.in_transaction.is_empty(), "{backend:?}");
            assert!(plan.concurrent.is_empty(), "{backend:?}");
            assert!(plan.report.is_unchanged(), "{backend:?}");
        }
    }

    #[test]
    fn a_table_without_the_lease_columns_gets_only_those_in_schema_order() {
        let lease_columns = ["attempts", "locked_by", "locked_until", "next_attempt_at"];
        let mut existing = complete_table();
        existing
            .columns
            .retain(|column| !lease_columns.contains(&column.as_str()));
        let postgres = plan(&existing, Backend::Postgres);
        assert_eq!(
            postgres.in_transaction,
            [
                "ALTER TABLE domains ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0",
                "ALTER TABLE domains ADD COLUMN IF NOT EXISTS locked_by text",
                "ALTER TABLE domains ADD COLUMN IF NOT EXISTS locked_until timestamptz",
                "ALTER TABLE domains ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz",
            ]
        );
        assert!(postgres.concurrent.is_empty());
        assert_eq!(
            postgres.report,
            MigrationReport {
                added_columns: lease_columns.map(str::to_owned).to_vec(),
                ..MigrationReport::default()
            }
        );
        let sqlite = plan(&existing, Backend::Sqlite);
        assert_eq!(
            sqlite.in_transaction,
            [
                "ALTER TABLE domains ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE domains ADD COLUMN locked_by TEXT",
                "ALTER TABLE domains ADD COLUMN locked_until TEXT",
                "ALTER TABLE domains ADD COLUMN next_attempt_at TEXT",
            ]
        );
        assert_eq!(sqlite.report, postgres.report);
    }

    #[test]
    fn an_added_id_gets_a_default_on_postgres_and_values_and_a_trigger_on_sqlite() {
        let mut existing = complete_table();
        existing.columns.retain(|column| column != "id");
        let postgres = plan(&existing, Backend::Postgres);
        assert_eq!(
            postgres.in_transaction,
            ["ALTER TABLE domains ADD COLUMN IF NOT EXISTS id uuid DEFAULT gen_random_uuid()"]
        );
        let sqlite = plan(&existing, Backend::Sqlite);
        assert_eq!(
            sqlite.in_transaction.len(),
            3,
            "{:?}",
            sqlite.in_transaction
        );
        assert_eq!(
            sqlite.in_transaction[0],
            "ALTER TABLE domains ADD COLUMN id TEXT"
        );
        assert_eq!(
            sqlite.in_transaction[1],
            format!("UPDATE domains SET id = {SQLITE_UUID} WHERE id IS NULL")
        );
        assert!(
            sqlite.in_transaction[2]
                .starts_with("CREATE TRIGGER IF NOT EXISTS domains_default_id AFTER INSERT"),
            "{}",
            sqlite.in_transaction[2]
        );
        for plan in [postgres, sqlite] {
            assert_eq!(plan.report.added_columns, ["id"]);
        }
    }

    #[test]
    fn indexes_of_an_existing_postgres_table_are_built_concurrently_domain_first() {
        let existing = table(&every_column(), &[], false);
        let plan = plan(&existing, Backend::Postgres);
        assert!(plan.in_transaction.is_empty(), "{:?}", plan.in_transaction);
        assert_eq!(
            plan.concurrent,
            [
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS domains_domain_key ON domains (domain)",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS domains_claim_idx \
                 ON domains (updated_at NULLS FIRST, id) WHERE status = 'pending'",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS domains_lease_idx \
                 ON domains (locked_until) WHERE status = 'processing'",
            ]
        );
        assert_eq!(plan.report.added_indexes, [DOMAIN_INDEX.name, CLAIM, LEASE]);
        assert!(!plan.report.created_table);
    }

    #[test]
    fn indexes_of_an_existing_sqlite_table_are_built_in_the_transaction() {
        let existing = table(&every_column(), &[(CLAIM, IndexState::Valid)], false);
        let plan = plan(&existing, Backend::Sqlite);
        assert!(plan.concurrent.is_empty(), "{:?}", plan.concurrent);
        assert_eq!(
            plan.in_transaction,
            [
                "CREATE UNIQUE INDEX IF NOT EXISTS domains_domain_key ON domains (domain)",
                "CREATE INDEX IF NOT EXISTS domains_lease_idx \
                 ON domains (locked_until) WHERE status = 'processing'",
            ]
        );
        assert_eq!(plan.report.added_indexes, [DOMAIN_INDEX.name, LEASE]);
    }

    #[test]
    fn an_invalid_index_is_rebuilt_concurrently() {
        let existing = table(
            &every_column(),
            &[(CLAIM, IndexState::Invalid), (LEASE, IndexState::Valid)],
            true,
        );
        let plan = plan(&existing, Backend::Postgres);
        assert!(plan.in_transaction.is_empty());
        assert_eq!(
            plan.concurrent,
            ["REINDEX INDEX CONCURRENTLY domains_claim_idx"]
        );
        assert_eq!(plan.report.rebuilt_indexes, [CLAIM]);
        assert!(plan.report.added_indexes.is_empty());
    }

    #[test]
    fn while_another_migration_builds_an_index_no_index_is_touched() {
        // The lease index is missing and the claim index invalid, but
        // another migration is building one of the table's indexes: it
        // finishes the job. Columns are still added.
        let existing = table(
            &every_column()[1..],
            &[
                (CLAIM, IndexState::Invalid),
                ("domains_other", IndexState::Building),
            ],
            false,
        );
        let plan = plan(&existing, Backend::Postgres);
        assert!(plan.concurrent.is_empty(), "{:?}", plan.concurrent);
        assert_eq!(
            plan.in_transaction,
            ["ALTER TABLE domains ADD COLUMN IF NOT EXISTS id uuid DEFAULT gen_random_uuid()"]
        );
        assert_eq!(plan.report.added_columns, ["id"]);
        assert!(plan.report.added_indexes.is_empty());
        assert!(plan.report.rebuilt_indexes.is_empty());
    }
}
