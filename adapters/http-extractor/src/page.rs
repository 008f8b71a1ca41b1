//! [`FetchedPage`]: a page as fetched, and its extraction on the parsing
//! threads; [`BodyFingerprint`], which tells a page served again.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::LazyLock;

use scheduler_domain::ExtractionError;
use scheduler_html_metadata as html;
use tracing::error;
use url::Url;

use crate::parse_pool::{Panicked, ParsePool};

/// A fetched page, before extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPage {
    /// The URL that answered, after redirects.
    pub final_url: Url,
    /// Its status (a 2xx).
    pub status: u16,
    /// The response headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The decoded body, at most `max_body_bytes` of it.
    pub body: Vec<u8>,
    /// Whether reading stopped at `max_body_bytes` (the page may be longer).
    pub truncated: bool,
    /// How many redirects were followed.
    pub redirects: usize,
}

impl FetchedPage {
    /// Runs an extraction over the page on a parsing thread (see
    /// `parse_pool`: one per core, so memory grows with the cores, not with
    /// `concurrency`).
    pub(crate) async fn extract_on<T: Send + 'static>(
        self,
        parser: &ParsePool,
        extract: impl FnOnce(&html::Page<'_>) -> T + Send + 'static,
    ) -> Result<T, ExtractionError> {
        parser
            .run(move || {
                extract(&html::Page {
                    url: &self.final_url,
                    body: &self.body,
                    headers: &self.headers,
                })
            })
            .await
            .map_err(|Panicked(message)| {
                // Only a panic in the parser gets here: hostile bytes that
                // will fail again, so not worth a retry.
                error!(error = %message, "metadata extraction failed");
                ExtractionError::Unprocessable(message)
            })
    }
}

/// What tells two responses apart without keeping their bytes: the body's
/// length and a hash of it and of its `Content-Type` (which decides how
/// the bytes are decoded). Two pages with the same fingerprint read the
/// same for contacts and company but for their URL: a site that answers
/// every path with its home page (a single-page application, a soft "not
/// found") serves its contact pages with the home page's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyFingerprint {
    length: usize,
    hash: u64,
}

impl BodyFingerprint {
    pub(crate) fn of(page: &html::Page<'_>) -> Self {
        // Seeded at random once per process: what a site serves cannot be
        // shaped to collide with its other pages'.
        static SEED: LazyLock<foldhash::fast::RandomState> =
            LazyLock::new(foldhash::fast::RandomState::default);
        let mut hasher = SEED.build_hasher();
        page.header("content-type").hash(&mut hasher);
        page.body.hash(&mut hasher);
        Self {
            length: page.body.len(),
            hash: hasher.finish(),
        }
    }
}
