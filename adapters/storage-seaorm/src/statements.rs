//! Every statement the repository runs, built with SeaQuery from the
//! entity's columns. Values are typed for the backend they go to: Postgres
//! gets uuid, timestamptz, jsonb and text[]; SQLite gets text for all of
//! them (UUID text, RFC 3339 UTC, JSON).

use chrono::{DateTime, SecondsFormat, Utc};
use scheduler_domain::{
    ClaimRequest, DomainId, DomainName, DomainStatus, RepositoryError, SiteMetadata, WorkerId,
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

impl Backend {
    fn id(self, id: DomainId) -> Value {
        match self {
            Backend::Postgres => Value::Uuid(Some(id.as_uuid())),
            Backend::Sqlite => Value::String(Some(id.to_string())),
        }
    }

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

fn not_json(error: serde_json::Error) -> RepositoryError {
    RepositoryError::InvalidRow(format!("metadata is not JSON: {error}"))
}

/// The guard of every write about a claimed row: still `processing` and
/// still leased to this worker.
fn leased_to(backend: Backend, id: DomainId, worker: &WorkerId) -> Cond {
    Cond::all()
        .add(Expr::col(Column::Id).eq(backend.id(id)))
        .add(Expr::col(Column::Status).eq(status(DomainStatus::Processing)))
        .add(Expr::col(Column::LockedBy).eq(text(worker.as_str())))
}

fn clear_lease(update: &mut UpdateStatement) -> &mut UpdateStatement {
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
        .and_where(Expr::col(Column::Status).eq(status(DomainStatus::Pending)))
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
    id: DomainId,
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
    clear_lease(&mut update).cond_where(leased_to(backend, id, worker));
    Ok(update)
}

pub(crate) fn fail(
    backend: Backend,
    id: DomainId,
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
    clear_lease(&mut update).cond_where(leased_to(backend, id, worker));
    update
}

pub(crate) fn retry_later(
    backend: Backend,
    id: DomainId,
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
    clear_lease(&mut update).cond_where(leased_to(backend, id, worker));
    update
}

pub(crate) fn release(
    backend: Backend,
    id: DomainId,
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
    clear_lease(&mut update).cond_where(leased_to(backend, id, worker));
    update
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
    Query::update()
        .table(Entity)
        .value(
            Column::Status,
            Expr::case(spent(), status(DomainStatus::Error)).finally(status(DomainStatus::Pending)),
        )
        .value(
            Column::LastError,
            Expr::val("lease expired after ")
                .binary(
                    BinOper::Custom("||"),
                    Expr::col(Column::Attempts).cast_as(Alias::new("TEXT")),
                )
                .binary(BinOper::Custom("||"), Expr::val(" attempts (worker died?)")),
        )
        .value(Column::LockedBy, Value::String(None))
        .value(Column::LockedUntil, Value::ChronoDateTimeUtc(None))
        .value(Column::UpdatedAt, backend.time(now))
        .and_where(Expr::col(Column::Status).eq(status(DomainStatus::Processing)))
        .cond_where(
            Cond::any()
                .add(Expr::col(Column::LockedUntil).is_null())
                .add(Expr::col(Column::LockedUntil).lt(backend.time(now))),
        )
        .returning(Query::returning().column(Column::Status))
        .to_owned()
}

/// One `INSERT ... ON CONFLICT (domain) DO NOTHING RETURNING domain` per
/// chunk of names: the returned names are the ones added.
pub(crate) fn enqueue(
    backend: Backend,
    names: &[DomainName],
    now: DateTime<Utc>,
) -> Vec<InsertStatement> {
    names
        .chunks(ENQUEUE_CHUNK)
        .map(|chunk| {
            let mut insert = Query::insert();
            insert.into_table(Entity).columns([
                Column::Id,
                Column::Domain,
                Column::Status,
                Column::Attempts,
                Column::CreatedAt,
                Column::UpdatedAt,
            ]);
            for name in chunk {
                insert.values_panic([
                    backend.id(DomainId::random()).into(),
                    text(name.as_str()).into(),
                    status(DomainStatus::Pending).into(),
                    Expr::val(0),
                    backend.time(now).into(),
                    backend.time(now).into(),
                ]);
            }
            insert
                .on_conflict(OnConflict::column(Column::Domain).do_nothing().to_owned())
                .returning(Query::returning().column(Column::Domain));
            insert
        })
        .collect()
}

/// Per `status`: `total`, `waiting` (not due yet) and `expired` (lease past).
pub(crate) fn status_counts(backend: Backend, now: DateTime<Utc>) -> SelectStatement {
    let count_where = |cond: Cond| Func::sum(Expr::case(cond, 1).finally(0));
    Query::select()
        .column(Column::Status)
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("total"))
        .expr_as(
            count_where(Cond::all().add(Expr::col(Column::NextAttemptAt).gt(backend.time(now)))),
            Alias::new("waiting"),
        )
        .expr_as(
            count_where(
                Cond::any()
                    .add(Expr::col(Column::LockedUntil).is_null())
                    .add(Expr::col(Column::LockedUntil).lt(backend.time(now))),
            ),
            Alias::new("expired"),
        )
        .from(Entity)
        .group_by_col(Column::Status)
        .to_owned()
}

pub(crate) fn recent_errors(limit: u32) -> SelectStatement {
    Query::select()
        .columns([Column::Domain, Column::LastError, Column::UpdatedAt])
        .from(Entity)
        .and_where(Expr::col(Column::Status).eq(status(DomainStatus::Error)))
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
             WHERE \"id\" IN (SELECT \"id\" FROM \"domains\" WHERE \"status\" = 'pending' \
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
            id,
            &worker,
            "x",
            DateTime::UNIX_EPOCH,
        ));
        assert!(
            sql.ends_with(&format!(
                "WHERE \"id\" = '{id}' AND \"status\" = 'processing' AND \"locked_by\" = E'w\\'1'"
            )),
            "{sql}"
        );
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
