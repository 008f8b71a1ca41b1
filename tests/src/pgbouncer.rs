//! A real PgBouncer in `pool_mode = transaction` in front of the local
//! Postgres (127.0.0.1:5432), as Supavisor's transaction mode (port 6543)
//! puts one in front of production.
//!
//! Each [`PgBouncer`] is a process of its own on a free loopback port, with
//! its own ini and auth file in a temporary directory, and a small server
//! pool (`default_pool_size`, 2 by default) so that the clients of a test
//! really share server connections: whatever one client leaves on a server
//! connection (a session `SET`, a named prepared statement) the next one
//! finds. The process is killed when the value is dropped.
//!
//! A `*` fallback database forwards every database name to the same name on
//! Postgres, so a fresh test database created directly on Postgres is
//! reachable through the pooler at once ([`PgBouncer::pooled_url`]).
//!
//! PgBouncer refuses to run as root: when the tests run as root, the process
//! is started as the `postgres` user. It gets a parent-death signal too
//! (through `setpriv`), so that not even a test process killed outright
//! leaves a PgBouncer behind.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scheduler_storage_seaorm::{PoolerMode, StorageSettings};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Row};

use crate::postgres::TestDatabase;

/// The program looked up on `PATH` (and in `/usr/sbin`, where Debian puts it).
const PROGRAM: &str = "pgbouncer";

/// How long a fresh PgBouncer may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a PgBouncer could not be started or queried.
#[derive(Debug, thiserror::Error)]
pub enum PgBouncerError {
    /// The `pgbouncer` program is not on this machine.
    #[error("pgbouncer is not installed; install it: apt-get install -y pgbouncer")]
    NotInstalled,
    /// Setting up its directory, files or process failed.
    #[error("pgbouncer setup failed: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The process exited or never listened; its log is attached.
    #[error("pgbouncer did not start: {reason}\n--- pgbouncer log ---\n{log}")]
    NotStarted {
        /// What went wrong.
        reason: String,
        /// What PgBouncer wrote before it stopped.
        log: String,
    },
    /// The admin console refused or failed a command.
    #[error("pgbouncer admin console: {0}")]
    Admin(#[from] sqlx::Error),
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> PgBouncerError {
    let context = context.into();
    move |source| PgBouncerError::Io { context, source }
}

/// How to configure a [`PgBouncer`].
#[derive(Debug, Clone)]
pub struct PgBouncerConfig {
    /// `default_pool_size`: server connections per database and user. Small,
    /// so that clients share them.
    pub pool_size: u32,
    /// `max_client_conn`.
    pub max_client_connections: u32,
    /// Where Postgres listens.
    pub server_host: String,
    /// Where Postgres listens.
    pub server_port: u16,
}

impl Default for PgBouncerConfig {
    fn default() -> Self {
        PgBouncerConfig {
            pool_size: 2,
            max_client_connections: 200,
            server_host: "127.0.0.1".to_owned(),
            server_port: 5432,
        }
    }
}

/// A running PgBouncer in transaction mode; killed on drop.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    port: u16,
    config: PgBouncerConfig,
    log_path: PathBuf,
    // Held for its lifetime: the ini, the auth file and the log live here.
    _dir: tempfile::TempDir,
}

/// Totals of one database's pool from `SHOW STATS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Transactions run through the pool (an implicit transaction of a simple
    /// query counts as one).
    pub transactions: u64,
    /// Queries sent to the server: one per client round trip that ends in
    /// `ReadyForQuery` (a simple query with several statements counts once).
    pub queries: u64,
}

impl PoolStats {
    /// The counts accumulated since `before`.
    pub fn since(self, before: PoolStats) -> PoolStats {
        PoolStats {
            transactions: self.transactions.saturating_sub(before.transactions),
            queries: self.queries.saturating_sub(before.queries),
        }
    }
}

impl PgBouncer {
    /// Starts a PgBouncer with the default configuration (two server
    /// connections per database).
    ///
    /// # Errors
    ///
    /// [`PgBouncerError::NotInstalled`] when the program is missing, or why
    /// it did not come up.
    pub async fn start() -> Result<PgBouncer, PgBouncerError> {
        PgBouncer::start_with(PgBouncerConfig::default()).await
    }

    /// Starts a PgBouncer with `pool_size` server connections per database.
    ///
    /// # Errors
    ///
    /// As [`PgBouncer::start`].
    pub async fn start_with_pool_size(pool_size: u32) -> Result<PgBouncer, PgBouncerError> {
        PgBouncer::start_with(PgBouncerConfig {
            pool_size,
            ..PgBouncerConfig::default()
        })
        .await
    }

    /// Starts a PgBouncer with `config`, waiting until it accepts
    /// connections.
    ///
    /// The parent-death signal follows the thread that spawns the process:
    /// start it from the test's own thread (the test body), not from a
    /// short-lived one.
    ///
    /// # Errors
    ///
    /// As [`PgBouncer::start`].
    pub async fn start_with(config: PgBouncerConfig) -> Result<PgBouncer, PgBouncerError> {
        let program = find_program().ok_or(PgBouncerError::NotInstalled)?;
        let version = program_version(&program)?;
        let mut last_error = None;
        // The free port is found by binding and releasing it, so another
        // process may take it before PgBouncer binds: try a few ports.
        for _ in 0..3 {
            match PgBouncer::start_once(&program, version, config.clone()).await {
                Ok(pgbouncer) => return Ok(pgbouncer),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| PgBouncerError::NotStarted {
            reason: "no attempt made".to_owned(),
            log: String::new(),
        }))
    }

    async fn start_once(
        program: &Path,
        version: (u32, u32),
        config: PgBouncerConfig,
    ) -> Result<PgBouncer, PgBouncerError> {
        let port = free_port()?;
        let dir = tempfile::Builder::new()
            .prefix("pgbouncer-")
            .tempdir()
            .map_err(io_error("creating the temporary directory"))?;
        // The process may run as `postgres`: it must read the ini and the
        // auth file; its log goes to a file this process opens.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_error("opening the temporary directory to postgres"))?;
        let auth_path = dir.path().join("userlist.txt");
        fs::write(&auth_path, "\"postgres\" \"\"\n").map_err(io_error("writing userlist.txt"))?;
        let ini_path = dir.path().join("pgbouncer.ini");
        fs::write(&ini_path, ini(&config, port, &auth_path, version))
            .map_err(io_error("writing pgbouncer.ini"))?;
        let log_path = dir.path().join("pgbouncer.log");
        let log = File::create(&log_path).map_err(io_error("creating pgbouncer.log"))?;
        let log_for_stdout = log.try_clone().map_err(io_error("duplicating the log"))?;

        let as_root = running_as_root()?;
        let mut command = match find_on_path("setpriv") {
            // `setpriv` execs PgBouncer in place with a parent-death signal,
            // so a test process that is killed outright (and never runs
            // `Drop`) takes its PgBouncer with it.
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                if as_root {
                    command.args(["--reuid=postgres", "--regid=postgres", "--clear-groups"]);
                }
                command.args(["--pdeathsig", "KILL", "--"]).arg(program);
                command
            }
            None => {
                let mut command = Command::new(program);
                if as_root {
                    let (uid, gid) = postgres_user()?;
                    // std drops the supplementary groups when a root parent
                    // sets uid.
                    command.uid(uid).gid(gid);
                }
                command
            }
        };
        if as_root {
            // Fails early with a clear message when there is no such user.
            postgres_user()?;
        }
        command
            .arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(log_for_stdout)
            .stderr(log);
        let child = command
            .spawn()
            .map_err(io_error(format!("spawning {}", program.display())))?;
        let mut pgbouncer = PgBouncer {
            child,
            port,
            config,
            log_path,
            _dir: dir,
        };
        pgbouncer.wait_until_listening().await?;
        Ok(pgbouncer)
    }

    async fn wait_until_listening(&mut self) -> Result<(), PgBouncerError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(io_error("checking the pgbouncer process"))?
            {
                return Err(PgBouncerError::NotStarted {
                    reason: format!("exited with {status}"),
                    log: self.log(),
                });
            }
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(PgBouncerError::NotStarted {
                    reason: format!("not listening on {address} after {START_TIMEOUT:?}"),
                    log: self.log(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its configuration.
    pub fn config(&self) -> &PgBouncerConfig {
        &self.config
    }

    /// A URL for `database` through the pooler, as user `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The same database as the direct `postgres://` URL `direct_url`, reached
    /// through the pooler (user and database kept, host and port replaced).
    ///
    /// # Panics
    ///
    /// When `direct_url` is not a `postgres://` URL with a database.
    pub fn pooled_url(&self, direct_url: &str) -> String {
        let parsed = url::Url::parse(direct_url)
            .unwrap_or_else(|error| panic!("not a URL: {direct_url}: {error}"));
        let database = parsed.path().trim_start_matches('/');
        assert!(!database.is_empty(), "no database in {direct_url}");
        let user = if parsed.username().is_empty() {
            "postgres"
        } else {
            parsed.username()
        };
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// The worker's storage settings for `database` through this pooler:
    /// `database.pooler = "transaction"`, migrations over the direct URL
    /// (`database.migration_url`), everything else at the defaults.
    pub fn storage_settings(&self, database: &TestDatabase) -> StorageSettings {
        let mut settings = StorageSettings::new(self.pooled_url(database.url()));
        settings.pooler = PoolerMode::Transaction;
        settings.migration_url = Some(database.url().to_owned());
        settings
    }

    /// What PgBouncer has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_else(|error| format!("(no log: {error})"))
    }

    /// A connection to the admin console (database `pgbouncer`).
    ///
    /// # Errors
    ///
    /// [`PgBouncerError::Admin`] when the console refuses.
    pub async fn admin(&self) -> Result<PgConnection, PgBouncerError> {
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("postgres")
            .database("pgbouncer")
            .statement_cache_capacity(0);
        Ok(PgConnection::connect_with(&options).await?)
    }

    /// Runs an admin command (e.g. `SHOW STATS`) and returns each row as
    /// column name to text value.
    ///
    /// # Errors
    ///
    /// [`PgBouncerError::Admin`] when the console refuses the command.
    pub async fn admin_command(
        &self,
        command: &str,
    ) -> Result<Vec<HashMap<String, String>>, PgBouncerError> {
        let mut admin = self.admin().await?;
        // The console speaks only the simple query protocol.
        let rows = sqlx::raw_sql(AssertSqlSafe(command.to_owned()))
            .fetch_all(&mut admin)
            .await?;
        let mut table = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = HashMap::new();
            for column in sqlx::Row::columns(&row) {
                let name = sqlx::Column::name(column).to_owned();
                let value = text_value(&row, sqlx::Column::ordinal(column));
                values.insert(name, value);
            }
            table.push(values);
        }
        admin.close().await?;
        Ok(table)
    }

    /// The totals of `database`'s pool (`SHOW STATS`); zero before its
    /// first client.
    ///
    /// # Errors
    ///
    /// [`PgBouncerError::Admin`] when the console refuses.
    pub async fn stats(&self, database: &str) -> Result<PoolStats, PgBouncerError> {
        let rows = self.admin_command("SHOW STATS").await?;
        let count = |row: &HashMap<String, String>, column: &str| {
            row.get(column)
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(rows
            .iter()
            .find(|row| row.get("database").map(String::as_str) == Some(database))
            .map(|row| PoolStats {
                transactions: count(row, "total_xact_count"),
                queries: count(row, "total_query_count"),
            })
            .unwrap_or_default())
    }

    /// How many server connections `database`'s pool has open now
    /// (`SHOW SERVERS`).
    ///
    /// # Errors
    ///
    /// [`PgBouncerError::Admin`] when the console refuses.
    pub async fn server_connections(&self, database: &str) -> Result<usize, PgBouncerError> {
        let rows = self.admin_command("SHOW SERVERS").await?;
        Ok(rows
            .iter()
            .filter(|row| row.get("database").map(String::as_str) == Some(database))
            .count())
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGKILL: the server connections close with the process, so the
        // test database can be dropped right after.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A column of a simple-protocol row as text, whatever type the console
/// declared for it.
fn text_value(row: &sqlx::postgres::PgRow, index: usize) -> String {
    if let Ok(value) = row.try_get::<Option<String>, _>(index) {
        return value.unwrap_or_default();
    }
    if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
        return value.map(|value| value.to_string()).unwrap_or_default();
    }
    if let Ok(value) = row.try_get::<Option<i32>, _>(index) {
        return value.map(|value| value.to_string()).unwrap_or_default();
    }
    match row.try_get_raw(index) {
        Ok(raw) => sqlx::ValueRef::is_null(&raw)
            .then(String::new)
            .unwrap_or_else(|| {
                raw.as_bytes()
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                    .unwrap_or_default()
            }),
        Err(_) => String::new(),
    }
}

fn ini(config: &PgBouncerConfig, port: u16, auth_path: &Path, version: (u32, u32)) -> String {
    // Prepared statement tracking (1.21+) would hide what Supavisor's
    // transaction mode does to named statements; 1.18 rejects the key.
    let prepared_statements = if version >= (1, 21) {
        "max_prepared_statements = 0\n"
    } else {
        ""
    };
    format!(
        "[databases]\n\
         * = host={host} port={server_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {auth}\n\
         admin_users = postgres\n\
         stats_users = postgres\n\
         pool_mode = transaction\n\
         default_pool_size = {pool_size}\n\
         min_pool_size = 0\n\
         reserve_pool_size = 0\n\
         max_client_conn = {max_clients}\n\
         server_login_retry = 1\n\
         ignore_startup_parameters = extra_float_digits\n\
         {prepared_statements}",
        host = config.server_host,
        server_port = config.server_port,
        auth = auth_path.display(),
        pool_size = config.pool_size,
        max_clients = config.max_client_connections,
    )
}

fn find_program() -> Option<PathBuf> {
    find_on_path(PROGRAM)
}

/// `name` on `PATH`, or in the sbin directories a non-login root shell
/// may lack on its `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `(major, minor)` from `pgbouncer --version` ("PgBouncer 1.18.0").
fn program_version(program: &Path) -> Result<(u32, u32), PgBouncerError> {
    let output = Command::new(program)
        .arg("--version")
        .output()
        .map_err(io_error("running pgbouncer --version"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let parsed = text.split_whitespace().nth(1).and_then(|version| {
        let mut parts = version.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    });
    parsed.ok_or_else(|| PgBouncerError::NotStarted {
        reason: format!("unreadable version: {text:?}"),
        log: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn free_port() -> Result<u16, PgBouncerError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_error("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io_error("reading the free port"))?
        .port())
}

fn running_as_root() -> Result<bool, PgBouncerError> {
    // `/proc/self` belongs to the effective user of this process.
    let metadata = fs::metadata("/proc/self").map_err(io_error("reading /proc/self"))?;
    Ok(metadata.uid() == 0)
}

/// The uid and gid of `postgres`, from `/etc/passwd`.
fn postgres_user() -> Result<(u32, u32), PgBouncerError> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_error("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres"))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| PgBouncerError::NotStarted {
            reason: "running as root and there is no `postgres` user to run pgbouncer as \
                     (pgbouncer refuses root)"
                .to_owned(),
            log: String::new(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pgbouncer_says_how_to_install_it() {
        assert_eq!(
            PgBouncerError::NotInstalled.to_string(),
            "pgbouncer is not installed; install it: apt-get install -y pgbouncer"
        );
    }

    #[test]
    fn the_ini_pools_by_transaction_and_disables_statement_tracking_where_it_exists() {
        let config = PgBouncerConfig::default();
        let old = ini(&config, 6432, Path::new("/tmp/users.txt"), (1, 18));
        assert!(old.contains("pool_mode = transaction\n"), "{old}");
        assert!(old.contains("default_pool_size = 2\n"), "{old}");
        assert!(old.contains("* = host=127.0.0.1 port=5432\n"), "{old}");
        assert!(!old.contains("max_prepared_statements"), "{old}");
        let new = ini(&config, 6432, Path::new("/tmp/users.txt"), (1, 22));
        assert!(new.contains("max_prepared_statements = 0\n"), "{new}");
    }
}
