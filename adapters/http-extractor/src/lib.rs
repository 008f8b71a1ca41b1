//! The web side of domain-scheduler: [`HttpExtractor`] implements the
//! [`MetadataExtractor`](scheduler_domain::MetadataExtractor) port by
//! fetching a site's home page with reqwest over rustls (ring) and handing
//! the bytes to `scheduler-html-metadata`.
//!
//! A site is untrusted input, so a fetch is bounded everywhere: a connect
//! timeout and a total timeout over all redirect hops and the body, a
//! redirect limit, a body cap (the page is cut there and still parsed), and
//! an address filter that keeps names resolving to loopback, private or
//! link-local addresses from being reached (SSRF) unless the operator
//! allows it. Transient failures are retried with exponential backoff and
//! jitter; permanent ones never are.
//!
//! # Layout
//!
//! - [`settings`]: [`FetchSettings`] and [`ResolveRule`] (host -> address
//!   overrides, like curl's `--resolve`).
//! - `extractor`: [`HttpExtractor`] and [`FetchedPage`]: redirects, body
//!   cap, retries, the port implementation.
//! - `parse_pool`: the parsing threads, one per core.
//! - `observe`: the extractor's metrics ([`describe_metrics`]).
//! - `resolver`: the DNS resolver given to reqwest: rules, then the system
//!   resolver, then the address filter.
//! - [`address`]: [`is_public_address`], the filter's classifier.
//! - `tls`: the rustls configuration (webpki roots, the system trust store,
//!   extra PEM files).
//! - `error`: [`HttpExtractorError`] (start-up) and the mapping of request
//!   failures to [`ExtractionError`](scheduler_domain::ExtractionError).
//! - `retry`: backoff with jitter and `Retry-After`.

pub mod address;
mod error;
mod extractor;
mod observe;
mod parse_pool;
mod resolver;
mod retry;
pub mod settings;
mod tls;

pub use address::is_public_address;
pub use error::HttpExtractorError;
pub use extractor::{FetchedPage, HttpExtractor};
pub use observe::{EXTRACTION_DURATION, FETCH_RETRIES, describe_metrics};
pub use settings::{DEFAULT_USER_AGENT, FetchSettings, MAX_CONTACT_PAGES, ProxyUrl, ResolveRule};
/// The URL type of [`HttpExtractor::extract_url`], re-exported so callers
/// need no `url` dependency of their own.
pub use url::Url;
