//! Every statement the repository runs, built with SeaQuery from the
//! entity's columns. Values are typed for the backend they go to: Postgres
//! gets uuid, timestamptz, jsonb and text[]; SQLite gets text for all of
//! them (UUID text, RFC 3339 UTC, JSON).

use chrono::{DateTime, SecondsFormat, Utc};
use scheduler_domain::{
    ClaimRequest, DomainId, DomainName, DomainStatus, ERROR_KINDS, OTHER_ERROR_KIND,
    RepositoryError, STATUS_ERROR_KINDS, SiteMetadata, StatusRequest, WorkerId,
};
use sea_orm::sea_query::{
    Alias, ArrayType, BinOper, Cond, Expr, ExprTrait, Func, InsertStatement, LockBehavior,
    LockType, NullOrdering, OnConflict, Order, Query, SelectStatement, UpdateStatement, Value,
};
use serde_json::Value as Json;

use scheduler_domain::stored::{
    self, EMAIL_COLUMN_LIMIT, PHONE_COLUMN_LIMIT, capped_error, strip_nul,
};

use crate::Backend;
use crate::entity::{Column, Entity};

/// Rows per `INSERT` of an enqueue; all chunks run in one transaction.
pub(crate) const ENQUEUE_CHUNK: usize = 500;

/// The key as a text literal: Postgres reads an untyped literal as the
/// column's own type (uuid, bigint, text) and SQLite converts it to the
/// column's affinity, so either way the comparison is the key's own and
/// the primary key serves it.
fn key(id: &DomainId) -> Value {
    Value::String(Some(id.as_str().to_owned()))
}

impl Backend {
    pub(crate) fn time(self, at: DateTime<Utc>) -> Value {
        match self {
            Backend::Postgres => Value::ChronoDateTimeUtc(Some(at)),
            // One fixed shape (microseconds, `+00:00`) so that text order is
            // time order, also against the column default's shape.
            Backend::Sqlite => Value::String(Some(sqlite_time(at))),
        }
    }

    fn json(self, json: Json) -> Value {
        match self {
            Backend::Postgres => Value::Json(Some(Box::new(json))),
            Backend::Sqlite => Value::String(Some(json.to_string())),
        }
    }

    fn text_array(self, items: Vec<String>) -> Value {
        match self {
            Backend::Postgres => Value::Array(
                ArrayType::String,
                Some(Box::new(
                    items
                        .into_iter()
                        .map(|item| Value::String(Some(item)))
                        .collect(),
                )),
            ),
            Backend::Sqlite => Value::String(Some(Json::from(items).to_string())),
        }
    }
}

/// The text SQLite stores for a time.
pub(crate) fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

pub(crate) fn text(value: &str) -> Value {
    Value::String(Some(strip_nul(value)))
}

fn opt_text(value: Option<&String>) -> Value {
    Value::String(value.map(|text| strip_nul(text)))
}

pub(crate) fn status(status: DomainStatus) -> Value {
    Value::String(Some(status.as_str().to_owned()))
}

/// `status IN (...)` over `states`; never true when there is none.
pub(crate) fn status_in(states: impl Iterator<Item = DomainStatus>) -> Expr {
    Expr::col(Column::Status).is_in(states.map(status))
}

/// The guard of a write that moves rows to `to`: their state is one the
/// life cycle lets move there.
pub(crate) fn may_move_to(to: DomainStatus) -> Expr {
    status_in(DomainStatus::sources(to))
}

fn not_json(error: serde_json::Error) -> RepositoryError {
    RepositoryError::InvalidRow(format!("metadata is not JSON: {error}"))
}

/// The guard of every write about a claimed row that moves it to `to`:
/// still in a leased state the life cycle lets move there, and still
/// leased to this worker.
pub(crate) fn leased_to(id: &DomainId, worker: &WorkerId, to: DomainStatus) -> Cond {
    Cond::all()
        .add(Expr::col(Column::Id).eq(key(id)))
        .add(status_in(DomainStatus::leased_sources(to)))
        .add(Expr::col(Column::LockedBy).eq(text(worker.as_str())))
}

pub(crate) fn clear_lease(update: &mut UpdateStatement) -> &mut UpdateStatement {
    update
        .value(Column::LockedBy, Value::String(None))
        .value(Column::LockedUntil, Value::ChronoDateTimeUtc(None))
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
            backend.json(stored::tech_stack_json(metadata).map_err(not_json)?),
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
            backend.json(stored::meta_json(metadata).map_err(not_json)?),
        )
        .value(Column::SitemapAnalysisStatus, text("queued"))
        .value(Column::LastError, Value::String(None))
        .value(Column::NextAttemptAt, Value::ChronoDateTimeUtc(None))
        .value(Column::UpdatedAt, backend.time(now));
    clear_lease(&mut update).cond_where(leased_to(id, worker, DomainStatus::Completed));
    Ok(update)
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
        .value(Column::LastError, text(&capped_error(error)))
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
        .value(Column::LastError, text(&capped_error(error)))
        .value(Column::NextAttemptAt, backend.time(next_attempt_at))
        .value(Column::UpdatedAt, backend.time(now));
    clear_lease(&mut update).cond_where(leased_to(id, worker, DomainStatus::Pending));
    update
}

pub(crate) fn release(
    backend: Backend,
    id: &DomainId,
    worker: &WorkerId,
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
/// attempts are spent. Returns the new `status` of each row.
pub(crate) fn rescue_expired(
    backend: Backend,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> UpdateStatement {
    let max_attempts = i64::from(max_attempts);
    let spent = || Expr::col(Column::Attempts).gte(max_attempts);
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
        .and_where(status_in(rescuable()))
        .cond_where(
            Cond::any()
                .add(Expr::col(Column::LockedUntil).is_null())
                .add(Expr::col(Column::LockedUntil).lt(backend.time(now))),
        )
        .returning(Query::returning().column(Column::Status))
        .to_owned()
}

/// One `INSERT ... ON CONFLICT (domain) DO NOTHING RETURNING domain` per
/// chunk of names: the returned names are the ones added. With
/// `random_ids` each row gets a random UUID as its key, else the column's
/// default makes it.
pub(crate) fn enqueue(
    backend: Backend,
    names: &[DomainName],
    now: DateTime<Utc>,
    random_ids: bool,
) -> Vec<InsertStatement> {
    let columns = [
        Column::Domain,
        Column::Status,
        Column::Attempts,
        Column::CreatedAt,
        Column::UpdatedAt,
    ];
    names
        .chunks(ENQUEUE_CHUNK)
        .map(|chunk| {
            let mut insert = Query::insert();
            insert
                .into_table(Entity)
                .columns(random_ids.then_some(Column::Id).into_iter().chain(columns));
            for name in chunk {
                let id = random_ids.then(|| key(&DomainId::random()).into());
                insert.values_panic(id.into_iter().chain([
                    text(name.as_str()).into(),
                    status(DomainStatus::Pending).into(),
                    Expr::val(0),
                    backend.time(now).into(),
                    backend.time(now).into(),
                ]));
            }
            insert
                .on_conflict(OnConflict::column(Column::Domain).do_nothing().to_owned())
                .returning(Query::returning().column(Column::Domain));
            insert
        })
        .collect()
}

/// The statements of one `status` report. Each row they return carries a
/// `part` column naming the statement it came from, so that all of them can
/// run in one snapshot and come back as one list.
pub(crate) fn status_report(backend: Backend, request: &StatusRequest) -> Vec<SelectStatement> {
    let mut statements = vec![
        status_counts(backend, request.now),
        oldest_due_pending(backend, request.now),
    ];
    if request.details {
        statements.push(finished_since(
            backend,
            request.now - chrono::TimeDelta::hours(1),
        ));
        statements.push(error_kinds());
    }
    if request.recent_errors > 0 {
        statements.push(newest(
            DomainStatus::Error,
            StatusPart::RecentErrors,
            Column::LastError,
            request.recent_errors,
        ));
    }
    if request.recent_completed > 0 {
        statements.push(newest(
            DomainStatus::Completed,
            StatusPart::RecentCompleted,
            Column::Title,
            request.recent_completed,
        ));
    }
    statements
}

/// The names of the computed columns of [`status_report`]'s statements,
/// shared with the code that reads them.
pub(crate) mod status_column {
    pub(crate) const TOTAL: &str = "total";
    pub(crate) const WAITING: &str = "waiting";
    pub(crate) const EXPIRED: &str = "expired";
    pub(crate) const SINCE: &str = "since";
    pub(crate) const COMPLETED: &str = "completed";
    pub(crate) const FAILED: &str = "failed";
    pub(crate) const KIND: &str = "kind";
    /// `last_error` of an error row, `title` of a completed one.
    pub(crate) const DETAIL: &str = "detail";
}

/// Which statement of [`status_report`] a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusPart {
    Counts,
    OldestDuePending,
    LastHour,
    ErrorKinds,
    RecentErrors,
    RecentCompleted,
}

impl StatusPart {
    const ALL: [StatusPart; 6] = [
        StatusPart::Counts,
        StatusPart::OldestDuePending,
        StatusPart::LastHour,
        StatusPart::ErrorKinds,
        StatusPart::RecentErrors,
        StatusPart::RecentCompleted,
    ];

    fn as_str(self) -> &'static str {
        match self {
            StatusPart::Counts => "counts",
            StatusPart::OldestDuePending => "oldest",
            StatusPart::LastHour => "hour",
            StatusPart::ErrorKinds => "kinds",
            StatusPart::RecentErrors => "errors",
            StatusPart::RecentCompleted => "completed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<StatusPart> {
        StatusPart::ALL
            .into_iter()
            .find(|part| part.as_str() == text)
    }

    /// The column that tells the statements' rows apart.
    pub(crate) const COLUMN: &'static str = "part";
}

fn tagged(part: StatusPart) -> SelectStatement {
    Query::select()
        .expr_as(Expr::val(part.as_str()), Alias::new(StatusPart::COLUMN))
        .from(Entity)
        .to_owned()
}

/// Per `status`: `total`, `waiting` (not due yet) and `expired` (lease past).
fn status_counts(backend: Backend, now: DateTime<Utc>) -> SelectStatement {
    let count_where = |cond: Cond| Func::sum(Expr::case(cond, 1).finally(0));
    tagged(StatusPart::Counts)
        .column(Column::Status)
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(status_column::TOTAL))
        .expr_as(
            count_where(Cond::all().add(Expr::col(Column::NextAttemptAt).gt(backend.time(now)))),
            Alias::new(status_column::WAITING),
        )
        .expr_as(
            count_where(
                Cond::any()
                    .add(Expr::col(Column::LockedUntil).is_null())
                    .add(Expr::col(Column::LockedUntil).lt(backend.time(now))),
            ),
            Alias::new(status_column::EXPIRED),
        )
        .group_by_col(Column::Status)
        .to_owned()
}

/// `since`: when the due `pending` row next in line became due (its retry
/// time, else when it was enqueued or put back). "Next in line" is the
/// claim's order, so that the claim index finds it without a scan.
fn oldest_due_pending(backend: Backend, now: DateTime<Utc>) -> SelectStatement {
    tagged(StatusPart::OldestDuePending)
        .expr_as(
            Func::coalesce([
                Expr::col(Column::NextAttemptAt),
                Expr::col(Column::UpdatedAt),
                Expr::col(Column::CreatedAt),
            ]),
            Alias::new(status_column::SINCE),
        )
        .and_where(Expr::col(Column::Status).eq(status(DomainStatus::Pending)))
        .cond_where(
            Cond::any()
                .add(Expr::col(Column::NextAttemptAt).is_null())
                .add(Expr::col(Column::NextAttemptAt).lte(backend.time(now))),
        )
        .order_by_with_nulls(Column::UpdatedAt, Order::Asc, NullOrdering::First)
        .order_by(Column::Id, Order::Asc)
        .limit(1)
        .to_owned()
}

/// `completed` and `failed`: rows that reached either state since `since`.
fn finished_since(backend: Backend, since: DateTime<Utc>) -> SelectStatement {
    let count_of = |state: DomainStatus| {
        Func::sum(Expr::case(Expr::col(Column::Status).eq(status(state)), 1).finally(0))
    };
    tagged(StatusPart::LastHour)
        .expr_as(
            count_of(DomainStatus::Completed),
            Alias::new(status_column::COMPLETED),
        )
        .expr_as(
            count_of(DomainStatus::Error),
            Alias::new(status_column::FAILED),
        )
        .and_where(Expr::col(Column::UpdatedAt).gte(backend.time(since)))
        .and_where(
            Expr::col(Column::Status)
                .is_in([status(DomainStatus::Completed), status(DomainStatus::Error)]),
        )
        .to_owned()
}

/// `kind` and `total` of the most frequent kinds of `last_error` among
/// `error` rows, by the domain's [`ERROR_KINDS`] table.
fn error_kinds() -> SelectStatement {
    let kind = ERROR_KINDS.iter().fold(
        Expr::case(Expr::col(Column::LastError).is_null(), OTHER_ERROR_KIND),
        |case, rule| {
            let matches = Expr::col(Column::LastError).like(rule.like);
            match rule.keep_prefix {
                Some(keep) => case.case(
                    matches,
                    Func::cust(Alias::new("SUBSTR")).args([
                        Expr::col(Column::LastError),
                        Expr::val(1),
                        Expr::val(i32::from(keep)),
                    ]),
                ),
                None => case.case(matches, rule.kind),
            }
        },
    );
    tagged(StatusPart::ErrorKinds)
        .expr_as(
            kind.finally(OTHER_ERROR_KIND),
            Alias::new(status_column::KIND),
        )
        .expr_as(Expr::cust("COUNT(*)"), Alias::new(status_column::TOTAL))
        .and_where(Expr::col(Column::Status).eq(status(DomainStatus::Error)))
        .group_by_col(Alias::new(status_column::KIND))
        .order_by(Alias::new(status_column::TOTAL), Order::Desc)
        .order_by(Alias::new(status_column::KIND), Order::Asc)
        .limit(STATUS_ERROR_KINDS as u64)
        .to_owned()
}

/// `domain`, `detail` (the `detail` column given) and `updated_at` of the
/// `limit` newest rows in `state`.
fn newest(state: DomainStatus, part: StatusPart, detail: Column, limit: u32) -> SelectStatement {
    tagged(part)
        .column(Column::Domain)
        .expr_as(Expr::col(detail), Alias::new(status_column::DETAIL))
        .column(Column::UpdatedAt)
        .and_where(Expr::col(Column::Status).eq(status(state)))
        .order_by_with_nulls(Column::UpdatedAt, Order::Desc, NullOrdering::Last)
        .order_by(Column::Id, Order::Desc)
        .limit(u64::from(limit))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryStatementWriter};

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
                postgres_sql(&release(Backend::Postgres, &id, &worker, now)),
                DomainStatus::Pending,
            ),
        ] {
            assert_eq!(guarded_states(&sql), leased(to), "{sql}");
        }
        let rescue = postgres_sql(&rescue_expired(Backend::Postgres, now, 3));
        assert_eq!(guarded_states(&rescue), rescuable().collect::<Vec<_>>());
        assert_eq!(rescuable().collect::<Vec<_>>(), [DomainStatus::Processing]);
    }

    #[test]
    fn seaquery_writes_text_needing_escapes_as_escape_strings() {
        // E'' literals read back the same whatever standard_conforming_strings
        // says; control characters become octal escapes, not lossy letters.
        let select = Query::select()
            .expr(Expr::val("plain"))
            .expr(Expr::val("O'Reilly \\ x"))
            .expr(Expr::val("a\u{1a}b\u{8}c"))
            .to_owned();
        assert_eq!(
            postgres_sql(&select),
            "SELECT 'plain', E'O\\'Reilly \\\\ x', E'a\\032b\\bc'"
        );
    }
}
