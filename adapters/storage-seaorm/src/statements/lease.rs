//! The claim, the writes about a claimed row, and the rescue of rows
//! whose lease expired. Every write about a claimed row is guarded: it
//! changes the row only while the row is still leased to the worker and
//! the life cycle allows the move.

use chrono::{DateTime, Utc};
use scheduler_domain::stored::{EMAIL_COLUMN_LIMIT, PHONE_COLUMN_LIMIT};
use scheduler_domain::{
    ClaimRequest, DomainId, DomainStatus, RepositoryError, SiteMetadata, WorkerId, stored,
};
use sea_orm::sea_query::{
    Alias, BinOper, Cond, Expr, ExprTrait, LockBehavior, LockType, NullOrdering, Order, Query,
    UpdateStatement, Value,
};

use super::values::{clear_lease, key, status, status_in, text};
use crate::backend::Backend;
use crate::entity::{Column, Entity};
use crate::nul::{self, strip_nul};

fn opt_text(value: Option<&String>) -> Value {
    Value::String(value.map(|text| strip_nul(text)))
}

/// The guard of a write that moves rows to `to`: their state is one the
/// life cycle lets move there.
fn may_move_to(to: DomainStatus) -> Expr {
    status_in(DomainStatus::sources(to))
}

fn not_json(error: serde_json::Error) -> RepositoryError {
    RepositoryError::InvalidRow(format!("metadata is not JSON: {error}"))
}

/// The guard of every write about a claimed row that moves it to `to`:
/// still in a leased state the life cycle lets move there, and still
/// leased to this worker.
fn leased_to(id: &DomainId, worker: &WorkerId, to: DomainStatus) -> Cond {
    Cond::all()
        .add(Expr::col(Column::Id).eq(key(id)))
        .add(status_in(DomainStatus::leased_sources(to)))
        .add(Expr::col(Column::LockedBy).eq(text(worker.as_str())))
}

/// `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`:
/// one statement, so two workers never take the same row.
pub(crate) fn claim(backend: Backend, request: &ClaimRequest) -> UpdateStatement {
    let mut due = Query::select();
    due.column(Column::Id)
        .from(Entity)
        .and_where(may_move_to(DomainStatus::Processing))
        .cond_where(
            Cond::any()
                .add(Expr::col(Column::NextAttemptAt).is_null())
                .add(Expr::col(Column::NextAttemptAt).lte(backend.time(request.now))),
        )
        .order_by_with_nulls(Column::UpdatedAt, Order::Asc, NullOrdering::First)
        .order_by(Column::Id, Order::Asc)
        .limit(u64::from(request.limit));
    if backend == Backend::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Query::update()
        .table(Entity)
        .value(Column::Status, status(DomainStatus::Processing))
        .value(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .value(Column::LockedBy, text(request.worker.as_str()))
        .value(Column::LockedUntil, backend.time(request.lease_until))
        .value(Column::UpdatedAt, backend.time(request.now))
        .and_where(Expr::col(Column::Id).in_subquery(due))
        .returning(Query::returning().columns([Column::Id, Column::Domain, Column::Attempts]))
        .to_owned()
}

pub(crate) fn complete(
    backend: Backend,
    id: &DomainId,
    worker: &WorkerId,
    metadata: &SiteMetadata,
    now: DateTime<Utc>,
) -> Result<UpdateStatement, RepositoryError> {
    let emails = metadata
        .first_emails(EMAIL_COLUMN_LIMIT)
        .iter()
        .map(|e| strip_nul(e))
        .collect();
    let phones = metadata
        .first_phones(PHONE_COLUMN_LIMIT)
        .iter()
        .map(|p| strip_nul(p))
        .collect();
    let social = &metadata.social;
    let mut update = Query::update();
    update
        .table(Entity)
        .value(Column::Status, status(DomainStatus::Completed))
        .value(Column::Title, opt_text(metadata.title.as_ref()))
        .value(Column::Description, opt_text(metadata.description.as_ref()))
        .value(Column::FaviconUrl, opt_text(metadata.favicon_url.as_ref()))
        .value(Column::LogoUrl, opt_text(metadata.logo_url.as_ref()))
        .value(Column::Language, opt_text(metadata.language.as_ref()))
        .value(
            Column::IsWordpress,
            Value::Bool(Some(metadata.wordpress.detected)),
        )
        .value(
            Column::WordpressVersion,
            opt_text(metadata.wordpress.version.as_ref()),
        )
        .value(
            Column::HasElementor,
            Value::Bool(Some(metadata.has_elementor())),
        )
        .value(
            Column::TechStack,
            backend.json(nul::tech_stack_json(metadata).map_err(not_json)?),
        )
        .value(Column::EmailAddresses, backend.text_array(emails))
        .value(Column::PhoneNumbers, backend.text_array(phones))
        .value(Column::FacebookUrl, opt_text(social.facebook.as_ref()))
        .value(Column::TwitterUrl, opt_text(social.twitter.as_ref()))
        .value(Column::LinkedinUrl, opt_text(social.linkedin.as_ref()))
        .value(Column::InstagramUrl, opt_text(social.instagram.as_ref()))
        .value(Column::YoutubeUrl, opt_text(social.youtube.as_ref()))
        .value(
            Column::MetaJson,
            backend.json(nul::meta_json(metadata).map_err(not_json)?),
        )
        .value(Column::SitemapAnalysisStatus, text("queued"))
        .value(Column::LastError, Value::String(None))
        .value(Column::NextAttemptAt, Value::ChronoDateTimeUtc(None))
        .value(Column::UpdatedAt, backend.time(now));
    clear_lease(&mut update).cond_where(
        Cond::any()
            .add(leased_to(id, worker, DomainStatus::Completed))
            .add(completed_at(backend, id, now)),
    );
    Ok(update)
}

/// The row completed at exactly `now`: by this very completion, whose
/// commit went through but whose answer was lost. Its retry writes the
/// same values again and counts as written, not as a lost lease.
fn completed_at(backend: Backend, id: &DomainId, now: DateTime<Utc>) -> Cond {
    Cond::all()
        .add(Expr::col(Column::Id).eq(key(id)))
        .add(Expr::col(Column::Status).eq(status(DomainStatus::Completed)))
        .add(Expr::col(Column::UpdatedAt).eq(backend.time(now)))
}

pub(crate) fn fail(
    backend: Backend,
    id: &DomainId,
    worker: &WorkerId,
    error: &str,
    now: DateTime<Utc>,
) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(Entity)
        .value(Column::Status, status(DomainStatus::Error))
        .value(Column::LastError, text(&nul::last_error(error)))
        .value(Column::UpdatedAt, backend.time(now));
    clear_lease(&mut update).cond_where(leased_to(id, worker, DomainStatus::Error));
    update
}

pub(crate) fn retry_later(
    backend: Backend,
    id: &DomainId,
    worker: &WorkerId,
    error: &str,
    next_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(Entity)
        .value(Column::Status, status(DomainStatus::Pending))
        .value(Column::LastError, text(&nul::last_error(error)))
        .value(Column::NextAttemptAt, backend.time(next_attempt_at))
        .value(Column::UpdatedAt, backend.time(now));
    clear_lease(&mut update).cond_where(leased_to(id, worker, DomainStatus::Pending));
    update
}

pub(crate) fn release(
    backend: Backend,
    id: &DomainId,
    worker: &WorkerId,
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> UpdateStatement {
    let mut update = Query::update();
    update
        .table(Entity)
        .value(Column::Status, status(DomainStatus::Pending))
        .value(
            Column::Attempts,
            Expr::case(
                Expr::col(Column::Attempts).gt(0),
                Expr::col(Column::Attempts).sub(1),
            )
            .finally(0),
        )
        .value(Column::UpdatedAt, backend.time(now));
    if let Some(not_before) = not_before {
        update.value(Column::NextAttemptAt, backend.time(not_before));
    }
    clear_lease(&mut update).cond_where(leased_to(id, worker, DomainStatus::Pending));
    update
}

/// The states rescue takes rows from: leased ones that may go back to
/// `pending` and, once their attempts are spent, on to `error`.
fn rescuable() -> impl Iterator<Item = DomainStatus> {
    DomainStatus::leased_sources(DomainStatus::Pending)
        .filter(|from| from.can_move_to(DomainStatus::Error))
}

/// Rows left `processing` past their lease (or with none: a system that
/// kept no leases left them) go back to `pending`, or to `error` when their
/// attempts are spent: at most `batch` of them, so that a table full of
/// stale rows (a cutover) is swept in short statements well under the
/// statement timeout. Returns the new `status` of each row.
pub(crate) fn rescue_expired(
    backend: Backend,
    now: DateTime<Utc>,
    max_attempts: u32,
    batch: u32,
) -> UpdateStatement {
    let max_attempts = i64::from(max_attempts);
    let spent = || Expr::col(Column::Attempts).gte(max_attempts);
    let expired = || {
        Cond::all().add(status_in(rescuable())).add(
            Cond::any()
                .add(Expr::col(Column::LockedUntil).is_null())
                .add(Expr::col(Column::LockedUntil).lt(backend.time(now))),
        )
    };
    let mut due = Query::select();
    due.column(Column::Id)
        .from(Entity)
        .cond_where(expired())
        .limit(u64::from(batch));
    if backend == Backend::Postgres {
        // Rows a claim or another sweep holds are left to it.
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    // `lease_expired_message` with the row's own attempt count.
    let (before, after) = stored::LEASE_EXPIRED_MESSAGE_AROUND;
    let mut update = Query::update();
    update
        .table(Entity)
        .value(
            Column::Status,
            Expr::case(spent(), status(DomainStatus::Error)).finally(status(DomainStatus::Pending)),
        )
        .value(
            Column::LastError,
            Expr::val(before)
                .binary(
                    BinOper::Custom("||"),
                    Expr::col(Column::Attempts).cast_as(Alias::new("TEXT")),
                )
                .binary(BinOper::Custom("||"), Expr::val(after)),
        );
    clear_lease(&mut update)
        .value(Column::UpdatedAt, backend.time(now))
        .and_where(Expr::col(Column::Id).in_subquery(due))
        .cond_where(expired())
        .returning(Query::returning().column(Column::Status))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryStatementWriter};

    use super::*;

    fn postgres_sql(statement: &impl QueryStatementWriter) -> String {
        statement.to_string(PostgresQueryBuilder)
    }

    #[test]
    fn the_postgres_claim_is_one_update_over_a_skip_locked_select() {
        let request = ClaimRequest {
            worker: WorkerId::new("host:1:abc"),
            limit: 50,
            now: DateTime::UNIX_EPOCH,
            lease_until: DateTime::UNIX_EPOCH + chrono::Duration::minutes(10),
        };
        let sql = postgres_sql(&claim(Backend::Postgres, &request));
        assert_eq!(
            sql,
            "UPDATE \"domains\" SET \"status\" = 'processing', \"attempts\" = \"attempts\" + 1, \
             \"locked_by\" = 'host:1:abc', \
             \"locked_until\" = '1970-01-01 00:10:00.000000 +00:00', \
             \"updated_at\" = '1970-01-01 00:00:00.000000 +00:00' \
             WHERE \"id\" IN (SELECT \"id\" FROM \"domains\" WHERE \"status\" IN ('pending') \
             AND (\"next_attempt_at\" IS NULL \
             OR \"next_attempt_at\" <= '1970-01-01 00:00:00.000000 +00:00') \
             ORDER BY \"updated_at\" ASC NULLS FIRST, \"id\" ASC LIMIT 50 FOR UPDATE SKIP LOCKED) \
             RETURNING \"id\", \"domain\", \"attempts\""
        );
    }

    #[test]
    fn guarded_writes_name_the_row_the_state_and_the_worker() {
        let id = DomainId::random();
        let worker = WorkerId::new("w'1");
        let sql = postgres_sql(&fail(
            Backend::Postgres,
            &id,
            &worker,
            "x",
            DateTime::UNIX_EPOCH,
        ));
        assert!(
            sql.ends_with(&format!(
                "WHERE \"id\" = '{id}' AND \"status\" IN ('processing') AND \"locked_by\" = E'w\\'1'"
            )),
            "{sql}"
        );
    }

    #[test]
    fn an_integer_key_is_written_as_a_literal_the_column_reads() {
        let sql = postgres_sql(&release(
            Backend::Postgres,
            &DomainId::from(42_i64),
            &WorkerId::new("w"),
            None,
            DateTime::UNIX_EPOCH,
        ));
        assert!(sql.contains("WHERE \"id\" = '42' AND"), "{sql}");
    }

    /// The states a guard lists, in the order it lists them.
    fn guarded_states(sql: &str) -> Vec<DomainStatus> {
        let (_, after) = sql
            .split_once("\"status\" IN (")
            .unwrap_or_else(|| panic!("no status guard in {sql}"));
        let (list, _) = after.split_once(')').unwrap();
        list.split(", ")
            .map(|word| word.trim_matches('\'').parse().unwrap())
            .collect()
    }

    #[test]
    fn the_rescue_takes_a_bounded_batch_of_rows_no_claim_holds() {
        let sql = postgres_sql(&rescue_expired(
            Backend::Postgres,
            DateTime::UNIX_EPOCH,
            3,
            500,
        ));
        assert!(sql.contains("LIMIT 500 FOR UPDATE SKIP LOCKED"), "{sql}");
    }

    #[test]
    fn every_guard_lists_exactly_the_states_the_life_cycle_allows() {
        let id = DomainId::random();
        let worker = WorkerId::new("w");
        let now = DateTime::UNIX_EPOCH;
        let leased = |to| DomainStatus::leased_sources(to).collect::<Vec<_>>();
        let request = ClaimRequest {
            worker: worker.clone(),
            limit: 1,
            now,
            lease_until: now,
        };
        let claim = postgres_sql(&claim(Backend::Postgres, &request));
        assert_eq!(
            guarded_states(&claim),
            DomainStatus::sources(DomainStatus::Processing).collect::<Vec<_>>()
        );
        let metadata = SiteMetadata::default();
        let completed = complete(Backend::Postgres, &id, &worker, &metadata, now).unwrap();
        for (sql, to) in [
            (postgres_sql(&completed), DomainStatus::Completed),
            (
                postgres_sql(&fail(Backend::Postgres, &id, &worker, "x", now)),
                DomainStatus::Error,
            ),
            (
                postgres_sql(&retry_later(Backend::Postgres, &id, &worker, "x", now, now)),
                DomainStatus::Pending,
            ),
            (
                postgres_sql(&release(Backend::Postgres, &id, &worker, Some(now), now)),
                DomainStatus::Pending,
            ),
        ] {
            assert_eq!(guarded_states(&sql), leased(to), "{sql}");
        }
        let rescue = postgres_sql(&rescue_expired(Backend::Postgres, now, 3, 500));
        assert_eq!(guarded_states(&rescue), rescuable().collect::<Vec<_>>());
        assert_eq!(rescuable().collect::<Vec<_>>(), [DomainStatus::Processing]);
    }
}
