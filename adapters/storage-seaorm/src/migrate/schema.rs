//! The `domains` table the worker needs: its columns (with the types and
//! defaults of a new table and of a column added to an existing one), its
//! indexes, and the `CREATE TABLE` of each backend.

use crate::backend::Backend;

/// One column: its type and default when the table is created, and when
/// it is added to an existing table (SQLite cannot add a column whose
/// default is an expression, and an added column cannot be a key).
pub(super) struct ColumnSpec {
    pub(super) name: &'static str,
    pub(super) postgres_create: &'static str,
    pub(super) postgres_add: &'static str,
    pub(super) sqlite_create: &'static str,
    pub(super) sqlite_add: &'static str,
}

pub(super) const SQLITE_UUID: &str = "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' \
     || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) \
     || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))";

macro_rules! text_column {
    ($name:literal) => {
        ColumnSpec {
            name: $name,
            postgres_create: "text",
            postgres_add: "text",
            sqlite_create: "TEXT",
            sqlite_add: "TEXT",
        }
    };
}

/// The columns in the order a new table has them.
pub(super) const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec {
        name: "id",
        postgres_create: "uuid PRIMARY KEY DEFAULT gen_random_uuid()",
        postgres_add: "uuid DEFAULT gen_random_uuid()",
        sqlite_create: "", // written out in `sqlite_create_table`
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "domain",
        postgres_create: "text NOT NULL UNIQUE",
        postgres_add: "text",
        sqlite_create: "TEXT NOT NULL UNIQUE",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "status",
        postgres_create: "text NOT NULL DEFAULT 'pending'",
        postgres_add: "text NOT NULL DEFAULT 'pending'",
        sqlite_create: "TEXT NOT NULL DEFAULT 'pending'",
        sqlite_add: "TEXT NOT NULL DEFAULT 'pending'",
    },
    ColumnSpec {
        name: "meta_json",
        postgres_create: "jsonb",
        postgres_add: "jsonb",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    text_column!("title"),
    text_column!("description"),
    text_column!("favicon_url"),
    text_column!("logo_url"),
    text_column!("language"),
    ColumnSpec {
        name: "is_wordpress",
        postgres_create: "boolean",
        postgres_add: "boolean",
        sqlite_create: "INTEGER",
        sqlite_add: "INTEGER",
    },
    text_column!("wordpress_version"),
    ColumnSpec {
        name: "has_elementor",
        postgres_create: "boolean",
        postgres_add: "boolean",
        sqlite_create: "INTEGER",
        sqlite_add: "INTEGER",
    },
    ColumnSpec {
        name: "tech_stack",
        postgres_create: "jsonb",
        postgres_add: "jsonb",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "email_addresses",
        postgres_create: "text[]",
        postgres_add: "text[]",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "phone_numbers",
        postgres_create: "text[]",
        postgres_add: "text[]",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    text_column!("facebook_url"),
    text_column!("twitter_url"),
    text_column!("linkedin_url"),
    text_column!("instagram_url"),
    text_column!("youtube_url"),
    text_column!("last_error"),
    ColumnSpec {
        name: "created_at",
        postgres_create: "timestamptz NOT NULL DEFAULT now()",
        postgres_add: "timestamptz DEFAULT now()",
        sqlite_create: "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "updated_at",
        postgres_create: "timestamptz DEFAULT now()",
        postgres_add: "timestamptz DEFAULT now()",
        sqlite_create: "TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
        sqlite_add: "TEXT",
    },
    text_column!("sitemap_analysis_status"),
    ColumnSpec {
        name: "attempts",
        postgres_create: "integer NOT NULL DEFAULT 0",
        postgres_add: "integer NOT NULL DEFAULT 0",
        sqlite_create: "INTEGER NOT NULL DEFAULT 0",
        sqlite_add: "INTEGER NOT NULL DEFAULT 0",
    },
    text_column!("locked_by"),
    ColumnSpec {
        name: "locked_until",
        postgres_create: "timestamptz",
        postgres_add: "timestamptz",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
    ColumnSpec {
        name: "next_attempt_at",
        postgres_create: "timestamptz",
        postgres_add: "timestamptz",
        sqlite_create: "TEXT",
        sqlite_add: "TEXT",
    },
];

/// An index the worker relies on.
pub(super) struct IndexSpec {
    pub(super) name: &'static str,
    pub(super) unique: bool,
    pub(super) postgres: &'static str,
    pub(super) sqlite: &'static str,
}

impl IndexSpec {
    pub(super) fn create(&self, backend: Backend, concurrently: bool) -> String {
        format!(
            "CREATE {}INDEX {}IF NOT EXISTS {} {}",
            if self.unique { "UNIQUE " } else { "" },
            if concurrently { "CONCURRENTLY " } else { "" },
            self.name,
            match backend {
                Backend::Postgres => self.postgres,
                Backend::Sqlite => self.sqlite,
            }
        )
    }
}

/// The indexes every table gets.
pub(super) const INDEXES: &[IndexSpec] = &[
    // The claim reads pending rows oldest first: a partial index in exactly
    // that order stays small (most rows are done) and serves the claim.
    IndexSpec {
        name: "domains_claim_idx",
        unique: false,
        postgres: "ON domains (updated_at NULLS FIRST, id) WHERE status = 'pending'",
        sqlite: "ON domains (updated_at, id) WHERE status = 'pending'",
    },
    // The rescue sweep looks for `processing` rows whose lease ran out; it
    // runs every `interval`, so it must not scan the table.
    IndexSpec {
        name: "domains_lease_idx",
        unique: false,
        postgres: "ON domains (locked_until) WHERE status = 'processing'",
        sqlite: "ON domains (locked_until) WHERE status = 'processing'",
    },
];

/// `enqueue` relies on `ON CONFLICT (domain)`. A table this migration
/// creates has it from the column's `UNIQUE`; an existing table without a
/// unique index on `domain` gets this one.
pub(super) const DOMAIN_INDEX: IndexSpec = IndexSpec {
    name: "domains_domain_key",
    unique: true,
    postgres: "ON domains (domain)",
    sqlite: "ON domains (domain)",
};

pub(super) fn postgres_create_table() -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|column| format!("    {} {}", column.name, column.postgres_create))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS domains (\n{}\n)",
        columns.join(",\n")
    )
}

pub(super) fn sqlite_create_table() -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|column| match column.name {
            "id" => format!("    id TEXT PRIMARY KEY NOT NULL DEFAULT {SQLITE_UUID}"),
            name => format!("    {name} {}", column.sqlite_create),
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS domains (\n{}\n)",
        columns.join(",\n")
    )
}
