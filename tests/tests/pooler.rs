//! The worker behind a real PgBouncer in `pool_mode = transaction`, as
//! production runs it behind Supavisor on port 6543.
//!
//! The first tests pin down what such a pooler does to sessions, since the
//! Postgres path of the storage adapter is built on those facts: session
//! `SET`s leak between clients, the `options` startup parameter is refused,
//! named prepared statements collide, and one simple query with `SET LOCAL`
//! first is immune to all three. The others run the worker's repository (and
//! the scheduler) through the pooler.
// Helpers of a test binary panic like its tests: a failed expectation is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::time::Duration;

use futures::future::join_all;
use scheduler_tests::pgbouncer::PgBouncer;
use scheduler_tests::postgres::TestDatabase;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Row};

/// A client connection that never prepares a named statement itself: every
/// query below goes through `raw_sql`, the simple protocol.
async fn connect(url: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(url)
        .unwrap()
        .statement_cache_capacity(0);
    PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|error| panic!("connecting to {url}: {error}"))
}

async fn simple(connection: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *connection)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// The text columns of the last row `sql` returns (simple protocol).
async fn simple_row(connection: &mut PgConnection, sql: &str) -> Vec<String> {
    let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *connection)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    let row = rows
        .last()
        .unwrap_or_else(|| panic!("{sql}: no row returned"));
    (0..row.len())
        .map(|index| row.get::<String, _>(index))
        .collect()
}

mod pooler_facts {
    use super::*;

    #[tokio::test]
    async fn a_session_set_leaks_to_the_next_client_of_a_shared_server_connection() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start_with_pool_size(1).await.unwrap();
        let url = pooler.pooled_url(database.url());

        let mut polluter = connect(&url).await;
        simple(&mut polluter, "SET statement_timeout = '1s'").await;
        let mut next_client = connect(&url).await;
        let seen = simple_row(&mut next_client, "SHOW statement_timeout").await;
        assert_eq!(
            seen,
            ["1s"],
            "the session SET did not reach the next client"
        );

        // A direct session starts from the server default: the 1s came from
        // the other client, through the shared server connection.
        let mut direct = connect(database.url()).await;
        let default = simple_row(&mut direct, "SHOW statement_timeout").await;
        assert_eq!(default, ["0"]);

        for connection in [polluter, next_client, direct] {
            connection.close().await.unwrap();
        }
        drop(pooler);
        database.drop().await;
    }

    #[tokio::test]
    async fn the_options_startup_parameter_is_refused_so_settings_cannot_ride_on_the_connection() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start().await.unwrap();
        let url = pooler.pooled_url(database.url());

        // What sqlx's `options` (and SeaORM's `ConnectOptions::statement_timeout`)
        // sends at start-up.
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("statement_timeout", "90s")]);
        let error = PgConnection::connect_with(&options).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unsupported startup parameter: options"),
            "{error}"
        );

        let mut seaorm = sea_orm::ConnectOptions::new(url.clone());
        seaorm
            .statement_timeout(Duration::from_secs(90))
            .sqlx_logging(false);
        let error = sea_orm::Database::connect(seaorm).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unsupported startup parameter: options"),
            "{error}"
        );

        drop(pooler);
        database.drop().await;
    }

    /// SeaORM sends every query with values as a named prepared statement
    /// (`sqlx_s_N`, numbered per client connection); two client connections
    /// sharing a server connection then prepare the same name on it.
    async fn seaorm_prepared_statement_collisions(statement_cache_capacity: Option<usize>) {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start_with_pool_size(2).await.unwrap();
        let url = pooler.pooled_url(database.url());
        let mut options = sea_orm::ConnectOptions::new(url);
        options
            .max_connections(8)
            .min_connections(0)
            .sqlx_logging(false);
        if let Some(capacity) = statement_cache_capacity {
            options.map_sqlx_postgres_opts(move |pg| pg.statement_cache_capacity(capacity));
        }
        let db = sea_orm::Database::connect(options).await.unwrap();

        let mut queries = 0;
        let mut collisions = 0;
        let mut other_errors = Vec::new();
        for _round in 0..40 {
            let round = (0..8).map(|n: i32| {
                db.query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT $1::int4 + 1 AS next",
                    [n.into()],
                ))
            });
            for result in join_all(round).await {
                queries += 1;
                match result {
                    Ok(_) => {}
                    Err(error) if error.to_string().contains("already exists") => {
                        collisions += 1;
                    }
                    Err(error) => other_errors.push(error.to_string()),
                }
            }
            if collisions > 0 {
                break;
            }
        }
        assert!(
            collisions > 0,
            "no `prepared statement ... already exists` in {queries} queries \
             (other errors: {other_errors:?}); the pooler does not share server connections"
        );

        db.close().await.unwrap();
        drop(pooler);
        database.drop().await;
    }

    #[tokio::test]
    async fn plain_seaorm_queries_collide_on_named_prepared_statements() {
        seaorm_prepared_statement_collisions(None).await;
    }

    #[tokio::test]
    async fn plain_seaorm_queries_collide_even_with_a_statement_cache_of_zero() {
        seaorm_prepared_statement_collisions(Some(0)).await;
    }

    #[tokio::test]
    async fn set_local_in_one_simple_query_holds_on_a_server_connection_left_at_1s() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start_with_pool_size(1).await.unwrap();
        let url = pooler.pooled_url(database.url());

        let mut polluter = connect(&url).await;
        simple(
            &mut polluter,
            "SET statement_timeout = '1s'; SET idle_in_transaction_session_timeout = '1s'",
        )
        .await;
        let mut worker = connect(&url).await;
        let seen = simple_row(
            &mut worker,
            "SET LOCAL statement_timeout = '90s'; \
             SET LOCAL idle_in_transaction_session_timeout = '120s'; \
             SELECT current_setting('statement_timeout'), \
                    current_setting('idle_in_transaction_session_timeout')",
        )
        .await;
        assert_eq!(seen, ["90s", "2min"]);
        // The implicit transaction ended with the query: the connection is
        // back at what the other client left, and the SET LOCAL leaked nowhere.
        let after = simple_row(&mut worker, "SHOW statement_timeout").await;
        assert_eq!(after, ["1s"]);
        let stats = pooler.stats(&database_name(&url)).await.unwrap();
        assert!(stats.queries >= 3, "{stats:?}");

        for connection in [polluter, worker] {
            connection.close().await.unwrap();
        }
        drop(pooler);
        database.drop().await;
    }
}

fn database_name(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned()
}

/// The worker's side: its repository (and its scheduler) through the pooler.
mod worker_through_the_pooler {
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Instant;

    use chrono::{TimeDelta, Utc};
    use scheduler_domain::{
        ClaimRequest, ClaimedDomain, DomainName, DomainRepository, RepositoryError, SiteMetadata,
        StatusRequest, WorkerId, WriteOutcome,
    };
    use scheduler_storage_seaorm::{SeaOrmRepository, StorageSettings};

    use super::*;

    /// Migrates `database` over its direct URL, as `database.migration_url`
    /// does in production, and connects a repository through `pooler`.
    async fn pooled_repository(
        pooler: &PgBouncer,
        database: &TestDatabase,
        adjust: impl FnOnce(&mut StorageSettings),
    ) -> SeaOrmRepository {
        let mut settings = pooler.storage_settings(database);
        adjust(&mut settings);
        SeaOrmRepository::migrate(&settings).await.unwrap();
        SeaOrmRepository::connect(&settings).await.unwrap()
    }

    fn names(prefix: &str, count: usize) -> Vec<DomainName> {
        (0..count)
            .map(|n| DomainName::parse(&format!("{prefix}-{n}.pooler.test")).unwrap())
            .collect()
    }

    fn claim_request(worker: &WorkerId, limit: u32) -> ClaimRequest {
        let now = Utc::now();
        ClaimRequest {
            worker: worker.clone(),
            limit,
            now,
            lease_until: now + TimeDelta::minutes(15),
        }
    }

    fn metadata_for(domain: &ClaimedDomain) -> SiteMetadata {
        SiteMetadata {
            url: format!("https://{}/", domain.raw_domain),
            title: Some(format!("Home of {}", domain.raw_domain)),
            emails: vec![format!("hello@{}", domain.raw_domain)],
            ..SiteMetadata::default()
        }
    }

    /// Rows per status, read over a direct connection.
    async fn status_counts(database: &TestDatabase) -> Vec<(String, i64)> {
        let mut direct = connect(database.url()).await;
        let rows =
            sqlx::raw_sql("SELECT status, count(*) FROM domains GROUP BY status ORDER BY status")
                .fetch_all(&mut direct)
                .await
                .unwrap();
        direct.close().await.unwrap();
        rows.iter()
            .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1)))
            .collect()
    }

    /// Raises in any insert or update of `domains` whose transaction does
    /// not run with the worker's settings.
    const SETTINGS_GUARD: &str = r"
        CREATE FUNCTION assert_worker_session_settings() RETURNS trigger
        LANGUAGE plpgsql AS $guard$
        BEGIN
            IF current_setting('statement_timeout') <> '90s'
               OR current_setting('idle_in_transaction_session_timeout') <> '2min' THEN
                RAISE EXCEPTION 'transaction ran with statement_timeout=% and idle_in_transaction_session_timeout=%',
                    current_setting('statement_timeout'),
                    current_setting('idle_in_transaction_session_timeout');
            END IF;
            RETURN NEW;
        END
        $guard$;
        CREATE TRIGGER worker_session_settings_guard
            BEFORE INSERT OR UPDATE ON domains
            FOR EACH ROW EXECUTE FUNCTION assert_worker_session_settings();
    ";

    #[tokio::test]
    async fn every_worker_transaction_sees_90s_and_2min_while_another_client_sets_1s() {
        let database = TestDatabase::create().await;
        // One server connection: the worker's transactions and the other
        // client's session SETs all land on it, interleaved.
        let pooler = PgBouncer::start_with_pool_size(1).await.unwrap();
        let repository = pooled_repository(&pooler, &database, |_| {}).await;
        let mut direct = connect(database.url()).await;
        simple(&mut direct, SETTINGS_GUARD).await;

        let stop = Arc::new(AtomicBool::new(false));
        let sets = Arc::new(AtomicU64::new(0));
        let mut polluter = connect(&pooler.pooled_url(database.url())).await;
        let polluting = tokio::spawn({
            let stop = Arc::clone(&stop);
            let sets = Arc::clone(&sets);
            async move {
                while !stop.load(Ordering::Relaxed) {
                    simple(
                        &mut polluter,
                        "SET statement_timeout = '1s'; SET idle_in_transaction_session_timeout = '1s'",
                    )
                    .await;
                    sets.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
                polluter
            }
        });

        let worker = WorkerId::new("settings-probe");
        let mut failures: Vec<String> = Vec::new();
        let mut operations = 0;
        let mut record = |what: &str, result: Result<(), RepositoryError>| {
            operations += 1;
            if let Err(error) = result {
                failures.push(format!("{what}: {error}"));
            }
        };
        let domains = names("settings", 60);
        let enqueued = repository.enqueue(&domains, Utc::now()).await;
        record("enqueue", enqueued.map(|_| ()));
        let mut retried = HashSet::new();
        let mut released = HashSet::new();
        for _round in 0..100 {
            let claimed = match repository.claim(claim_request(&worker, 7)).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    record("claim", Err(error));
                    continue;
                }
            };
            record("claim", Ok(()));
            if claimed.is_empty() {
                break;
            }
            for (index, domain) in claimed.iter().enumerate() {
                let now = Utc::now();
                let written = match index % 4 {
                    2 if retried.insert(domain.id.clone()) => repository
                        .retry_later(domain.id.clone(), &worker, "HTTP 503", now, now)
                        .await
                        .map(|outcome| ("retry_later", outcome)),
                    3 if released.insert(domain.id.clone()) => repository
                        .release(domain.id.clone(), &worker, None, now)
                        .await
                        .map(|outcome| ("release", outcome)),
                    1 => repository
                        .fail(domain.id.clone(), &worker, "HTTP 404 from the site", now)
                        .await
                        .map(|outcome| ("fail", outcome)),
                    _ => repository
                        .complete(domain.id.clone(), &worker, &metadata_for(domain), now)
                        .await
                        .map(|outcome| ("complete", outcome)),
                };
                match written {
                    Ok((_, WriteOutcome::Written)) => record("write", Ok(())),
                    Ok((what, WriteOutcome::LeaseLost)) => {
                        record(what, Err(RepositoryError::Database("lease lost".into())));
                    }
                    Err(error) => record("write", Err(error)),
                }
            }
            let rescued = repository.rescue_expired(Utc::now(), 3).await;
            record("rescue_expired", rescued.map(|_| ()));
            let status = repository
                .status(StatusRequest::at(Utc::now()).with_errors(5))
                .await;
            record("status", status.map(|_| ()));
        }

        stop.store(true, Ordering::Relaxed);
        let mut polluter = polluting.await.unwrap();
        let sets = sets.load(Ordering::Relaxed);
        assert!(
            failures.is_empty(),
            "{} of {operations} operations failed: {failures:#?}",
            failures.len()
        );
        assert!(sets >= 20, "the other client only ran {sets} session SETs");
        eprintln!(
            "{operations} worker operations, none failed, beside {sets} session SETs \
             of another client on the same server connection"
        );
        let counts = status_counts(&database).await;
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<i64>(), 60, "{counts:?}");
        assert!(
            counts
                .iter()
                .all(|(status, _)| status == "completed" || status == "error"),
            "{counts:?}"
        );

        // The guard is not vacuous: a write outside the worker's path, on
        // the server connection the other client left at 1s, is refused.
        let refused = sqlx::raw_sql("UPDATE domains SET title = 'x'")
            .execute(&mut polluter)
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("statement_timeout=1s and idle_in_transaction_session_timeout=1s"),
            "{refused}"
        );

        polluter.close().await.unwrap();
        direct.close().await.unwrap();
        drop(repository);
        drop(pooler);
        database.drop().await;
    }

    /// One pass of every repository operation on `domains` names.
    async fn run_every_operation(repository: &SeaOrmRepository, worker: &WorkerId, count: usize) {
        repository
            .enqueue(&names("prepared", count), Utc::now())
            .await
            .unwrap();
        loop {
            let claimed = repository.claim(claim_request(worker, 5)).await.unwrap();
            if claimed.is_empty() {
                break;
            }
            for (index, domain) in claimed.iter().enumerate() {
                let now = Utc::now();
                let outcome = if index % 2 == 0 {
                    repository
                        .complete(domain.id.clone(), worker, &metadata_for(domain), now)
                        .await
                } else {
                    repository
                        .fail(domain.id.clone(), worker, "HTTP 404", now)
                        .await
                };
                assert_eq!(outcome.unwrap(), WriteOutcome::Written);
            }
        }
        repository.rescue_expired(Utc::now(), 3).await.unwrap();
        repository
            .status(StatusRequest::at(Utc::now()).with_errors(5))
            .await
            .unwrap();
    }

    /// The named prepared statements on every server connection of the
    /// pool, read through the pooler with the simple protocol. Each probe
    /// holds its server connection in an open transaction, so the probes
    /// cover the whole pool; the backend pids prove it against a direct
    /// look at `pg_stat_activity`.
    async fn prepared_statements_on_every_server_connection(
        pooler: &PgBouncer,
        database: &TestDatabase,
    ) -> Vec<String> {
        let url = pooler.pooled_url(database.url());
        let mut probes = Vec::new();
        let mut pids = HashSet::new();
        let mut statements = Vec::new();
        for _ in 0..pooler.config().pool_size {
            let mut probe = connect(&url).await;
            let rows = sqlx::raw_sql(
                "BEGIN; SELECT pg_backend_pid()::text, coalesce(string_agg(name, ','), '') \
                 FROM pg_prepared_statements",
            )
            .fetch_all(&mut probe)
            .await
            .unwrap();
            let row = rows.last().unwrap();
            pids.insert(row.get::<String, _>(0));
            statements.extend(
                row.get::<String, _>(1)
                    .split(',')
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned),
            );
            probes.push(probe);
        }
        let mut direct = connect(database.url()).await;
        let server_pids = simple_row(
            &mut direct,
            "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
        let server_pids: HashSet<String> = server_pids[0]
            .split(',')
            .filter(|pid| !pid.is_empty())
            .map(str::to_owned)
            .collect();
        assert_eq!(
            pids, server_pids,
            "the probes did not reach every server connection of the pool"
        );
        for mut probe in probes {
            simple(&mut probe, "COMMIT").await;
            probe.close().await.unwrap();
        }
        direct.close().await.unwrap();
        statements
    }

    #[tokio::test]
    async fn the_worker_leaves_no_named_prepared_statement_on_any_server_connection() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start_with_pool_size(2).await.unwrap();
        let repository = pooled_repository(&pooler, &database, |_| {}).await;
        let worker = WorkerId::new("prepared-probe");

        // Two passes at once so that both server connections serve the
        // worker's client connections.
        tokio::join!(
            run_every_operation(&repository, &worker, 40),
            run_every_operation(&repository, &worker, 40),
        );
        let left = prepared_statements_on_every_server_connection(&pooler, &database).await;
        assert!(left.is_empty(), "named prepared statements left: {left:?}");

        // The probe sees them when they are there: one plain SeaORM query
        // prepares `sqlx_s_1` on a server connection and leaves it.
        let mut options = sea_orm::ConnectOptions::new(pooler.pooled_url(database.url()));
        options.max_connections(1).sqlx_logging(false);
        let plain = sea_orm::Database::connect(options).await.unwrap();
        plain
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) FROM domains WHERE status = $1",
                ["completed".into()],
            ))
            .await
            .unwrap();
        plain.close().await.unwrap();
        let left = prepared_statements_on_every_server_connection(&pooler, &database).await;
        assert!(
            left.iter().any(|name| name.starts_with("sqlx_s_")),
            "the probe missed a prepared statement: {left:?}"
        );

        drop(repository);
        drop(pooler);
        database.drop().await;
    }

    /// Waits until every connection of the worker's pool is back and idle:
    /// sqlx pings a connection as it returns to the pool, after the
    /// operation has already returned.
    async fn pool_settled(repository: &SeaOrmRepository) {
        let pool = repository.postgres_pool().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.num_idle() < pool.size() as usize {
            assert!(Instant::now() < deadline, "the pool never settled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Counts what each operation sends through the pooler (PgBouncer's
    /// `SHOW STATS`: one query per message sequence that ends in
    /// `ReadyForQuery`, one transaction per server check-out). Besides the
    /// operation's own simple query, the sqlx pool sends a bare `Sync` as a
    /// health check when a connection returns (always) and when it is
    /// acquired after sitting idle (`ping_connections_idle_for`, not reached
    /// here); each of those also checks out a server connection from
    /// PgBouncer.
    #[tokio::test]
    async fn each_repository_operation_is_one_simple_query_through_the_pooler() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start_with_pool_size(2).await.unwrap();
        // One client connection, so that every check-out reuses it and gets
        // the same health checks (a freshly opened one is not pinged).
        let repository = pooled_repository(&pooler, &database, |settings| {
            settings.max_connections = 1;
        })
        .await;
        let database_name = database_name(&pooler.pooled_url(database.url()));
        let worker = WorkerId::new("round-trips");
        let pool = repository.postgres_pool().unwrap();
        // No ping before use for a connection in steady use, one as it
        // returns to the pool.
        assert!(!pool.options().get_test_before_acquire());
        let pings_per_checkout = 1;

        let mut measured = Vec::new();
        macro_rules! measure {
            ($what:expr, $sql_queries:expr, $operation:expr) => {{
                pool_settled(&repository).await;
                let before = pooler.stats(&database_name).await.unwrap();
                let result = $operation.await.unwrap();
                pool_settled(&repository).await;
                let after = pooler.stats(&database_name).await.unwrap();
                measured.push(($what, $sql_queries, after.since(before)));
                result
            }};
        }
        measure!(
            "enqueue 20",
            1,
            repository.enqueue(&names("trips", 20), Utc::now())
        );
        let claimed = measure!("claim 10", 1, repository.claim(claim_request(&worker, 10)));
        assert_eq!(claimed.len(), 10);
        let now = Utc::now();
        measure!(
            "complete",
            1,
            repository.complete(
                claimed[0].id.clone(),
                &worker,
                &metadata_for(&claimed[0]),
                now
            )
        );
        measure!(
            "fail",
            1,
            repository.fail(claimed[1].id.clone(), &worker, "HTTP 404", now)
        );
        measure!(
            "retry_later",
            1,
            repository.retry_later(claimed[2].id.clone(), &worker, "HTTP 503", now, now)
        );
        measure!(
            "release",
            1,
            repository.release(claimed[3].id.clone(), &worker, None, now)
        );
        measure!("rescue_expired", 1, repository.rescue_expired(now, 3));
        // The whole report is one snapshot: one transaction.
        measure!(
            "status",
            1,
            repository.status(StatusRequest::at(now).with_errors(5))
        );

        let table = measured
            .iter()
            .map(|(what, sql_queries, stats)| {
                format!(
                    "{what}: simple queries {sql_queries}, pooler round trips {} \
                     ({} pool health checks), {} server check-outs",
                    stats.queries,
                    stats.queries - sql_queries,
                    stats.transactions
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        eprintln!("through the pooler:\n{table}");
        for (what, sql_queries, stats) in &measured {
            let expected = sql_queries * (1 + pings_per_checkout);
            assert_eq!(
                (stats.queries, stats.transactions),
                (expected, expected),
                "{what}: expected {sql_queries} simple queries and \
                 {pings_per_checkout} health checks each:\n{table}"
            );
        }

        drop(repository);
        drop(pooler);
        database.drop().await;
    }

    #[tokio::test]
    async fn a_claim_blocked_past_statement_timeout_fails_with_a_timeout_and_the_next_one_works() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start().await.unwrap();
        let repository = pooled_repository(&pooler, &database, |settings| {
            settings.statement_timeout = Duration::from_secs(1);
        })
        .await;
        let worker = WorkerId::new("timeout-probe");
        repository
            .enqueue(&names("locked", 3), Utc::now())
            .await
            .unwrap();

        // A table lock, not a row lock: the claim skips locked rows.
        let mut locker = connect(database.url()).await;
        simple(
            &mut locker,
            "BEGIN; LOCK TABLE domains IN ACCESS EXCLUSIVE MODE",
        )
        .await;
        let started = Instant::now();
        let error = repository
            .claim(claim_request(&worker, 10))
            .await
            .unwrap_err();
        let waited = started.elapsed();
        match &error {
            RepositoryError::Timeout(message) => assert!(
                message.contains("canceling statement due to statement timeout"),
                "{message}"
            ),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(
            error
                .to_string()
                .starts_with("database statement timed out"),
            "{error}"
        );
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(15),
            "the claim gave up after {waited:?}"
        );

        simple(&mut locker, "ROLLBACK").await;
        let claimed = repository.claim(claim_request(&worker, 10)).await.unwrap();
        assert_eq!(claimed.len(), 3);

        locker.close().await.unwrap();
        drop(repository);
        drop(pooler);
        database.drop().await;
    }
}

/// The wired application (batch use case and scheduler loop) through the
/// pooler.
mod application_through_the_pooler {
    use std::collections::HashMap;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use chrono::Utc;
    use scheduler_application::{
        DomainProcessor, Outcomes, Polling, Scheduler, SchedulerSettings, SystemClock,
    };
    use scheduler_domain::{
        DomainName, DomainRepository, ExtractionError, MetadataExtractor, SiteMetadata, WorkerId,
    };
    use scheduler_http_extractor::HttpExtractor;
    use scheduler_storage_seaorm::SeaOrmRepository;
    use scheduler_tests::https_fixture::{FixtureServer, Site};
    use tokio_util::sync::CancellationToken;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Answers every domain with a page, without the network: for tests
    /// about the database side of the loop.
    #[derive(Debug)]
    struct PageForEveryDomain;

    impl MetadataExtractor for PageForEveryDomain {
        async fn extract(&self, domain: &DomainName) -> Result<SiteMetadata, ExtractionError> {
            Ok(SiteMetadata {
                url: domain.home_page_url(),
                title: Some(format!("Home of {domain}")),
                ..SiteMetadata::default()
            })
        }
    }

    /// The formatted log lines of the test's thread.
    #[derive(Debug, Clone, Default)]
    struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

    impl CapturedLogs {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl io::Write for CapturedLogs {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for CapturedLogs {
        type Writer = CapturedLogs;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Polls `condition` until it holds; panics with `what` after `limit`.
    async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        while !condition().await {
            assert!(
                Instant::now() < deadline,
                "still waiting after {limit:?}: {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn count_rows(database: &TestDatabase, condition: &str) -> i64 {
        let mut direct = connect(database.url()).await;
        let count = simple_row(
            &mut direct,
            &format!("SELECT count(*)::text FROM domains WHERE {condition}"),
        )
        .await;
        direct.close().await.unwrap();
        count[0].parse().unwrap()
    }

    #[tokio::test]
    async fn the_scheduler_logs_a_timed_out_claim_and_claims_again_after_a_backoff() {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        // The runtime of this test has one thread: the scheduler's tasks log
        // here too.
        let _logging = tracing::subscriber::set_default(subscriber);

        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start().await.unwrap();
        let mut settings = pooler.storage_settings(&database);
        settings.statement_timeout = Duration::from_secs(1);
        SeaOrmRepository::migrate(&settings).await.unwrap();
        let repository = SeaOrmRepository::connect(&settings).await.unwrap();
        let names: Vec<DomainName> = (0..5)
            .map(|n| DomainName::parse(&format!("tick-{n}.pooler.test")).unwrap())
            .collect();
        repository.enqueue(&names, Utc::now()).await.unwrap();

        let mut locker = connect(database.url()).await;
        simple(
            &mut locker,
            "BEGIN; LOCK TABLE domains IN ACCESS EXCLUSIVE MODE",
        )
        .await;

        let processor = DomainProcessor::new(
            Arc::new(repository),
            Arc::new(PageForEveryDomain),
            Arc::new(SystemClock),
            WorkerId::new("ticking"),
            SchedulerSettings {
                interval: Duration::from_millis(300),
                poll_interval: Duration::from_millis(300),
                max_instances: 1,
                ..SchedulerSettings::default()
            },
        );
        let scheduler = Scheduler::new(
            Arc::new(processor),
            Arc::new(Polling::every(Duration::from_millis(300))),
        );
        let shutdown = CancellationToken::new();
        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { scheduler.run(shutdown).await }
        });

        wait_until("a failed claim in the log", Duration::from_secs(20), || {
            let logs = logs.clone();
            async move { logs.text().contains("could not claim domains") }
        })
        .await;
        let text = logs.text();
        let claim_line = text
            .lines()
            .find(|line| line.contains("could not claim domains"))
            .unwrap();
        assert!(claim_line.contains("ERROR"), "{claim_line}");
        assert!(
            claim_line.contains("database statement timed out")
                && claim_line.contains("canceling statement due to statement timeout")
                && claim_line.contains("claims are tried again every"),
            "{claim_line}"
        );
        simple(&mut locker, "ROLLBACK").await;
        wait_until(
            "every domain completed after the lock went away",
            Duration::from_secs(20),
            || async { count_rows(&database, "status = 'completed'").await == 5 },
        )
        .await;
        let text = logs.text();
        let said = text
            .lines()
            .filter(|line| line.contains("ERROR") && line.contains("could not claim domains"))
            .count();
        assert_eq!(
            said, 1,
            "the failure is said once, however many claims failed: {text}"
        );
        assert!(
            text.contains("claiming again: the database answers"),
            "{text}"
        );
        shutdown.cancel();
        running.await.unwrap();

        locker.close().await.unwrap();
        drop(pooler);
        database.drop().await;
    }

    const WORKERS: usize = 4;
    const SITES: usize = 490;
    const GONE_EVERY: usize = 10;
    const NOT_DOMAINS: usize = 10;

    fn site_host(n: usize) -> String {
        format!("shop-{n}.fleet.test")
    }

    fn site_title(n: usize) -> String {
        format!("Shop {n} \u{2014} it's \"open\"")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn four_workers_process_500_domains_exactly_once_through_the_pooler() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start().await.unwrap();
        let database_name = database_name(&pooler.pooled_url(database.url()));

        // Every tenth site is gone (a permanent 404); the rest serve a page.
        let mut fixture = FixtureServer::builder();
        for n in 0..SITES {
            let site = if n % GONE_EVERY == 3 {
                Site::status(404)
            } else {
                Site::html(format!(
                    "<html lang=\"en\"><head><title>{}</title></head>\
                     <body><a href=\"mailto:shop{n}@fleet.test\">mail</a></body></html>",
                    site_title(n).replace('"', "&quot;")
                ))
            };
            fixture = fixture.site(&site_host(n), site);
        }
        let server = fixture.start().await.unwrap();

        let settings = pooler.storage_settings(&database);
        SeaOrmRepository::migrate(&settings).await.unwrap();
        let loader = SeaOrmRepository::connect(&settings).await.unwrap();
        let names: Vec<DomainName> = (0..SITES)
            .map(|n| DomainName::parse(&site_host(n)).unwrap())
            .collect();
        let report = loader.enqueue(&names, Utc::now()).await.unwrap();
        assert_eq!(report.added.len(), SITES);
        loader.close().await;
        // Rows other systems insert with nothing but `domain`; not domains.
        let mut direct = connect(database.url()).await;
        let raw_rows = (0..NOT_DOMAINS)
            .map(|n| format!("('not a domain #{n}')"))
            .collect::<Vec<_>>()
            .join(", ");
        simple(
            &mut direct,
            &format!("INSERT INTO domains (domain) VALUES {raw_rows}"),
        )
        .await;
        let total = SITES + NOT_DOMAINS;

        const INSTANCES: usize = 2;
        let mut schedulers = Vec::new();
        for worker in 0..WORKERS {
            let repository = SeaOrmRepository::connect(&settings).await.unwrap();
            let extractor = HttpExtractor::new(server.fetch_settings()).unwrap();
            let processor = DomainProcessor::new(
                Arc::new(repository),
                Arc::new(extractor),
                Arc::new(SystemClock),
                WorkerId::new(format!("fleet-{worker}")),
                SchedulerSettings {
                    batch_size: 25,
                    concurrency: 16,
                    max_instances: INSTANCES,
                    ..SchedulerSettings::default()
                },
            );
            let scheduler = Scheduler::new(
                Arc::new(processor),
                Arc::new(Polling::every(Duration::from_secs(1))),
            );
            schedulers.push(scheduler);
        }

        let before = pooler.stats(&database_name).await.unwrap();
        let started = Instant::now();
        let shutdown = CancellationToken::new();
        let runs: Vec<_> = schedulers
            .into_iter()
            .map(|scheduler| {
                let shutdown = shutdown.clone();
                tokio::spawn(async move { scheduler.drain(&shutdown).await })
            })
            .collect();
        let mut totals = Outcomes::default();
        let mut per_worker = Vec::new();
        let mut claims_with_rows = 0;
        for run in runs {
            let drained = run.await.unwrap().unwrap();
            per_worker.push(drained.totals.claimed);
            claims_with_rows += drained.claims;
            totals.absorb(&drained.totals);
        }
        let elapsed = started.elapsed();
        let stats = pooler.stats(&database_name).await.unwrap().since(before);
        // The SQL the workers sent, one simple query each: a write per
        // domain, a claim per batch plus the empty claim that ends each
        // drain loop, a rescue sweep per worker.
        let claims = claims_with_rows + WORKERS * INSTANCES;
        let sql_queries = (total + claims + WORKERS) as u64;

        eprintln!(
            "{WORKERS} workers x {INSTANCES} claimers through PgBouncer \
             ({} server connections): {total} domains in {elapsed:.2?}: \
             {} completed, {} error, {} retried, {} unrecorded; \
             claimed per worker {per_worker:?}; {claims_with_rows} claims took rows; \
             {sql_queries} simple queries ({total} writes, {claims} claims, {WORKERS} rescues) = \
             {:.3} per domain; {} pooler round trips with the pool's health checks \
             ({:.2} per domain)",
            pooler.config().pool_size,
            totals.completed,
            totals.failed,
            totals.retried,
            totals.unrecorded,
            sql_queries as f64 / total as f64,
            stats.queries,
            stats.queries as f64 / total as f64,
        );
        // A health check as each connection returns to the pool; none
        // before use, as no connection sits idle long enough in this run.
        assert!(
            stats.queries >= sql_queries && stats.queries <= 2 * sql_queries,
            "{} pooler round trips for {sql_queries} simple queries",
            stats.queries
        );

        // Each domain was claimed once, by one worker, and its outcome
        // written once; nothing was lost, retried or left behind.
        assert_eq!(totals.claimed, total, "{totals:?}");
        assert_eq!(totals.completed + totals.failed, total, "{totals:?}");
        assert_eq!(
            (
                totals.retried,
                totals.released,
                totals.lease_lost,
                totals.unrecorded
            ),
            (0, 0, 0, 0),
            "{totals:?}"
        );
        assert!(
            per_worker.iter().all(|&claimed| claimed > 0),
            "{per_worker:?}"
        );
        let gone = (0..SITES).filter(|n| n % GONE_EVERY == 3).count();
        assert_eq!(totals.failed, gone + NOT_DOMAINS, "{totals:?}");
        assert_eq!(count_rows(&database, "status = 'processing'").await, 0);
        assert_eq!(count_rows(&database, "status = 'pending'").await, 0);
        assert_eq!(count_rows(&database, "attempts <> 1").await, 0);
        assert_eq!(
            count_rows(&database, "status = 'error' AND last_error IS NULL").await,
            0
        );
        // Each site was fetched exactly once.
        for n in 0..SITES {
            assert_eq!(server.request_count(&site_host(n)), 1, "{}", site_host(n));
        }
        // And each completed row holds its own site's title.
        let rows = sqlx::raw_sql("SELECT domain, title FROM domains WHERE status = 'completed'")
            .fetch_all(&mut direct)
            .await
            .unwrap();
        let titles: HashMap<String, String> = rows
            .iter()
            .map(|row| (row.get::<String, _>(0), row.get::<String, _>(1)))
            .collect();
        assert_eq!(titles.len(), SITES - gone);
        for n in (0..SITES).filter(|n| n % GONE_EVERY != 3) {
            assert_eq!(titles.get(&site_host(n)), Some(&site_title(n)));
        }

        direct.close().await.unwrap();
        drop(server);
        drop(pooler);
        database.drop().await;
    }
}

/// Schema changes and the start-up check through the pooler.
mod migrations {
    use scheduler_storage_seaorm::{PoolerMode, SeaOrmRepository, StorageError};

    use super::*;

    /// A table another system created (the columns the worker needs are
    /// added in a transaction, which is safe through the pooler) whose
    /// indexes the worker still lacks: they need `CREATE INDEX
    /// CONCURRENTLY`, which needs a session.
    async fn existing_table(database: &TestDatabase) {
        let mut direct = connect(database.url()).await;
        simple(
            &mut direct,
            "CREATE TABLE domains (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), \
             domain text NOT NULL UNIQUE, status text NOT NULL DEFAULT 'pending', \
             updated_at timestamptz DEFAULT now())",
        )
        .await;
        direct.close().await.unwrap();
    }

    async fn lock_timeout_of_every_server_connection(
        pooler: &PgBouncer,
        database: &str,
    ) -> Vec<String> {
        // More clients than the pool has server connections, at once: each
        // server connection answers at least one.
        let url = pooler.url(database);
        join_all((0..8).map(|_| {
            let url = url.clone();
            async move {
                let mut client = connect(&url).await;
                let row = simple_row(
                    &mut client,
                    "SELECT current_setting('lock_timeout'), pg_sleep(0.05)::text",
                )
                .await;
                client.close().await.unwrap();
                row[0].clone()
            }
        }))
        .await
    }

    #[tokio::test]
    async fn a_concurrent_index_build_through_a_transaction_pooler_is_refused_and_leaks_nothing() {
        let database = TestDatabase::create().await;
        existing_table(&database).await;
        let pooler = PgBouncer::start_with_pool_size(2).await.unwrap();
        let mut settings = pooler.storage_settings(&database);
        // Migrations through the pooler too, as when only `url` is set.
        settings.migration_url = None;

        let error = SeaOrmRepository::migrate(&settings).await.unwrap_err();

        assert!(
            matches!(&error, StorageError::ConcurrentBuildNeedsSession { indexes, columns_done: true }
                if !indexes.is_empty()),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("database.migration_url"), "{message}");
        let mut direct = connect(database.url()).await;
        let columns = simple_row(
            &mut direct,
            "SELECT count(*)::text FROM information_schema.columns \
             WHERE table_name = 'domains' AND column_name IN ('attempts', 'locked_by', 'locked_until')",
        )
        .await;
        assert_eq!(columns, ["3"], "the columns were added");
        let timeouts = lock_timeout_of_every_server_connection(&pooler, database.name()).await;
        assert!(
            timeouts.iter().all(|timeout| timeout == "0"),
            "{timeouts:?}"
        );

        // A session of its own for migrations builds them.
        settings.migration_url = Some(database.url().to_owned());
        assert_eq!(settings.migration_pooler(), PoolerMode::None);
        let report = SeaOrmRepository::migrate(&settings).await.unwrap();
        assert!(!report.added_indexes.is_empty(), "{report:?}");
        direct.close().await.unwrap();
        drop(pooler);
        database.drop().await;
    }

    #[tokio::test]
    async fn the_worker_starts_on_a_table_it_can_use_and_never_changes_the_schema() {
        let database = TestDatabase::create().await;
        let pooler = PgBouncer::start().await.unwrap();
        let settings = pooler.storage_settings(&database);

        let repository = SeaOrmRepository::connect(&settings).await.unwrap();
        let missing = repository.check_schema().await.unwrap_err();
        assert!(matches!(missing, StorageError::TableMissing), "{missing:?}");
        assert_eq!(
            missing.to_string(),
            "the domains table does not exist: run `domain-scheduler migrate`"
        );
        repository.close().await;

        existing_table(&database).await;
        let repository = SeaOrmRepository::connect(&settings).await.unwrap();
        let lacking = repository.check_schema().await.unwrap_err();
        assert!(
            matches!(&lacking, StorageError::ColumnsMissing { columns } if columns.contains(&"locked_by".to_owned())),
            "{lacking:?}"
        );
        repository.close().await;

        SeaOrmRepository::migrate(&settings).await.unwrap();
        let mut direct = connect(database.url()).await;
        simple(&mut direct, "DROP INDEX domains_claim_idx").await;
        let repository = SeaOrmRepository::connect(&settings).await.unwrap();
        let check = repository.check_schema().await.unwrap();
        assert_eq!(check.missing_indexes, ["domains_claim_idx"]);
        let indexes = simple_row(
            &mut direct,
            "SELECT count(*)::text FROM pg_indexes WHERE indexname = 'domains_claim_idx'",
        )
        .await;
        assert_eq!(indexes, ["0"], "the check built nothing");
        repository.close().await;
        direct.close().await.unwrap();
        drop(pooler);
        database.drop().await;
    }
}
