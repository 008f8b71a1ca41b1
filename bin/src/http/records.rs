//! The page's reads of single rows, each run when a person asks and never
//! cached (they are not shared between viewers as the snapshot is):
//!
//! - `/api/domain?name=…`: one domain's whole record, read by the unique
//!   index on `domain` and nothing else; 404 when there is no row.
//! - `/api/errors?kind=…&page=…`: the latest errors of one kind (or all),
//!   [`ERRORS_PER_PAGE`] at a time, newest first.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use scheduler_application::observe;
use scheduler_domain::{
    DomainName, DomainRecord, DomainRepository, ErrorQuery, ErrorSample, RepositoryError,
};

/// Errors listed per page.
pub(super) const ERRORS_PER_PAGE: u32 = 50;

/// The deepest page served: `OFFSET` reads the rows it skips, so a page
/// costs more the further it goes; past this, filter by kind instead.
const LAST_ERROR_PAGE: u32 = 200;

/// The repository's reads of single rows (the handlers are not generic
/// over it).
pub(super) trait RowReader: Send + Sync {
    fn find_domain(
        &self,
        name: DomainName,
    ) -> BoxFuture<'static, Result<Option<DomainRecord>, RepositoryError>>;

    fn recent_errors(
        &self,
        query: ErrorQuery,
    ) -> BoxFuture<'static, Result<Vec<ErrorSample>, RepositoryError>>;
}

impl<R: DomainRepository + 'static> RowReader for Arc<R> {
    fn find_domain(
        &self,
        name: DomainName,
    ) -> BoxFuture<'static, Result<Option<DomainRecord>, RepositoryError>> {
        let repository = Arc::clone(self);
        Box::pin(async move { R::find_domain(&repository, &name).await })
    }

    fn recent_errors(
        &self,
        query: ErrorQuery,
    ) -> BoxFuture<'static, Result<Vec<ErrorSample>, RepositoryError>> {
        let repository = Arc::clone(self);
        Box::pin(async move { R::recent_errors(&repository, &query).await })
    }
}

/// The handlers' state: the reader, shared.
#[derive(Clone)]
pub(super) struct Rows(pub(super) Arc<dyn RowReader>);

/// The value of `key` in a query string, decoded.
fn parameter(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.into_owned())
}

/// A JSON answer the page reads, never cached by the browser.
fn json(code: StatusCode, body: impl serde::Serialize) -> Response {
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// Why a read gave nothing, as the page shows it.
#[derive(serde::Serialize)]
struct Refusal {
    error: String,
}

fn refused(code: StatusCode, error: String) -> Response {
    json(code, Refusal { error })
}

fn database_failed(operation: &'static str, error: &RepositoryError) -> Response {
    observe::database_error(operation, error);
    refused(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
}

/// `/api/domain?name=…`
pub(super) async fn record(State(Rows(rows)): State<Rows>, RawQuery(query): RawQuery) -> Response {
    let raw = parameter(query.as_deref(), "name").unwrap_or_default();
    let name = match DomainName::parse(raw.trim()) {
        Ok(name) => name,
        Err(error) => return refused(StatusCode::BAD_REQUEST, error.to_string()),
    };
    match rows.find_domain(name.clone()).await {
        Ok(Some(record)) => json(StatusCode::OK, record),
        Ok(None) => refused(StatusCode::NOT_FOUND, format!("no row for {name}")),
        Err(error) => database_failed("find_domain", &error),
    }
}

/// One page of errors and whether another follows.
#[derive(serde::Serialize)]
struct ErrorPage {
    kind: Option<String>,
    page: u32,
    per_page: u32,
    has_more: bool,
    errors: Vec<ErrorSample>,
}

/// `/api/errors?kind=…&page=…` (pages from 1).
pub(super) async fn errors(State(Rows(rows)): State<Rows>, RawQuery(query): RawQuery) -> Response {
    let kind = parameter(query.as_deref(), "kind").filter(|kind| !kind.is_empty());
    let page = match parameter(query.as_deref(), "page").map(|page| page.parse::<u32>()) {
        None => 1,
        Some(Ok(page)) if (1..=LAST_ERROR_PAGE).contains(&page) => page,
        Some(_) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("page is a number from 1 to {LAST_ERROR_PAGE}"),
            );
        }
    };
    // One row more than a page says whether another page follows.
    let query = ErrorQuery {
        kind: kind.clone(),
        offset: (page - 1) * ERRORS_PER_PAGE,
        limit: ERRORS_PER_PAGE + 1,
    };
    match rows.recent_errors(query).await {
        Ok(mut errors) => {
            let has_more = errors.len() > ERRORS_PER_PAGE as usize;
            errors.truncate(ERRORS_PER_PAGE as usize);
            json(
                StatusCode::OK,
                ErrorPage {
                    kind,
                    page,
                    per_page: ERRORS_PER_PAGE,
                    has_more,
                    errors,
                },
            )
        }
        Err(error) => database_failed("recent_errors", &error),
    }
}

#[cfg(test)]
mod tests {
    use scheduler_domain::MockDomainRepository;

    use super::*;

    /// The reader over a mock that allows only what `expect` sets up: any
    /// other call of the repository fails the test.
    fn rows(expect: impl FnOnce(&mut MockDomainRepository)) -> State<Rows> {
        let mut repository = MockDomainRepository::new();
        expect(&mut repository);
        State(Rows(Arc::new(Arc::new(repository))))
    }

    fn query(text: &str) -> RawQuery {
        RawQuery(Some(text.to_owned()))
    }

    #[tokio::test]
    async fn an_unknown_domain_is_404_after_one_indexed_lookup_and_nothing_else() {
        let state = rows(|repository| {
            repository
                .expect_find_domain()
                .withf(|name| name.as_str() == "nothere.example")
                .times(1)
                .returning(|_| Box::pin(async { Ok(None) }));
        });
        let answer = record(state, query("name=NotHere.example")).await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_name_that_is_not_a_domain_is_refused_without_reading() {
        let answer = record(rows(|_| {}), query("name=not%20a%20domain")).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let answer = record(rows(|_| {}), RawQuery(None)).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn an_error_page_asks_one_row_more_to_know_whether_another_follows() {
        let state = rows(|repository| {
            repository
                .expect_recent_errors()
                .withf(|query| {
                    *query
                        == ErrorQuery {
                            kind: Some("dns".to_owned()),
                            offset: 2 * ERRORS_PER_PAGE,
                            limit: ERRORS_PER_PAGE + 1,
                        }
                })
                .times(1)
                .returning(|_| Box::pin(async { Ok(Vec::new()) }));
        });
        let answer = errors(state, query("kind=dns&page=3")).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let answer = errors(rows(|_| {}), query("page=0")).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    }
}
