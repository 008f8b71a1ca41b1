//! What is there now: the catalogue queries of each backend and the
//! reading of their rows into [`Existing`].

use std::collections::BTreeMap;

use scheduler_domain::RepositoryError;

use crate::backend::Backend;
use crate::row::Row;

/// What is there now.
pub(super) struct Existing {
    /// The columns of `domains`; none when there is no such table.
    pub(super) columns: Vec<String>,
    /// Every index of the table, by name.
    pub(super) indexes: BTreeMap<String, IndexState>,
    /// Whether a valid unique index on `domain` alone exists (which
    /// `enqueue`'s `ON CONFLICT (domain)` needs).
    pub(super) unique_domain: bool,
}

/// What an index of the table is good for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IndexState {
    Valid,
    /// Left by a concurrent build that failed: present, never used.
    Invalid,
    /// Another migration is building it concurrently right now (it looks
    /// invalid until that is done).
    Building,
}

/// The inspection queries: columns, indexes with their state, and unique
/// single-column indexes on `domain`.
pub(super) fn inspection(backend: Backend) -> [&'static str; 3] {
    match backend {
        Backend::Postgres => [
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'domains'",
            "SELECT c.relname::text AS name, \
             CASE WHEN i.indisvalid THEN 'valid' \
             WHEN EXISTS (SELECT 1 FROM pg_stat_progress_create_index p \
                          WHERE p.index_relid = i.indexrelid) THEN 'building' \
             ELSE 'invalid' END AS state \
             FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname = 'domains'",
            "SELECT c.relname::text AS name FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE n.nspname = current_schema() AND t.relname = 'domains' \
             AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1 \
             AND i.indpred IS NULL AND a.attname = 'domain'",
        ],
        Backend::Sqlite => [
            "SELECT name FROM pragma_table_info('domains')",
            "SELECT name, 'valid' AS state FROM pragma_index_list('domains')",
            "SELECT il.name AS name FROM pragma_index_list('domains') il \
             JOIN pragma_index_info(il.name) ii \
             WHERE il.\"unique\" = 1 AND il.partial = 0 \
             GROUP BY il.name HAVING count(*) = 1 AND max(ii.name) = 'domain'",
        ],
    }
}

pub(super) fn texts(rows: &[Row], column: &str) -> Result<Vec<String>, RepositoryError> {
    rows.iter()
        .filter_map(|row| row.text(column).transpose())
        .collect()
}

pub(super) fn existing(
    columns: &[Row],
    indexes: &[Row],
    unique_domain: &[Row],
) -> Result<Existing, RepositoryError> {
    let mut states = BTreeMap::new();
    for row in indexes {
        let (Some(name), state) = (row.text("name")?, row.text("state")?) else {
            continue;
        };
        let state = match state.as_deref() {
            Some("valid") => IndexState::Valid,
            Some("building") => IndexState::Building,
            _ => IndexState::Invalid,
        };
        states.insert(name, state);
    }
    Ok(Existing {
        columns: texts(columns, "name")?,
        indexes: states,
        unique_domain: !unique_domain.is_empty(),
    })
}
