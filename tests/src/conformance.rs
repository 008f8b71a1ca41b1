//! The storage port's conformance suite: one set of scenarios that every
//! [`DomainRepository`] must pass, written once against
//! [`ConformanceTarget`] and stamped out per adapter by
//! `tests/conformance.rs` (memory, SQLite, Postgres, and Postgres through
//! PgBouncer).
//!
//! A target gives the repository under test plus a side door to seed rows
//! and read them back with every column, so that each scenario checks what
//! is really stored, not only what the port returns. On SQL targets the side
//! door is a connection of its own (direct, even when the repository goes
//! through a pooler).
// Test support: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::collections::HashSet;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use scheduler_domain::stored::lease_expired_message;
use scheduler_domain::{
    ClaimRequest, ClaimedDomain, Completion, ContactKind, ContactPage, ContactSource, DomainId,
    DomainName, DomainRepository, DomainStatus, ErrorPattern, ErrorQuery, LastHour, RequeueReport,
    RequeueSelection, RescueReport, SiteKind, SiteMetadata, SocialProfiles, StatusRequest,
    Technology, WordPressInfo, WorkerId, WriteOutcome,
};
use scheduler_storage_memory::MemoryRepository;
use scheduler_storage_seaorm::{Backend, PoolerMode, SeaOrmRepository, StorageSettings};
use serde_json::Value as Json;
use sqlx::Row as _;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::postgres::TestDatabase;

pub use scheduler_storage_memory::DomainRow;

/// A row to seed, as a test needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedRow {
    /// `domain`
    pub domain: String,
    /// `status`
    pub status: String,
    /// `attempts`
    pub attempts: i32,
    /// `updated_at` (`None`: NULL, as in old tables)
    pub updated_at: Option<DateTime<Utc>>,
    /// `next_attempt_at`
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// `locked_by`
    pub locked_by: Option<String>,
    /// `locked_until`
    pub locked_until: Option<DateTime<Utc>>,
    /// `last_error`
    pub last_error: Option<String>,
}

impl SeedRow {
    /// A `pending` row last updated at [`at`]`(0)`.
    pub fn pending(domain: impl Into<String>) -> SeedRow {
        SeedRow {
            domain: domain.into(),
            status: "pending".into(),
            attempts: 0,
            updated_at: Some(at(0)),
            next_attempt_at: None,
            locked_by: None,
            locked_until: None,
            last_error: None,
        }
    }

    /// With this `status`.
    pub fn status(mut self, status: &str) -> SeedRow {
        self.status = status.into();
        self
    }

    /// With this `updated_at`.
    pub fn updated_at(mut self, updated_at: Option<DateTime<Utc>>) -> SeedRow {
        self.updated_at = updated_at;
        self
    }

    /// With this `next_attempt_at`.
    pub fn next_attempt_at(mut self, next_attempt_at: DateTime<Utc>) -> SeedRow {
        self.next_attempt_at = Some(next_attempt_at);
        self
    }

    /// With this `attempts`.
    pub fn attempts(mut self, attempts: i32) -> SeedRow {
        self.attempts = attempts;
        self
    }

    /// `processing`, leased to `worker` until `until` (`None`: no lease).
    pub fn leased(mut self, worker: &str, until: Option<DateTime<Utc>>) -> SeedRow {
        self.status = "processing".into();
        self.locked_by = Some(worker.into());
        self.locked_until = until;
        self
    }

    /// With this `last_error`.
    pub fn last_error(mut self, error: &str) -> SeedRow {
        self.last_error = Some(error.into());
        self
    }
}

/// A repository under test and a side door to its rows.
pub trait ConformanceTarget: Send + Sync {
    /// The adapter.
    type Repository: DomainRepository + Clone + Send + Sync + 'static;

    /// The repository under test.
    fn repository(&self) -> &Self::Repository;

    /// Another repository on the same rows with connections of its own:
    /// a second worker.
    fn second_worker(&self) -> impl Future<Output = Self::Repository> + Send;

    /// Inserts `row` with a fresh id.
    fn seed(&self, row: SeedRow) -> impl Future<Output = DomainId> + Send;

    /// Inserts a row as another system does: only `domain` given, every
    /// other column from the database defaults.
    fn insert_domain_only(&self, domain: &str) -> impl Future<Output = DomainId> + Send;

    /// Every column of one row.
    fn row(&self, id: &DomainId) -> impl Future<Output = DomainRow> + Send;

    /// An id no row has.
    fn absent_id(&self) -> DomainId;

    /// Closes connections and drops what the target created.
    fn finish(self) -> impl Future<Output = ()> + Send;
}

/// A target whose rows another session can lock (Postgres), to prove that
/// the claim skips rows locked by someone else instead of waiting for them.
pub trait RowLockingTarget: ConformanceTarget {
    /// Locks `ids` `FOR UPDATE` in a transaction of its own, held until the
    /// returned lock is released.
    fn lock_rows(&self, ids: &[DomainId]) -> impl Future<Output = RowLock> + Send;
}

/// Row locks held by an open transaction.
#[derive(Debug)]
pub struct RowLock {
    transaction: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl RowLock {
    /// Ends the transaction, releasing the locks.
    pub async fn release(self) {
        self.transaction.rollback().await.unwrap();
    }
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

/// The in-memory reference adapter.
#[derive(Debug, Clone, Default)]
pub struct MemoryTarget {
    repository: MemoryRepository,
}

impl MemoryTarget {
    /// An empty table.
    pub fn new() -> MemoryTarget {
        MemoryTarget::default()
    }
}

impl ConformanceTarget for MemoryTarget {
    type Repository = MemoryRepository;

    fn repository(&self) -> &MemoryRepository {
        &self.repository
    }

    async fn second_worker(&self) -> MemoryRepository {
        self.repository.clone()
    }

    async fn seed(&self, seed: SeedRow) -> DomainId {
        let mut row = DomainRow::new(seed.domain, &seed.status, at(0));
        row.attempts = seed.attempts;
        row.updated_at = seed.updated_at;
        row.next_attempt_at = seed.next_attempt_at;
        row.locked_by = seed.locked_by;
        row.locked_until = seed.locked_until;
        row.last_error = seed.last_error;
        self.repository.insert_row(row)
    }

    async fn insert_domain_only(&self, domain: &str) -> DomainId {
        self.repository.insert_raw(domain, "pending")
    }

    async fn row(&self, id: &DomainId) -> DomainRow {
        self.repository.row(id).expect("the row exists")
    }

    fn absent_id(&self) -> DomainId {
        DomainId::random()
    }

    async fn finish(self) {}
}

enum Inspector {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A [`SeaOrmRepository`] on a migrated database, with a direct side door.
///
/// Built from [`StorageSettings`]: any URL the adapter accepts, behind any
/// pooler. The side door connects to `migration_url` when set (give the
/// direct URL there when `url` goes through a pooler), else to `url`.
pub struct SeaOrmTarget {
    settings: StorageSettings,
    repository: SeaOrmRepository,
    inspector: Inspector,
    workers: Mutex<Vec<SeaOrmRepository>>,
    integer_keys: bool,
    database: Option<TestDatabase>,
    keep_alive: Vec<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for SeaOrmTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaOrmTarget")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SeaOrmTarget {
    /// Migrates the database `settings` name, connects the repository and
    /// the side door.
    pub async fn connect(settings: StorageSettings) -> SeaOrmTarget {
        SeaOrmRepository::migrate(&settings)
            .await
            .expect("migration");
        let repository = SeaOrmRepository::connect(&settings).await.expect("connect");
        let direct = settings.migration_url().to_owned();
        let inspector = match repository.backend() {
            Backend::Postgres => Inspector::Postgres(PgPool::connect(&direct).await.unwrap()),
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(&direct)
                    .unwrap()
                    .busy_timeout(Duration::from_secs(30));
                Inspector::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(2)
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
        };
        let integer_keys = match &inspector {
            Inspector::Postgres(pool) => sqlx::query(
                "SELECT data_type::text AS declared FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'domains' \
                 AND column_name = 'id'",
            )
            .fetch_one(pool)
            .await
            .unwrap()
            .get::<String, _>("declared")
            .contains("int"),
            Inspector::Sqlite(pool) => sqlx::query(
                "SELECT type AS declared FROM pragma_table_info('domains') WHERE name = 'id'",
            )
            .fetch_one(pool)
            .await
            .unwrap()
            .get::<String, _>("declared")
            .to_ascii_lowercase()
            .contains("int"),
        };
        SeaOrmTarget {
            settings,
            repository,
            inspector,
            workers: Mutex::new(Vec::new()),
            integer_keys,
            database: None,
            keep_alive: Vec::new(),
        }
    }

    /// A fresh Postgres database, reached directly.
    pub async fn postgres() -> SeaOrmTarget {
        let database = TestDatabase::create().await;
        let mut settings = StorageSettings::new(database.url());
        settings.pooler = PoolerMode::None;
        SeaOrmTarget::connect(settings)
            .await
            .owning_database(database)
    }

    /// A fresh SQLite file in a temporary directory.
    pub async fn sqlite() -> SeaOrmTarget {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("domains.sqlite").display()
        );
        SeaOrmTarget::connect(StorageSettings::new(url))
            .await
            .keeping_alive(dir)
    }

    /// A fresh Postgres database whose `domains` table exists before the
    /// migration, created by `create_table` (an older table keyed by
    /// `bigserial`, say).
    pub async fn postgres_with_table(create_table: &str) -> SeaOrmTarget {
        let database = TestDatabase::create().await;
        let pool = PgPool::connect(database.url()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(create_table.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let mut settings = StorageSettings::new(database.url());
        settings.pooler = PoolerMode::None;
        SeaOrmTarget::connect(settings)
            .await
            .owning_database(database)
    }

    /// A fresh SQLite file whose `domains` table `create_table` creates
    /// before the migration.
    pub async fn sqlite_with_table(create_table: &str) -> SeaOrmTarget {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("domains.sqlite");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = SqlitePool::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(create_table.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        SeaOrmTarget::connect(StorageSettings::new(url))
            .await
            .keeping_alive(dir)
    }

    /// Drops `database` when the target finishes.
    pub fn owning_database(mut self, database: TestDatabase) -> SeaOrmTarget {
        self.database = Some(database);
        self
    }

    /// Keeps `resource` (a temporary directory, a pooler process...) alive
    /// as long as the target.
    pub fn keeping_alive(mut self, resource: impl Any + Send + Sync) -> SeaOrmTarget {
        self.keep_alive.push(Box::new(resource));
        self
    }

    /// The settings the repository was connected with.
    pub fn settings(&self) -> &StorageSettings {
        &self.settings
    }

    /// The side door to Postgres, when the target is on Postgres.
    pub fn postgres_inspector(&self) -> Option<&PgPool> {
        match &self.inspector {
            Inspector::Postgres(pool) => Some(pool),
            Inspector::Sqlite(_) => None,
        }
    }
}

fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

fn parse_sqlite_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(&text)
            .unwrap_or_else(|error| panic!("time {text:?}: {error}"))
            .with_timezone(&Utc)
    })
}

fn parse_json(text: Option<String>) -> Option<Json> {
    text.map(|text| serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON {text:?}: {e}")))
}

fn parse_strings(text: Option<String>) -> Option<Vec<String>> {
    parse_json(text).map(|json| serde_json::from_value(json).unwrap())
}

/// The side door reads and finds keys as text, whatever their type: a
/// UUID, integer or text key prints the way the repository carries it.
const POSTGRES_KEY_TEXT: &str = "id::text";
const SQLITE_KEY_TEXT: &str = "CAST(id AS TEXT)";

const ROW_COLUMNS: &str = "domain, status, attempts, locked_by, locked_until, \
     next_attempt_at, last_error, title, description, favicon_url, logo_url, language, \
     is_wordpress, wordpress_version, has_elementor, tech_stack, email_addresses, \
     phone_numbers, facebook_url, twitter_url, linkedin_url, instagram_url, youtube_url, \
     meta_json, sitemap_analysis_status, created_at, updated_at";

impl ConformanceTarget for SeaOrmTarget {
    type Repository = SeaOrmRepository;

    fn repository(&self) -> &SeaOrmRepository {
        &self.repository
    }

    async fn second_worker(&self) -> SeaOrmRepository {
        let worker = SeaOrmRepository::connect(&self.settings)
            .await
            .expect("connect");
        self.workers.lock().unwrap().push(worker.clone());
        worker
    }

    async fn seed(&self, row: SeedRow) -> DomainId {
        // The table's own default makes the key, whatever its type.
        let sql = |key_text: &str| {
            format!(
                "INSERT INTO domains (domain, status, attempts, updated_at, \
                 next_attempt_at, locked_by, locked_until, last_error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {key_text} AS id"
            )
        };
        let id: String = match &self.inspector {
            Inspector::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql(POSTGRES_KEY_TEXT)))
                .bind(&row.domain)
                .bind(&row.status)
                .bind(row.attempts)
                .bind(row.updated_at)
                .bind(row.next_attempt_at)
                .bind(&row.locked_by)
                .bind(row.locked_until)
                .bind(&row.last_error)
                .fetch_one(pool)
                .await
                .unwrap()
                .get("id"),
            Inspector::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql(SQLITE_KEY_TEXT)))
                .bind(&row.domain)
                .bind(&row.status)
                .bind(row.attempts)
                .bind(row.updated_at.map(sqlite_time))
                .bind(row.next_attempt_at.map(sqlite_time))
                .bind(&row.locked_by)
                .bind(row.locked_until.map(sqlite_time))
                .bind(&row.last_error)
                .fetch_one(pool)
                .await
                .unwrap()
                .get("id"),
        };
        DomainId::from_key(id)
    }

    async fn insert_domain_only(&self, domain: &str) -> DomainId {
        let sql = |key_text: &str| {
            format!("INSERT INTO domains (domain) VALUES ($1) RETURNING {key_text} AS id")
        };
        let id: String = match &self.inspector {
            Inspector::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql(POSTGRES_KEY_TEXT)))
                .bind(domain)
                .fetch_one(pool)
                .await
                .unwrap()
                .get("id"),
            Inspector::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql(SQLITE_KEY_TEXT)))
                .bind(domain)
                .fetch_one(pool)
                .await
                .unwrap()
                .get("id"),
        };
        DomainId::from_key(id)
    }

    fn absent_id(&self) -> DomainId {
        if self.integer_keys {
            // No sequence hands out a negative number.
            DomainId::from(-1_i64)
        } else {
            DomainId::random()
        }
    }

    async fn row(&self, id: &DomainId) -> DomainRow {
        match &self.inspector {
            Inspector::Postgres(pool) => {
                let sql = format!(
                    "SELECT {POSTGRES_KEY_TEXT} AS key, {ROW_COLUMNS} FROM domains \
                     WHERE {POSTGRES_KEY_TEXT} = $1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_one(pool)
                    .await
                    .unwrap();
                DomainRow {
                    id: DomainId::from_key(row.get::<String, _>("key")),
                    domain: row.get("domain"),
                    status: row.get("status"),
                    attempts: row.get("attempts"),
                    locked_by: row.get("locked_by"),
                    locked_until: row.get("locked_until"),
                    next_attempt_at: row.get("next_attempt_at"),
                    last_error: row.get("last_error"),
                    title: row.get("title"),
                    description: row.get("description"),
                    favicon_url: row.get("favicon_url"),
                    logo_url: row.get("logo_url"),
                    language: row.get("language"),
                    is_wordpress: row.get("is_wordpress"),
                    wordpress_version: row.get("wordpress_version"),
                    has_elementor: row.get("has_elementor"),
                    tech_stack: row.get("tech_stack"),
                    email_addresses: row.get("email_addresses"),
                    phone_numbers: row.get("phone_numbers"),
                    facebook_url: row.get("facebook_url"),
                    twitter_url: row.get("twitter_url"),
                    linkedin_url: row.get("linkedin_url"),
                    instagram_url: row.get("instagram_url"),
                    youtube_url: row.get("youtube_url"),
                    meta_json: row.get("meta_json"),
                    sitemap_analysis_status: row.get("sitemap_analysis_status"),
                    created_at: row.get("created_at"),
                    updated_at: row.get("updated_at"),
                }
            }
            Inspector::Sqlite(pool) => {
                let sql = format!(
                    "SELECT {SQLITE_KEY_TEXT} AS key, {ROW_COLUMNS} FROM domains \
                     WHERE {SQLITE_KEY_TEXT} = $1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_one(pool)
                    .await
                    .unwrap();
                DomainRow {
                    id: DomainId::from_key(row.get::<String, _>("key")),
                    domain: row.get("domain"),
                    status: row.get("status"),
                    attempts: row.get("attempts"),
                    locked_by: row.get("locked_by"),
                    locked_until: parse_sqlite_time(row.get("locked_until")),
                    next_attempt_at: parse_sqlite_time(row.get("next_attempt_at")),
                    last_error: row.get("last_error"),
                    title: row.get("title"),
                    description: row.get("description"),
                    favicon_url: row.get("favicon_url"),
                    logo_url: row.get("logo_url"),
                    language: row.get("language"),
                    is_wordpress: row.get("is_wordpress"),
                    wordpress_version: row.get("wordpress_version"),
                    has_elementor: row.get("has_elementor"),
                    tech_stack: parse_json(row.get("tech_stack")),
                    email_addresses: parse_strings(row.get("email_addresses")),
                    phone_numbers: parse_strings(row.get("phone_numbers")),
                    facebook_url: row.get("facebook_url"),
                    twitter_url: row.get("twitter_url"),
                    linkedin_url: row.get("linkedin_url"),
                    instagram_url: row.get("instagram_url"),
                    youtube_url: row.get("youtube_url"),
                    meta_json: parse_json(row.get("meta_json")),
                    sitemap_analysis_status: row.get("sitemap_analysis_status"),
                    created_at: parse_sqlite_time(row.get("created_at")),
                    updated_at: parse_sqlite_time(row.get("updated_at")),
                }
            }
        }
    }

    async fn finish(self) {
        self.repository.close().await;
        let workers = std::mem::take(&mut *self.workers.lock().unwrap());
        for worker in workers {
            worker.close().await;
        }
        match &self.inspector {
            Inspector::Postgres(pool) => pool.close().await,
            Inspector::Sqlite(pool) => pool.close().await,
        }
        if let Some(database) = self.database {
            database.drop().await;
        }
        drop(self.keep_alive);
    }
}

impl RowLockingTarget for SeaOrmTarget {
    async fn lock_rows(&self, ids: &[DomainId]) -> RowLock {
        let Inspector::Postgres(pool) = &self.inspector else {
            panic!("row locks of another session need Postgres");
        };
        let mut transaction = pool.begin().await.unwrap();
        let ids: Vec<&str> = ids.iter().map(DomainId::as_str).collect();
        let locked = sqlx::query("SELECT id FROM domains WHERE id::text = ANY($1) FOR UPDATE")
            .bind(&ids)
            .fetch_all(&mut *transaction)
            .await
            .unwrap();
        assert_eq!(locked.len(), ids.len(), "every row to lock exists");
        RowLock { transaction }
    }
}

// ---------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------

/// A fixed point in time plus `minutes`: seeds and claims use these, so
/// every backend stores them exactly.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// A worker id.
pub fn worker(name: &str) -> WorkerId {
    WorkerId::new(name)
}

/// A claim by `worker` at `now` with a lease until `lease_until`.
pub fn claim_request(
    worker: &WorkerId,
    limit: u32,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> ClaimRequest {
    ClaimRequest {
        worker: worker.clone(),
        limit,
        now,
        lease_until,
    }
}

fn ids(claimed: &[ClaimedDomain]) -> HashSet<DomainId> {
    claimed.iter().map(|domain| domain.id.clone()).collect()
}

fn set(ids: &[&DomainId]) -> HashSet<DomainId> {
    ids.iter().map(|&id| id.clone()).collect()
}

fn tech(name: &str, category: &str) -> Technology {
    Technology {
        name: name.into(),
        category: category.into(),
        version: Some("3.2.1".into()),
        evidence: "script src /wp-content/plugins/elementor/".into(),
    }
}

/// Metadata with every field set, seven e-mails and four phones (more than
/// the columns keep).
pub fn rich_metadata() -> SiteMetadata {
    SiteMetadata {
        url: "https://shop.example.com/".into(),
        title: Some("Shop Example — Home".into()),
        og_title: Some("Shop Example".into()),
        description: Some("Everything for the shop.".into()),
        language: Some("de-CH".into()),
        canonical_url: Some("https://shop.example.com/".into()),
        site_name: Some("Shop Example".into()),
        image_url: Some("https://shop.example.com/og.png".into()),
        favicon_url: Some("https://shop.example.com/favicon-32.png".into()),
        favicon_is_fallback: false,
        icon_url: Some("https://shop.example.com/apple-touch-icon.png".into()),
        icon_is_fallback: false,
        site_kind: SiteKind::Site,
        site_kind_detail: None,
        contact_sources: vec![ContactSource {
            kind: ContactKind::Email,
            value: "contact7@shop.example.com".into(),
            page: "https://shop.example.com/kontakt/".into(),
        }],
        contact_pages: vec![ContactPage {
            url: "https://shop.example.com/kontakt/".into(),
            error: None,
        }],
        logo_url: Some("https://shop.example.com/logo.svg".into()),
        emails: (1..=7)
            .map(|i| format!("contact{i}@shop.example.com"))
            .collect(),
        phones: vec![
            "+41441234567".into(),
            "+41791234567".into(),
            "+4922112345".into(),
            "+331234".into(),
        ],
        social: SocialProfiles {
            facebook: Some("https://www.facebook.com/shopexample".into()),
            twitter: Some("https://x.com/shopexample".into()),
            linkedin: Some("https://www.linkedin.com/company/shopexample".into()),
            instagram: Some("https://www.instagram.com/shopexample".into()),
            youtube: Some("https://www.youtube.com/@shopexample".into()),
            tiktok: Some("https://www.tiktok.com/@shopexample".into()),
            pinterest: None,
            github: None,
        },
        wordpress: WordPressInfo {
            detected: true,
            version: Some("6.4.2".into()),
            theme: Some("hello-elementor".into()),
            plugins: vec!["elementor".into(), "woocommerce".into()],
        },
        tech: vec![
            tech("WordPress", "cms"),
            tech("Elementor", "page-builder"),
            tech("jQuery", "javascript-library"),
            tech("Google Tag Manager", "tag-manager"),
            tech("Cloudflare", "cdn"),
        ],
        company: Some(rich_company()),
        reached: None,
    }
}

/// A company with every part set, as an imprint gives it.
fn rich_company() -> scheduler_domain::Company {
    use scheduler_domain::{
        Company, CompanyIdentifier, CompanyPart, CompanySource, CountrySource, IdentifierKind,
        PostalAddress,
    };
    Company {
        name: Some("Shop Example".into()),
        legal_name: Some("Shop Example AG".into()),
        address: Some(PostalAddress {
            street_address: Some("Bahnhofstrasse 10".into()),
            postal_code: Some("8001".into()),
            locality: Some("Zürich".into()),
            region: Some("ZH".into()),
            country: Some("CH".into()),
        }),
        country: Some("CH".into()),
        country_source: Some(CountrySource::Address),
        identifiers: vec![CompanyIdentifier {
            kind: IdentifierKind::CompanyNumber,
            value: "CHE116281710".into(),
            authority: None,
            country: Some("CH".into()),
        }],
        sources: vec![CompanySource {
            page: "https://shop.example.com/impressum/".into(),
            part: CompanyPart::Imprint,
        }],
    }
}

/// Text a hostile page may carry: quotes, backslashes, dollar quotes, SQL
/// comments and injection, emoji, replacement characters, control
/// characters. Each must come back exactly (NUL aside, see [`NUL_TEXT`]).
pub const HOSTILE_TEXTS: &[&str] = &[
    "O'Reilly's \"quoted\" ''double'' title",
    r"back\slash \\ two \' escaped-quote \x41 \n \0 \z E'\''",
    "$$ dollar $$ and $tag$ quoted $tag$ and $1 placeholder",
    "-- not a comment /* nor a block */ ;",
    "'); DROP TABLE domains; --",
    "🦀 Rust 🎉 café naïve 日本語 עברית",
    "\u{FFFD}\u{FFFD} replacement \u{FFFD}",
    "tab\there newline\nthere cr\r bs\u{8} sub\u{1a} esc\u{1b} del\u{7f}",
];

/// A title with NUL bytes, which Postgres cannot store: they are dropped.
pub const NUL_TEXT: &str = "before\u{0}after\u{0}";

// ---------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------

/// Never-touched rows (NULL `updated_at`) first, then oldest first.
pub async fn claim_takes_oldest_first_never_touched_rows_first<T: ConformanceTarget>(target: &T) {
    let newest = target
        .seed(SeedRow::pending("newest.example").updated_at(Some(at(40))))
        .await;
    let middle = target
        .seed(SeedRow::pending("middle.example").updated_at(Some(at(20))))
        .await;
    let never = target
        .seed(SeedRow::pending("never.example").updated_at(None))
        .await;
    let oldest = target
        .seed(SeedRow::pending("oldest.example").updated_at(Some(at(10))))
        .await;
    let newer = target
        .seed(SeedRow::pending("newer.example").updated_at(Some(at(30))))
        .await;
    let a = worker("worker-a");
    let repository = target.repository();

    let first = repository
        .claim(claim_request(&a, 3, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(ids(&first), set(&[&never, &oldest, &middle]));
    let second = repository
        .claim(claim_request(&a, 3, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(ids(&second), set(&[&newer, &newest]));
}

/// `limit` rows at most; nothing left, nothing claimed.
pub async fn claim_respects_the_limit<T: ConformanceTarget>(target: &T) {
    for i in 0..5 {
        target
            .seed(SeedRow::pending(format!("d{i}.example")).updated_at(Some(at(i))))
            .await;
    }
    let a = worker("worker-a");
    let repository = target.repository();
    assert!(
        repository
            .claim(claim_request(&a, 0, at(100), at(110)))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repository
            .claim(claim_request(&a, 2, at(100), at(110)))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        repository
            .claim(claim_request(&a, 10, at(100), at(110)))
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        repository
            .claim(claim_request(&a, 10, at(100), at(110)))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A row waiting for its retry time is left alone until then (inclusive).
pub async fn claim_skips_rows_not_yet_due<T: ConformanceTarget>(target: &T) {
    let later = target
        .seed(SeedRow::pending("later.example").next_attempt_at(at(200)))
        .await;
    let due = target
        .seed(SeedRow::pending("due.example").next_attempt_at(at(50)))
        .await;
    let fresh = target.seed(SeedRow::pending("fresh.example")).await;
    let a = worker("worker-a");
    let repository = target.repository();
    let now = repository
        .claim(claim_request(&a, 10, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(ids(&now), set(&[&due, &fresh]));
    let before = repository
        .claim(claim_request(&a, 10, at(199), at(210)))
        .await
        .unwrap();
    assert!(before.is_empty());
    let then = repository
        .claim(claim_request(&a, 10, at(200), at(210)))
        .await
        .unwrap();
    assert_eq!(ids(&then), set(&[&later]));
}

/// Rows in any other state are never claimed, nor changed by a claim.
pub async fn claim_takes_only_pending_rows<T: ConformanceTarget>(target: &T) {
    let others = [
        target
            .seed(SeedRow::pending("busy.example").leased("worker-x", Some(at(500))))
            .await,
        target
            .seed(SeedRow::pending("done.example").status("completed"))
            .await,
        target
            .seed(SeedRow::pending("failed.example").status("error"))
            .await,
        target
            .seed(SeedRow::pending("odd.example").status("archived"))
            .await,
    ];
    let pending = target.seed(SeedRow::pending("pending.example")).await;
    let before: Vec<DomainRow> =
        futures::future::join_all(others.iter().map(|id| target.row(id))).await;

    let a = worker("worker-a");
    let claimed = target
        .repository()
        .claim(claim_request(&a, 10, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), set(&[&pending]));
    for row in before {
        assert_eq!(target.row(&row.id).await, row, "untouched");
    }
}

/// The claim moves the row to `processing`, counts the attempt and leases
/// it; it returns the raw `domain` text.
pub async fn claim_marks_rows_processing_with_a_lease<T: ConformanceTarget>(target: &T) {
    let id = target
        .seed(SeedRow::pending("Retried.Example/Path").attempts(2))
        .await;
    let a = worker("worker-a");
    let claimed = target
        .repository()
        .claim(claim_request(&a, 10, at(100), at(115)))
        .await
        .unwrap();
    assert_eq!(
        claimed,
        [ClaimedDomain {
            id: id.clone(),
            raw_domain: "Retried.Example/Path".into(),
            attempts: 3
        }]
    );
    let row = target.row(&id).await;
    assert_eq!(row.status.as_deref(), Some("processing"));
    assert_eq!(row.attempts, 3);
    assert_eq!(row.locked_by.as_deref(), Some("worker-a"));
    assert_eq!(row.locked_until, Some(at(115)));
    assert_eq!(row.updated_at, Some(at(100)));
}

/// Two workers claiming at once, many times over, never take the same row
/// and together take every row.
pub async fn concurrent_claimers_never_take_a_row_twice<T: ConformanceTarget>(target: &T) {
    const ROWS: usize = 300;
    let mut seeded = HashSet::new();
    for i in 0..ROWS {
        let minutes = i64::try_from(i % 50).unwrap();
        seeded.insert(
            target
                .seed(SeedRow::pending(format!("c{i}.example")).updated_at(Some(at(minutes))))
                .await,
        );
    }
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let mut tasks = Vec::new();
    for (name, repository) in [
        ("worker-a", target.repository().clone()),
        ("worker-b", target.second_worker().await),
    ] {
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            let me = worker(name);
            let mut mine = Vec::new();
            start.wait().await;
            loop {
                let batch = repository
                    .claim(claim_request(&me, 7, at(100), at(110)))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return (name, mine);
                }
                mine.extend(batch.into_iter().map(|domain| domain.id));
            }
        }));
    }
    let mut claimed = HashSet::new();
    let mut by_worker = Vec::new();
    for task in tasks {
        let (name, mine) = task.await.unwrap();
        for id in &mine {
            assert!(claimed.insert(id.clone()), "{id} claimed twice");
        }
        by_worker.push((name, mine));
    }
    assert_eq!(claimed, seeded, "every row claimed exactly once");
    for (name, mine) in by_worker {
        for id in mine.into_iter().take(20) {
            let row = target.row(&id).await;
            assert_eq!(row.locked_by.as_deref(), Some(name));
            assert_eq!(row.attempts, 1);
        }
    }
}

/// With rows locked by another session, the claim takes the others at
/// once instead of waiting, and the locked ones once they are free.
pub async fn claim_skips_rows_locked_in_another_transaction<T: RowLockingTarget>(target: &T) {
    let first = target
        .seed(SeedRow::pending("first.example").updated_at(Some(at(1))))
        .await;
    let second = target
        .seed(SeedRow::pending("second.example").updated_at(Some(at(2))))
        .await;
    let third = target
        .seed(SeedRow::pending("third.example").updated_at(Some(at(3))))
        .await;
    let fourth = target
        .seed(SeedRow::pending("fourth.example").updated_at(Some(at(4))))
        .await;
    let lock = target.lock_rows(&[first.clone(), second.clone()]).await;

    let a = worker("worker-a");
    let repository = target.repository();
    let claimed = tokio::time::timeout(
        Duration::from_secs(20),
        repository.claim(claim_request(&a, 10, at(100), at(110))),
    )
    .await
    .expect("the claim does not wait for locked rows")
    .unwrap();
    assert_eq!(ids(&claimed), set(&[&third, &fourth]));
    assert_eq!(target.row(&first).await.status.as_deref(), Some("pending"));

    lock.release().await;
    let claimed = repository
        .claim(claim_request(&a, 10, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), set(&[&first, &second]));
}

async fn claim_one<T: ConformanceTarget>(
    target: &T,
    seed: SeedRow,
    by: &WorkerId,
    lease_until: DateTime<Utc>,
) -> DomainId {
    let id = target.seed(seed).await;
    let claimed = target
        .repository()
        .claim(claim_request(by, 1, at(100), lease_until))
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        set(&[&id]),
        "the test's row is the only pending one"
    );
    id
}

/// `complete` writes every column from the metadata, the first five
/// e-mails and three phones, both JSON columns, queues the sitemap
/// analysis and clears the lease, `last_error` and the retry time.
pub async fn complete_writes_every_field<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let seed = SeedRow::pending("shop.example.com")
        .last_error("timed out")
        .attempts(1);
    let id = claim_one(target, seed, &a, at(110)).await;
    let metadata = rich_metadata();
    let outcome = target
        .repository()
        .complete(id.clone(), &a, &metadata, at(105))
        .await
        .unwrap();
    assert_eq!(outcome, WriteOutcome::Written);

    let row = target.row(&id).await;
    let mut expected = row.clone();
    expected.status = Some("completed".into());
    expected.attempts = 2;
    expected.title = metadata.title.clone();
    expected.description = metadata.description.clone();
    expected.favicon_url = metadata.favicon_url.clone();
    expected.logo_url = metadata.logo_url.clone();
    expected.language = metadata.language.clone();
    expected.is_wordpress = Some(true);
    expected.wordpress_version = Some("6.4.2".into());
    expected.has_elementor = Some(true);
    expected.tech_stack = Some(serde_json::json!({
        "cms": ["WordPress"],
        "frameworks": ["jQuery"],
        "analytics": ["Google Tag Manager"],
        "widgets": ["Elementor"],
        "cdn": ["Cloudflare"],
    }));
    expected.email_addresses = Some(metadata.emails[..5].to_vec());
    expected.phone_numbers = Some(metadata.phones[..3].to_vec());
    expected.facebook_url = metadata.social.facebook.clone();
    expected.twitter_url = metadata.social.twitter.clone();
    expected.linkedin_url = metadata.social.linkedin.clone();
    expected.instagram_url = metadata.social.instagram.clone();
    expected.youtube_url = metadata.social.youtube.clone();
    expected.meta_json = Some(serde_json::to_value(metadata.document()).unwrap());
    expected.sitemap_analysis_status = Some("queued".into());
    expected.last_error = None;
    expected.locked_by = None;
    expected.locked_until = None;
    expected.next_attempt_at = None;
    expected.updated_at = Some(at(105));
    assert_eq!(row, expected);
    let stored: SiteMetadata = serde_json::from_value(row.meta_json.unwrap()).unwrap();
    assert_eq!(
        stored, metadata,
        "meta_json holds the whole metadata and the old tech_stack"
    );
}

/// `complete_many` writes each completion of the group as `complete`
/// would, and says which rows were no longer leased to their writer.
pub async fn complete_many_writes_a_group_and_reports_lost_leases<T: ConformanceTarget>(
    target: &T,
) {
    let a = worker("worker-a");
    let b = worker("worker-b");
    let first = claim_one(target, SeedRow::pending("first.example"), &a, at(110)).await;
    let second = claim_one(target, SeedRow::pending("second.example"), &a, at(110)).await;
    let metadata = rich_metadata();
    let completion = |id, by: &WorkerId| Completion {
        id,
        worker: by.clone(),
        metadata: metadata.clone(),
        now: at(105),
    };
    let outcomes = target
        .repository()
        .complete_many(&[
            completion(first.clone(), &a),
            completion(second.clone(), &b),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes, [WriteOutcome::Written, WriteOutcome::LeaseLost]);
    let written = target.row(&first).await;
    assert_eq!(written.status.as_deref(), Some("completed"));
    assert_eq!(written.title, metadata.title);
    assert_eq!(written.sitemap_analysis_status.as_deref(), Some("queued"));
    let untouched = target.row(&second).await;
    assert_eq!(untouched.status.as_deref(), Some("processing"));
    assert_eq!(untouched.title, None);
    assert_eq!(
        target.repository().complete_many(&[]).await.unwrap(),
        Vec::<WriteOutcome>::new()
    );
}

/// A completion written again (its commit went through, its answer was
/// lost) is written, not a lost lease, alone or in a group; a row another
/// completion finished at another time is still not this one's.
pub async fn a_completion_written_twice_counts_as_written<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let first = claim_one(target, SeedRow::pending("first.example"), &a, at(110)).await;
    let second = claim_one(target, SeedRow::pending("second.example"), &a, at(110)).await;
    let metadata = rich_metadata();
    // Sub-microsecond digits: the database keeps fewer than the clock has.
    let now = at(105) + chrono::Duration::nanoseconds(123_456_789);
    let completion = |id: &DomainId, now| Completion {
        id: id.clone(),
        worker: a.clone(),
        metadata: metadata.clone(),
        now,
    };
    let repository = target.repository();
    let write = |c: Completion| async move {
        repository
            .complete(c.id, &c.worker, &c.metadata, c.now)
            .await
            .unwrap()
    };

    assert_eq!(write(completion(&first, now)).await, WriteOutcome::Written);
    assert_eq!(write(completion(&first, now)).await, WriteOutcome::Written);
    let later = now + chrono::Duration::seconds(1);
    assert_eq!(
        write(completion(&first, later)).await,
        WriteOutcome::LeaseLost
    );
    let group = repository
        .complete_many(&[completion(&second, now)])
        .await
        .unwrap();
    assert_eq!(group, [WriteOutcome::Written]);
    let again = repository
        .complete_many(&[completion(&first, now), completion(&second, now)])
        .await
        .unwrap();
    assert_eq!(again, [WriteOutcome::Written, WriteOutcome::Written]);
    let row = target.row(&first).await;
    assert_eq!(row.status.as_deref(), Some("completed"));
    assert_eq!(row.title, metadata.title);
    assert_eq!(row.locked_by, None);
}

/// Empty metadata writes empty lists and `false`, not stale values.
pub async fn complete_with_empty_metadata_writes_empty_lists<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let id = claim_one(target, SeedRow::pending("bare.example"), &a, at(110)).await;
    let metadata = SiteMetadata {
        url: "https://bare.example/".into(),
        ..SiteMetadata::default()
    };
    target
        .repository()
        .complete(id.clone(), &a, &metadata, at(105))
        .await
        .unwrap();
    let row = target.row(&id).await;
    assert_eq!(row.status.as_deref(), Some("completed"));
    assert_eq!(row.title, None);
    assert_eq!(row.email_addresses, Some(vec![]));
    assert_eq!(row.phone_numbers, Some(vec![]));
    assert_eq!(row.is_wordpress, Some(false));
    assert_eq!(row.has_elementor, Some(false));
    assert_eq!(
        row.tech_stack,
        Some(serde_json::json!({"cms": [], "frameworks": [], "analytics": [], "widgets": []}))
    );
    assert_eq!(
        row.meta_json,
        Some(serde_json::to_value(metadata.document()).unwrap())
    );
}

/// Text from hostile pages round-trips exactly through every text, array
/// and JSON column; NUL bytes are dropped; the table survives.
pub async fn complete_round_trips_hostile_text_exactly<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let raw_domain = "o'neil.example\\--$$";
    let id = target.seed(SeedRow::pending(raw_domain)).await;
    let claimed = target
        .repository()
        .claim(claim_request(&a, 1, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(claimed[0].raw_domain, raw_domain);
    target
        .repository()
        .release(id.clone(), &a, None, at(100))
        .await
        .unwrap();
    assert_eq!(target.row(&id).await.domain, raw_domain);
    let claimed = target
        .repository()
        .claim(claim_request(&a, 1, at(100), at(110)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), set(&[&id]));
    target
        .repository()
        .fail(id.clone(), &a, "done", at(100))
        .await
        .unwrap();

    for (i, text) in HOSTILE_TEXTS.iter().enumerate() {
        let metadata = SiteMetadata {
            url: format!("https://example.com/{text}"),
            title: Some((*text).to_owned()),
            description: Some(format!("{text}{text}")),
            language: Some((*text).to_owned()),
            emails: vec![(*text).to_owned(), "plain@example.com".into()],
            phones: vec![(*text).to_owned()],
            social: SocialProfiles {
                facebook: Some((*text).to_owned()),
                ..SocialProfiles::default()
            },
            wordpress: WordPressInfo {
                version: Some((*text).to_owned()),
                ..WordPressInfo::default()
            },
            tech: vec![tech(text, "cms")],
            ..SiteMetadata::default()
        };
        let id = claim_one(
            target,
            SeedRow::pending(format!("h{i}.example")),
            &a,
            at(110),
        )
        .await;
        let outcome = target
            .repository()
            .complete(id.clone(), &a, &metadata, at(105))
            .await
            .unwrap();
        assert_eq!(outcome, WriteOutcome::Written, "{text:?}");
        let row = target.row(&id).await;
        assert_eq!(row.title.as_deref(), Some(*text));
        assert_eq!(row.description, Some(format!("{text}{text}")));
        assert_eq!(row.language.as_deref(), Some(*text));
        assert_eq!(row.wordpress_version.as_deref(), Some(*text));
        assert_eq!(row.facebook_url.as_deref(), Some(*text));
        assert_eq!(
            row.email_addresses,
            Some(vec![(*text).to_owned(), "plain@example.com".into()])
        );
        assert_eq!(row.phone_numbers, Some(vec![(*text).to_owned()]));
        assert_eq!(row.tech_stack.unwrap()["cms"][0], Json::from(*text));
        let stored: SiteMetadata = serde_json::from_value(row.meta_json.unwrap()).unwrap();
        assert_eq!(stored, metadata, "{text:?}");
    }

    let id = claim_one(target, SeedRow::pending("nul.example"), &a, at(110)).await;
    let metadata = SiteMetadata {
        url: NUL_TEXT.into(),
        title: Some(NUL_TEXT.into()),
        emails: vec![NUL_TEXT.into()],
        ..SiteMetadata::default()
    };
    target
        .repository()
        .complete(id.clone(), &a, &metadata, at(105))
        .await
        .unwrap();
    let row = target.row(&id).await;
    assert_eq!(row.title.as_deref(), Some("beforeafter"));
    assert_eq!(row.email_addresses, Some(vec!["beforeafter".to_owned()]));
    assert_eq!(row.meta_json.unwrap()["title"], Json::from("beforeafter"));

    let id = claim_one(target, SeedRow::pending("error.example"), &a, at(110)).await;
    let error = HOSTILE_TEXTS.concat();
    target
        .repository()
        .fail(id.clone(), &a, &format!("{error}{NUL_TEXT}"), at(106))
        .await
        .unwrap();
    assert_eq!(
        target.row(&id).await.last_error,
        Some(format!("{error}beforeafter"))
    );

    let status = target
        .repository()
        .status(StatusRequest::at(at(200)).with_errors(5))
        .await
        .unwrap();
    assert_eq!(status.error, 2, "the table is still there");
    assert_eq!(
        status.completed,
        u64::try_from(HOSTILE_TEXTS.len()).unwrap() + 1
    );
    assert_eq!(status.recent_errors[0].error, format!("{error}beforeafter"));
}

/// `fail` writes `error` with the message capped at 1024 characters on a
/// character boundary, clears the lease and keeps the attempt count.
pub async fn fail_records_a_capped_error_and_clears_the_lease<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let id = claim_one(target, SeedRow::pending("broken.example"), &a, at(110)).await;
    let long = format!("HTTP 404: {}", "é€".repeat(1000));
    assert_eq!(
        target
            .repository()
            .fail(id.clone(), &a, &long, at(105))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    let row = target.row(&id).await;
    assert_eq!(row.status.as_deref(), Some("error"));
    let stored = row.last_error.unwrap();
    assert_eq!(stored.chars().count(), 1024);
    assert!(long.starts_with(&stored));
    assert_eq!((row.locked_by, row.locked_until), (None, None));
    assert_eq!(row.attempts, 1);
    assert_eq!(row.updated_at, Some(at(105)));
    assert!(
        target
            .repository()
            .claim(claim_request(&a, 10, at(300), at(310)))
            .await
            .unwrap()
            .is_empty()
    );
}

/// `retry_later` puts the row back to `pending` with the error and a retry
/// time; it is claimed again only from then on.
pub async fn retry_later_requeues_until_the_retry_time<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let id = claim_one(target, SeedRow::pending("flaky.example"), &a, at(110)).await;
    let outcome = target
        .repository()
        .retry_later(id.clone(), &a, "HTTP 503", at(200), at(105))
        .await
        .unwrap();
    assert_eq!(outcome, WriteOutcome::Written);
    let row = target.row(&id).await;
    assert_eq!(row.status.as_deref(), Some("pending"));
    assert_eq!(row.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(row.next_attempt_at, Some(at(200)));
    assert_eq!((row.locked_by, row.locked_until), (None, None));
    assert_eq!(row.updated_at, Some(at(105)));

    let b = worker("worker-b");
    assert!(
        target
            .repository()
            .claim(claim_request(&b, 10, at(150), at(160)))
            .await
            .unwrap()
            .is_empty()
    );
    let again = target
        .repository()
        .claim(claim_request(&b, 10, at(200), at(210)))
        .await
        .unwrap();
    assert_eq!(
        again,
        [ClaimedDomain {
            id,
            raw_domain: "flaky.example".into(),
            attempts: 2
        }]
    );
}

/// `release` gives the row back untouched: `pending`, the attempt not
/// counted, claimable at once.
pub async fn release_gives_the_row_back_without_counting_the_attempt<T: ConformanceTarget>(
    target: &T,
) {
    let a = worker("worker-a");
    let id = claim_one(
        target,
        SeedRow::pending("later.example").attempts(2),
        &a,
        at(110),
    )
    .await;
    assert_eq!(
        target
            .repository()
            .release(id.clone(), &a, None, at(101))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    let row = target.row(&id).await;
    assert_eq!(row.status.as_deref(), Some("pending"));
    assert_eq!(row.attempts, 2);
    assert_eq!((row.locked_by, row.locked_until), (None, None));
    let again = target
        .repository()
        .claim(claim_request(&a, 10, at(102), at(110)))
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 3);
}

/// `release` with a time hands the row back until then (a busy address):
/// the attempt not counted, `last_error` kept, not claimed before the time,
/// claimed after it.
pub async fn release_until_a_time_keeps_the_row_back_until_then<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let id = claim_one(
        target,
        SeedRow::pending("shared-host.example").attempts(1),
        &a,
        at(110),
    )
    .await;
    assert_eq!(
        target
            .repository()
            .release(id.clone(), &a, Some(at(130)), at(101))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    let row = target.row(&id).await;
    assert_eq!(row.status.as_deref(), Some("pending"));
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_error, None);
    assert_eq!((row.locked_by, row.locked_until), (None, None));
    let early = target
        .repository()
        .claim(claim_request(&a, 10, at(129), at(200)))
        .await
        .unwrap();
    assert!(early.is_empty(), "claimed before its time: {early:?}");
    let due = target
        .repository()
        .claim(claim_request(&a, 10, at(130), at(200)))
        .await
        .unwrap();
    assert_eq!(ids(&due), set(&[&id]));
    assert_eq!(due[0].attempts, 2);
}

/// A cutover leaves a table full of rows the old service left
/// `processing`: one sweep takes them all, however many statements it
/// needs for them.
pub async fn rescue_sweeps_more_stale_rows_than_one_statement_moves<T: ConformanceTarget>(
    target: &T,
) {
    let stale = 1_201;
    for index in 0..stale {
        target
            .seed(SeedRow::pending(format!("stale-{index}.example")).leased("python", None))
            .await;
    }
    let report = target
        .repository()
        .rescue_expired(at(200), 3)
        .await
        .unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: stale,
            failed: 0
        }
    );
    let status = target
        .repository()
        .status(StatusRequest::at(at(200)))
        .await
        .unwrap();
    assert_eq!((status.processing, status.pending), (0, stale));
}

/// Rows whose lease ran out go back to `pending`, or to `error` once their
/// attempts are spent; live leases are left alone; the old holder's writes
/// are refused afterwards.
pub async fn rescue_requeues_expired_leases_and_fails_spent_ones<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let expired = claim_one(target, SeedRow::pending("expired.example"), &a, at(110)).await;
    let live = claim_one(target, SeedRow::pending("live.example"), &a, at(500)).await;
    let spent = target
        .seed(
            SeedRow::pending("spent.example")
                .leased("worker-x", Some(at(120)))
                .attempts(3),
        )
        .await;
    let unleased = target
        .seed(
            SeedRow::pending("old-system.example")
                .leased("python", None)
                .attempts(1),
        )
        .await;

    let report = target
        .repository()
        .rescue_expired(at(200), 3)
        .await
        .unwrap();
    assert_eq!(
        report,
        RescueReport {
            requeued: 2,
            failed: 1
        }
    );

    let row = target.row(&expired).await;
    assert_eq!(row.status.as_deref(), Some("pending"));
    assert_eq!(
        row.last_error.as_deref(),
        Some(lease_expired_message(1).as_str())
    );
    assert_eq!((row.locked_by, row.locked_until), (None, None));
    assert_eq!(row.updated_at, Some(at(200)));
    assert_eq!(
        target.row(&unleased).await.status.as_deref(),
        Some("pending")
    );
    let row = target.row(&spent).await;
    assert_eq!(row.status.as_deref(), Some("error"));
    assert_eq!(
        row.last_error.as_deref(),
        Some(lease_expired_message(3).as_str())
    );
    let row = target.row(&live).await;
    assert_eq!(row.status.as_deref(), Some("processing"));
    assert_eq!(row.locked_by.as_deref(), Some("worker-a"));

    let late = target
        .repository()
        .complete(expired.clone(), &a, &rich_metadata(), at(201))
        .await
        .unwrap();
    assert_eq!(
        late,
        WriteOutcome::LeaseLost,
        "a rescued row is no longer the old worker's"
    );
    assert_eq!(
        target
            .repository()
            .rescue_expired(at(200), 3)
            .await
            .unwrap(),
        RescueReport::default()
    );
}

/// Every guarded write refuses a row leased to another worker, a row
/// already finished, and a row that does not exist.
pub async fn guarded_writes_refuse_rows_leased_to_another_worker<T: ConformanceTarget>(target: &T) {
    let a = worker("worker-a");
    let b = worker("worker-b");
    let id = claim_one(target, SeedRow::pending("contested.example"), &a, at(110)).await;
    let before = target.row(&id).await;
    let repository = target.repository();
    let metadata = rich_metadata();
    assert_eq!(
        repository
            .complete(id.clone(), &b, &metadata, at(105))
            .await
            .unwrap(),
        WriteOutcome::LeaseLost
    );
    assert_eq!(
        repository.fail(id.clone(), &b, "x", at(105)).await.unwrap(),
        WriteOutcome::LeaseLost
    );
    assert_eq!(
        repository
            .retry_later(id.clone(), &b, "x", at(300), at(105))
            .await
            .unwrap(),
        WriteOutcome::LeaseLost
    );
    assert_eq!(
        repository
            .release(id.clone(), &b, None, at(105))
            .await
            .unwrap(),
        WriteOutcome::LeaseLost
    );
    assert_eq!(target.row(&id).await, before, "nothing written");

    // Rescued and taken by b: a's late write is refused, b's goes through.
    repository.rescue_expired(at(200), 5).await.unwrap();
    let taken = repository
        .claim(claim_request(&b, 1, at(201), at(300)))
        .await
        .unwrap();
    assert_eq!(ids(&taken), set(&[&id]));
    assert_eq!(
        repository
            .complete(id.clone(), &a, &metadata, at(202))
            .await
            .unwrap(),
        WriteOutcome::LeaseLost
    );
    assert_eq!(
        repository
            .complete(id.clone(), &b, &metadata, at(202))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    // Finished: even its holder cannot write again.
    assert_eq!(
        repository
            .fail(id.clone(), &b, "late", at(203))
            .await
            .unwrap(),
        WriteOutcome::LeaseLost
    );
    assert_eq!(target.row(&id).await.status.as_deref(), Some("completed"));
    let unknown = target.absent_id();
    assert_eq!(
        repository
            .release(unknown.clone(), &b, None, at(203))
            .await
            .unwrap(),
        WriteOutcome::LeaseLost
    );
}

/// `enqueue` adds `pending` rows for new names and reports the others
/// (present in any state, or given twice) without touching them.
pub async fn enqueue_adds_new_names_and_reports_the_rest<T: ConformanceTarget>(target: &T) {
    let old = target
        .seed(SeedRow::pending("old.example").status("completed"))
        .await;
    let name = |s: &str| DomainName::parse(s).unwrap();
    let names = [
        name("new-one.example"),
        name("old.example"),
        name("new-two.example"),
        name("new-one.example"),
    ];
    let repository = target.repository();
    let report = repository.enqueue(&names, at(50)).await.unwrap();
    assert_eq!(
        report.added,
        [name("new-one.example"), name("new-two.example")]
    );
    assert_eq!(
        report.already_present,
        [name("old.example"), name("new-one.example")]
    );
    assert_eq!(target.row(&old).await.status.as_deref(), Some("completed"));

    let a = worker("worker-a");
    let claimed = repository
        .claim(claim_request(&a, 10, at(100), at(110)))
        .await
        .unwrap();
    let mut raw: Vec<&str> = claimed.iter().map(|d| d.raw_domain.as_str()).collect();
    raw.sort_unstable();
    assert_eq!(raw, ["new-one.example", "new-two.example"]);
    let row = target.row(&claimed[0].id).await;
    assert_eq!(row.created_at, Some(at(50)));
    assert_eq!(row.attempts, 1);

    let again = repository.enqueue(&names[..1], at(60)).await.unwrap();
    assert_eq!((again.added.len(), again.already_present.len()), (0, 1));
    assert_eq!(
        repository.enqueue(&[], at(60)).await.unwrap(),
        Default::default()
    );
    let many: Vec<DomainName> = (0..1200)
        .map(|i| name(&format!("bulk{i}.example")))
        .collect();
    assert_eq!(
        repository.enqueue(&many, at(70)).await.unwrap().added.len(),
        1200
    );
}

/// `status` counts rows per state, due and expired ones apart, and lists
/// the latest errors newest first.
pub async fn status_counts_rows_per_state_and_lists_recent_errors<T: ConformanceTarget>(
    target: &T,
) {
    target.seed(SeedRow::pending("p1.example")).await;
    target.seed(SeedRow::pending("p2.example")).await;
    target
        .seed(SeedRow::pending("p3.example").next_attempt_at(at(500)))
        .await;
    target
        .seed(SeedRow::pending("w1.example").leased("worker-a", Some(at(50))))
        .await;
    target
        .seed(SeedRow::pending("w2.example").leased("worker-a", Some(at(500))))
        .await;
    target
        .seed(SeedRow::pending("c1.example").status("completed"))
        .await;
    target
        .seed(
            SeedRow::pending("e1.example")
                .status("error")
                .updated_at(Some(at(10)))
                .last_error("first"),
        )
        .await;
    target
        .seed(
            SeedRow::pending("e3.example")
                .status("error")
                .updated_at(Some(at(30)))
                .last_error("third"),
        )
        .await;
    target
        .seed(
            SeedRow::pending("e2.example")
                .status("error")
                .updated_at(Some(at(20)))
                .last_error("second"),
        )
        .await;
    target
        .seed(SeedRow::pending("x1.example").status("archived"))
        .await;

    let report = target
        .repository()
        .status(StatusRequest::at(at(100)).with_errors(2))
        .await
        .unwrap();
    assert_eq!(
        (
            report.pending,
            report.waiting_for_retry,
            report.processing,
            report.expired_leases
        ),
        (3, 1, 2, 1)
    );
    assert_eq!((report.completed, report.error, report.other), (1, 3, 1));
    let errors: Vec<(&str, &str, DateTime<Utc>)> = report
        .recent_errors
        .iter()
        .map(|e| (e.domain.as_str(), e.error.as_str(), e.at))
        .collect();
    assert_eq!(
        errors,
        [
            ("e3.example", "third", at(30)),
            ("e2.example", "second", at(20))
        ]
    );
    assert!(
        target
            .repository()
            .status(StatusRequest::at(at(100)).with_errors(0))
            .await
            .unwrap()
            .recent_errors
            .is_empty()
    );
}

/// `status` also reports how long the due row next in line has waited,
/// and with details what finished in the last hour and the most frequent
/// kinds of error (by the domain's table), and the latest completed rows
/// with their titles.
pub async fn status_reports_lag_last_hour_error_kinds_and_recent_completions<
    T: ConformanceTarget,
>(
    target: &T,
) {
    let repository = target.repository();
    target.seed(SeedRow::pending("done.example")).await;
    let worker = worker("w");
    let claimed = repository
        .claim(claim_request(&worker, 1, at(100), at(110)))
        .await
        .unwrap();
    let metadata = SiteMetadata {
        title: Some("<script>alert('t')</script> Done".into()),
        ..rich_metadata()
    };
    repository
        .complete(claimed[0].id.clone(), &worker, &metadata, at(150))
        .await
        .unwrap();
    for seed in [
        SeedRow::pending("p1.example").updated_at(Some(at(20))),
        SeedRow::pending("p2.example").updated_at(Some(at(50))),
        // Due since its retry time, not since its last update.
        SeedRow::pending("r1.example").next_attempt_at(at(30)),
        // Not due: not waiting in the queue.
        SeedRow::pending("f1.example").next_attempt_at(at(500)),
        // Completed before the last hour.
        SeedRow::pending("old.example")
            .status("completed")
            .updated_at(Some(at(100))),
    ] {
        target.seed(seed).await;
    }
    let errors: [(&str, Option<&str>, i64); 9] = [
        ("e1.example", Some("HTTP 404 from https://e1.example/"), 150),
        ("e2.example", Some("HTTP 404 from https://e2.example/"), 160),
        ("e3.example", Some("HTTP 503 from https://e3.example/"), 10),
        ("e4.example", Some("DNS lookup failed: no such host"), 10),
        ("e5.example", Some("DNS lookup failed: no such host"), 11),
        ("e6.example", Some("DNS lookup failed: no such host"), 12),
        (
            "e7.example",
            Some("timed out after 20s (gave up after 3 attempts)"),
            10,
        ),
        ("e8.example", None, 10),
        ("e9.example", Some("something odd"), 10),
    ];
    for (domain, error, minute) in errors {
        let mut seed = SeedRow::pending(domain)
            .status("error")
            .updated_at(Some(at(minute)));
        if let Some(error) = error {
            seed = seed.last_error(error);
        }
        target.seed(seed).await;
    }

    let report = repository
        .status(
            StatusRequest::at(at(200))
                .with_details()
                .with_errors(1)
                .with_completed(5),
        )
        .await
        .unwrap();
    // Next in line (claim order: oldest update first) is r1, due since its
    // retry time.
    assert_eq!(report.oldest_pending_seconds, Some(170 * 60));
    assert_eq!(
        (report.last_hour.completed, report.last_hour.failed),
        (1, 2)
    );
    // Without details, neither is read.
    let light = repository.status(StatusRequest::at(at(200))).await.unwrap();
    assert_eq!(light.oldest_pending_seconds, Some(170 * 60));
    assert_eq!(light.last_hour, LastHour::default());
    assert!(light.error_kinds.is_empty() && light.recent_errors.is_empty());
    assert_eq!((light.completed, light.error), (2, 9));
    let kinds: Vec<(&str, u64)> = report
        .error_kinds
        .iter()
        .map(|kind| (kind.kind.as_str(), kind.count))
        .collect();
    assert_eq!(
        kinds,
        [
            ("dns", 3),
            ("HTTP 404", 2),
            ("other", 2),
            ("HTTP 503", 1),
            ("timeout", 1)
        ]
    );
    assert_eq!(report.recent_errors.len(), 1);
    assert_eq!(report.recent_errors[0].domain, "e2.example");
    let completed: Vec<(&str, Option<&str>, DateTime<Utc>)> = report
        .recent_completed
        .iter()
        .map(|row| (row.domain.as_str(), row.title.as_deref(), row.at))
        .collect();
    assert_eq!(
        completed,
        [
            (
                "done.example",
                Some("<script>alert('t')</script> Done"),
                at(150)
            ),
            ("old.example", None, at(100)),
        ]
    );
}

/// A row another system inserted with only `domain` gets its defaults
/// (id, `pending`, no attempts, timestamps) and is claimed with its raw
/// value as is.
pub async fn row_inserted_with_only_domain_gets_defaults_and_is_claimable<T: ConformanceTarget>(
    target: &T,
) {
    let before = Utc::now() - chrono::Duration::seconds(5);
    let id = target
        .insert_domain_only("HTTP://WWW.Example.COM/path")
        .await;
    let row = target.row(&id).await;
    assert_eq!(row.status.as_deref(), Some("pending"));
    assert_eq!(row.attempts, 0);
    assert_eq!(
        (
            row.locked_by.as_deref(),
            row.locked_until,
            row.next_attempt_at
        ),
        (None, None, None)
    );
    let after = Utc::now() + chrono::Duration::seconds(5);
    for stamp in [row.created_at, row.updated_at] {
        let stamp = stamp.expect("a default timestamp");
        assert!(before <= stamp && stamp <= after, "{stamp} is now");
    }

    let a = worker("worker-a");
    let now = Utc::now() + chrono::Duration::minutes(1);
    let claimed = target
        .repository()
        .claim(claim_request(
            &a,
            10,
            now,
            now + chrono::Duration::minutes(5),
        ))
        .await
        .unwrap();
    assert_eq!(
        claimed,
        [ClaimedDomain {
            id,
            raw_domain: "HTTP://WWW.Example.COM/path".into(),
            attempts: 1
        }]
    );
}

// ---------------------------------------------------------------------------
// Requeue
// ---------------------------------------------------------------------------

fn name(text: &str) -> DomainName {
    DomainName::parse(text).unwrap()
}

/// The report of a requeue that moved `rows` and found every name given.
fn requeued(rows: u64) -> RequeueReport {
    RequeueReport {
        requeued: rows,
        ..RequeueReport::default()
    }
}

fn only(status: DomainStatus) -> RequeueSelection {
    RequeueSelection::new().with_status(status).unwrap()
}

/// A requeue moves the selected rows to `pending` with a fresh start
/// (attempts 0, no retry time, no lease, `updated_at` now) and keeps
/// `last_error`; requeued rows queue behind the rows already waiting.
pub async fn requeue_moves_selected_rows_back_to_pending_with_a_fresh_start<
    T: ConformanceTarget,
>(
    target: &T,
) {
    let waiting = target.seed(SeedRow::pending("waiting.example")).await;
    let failed = target
        .seed(
            SeedRow::pending("failed.example")
                .status("error")
                .attempts(3)
                .next_attempt_at(at(40))
                .updated_at(Some(at(-10)))
                .last_error("HTTP 503"),
        )
        .await;
    let done = target
        .seed(
            SeedRow::pending("done.example")
                .status("completed")
                .attempts(1),
        )
        .await;
    let done_before = target.row(&done).await;
    let repository = target.repository();

    let report = repository
        .requeue(&only(DomainStatus::Error), false, at(100))
        .await
        .unwrap();
    assert_eq!(report, requeued(1));
    let row = target.row(&failed).await;
    assert_eq!(row.status.as_deref(), Some("pending"));
    assert_eq!(row.attempts, 0);
    assert_eq!(
        (
            row.next_attempt_at,
            row.locked_by.as_deref(),
            row.locked_until
        ),
        (None, None, None)
    );
    assert_eq!(row.updated_at, Some(at(100)));
    assert_eq!(row.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(
        target.row(&done).await,
        done_before,
        "completed rows were not selected"
    );

    let report = repository
        .requeue(&only(DomainStatus::Completed), false, at(101))
        .await
        .unwrap();
    assert_eq!(report.requeued, 1);
    assert_eq!(target.row(&done).await.status.as_deref(), Some("pending"));

    // Oldest `updated_at` first: the row that was waiting, then the
    // requeued ones in the order they were requeued.
    let a = worker("worker-a");
    for expected in [waiting, failed, done] {
        let claimed = repository
            .claim(claim_request(&a, 1, at(200), at(210)))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].id.clone(), claimed[0].attempts), (expected, 1));
    }
}

/// `processing` rows (leased, expired or without a lease) and `pending`
/// rows never move, even when everything is selected.
pub async fn requeue_never_touches_processing_or_pending_rows<T: ConformanceTarget>(target: &T) {
    let seeds = [
        SeedRow::pending("live.example").leased("worker-a", Some(at(500))),
        SeedRow::pending("expired.example").leased("worker-a", Some(at(1))),
        SeedRow::pending("unleased.example").leased("worker-a", None),
        SeedRow::pending("retry.example")
            .attempts(2)
            .next_attempt_at(at(300))
            .last_error("timed out"),
        SeedRow::pending("odd.example").status("archived"),
    ];
    let mut before = Vec::new();
    for seed in seeds {
        let id = target.seed(seed).await;
        let row = target.row(&id).await;
        before.push((id, row));
    }
    let repository = target.repository();
    for dry_run in [true, false] {
        let report = repository
            .requeue(&RequeueSelection::new(), dry_run, at(100))
            .await
            .unwrap();
        assert_eq!(report.requeued, 0, "dry run {dry_run}");
    }
    let names = RequeueSelection::new().domains(["live.example", "retry.example"].map(name));
    let report = repository.requeue(&names, false, at(100)).await.unwrap();
    assert_eq!(
        report,
        RequeueReport {
            left_alone: vec![
                (name("live.example"), "processing".to_owned()),
                (name("retry.example"), "pending".to_owned()),
            ],
            ..RequeueReport::default()
        },
        "present but not selectable: left alone, with their status"
    );
    for (id, row) in before {
        assert_eq!(target.row(&id).await, row);
    }
}

/// `updated_before` takes rows last updated before the cutoff, and rows
/// never updated at all.
pub async fn requeue_by_age_takes_rows_updated_before_the_cutoff_or_never<T: ConformanceTarget>(
    target: &T,
) {
    let mut expected = Vec::new();
    for (domain, status, updated_at, after) in [
        ("old.example", "error", Some(at(10)), "pending"),
        ("never.example", "completed", None, "pending"),
        ("cutoff.example", "error", Some(at(20)), "error"),
        ("recent.example", "error", Some(at(30)), "error"),
    ] {
        let seed = SeedRow::pending(domain)
            .status(status)
            .updated_at(updated_at);
        expected.push((target.seed(seed).await, after));
    }
    let selection = RequeueSelection::new().updated_before(at(20));
    let report = target
        .repository()
        .requeue(&selection, false, at(100))
        .await
        .unwrap();
    assert_eq!(report.requeued, 2);
    for (id, status) in expected {
        assert_eq!(
            target.row(&id).await.status.as_deref(),
            Some(status),
            "{id}"
        );
    }
}

/// An error pattern matches `last_error` as `ILIKE` does (a `LIKE` pattern,
/// or plain text anywhere with `%` and `_` literal); rows without an error
/// never match.
pub async fn requeue_by_error_pattern_matches_like_and_plain_text_ignoring_case<
    T: ConformanceTarget,
>(
    target: &T,
) {
    for (domain, error) in [
        ("e503.example", Some("HTTP 503 Service Unavailable")),
        ("e502.example", Some("http 502 bad gateway")),
        ("dns.example", Some("DNS: name not found")),
        ("half.example", Some("stopped at 50% done")),
        ("under.example", Some("stopped at 50x_done")),
        ("none.example", None),
    ] {
        let mut seed = SeedRow::pending(domain).status("error");
        seed.last_error = error.map(str::to_owned);
        target.seed(seed).await;
    }
    let repository = target.repository();
    let count = |pattern: ErrorPattern| async move {
        repository
            .requeue(
                &RequeueSelection::new().error_matching(pattern),
                true,
                at(100),
            )
            .await
            .unwrap()
            .requeued
    };
    assert_eq!(count(ErrorPattern::Like("HTTP 5%".into())).await, 2);
    assert_eq!(count(ErrorPattern::Like("%NOT FOUND".into())).await, 1);
    assert_eq!(count(ErrorPattern::Like("%50_ done".into())).await, 1);
    assert_eq!(count(ErrorPattern::Like("%50\\%%".into())).await, 1);
    assert_eq!(count(ErrorPattern::Like("not found".into())).await, 0);
    assert_eq!(count(ErrorPattern::Contains("50%".into())).await, 1);
    assert_eq!(count(ErrorPattern::Contains("X_DONE".into())).await, 1);
    assert_eq!(count(ErrorPattern::Contains("bad Gateway".into())).await, 1);
    assert_eq!(count(ErrorPattern::Contains("%".into())).await, 1);

    let report = repository
        .requeue(
            &RequeueSelection::new().error_matching(ErrorPattern::Like("http 50%".into())),
            false,
            at(100),
        )
        .await
        .unwrap();
    assert_eq!(report.requeued, 2);
    assert_eq!(
        count(ErrorPattern::Like("%".into())).await,
        3,
        "the others are left"
    );
}

/// A file of names longer than any one statement may carry is requeued
/// whole: the two rows at either end of it, the rest reported missing.
pub async fn requeue_by_a_long_list_of_names_takes_every_part<T: ConformanceTarget>(target: &T) {
    let first = target
        .seed(SeedRow::pending("n0.example").status("error"))
        .await;
    let last = target
        .seed(SeedRow::pending("n39999.example").status("completed"))
        .await;
    let names = (0..40_000).map(|index| name(&format!("n{index}.example")));
    let report = target
        .repository()
        .requeue(&RequeueSelection::new().domains(names), false, at(100))
        .await
        .unwrap();
    assert_eq!(report.requeued, 2);
    assert_eq!(report.not_found.len(), 39_998);
    assert!(report.left_alone.is_empty());
    assert_eq!(target.row(&first).await.status.as_deref(), Some("pending"));
    assert_eq!(target.row(&last).await.status.as_deref(), Some("pending"));
}

/// A requeue by name moves the named rows it selects and reports the names
/// that have no row.
pub async fn requeue_by_name_reports_names_without_a_row<T: ConformanceTarget>(target: &T) {
    let failed = target
        .seed(SeedRow::pending("a.example").status("error"))
        .await;
    let busy = target
        .seed(SeedRow::pending("b.example").leased("worker-a", Some(at(500))))
        .await;
    let other = target
        .seed(SeedRow::pending("c.example").status("error"))
        .await;
    let selection = RequeueSelection::new()
        .domains(["a.example", "b.example", "missing.example", "gone.example"].map(name));
    let repository = target.repository();
    let expected = RequeueReport {
        requeued: 1,
        not_found: vec![name("missing.example"), name("gone.example")],
        left_alone: vec![(name("b.example"), "processing".to_owned())],
    };
    assert_eq!(
        repository.requeue(&selection, true, at(100)).await.unwrap(),
        expected
    );
    assert_eq!(
        repository
            .requeue(&selection, false, at(100))
            .await
            .unwrap(),
        expected
    );
    assert_eq!(target.row(&failed).await.status.as_deref(), Some("pending"));
    assert_eq!(
        target.row(&busy).await.status.as_deref(),
        Some("processing")
    );
    assert_eq!(target.row(&other).await.status.as_deref(), Some("error"));
}

/// Every selector narrows the selection: a row must pass them all.
pub async fn requeue_selectors_combine_with_and<T: ConformanceTarget>(target: &T) {
    let seed = |domain: &str, status: &str, minutes: i64, error: &str| {
        SeedRow::pending(domain)
            .status(status)
            .updated_at(Some(at(minutes)))
            .last_error(error)
    };
    let chosen = target
        .seed(seed("chosen.example", "error", 10, "HTTP 503"))
        .await;
    let mut left = Vec::new();
    for row in [
        seed("completed.example", "completed", 10, "HTTP 503"),
        seed("recent.example", "error", 90, "HTTP 503"),
        seed("other-error.example", "error", 10, "HTTP 404"),
        seed("unnamed.example", "error", 10, "HTTP 503"),
    ] {
        left.push(target.seed(row).await);
    }
    let selection = only(DomainStatus::Error)
        .updated_before(at(50))
        .error_matching(ErrorPattern::Contains("503".into()))
        .domains(
            [
                "chosen.example",
                "completed.example",
                "recent.example",
                "other-error.example",
            ]
            .map(name),
        );
    let report = target
        .repository()
        .requeue(&selection, false, at(100))
        .await
        .unwrap();
    assert_eq!(
        report,
        RequeueReport {
            requeued: 1,
            not_found: vec![],
            left_alone: vec![
                (name("completed.example"), "completed".to_owned()),
                (name("recent.example"), "error".to_owned()),
                (name("other-error.example"), "error".to_owned()),
            ],
        }
    );
    assert_eq!(target.row(&chosen).await.status.as_deref(), Some("pending"));
    for id in left {
        assert_ne!(
            target.row(&id).await.status.as_deref(),
            Some("pending"),
            "{id}"
        );
    }
}

/// A dry run counts exactly the rows the same requeue then moves, and
/// changes nothing.
pub async fn requeue_dry_run_counts_exactly_and_changes_nothing<T: ConformanceTarget>(target: &T) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let status = if i % 3 == 0 { "completed" } else { "error" };
        let seed = SeedRow::pending(format!("row{i}.example"))
            .status(status)
            .attempts(2)
            .last_error(&format!("HTTP 50{i}"));
        ids.push(target.seed(seed).await);
    }
    ids.push(
        target
            .seed(SeedRow::pending("busy.example").leased("worker-a", Some(at(1))))
            .await,
    );
    let mut before = Vec::new();
    for id in &ids {
        before.push(target.row(id).await);
    }
    let repository = target.repository();
    let selection = only(DomainStatus::Error);
    let counted = repository.requeue(&selection, true, at(100)).await.unwrap();
    assert_eq!(counted.requeued, 4);
    for (id, row) in ids.iter().zip(&before) {
        assert_eq!(&target.row(id).await, row, "a dry run changed {id}");
    }
    let moved = repository
        .requeue(&selection, false, at(100))
        .await
        .unwrap();
    assert_eq!(moved, counted);
    let everything = repository
        .requeue(&RequeueSelection::new(), true, at(100))
        .await
        .unwrap();
    assert_eq!(everything.requeued, 3, "the completed rows are left");
}

/// `find_domain` reads one row by its name: where it stands, its lease
/// and last error, and the metadata document exactly as stored (hostile
/// text included); an unknown name has no row.
pub async fn find_domain_reads_one_row_with_its_lease_and_document<T: ConformanceTarget>(
    target: &T,
) {
    let repository = target.repository();
    target.seed(SeedRow::pending("done.example")).await;
    target
        .seed(
            SeedRow::pending("busy.example")
                .leased("worker-a", Some(at(500)))
                .attempts(2)
                .last_error("HTTP 503 from https://busy.example/"),
        )
        .await;
    let worker = worker("w");
    let claimed = repository
        .claim(claim_request(&worker, 1, at(100), at(110)))
        .await
        .unwrap();
    let hostile = "<script>alert('t')</script> \"Done\" \\ é";
    let metadata = SiteMetadata {
        title: Some(hostile.into()),
        ..rich_metadata()
    };
    repository
        .complete(claimed[0].id.clone(), &worker, &metadata, at(150))
        .await
        .unwrap();

    let done = repository
        .find_domain(&name("done.example"))
        .await
        .unwrap()
        .expect("the completed row is found");
    assert_eq!(done.domain, "done.example");
    assert_eq!(done.status.as_deref(), Some("completed"));
    assert_eq!(done.attempts, 1);
    assert_eq!((done.locked_by, done.locked_until), (None, None));
    assert_eq!(done.updated_at, Some(at(150)));
    let document = done.metadata.expect("the document is read");
    assert_eq!(document["title"], hostile);
    assert_eq!(
        document,
        serde_json::to_value(metadata.document()).unwrap(),
        "the whole document, as stored"
    );

    let busy = repository
        .find_domain(&name("busy.example"))
        .await
        .unwrap()
        .expect("the leased row is found");
    assert_eq!(busy.status.as_deref(), Some("processing"));
    assert_eq!(busy.attempts, 2);
    assert_eq!(busy.locked_by.as_deref(), Some("worker-a"));
    assert_eq!(busy.locked_until, Some(at(500)));
    assert_eq!(
        busy.last_error.as_deref(),
        Some("HTTP 503 from https://busy.example/")
    );
    assert_eq!(busy.metadata, None);

    assert_eq!(
        repository
            .find_domain(&name("nowhere.example"))
            .await
            .unwrap(),
        None
    );
}

/// `recent_errors` lists `error` rows newest first, of one kind (as
/// `status` names the kinds) or all, a page at a time.
pub async fn recent_errors_filter_by_kind_and_page_newest_first<T: ConformanceTarget>(target: &T) {
    let errors: [(&str, &str, i64); 6] = [
        ("d1.example", "DNS lookup failed: no such host", 10),
        ("h1.example", "HTTP 404 from https://h1.example/", 20),
        ("d2.example", "DNS lookup failed: no such host", 30),
        ("h2.example", "HTTP 503 from https://h2.example/", 40),
        ("d3.example", "DNS lookup failed: no such host", 50),
        ("h3.example", "HTTP 404 from https://h3.example/", 60),
    ];
    for (domain, error, minute) in errors {
        target
            .seed(
                SeedRow::pending(domain)
                    .status("error")
                    .updated_at(Some(at(minute)))
                    .last_error(error),
            )
            .await;
    }
    target
        .seed(SeedRow::pending("not-failed.example").last_error("DNS lookup failed: no such host"))
        .await;
    let repository = target.repository();
    let page = |kind: Option<&str>, offset, limit| ErrorQuery {
        kind: kind.map(str::to_owned),
        offset,
        limit,
    };
    let domains = |samples: Vec<scheduler_domain::ErrorSample>| {
        samples
            .into_iter()
            .map(|sample| sample.domain)
            .collect::<Vec<_>>()
    };
    let dns = repository
        .recent_errors(&page(Some("dns"), 0, 50))
        .await
        .unwrap();
    assert_eq!(dns[0].at, at(50));
    assert_eq!(dns[0].error, "DNS lookup failed: no such host");
    assert_eq!(domains(dns), ["d3.example", "d2.example", "d1.example"]);
    assert_eq!(
        domains(
            repository
                .recent_errors(&page(Some("HTTP 404"), 0, 50))
                .await
                .unwrap()
        ),
        ["h3.example", "h1.example"]
    );
    assert_eq!(
        domains(repository.recent_errors(&page(None, 0, 2)).await.unwrap()),
        ["h3.example", "d3.example"]
    );
    assert_eq!(
        domains(repository.recent_errors(&page(None, 2, 2)).await.unwrap()),
        ["h2.example", "d2.example"]
    );
    assert_eq!(
        domains(
            repository
                .recent_errors(&page(Some("dns"), 2, 2))
                .await
                .unwrap()
        ),
        ["d1.example"]
    );
    assert!(
        repository
            .recent_errors(&page(Some("timeout"), 0, 50))
            .await
            .unwrap()
            .is_empty()
    );
}

/// With a throughput window, `status` counts per minute the rows whose
/// latest change left them completed, failed, or waiting for a retry, and
/// the last hour adds up the same minutes.
pub async fn status_counts_changes_per_minute_for_the_chart<T: ConformanceTarget>(target: &T) {
    let seeds = [
        SeedRow::pending("c1.example")
            .status("completed")
            .updated_at(Some(at(195))),
        SeedRow::pending("c2.example")
            .status("completed")
            .updated_at(Some(at(195))),
        SeedRow::pending("e1.example")
            .status("error")
            .updated_at(Some(at(195))),
        SeedRow::pending("e2.example")
            .status("error")
            .updated_at(Some(at(150))),
        // Waiting for a retry since minute 190.
        SeedRow::pending("r1.example")
            .updated_at(Some(at(190)))
            .next_attempt_at(at(230)),
        // Pending with nothing to wait for: new or requeued, not a retry.
        SeedRow::pending("n1.example").updated_at(Some(at(190))),
        // Before the window.
        SeedRow::pending("old.example")
            .status("completed")
            .updated_at(Some(at(10))),
        // Not finished.
        SeedRow::pending("w1.example").leased("worker-a", Some(at(300))),
    ];
    for seed in seeds {
        target.seed(seed).await;
    }
    let report = target
        .repository()
        .status(StatusRequest::at(at(200)).with_throughput(120))
        .await
        .unwrap();
    let minutes: Vec<(u32, u64, u64, u64)> = report
        .per_minute
        .iter()
        .map(|m| (m.minutes_ago, m.completed, m.failed, m.retried))
        .collect();
    assert_eq!(minutes, [(5, 2, 1, 0), (10, 0, 0, 1), (50, 0, 1, 0)]);
    assert_eq!(
        (report.last_hour.completed, report.last_hour.failed),
        (2, 2)
    );
    let hour_only = target
        .repository()
        .status(StatusRequest::at(at(200)).with_details())
        .await
        .unwrap();
    assert!(hour_only.per_minute.is_empty());
    assert_eq!(hour_only.last_hour, report.last_hour);
}
