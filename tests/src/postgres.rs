//! A fresh Postgres database per test, dropped at the end.
//!
//! Databases live on the server at `postgres://postgres@127.0.0.1:5432`
//! (`TEST_DATABASE_ADMIN_URL` overrides it) under a random name
//! `scheduler_test_<uuid>`. [`TestDatabase::drop`] drops one explicitly;
//! a database that a panicking test never dropped is dropped by `Drop`
//! on a thread of its own, so failed runs do not pile databases up.

use sqlx::{Connection, PgConnection};

/// The server the test databases are created on.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL: `TEST_DATABASE_ADMIN_URL` or [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_ADMIN_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
    dropped: bool,
}

/// `url` pointing at database `name` instead.
///
/// # Panics
///
/// When `url` is not a URL: the admin URL is the test run's configuration.
pub fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url)
        .unwrap_or_else(|error| panic!("TEST_DATABASE_ADMIN_URL {url:?}: {error}"));
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

async fn admin_execute(admin_url: &str, sql: String) -> Result<(), sqlx::Error> {
    let mut connection = PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut connection)
        .await?;
    connection.close().await
}

impl TestDatabase {
    /// Creates an empty database with a random name.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached: these tests need it.
    pub async fn create() -> TestDatabase {
        let admin_url = admin_url();
        let name = format!("scheduler_test_{}", uuid::Uuid::new_v4().simple());
        admin_execute(&admin_url, format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|error| {
                panic!("cannot create a test database via {admin_url}: {error}")
            });
        TestDatabase {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
            dropped: false,
        }
    }

    /// The URL of this database (same server and user as the admin URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker's storage settings for this database, reached directly
    /// (`database.pooler = "none"`): migrations may build indexes
    /// concurrently.
    pub fn direct_settings(&self) -> scheduler_storage_seaorm::StorageSettings {
        let mut settings = scheduler_storage_seaorm::StorageSettings::new(self.url());
        settings.pooler = scheduler_storage_seaorm::PoolerMode::None;
        settings
    }

    /// Drops the database, closing whatever connections still use it.
    ///
    /// # Panics
    ///
    /// When the server refuses.
    pub async fn drop(mut self) {
        self.dropped = true;
        admin_execute(&self.admin_url, drop_sql(&self.name))
            .await
            .unwrap_or_else(|error| panic!("cannot drop test database {}: {error}", self.name));
    }
}

fn drop_sql(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let admin_url = self.admin_url.clone();
        let sql = drop_sql(&self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // a thread with a runtime of its own does the work.
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                let _ = runtime.block_on(admin_execute(&admin_url, sql));
            }
        });
        let _ = worker.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exists(name: &str) -> bool {
        let mut connection = PgConnection::connect(&admin_url()).await.unwrap();
        let found = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut connection)
            .await
            .unwrap();
        found.is_some()
    }

    #[tokio::test]
    async fn explicit_drop_removes_the_database_even_with_open_connections() {
        let database = TestDatabase::create().await;
        let name = database.name().to_owned();
        assert!(database.url().ends_with(&format!("/{name}")));
        let _open = PgConnection::connect(database.url()).await.unwrap();
        assert!(exists(&name).await);
        database.drop().await;
        assert!(!exists(&name).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_test_does_not_leak_its_database() {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let test = tokio::spawn(async move {
            let database = TestDatabase::create().await;
            sender.send(database.name().to_owned()).unwrap();
            panic!("a failing test");
        });
        assert!(test.await.unwrap_err().is_panic());
        let name = receiver.await.unwrap();
        assert!(!exists(&name).await, "{name} was dropped");
    }
}
