//! [`Backend`]: the database behind a repository, and how values are typed
//! for it. Postgres gets uuid, timestamptz, jsonb and text[]; SQLite gets
//! text for all of them (UUID text, RFC 3339 UTC, JSON).

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{ArrayType, Value};
use serde_json::Value as Json;

use crate::error::StorageError;

/// The database behind a [`SeaOrmRepository`](crate::SeaOrmRepository).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, directly or through a pooler.
    Postgres,
    /// An embedded SQLite file.
    Sqlite,
}

impl Backend {
    /// The backend a URL names: `postgres://`, `postgresql://` or `sqlite:`.
    ///
    /// # Errors
    ///
    /// [`StorageError::UnsupportedScheme`] for any other scheme.
    pub fn from_url(url: &str) -> Result<Backend, StorageError> {
        let scheme = url
            .split_once(':')
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "sqlite" => Ok(Backend::Sqlite),
            _ => Err(StorageError::UnsupportedScheme { scheme }),
        }
    }

    /// `postgres` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
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

    pub(crate) fn json(self, json: Json) -> Value {
        match self {
            Backend::Postgres => Value::Json(Some(Box::new(json))),
            Backend::Sqlite => Value::String(Some(json.to_string())),
        }
    }

    pub(crate) fn text_array(self, items: Vec<String>) -> Value {
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
fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}
