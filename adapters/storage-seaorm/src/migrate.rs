//! Schema reconciliation of the `domains` table.
//!
//! Not a versioned migration history: the production table exists already,
//! created and also written by other systems, so there is no version table
//! to trust. Instead the migration looks at what is there and adds what is
//! missing: the whole table on an empty database; on an existing one only
//! the missing columns (never touching other columns, such as `tenant_id`
//! or `batch_id`) and the indexes the worker relies on. Running it again
//! changes nothing.
//!
//! Every column other than `domain` has a database default, because other
//! systems insert rows with nothing but `domain` (and maybe `status`).

use scheduler_domain::RepositoryError;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use crate::Backend;
use crate::error::{from_db, from_sqlx};
use crate::sql::Row;

/// What a migration changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// The `domains` table did not exist and was created.
    pub created_table: bool,
    /// Columns added to an existing table, in the order they were added.
    pub added_columns: Vec<String>,
    /// Indexes created.
    pub added_indexes: Vec<String>,
}

impl MigrationReport {
    /// Whether the schema was already up to date.
    pub fn is_unchanged(&self) -> bool {
        !self.created_table && self.added_columns.is_empty() && self.added_indexes.is_empty()
    }
}

/// One column: its type and default when the table is created, and when
/// it is added to an existing table (SQLite cannot add a column whose
/// default is an expression, and an added column cannot be a key).
struct ColumnSpec {
    name: &'static str,
    postgres_create: &'static str,
    postgres_add: &'static str,
    sqlite_create: &'static str,
    sqlite_add: &'static str,
}

const SQLITE_UUID: &str = "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' \
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
const COLUMNS: &[ColumnSpec] = &[
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

/// The claim reads pending rows oldest first: a partial index in exactly
/// that order stays small (most rows are done) and serves the claim.
const CLAIM_INDEX: &str = "domains_claim_idx";
const POSTGRES_CLAIM_INDEX: &str = "CREATE INDEX IF NOT EXISTS domains_claim_idx \
     ON domains (updated_at NULLS FIRST, id) WHERE status = 'pending'";
const SQLITE_CLAIM_INDEX: &str = "CREATE INDEX IF NOT EXISTS domains_claim_idx \
     ON domains (updated_at, id) WHERE status = 'pending'";
/// `enqueue` relies on `ON CONFLICT (domain)`.
const DOMAIN_INDEX: &str = "domains_domain_key";
const DOMAIN_INDEX_SQL: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS domains_domain_key ON domains (domain)";

/// What is there now.
struct Existing {
    columns: Vec<String>,
    indexes: Vec<String>,
    unique_domain: bool,
}

/// Brings the `domains` table up to date on `db`.
pub(crate) async fn reconcile(
    db: &DatabaseConnection,
    backend: Backend,
) -> Result<MigrationReport, RepositoryError> {
    let existing = inspect(db, backend).await?;
    let mut report = MigrationReport::default();
    let mut script = Vec::new();
    if existing.columns.is_empty() {
        report.created_table = true;
        script.push(match backend {
            Backend::Postgres => postgres_create_table(),
            Backend::Sqlite => sqlite_create_table(),
        });
    } else {
        for column in COLUMNS
            .iter()
            .filter(|c| !existing.columns.iter().any(|e| e == c.name))
        {
            script.push(match backend {
                Backend::Postgres => format!(
                    "ALTER TABLE domains ADD COLUMN IF NOT EXISTS {} {}",
                    column.name, column.postgres_add
                ),
                Backend::Sqlite => {
                    format!(
                        "ALTER TABLE domains ADD COLUMN {} {}",
                        column.name, column.sqlite_add
                    )
                }
            });
            report.added_columns.push(column.name.to_owned());
        }
        if !existing.unique_domain {
            script.push(DOMAIN_INDEX_SQL.to_owned());
            report.added_indexes.push(DOMAIN_INDEX.to_owned());
        }
    }
    if !existing.indexes.iter().any(|name| name == CLAIM_INDEX) {
        script.push(
            match backend {
                Backend::Postgres => POSTGRES_CLAIM_INDEX,
                Backend::Sqlite => SQLITE_CLAIM_INDEX,
            }
            .to_owned(),
        );
        report.added_indexes.push(CLAIM_INDEX.to_owned());
    }
    if !script.is_empty() {
        run_script(db, backend, &script).await?;
    }
    Ok(report)
}

fn postgres_create_table() -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|column| format!("    {} {}", column.name, column.postgres_create))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS domains (\n{}\n)",
        columns.join(",\n")
    )
}

fn sqlite_create_table() -> String {
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

async fn query(
    db: &DatabaseConnection,
    backend: Backend,
    sql: &str,
) -> Result<Vec<Row>, RepositoryError> {
    match backend {
        // Simple protocol even here: a migration URL may still be pooled.
        Backend::Postgres => Ok(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(db.get_postgres_connection_pool())
            .await
            .map_err(|error| from_sqlx(&error))?
            .into_iter()
            .map(Row::Postgres)
            .collect()),
        Backend::Sqlite => Ok(db
            .query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .map_err(|error| from_db(&error))?
            .into_iter()
            .map(Row::Sqlite)
            .collect()),
    }
}

fn texts(rows: &[Row], column: &str) -> Result<Vec<String>, RepositoryError> {
    rows.iter()
        .filter_map(|row| row.text(column).transpose())
        .collect()
}

async fn inspect(db: &DatabaseConnection, backend: Backend) -> Result<Existing, RepositoryError> {
    let (columns, indexes, unique_domain) = match backend {
        Backend::Postgres => (
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'domains'",
            "SELECT indexname::text AS name FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename = 'domains'",
            "SELECT c.relname::text AS name FROM pg_index i \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE n.nspname = current_schema() AND t.relname = 'domains' \
             AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL \
             AND a.attname = 'domain'",
        ),
        Backend::Sqlite => (
            "SELECT name FROM pragma_table_info('domains')",
            "SELECT name FROM pragma_index_list('domains')",
            "SELECT il.name AS name FROM pragma_index_list('domains') il \
             JOIN pragma_index_info(il.name) ii \
             WHERE il.\"unique\" = 1 AND il.partial = 0 \
             GROUP BY il.name HAVING count(*) = 1 AND max(ii.name) = 'domain'",
        ),
    };
    Ok(Existing {
        columns: texts(&query(db, backend, columns).await?, "name")?,
        indexes: texts(&query(db, backend, indexes).await?, "name")?,
        unique_domain: !query(db, backend, unique_domain).await?.is_empty(),
    })
}

/// All changes in one transaction: a failure leaves the schema as it was.
async fn run_script(
    db: &DatabaseConnection,
    backend: Backend,
    script: &[String],
) -> Result<(), RepositoryError> {
    match backend {
        Backend::Postgres => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(script.join(";\n")))
                .execute(db.get_postgres_connection_pool())
                .await
                .map_err(|error| from_sqlx(&error))?;
        }
        Backend::Sqlite => {
            let transaction = db.begin().await.map_err(|error| from_db(&error))?;
            for statement in script {
                transaction
                    .execute_unprepared(statement)
                    .await
                    .map_err(|error| from_db(&error))?;
            }
            transaction
                .commit()
                .await
                .map_err(|error| from_db(&error))?;
        }
    }
    Ok(())
}
