//! The storage conformance suite against every storage adapter.
//!
//! One module per target; adding a target is one line: its name and an
//! expression that builds it (for a SQL target, `SeaOrmTarget::connect`
//! with the settings to reach it).
// Helpers of a test binary panic like its tests: a failed expectation is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scheduler_tests::conformance::{self, ConformanceTarget, MemoryTarget, SeaOrmTarget};

/// Stamps out one `#[tokio::test]` per scenario of the suite for a target,
/// plus the extra scenarios listed in brackets (e.g. those that need row
/// locks of another session).
macro_rules! conformance_tests {
    ($target:ident, $make:expr) => {
        conformance_tests!($target, $make, []);
    };
    ($target:ident, $make:expr, [$($extra:ident),* $(,)?]) => {
        mod $target {
            use super::*;
            conformance_tests!(@each $make;
                claim_takes_oldest_first_never_touched_rows_first,
                claim_respects_the_limit,
                claim_skips_rows_not_yet_due,
                claim_takes_only_pending_rows,
                claim_marks_rows_processing_with_a_lease,
                concurrent_claimers_never_take_a_row_twice,
                complete_writes_every_field,
                complete_many_writes_a_group_and_reports_lost_leases,
                a_completion_written_twice_counts_as_written,
                complete_with_empty_metadata_writes_empty_lists,
                complete_round_trips_hostile_text_exactly,
                fail_records_a_capped_error_and_clears_the_lease,
                retry_later_requeues_until_the_retry_time,
                release_gives_the_row_back_without_counting_the_attempt,
                release_until_a_time_keeps_the_row_back_until_then,
                rescue_requeues_expired_leases_and_fails_spent_ones,
                rescue_sweeps_more_stale_rows_than_one_statement_moves,
                guarded_writes_refuse_rows_leased_to_another_worker,
                enqueue_adds_new_names_and_reports_the_rest,
                status_counts_rows_per_state_and_lists_recent_errors,
                status_reports_lag_last_hour_error_kinds_and_recent_completions,
                row_inserted_with_only_domain_gets_defaults_and_is_claimable,
                requeue_moves_selected_rows_back_to_pending_with_a_fresh_start,
                requeue_never_touches_processing_or_pending_rows,
                requeue_by_age_takes_rows_updated_before_the_cutoff_or_never,
                requeue_by_error_pattern_matches_like_and_plain_text_ignoring_case,
                requeue_by_name_reports_names_without_a_row,
                requeue_by_a_long_list_of_names_takes_every_part,
                requeue_selectors_combine_with_and,
                requeue_dry_run_counts_exactly_and_changes_nothing,
                find_domain_reads_one_row_with_its_lease_and_document,
                recent_errors_filter_by_kind_and_page_newest_first,
                status_counts_changes_per_minute_for_the_chart,
                $($extra,)*
            );
        }
    };
    (@each $make:expr; $($test:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let target = $make;
                conformance::$test(&target).await;
                target.finish().await;
            }
        )*
    };
}

conformance_tests!(memory, MemoryTarget::new());
conformance_tests!(sqlite, SeaOrmTarget::sqlite().await);
conformance_tests!(
    postgres,
    SeaOrmTarget::postgres().await,
    [claim_skips_rows_locked_in_another_transaction]
);
// Tables created by other systems, keyed by integers the database numbers.
conformance_tests!(
    postgres_bigserial_keys,
    SeaOrmTarget::postgres_with_table(
        "CREATE TABLE domains (id bigserial PRIMARY KEY, domain text NOT NULL UNIQUE, \
         status text NOT NULL DEFAULT 'pending', created_at timestamptz NOT NULL DEFAULT now(), \
         updated_at timestamptz DEFAULT now())"
    )
    .await,
    [claim_skips_rows_locked_in_another_transaction]
);
conformance_tests!(
    sqlite_integer_keys,
    SeaOrmTarget::sqlite_with_table(
        "CREATE TABLE domains (id INTEGER PRIMARY KEY, domain TEXT NOT NULL UNIQUE, \
         status TEXT NOT NULL DEFAULT 'pending', \
         created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')), \
         updated_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')))"
    )
    .await
);
// Through a real PgBouncer in transaction mode with two server connections
// shared by the repository's clients; the side door and the migration go
// straight to Postgres (`migration_url`).
conformance_tests!(
    postgres_through_pgbouncer,
    {
        let database = scheduler_tests::postgres::TestDatabase::create().await;
        let pooler = scheduler_tests::pgbouncer::PgBouncer::start()
            .await
            .unwrap();
        SeaOrmTarget::connect(pooler.storage_settings(&database))
            .await
            .owning_database(database)
            .keeping_alive(pooler)
    },
    [claim_skips_rows_locked_in_another_transaction]
);

/// Inlined literals read back exactly also on a server that still treats
/// backslashes in plain `'...'` strings as escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_hostile_text_round_trips_with_standard_conforming_strings_off() {
    use scheduler_storage_seaorm::StorageSettings;
    use scheduler_tests::postgres::TestDatabase;
    use sqlx::Row as _;

    let database = TestDatabase::create().await;
    let admin = sqlx::PgPool::connect(database.url()).await.unwrap();
    let alter = format!(
        "ALTER DATABASE \"{}\" SET standard_conforming_strings = off",
        database.name()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(alter))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;

    let target = SeaOrmTarget::connect(StorageSettings::new(database.url()))
        .await
        .owning_database(database);
    let pool = target.repository().postgres_pool().unwrap();
    let setting = sqlx::raw_sql("SHOW standard_conforming_strings")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(setting.get::<String, _>(0), "off");
    conformance::complete_round_trips_hostile_text_exactly(&target).await;
    target.finish().await;
}
