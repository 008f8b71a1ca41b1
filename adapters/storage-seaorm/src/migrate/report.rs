//! [`MigrationReport`]: what a migration changed.

/// What a migration changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// The `domains` table did not exist and was created.
    pub created_table: bool,
    /// Columns added to an existing table, in the order they were added.
    pub added_columns: Vec<String>,
    /// Indexes created.
    pub added_indexes: Vec<String>,
    /// Invalid indexes (left by an index build that failed) rebuilt.
    pub rebuilt_indexes: Vec<String>,
    /// Whether the trigger that `NOTIFY`s idle workers of new `pending`
    /// rows was added (Postgres).
    pub added_notify_trigger: bool,
}

impl MigrationReport {
    /// Whether the schema was already up to date.
    pub fn is_unchanged(&self) -> bool {
        !self.created_table
            && self.added_columns.is_empty()
            && self.added_indexes.is_empty()
            && self.rebuilt_indexes.is_empty()
            && !self.added_notify_trigger
    }
}
