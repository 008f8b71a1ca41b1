//! `enqueue`: new names as `pending` rows, names already present left as
//! they are.

use chrono::{DateTime, Utc};
use scheduler_domain::{DomainId, DomainName, DomainStatus};
use sea_orm::sea_query::{Expr, InsertStatement, OnConflict, Query};

use super::values::{key, status, text};
use crate::backend::Backend;
use crate::entity::{Column, Entity};

/// Rows per `INSERT` of an enqueue; all the `INSERT`s of one enqueue run in
/// one transaction. (Not the CLI's `--chunk-size`, the names per enqueue.)
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// One `INSERT ... ON CONFLICT (domain) DO NOTHING RETURNING domain` per
/// [`ROWS_PER_INSERT`] names: the returned names are the ones added. With
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
        .chunks(ROWS_PER_INSERT)
        .map(|rows| {
            let mut insert = Query::insert();
            insert
                .into_table(Entity)
                .columns(random_ids.then_some(Column::Id).into_iter().chain(columns));
            for name in rows {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_inserted_rows_per_insert_at_a_time() {
        let names: Vec<DomainName> = (0..=2 * ROWS_PER_INSERT)
            .map(|n| DomainName::parse(&format!("d{n}.example")).unwrap())
            .collect();
        let inserts = enqueue(Backend::Postgres, &names, DateTime::UNIX_EPOCH, true);
        assert_eq!(inserts.len(), 3);
        assert!(enqueue(Backend::Sqlite, &[], DateTime::UNIX_EPOCH, false).is_empty());
    }
}
