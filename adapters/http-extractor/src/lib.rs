//! The web side of domain-scheduler: [`HttpExtractor`] implements the
//! [`MetadataExtractor`](scheduler_domain::MetadataExtractor) port by
//! fetching a site's home page with reqwest over rustls (ring) and handing
//! the bytes to `scheduler-html-metadata`.
//!
//! A site is untrusted input, so a fetch is bounded everywhere: a connect
//! timeout, a first-byte timeout per hop and a total timeout over all
//! redirect hops and the body, a redirect limit, a body cap (the page is
//! cut there and still parsed), a byte budget for the pages held until
//! parsed, a limit of requests at once per IP address, and an address
//! filter that keeps names resolving to loopback, private or link-local
//! addresses from being reached (SSRF) unless the operator allows it.
//! Transient failures are retried with exponential backoff and jitter;
//! permanent ones never are.
//!
//! # Layout
//!
//! Each module imports only from modules below it in this list:
//!
//! - `extractor`: [`HttpExtractor`], the port implementation: the home
//!   page, then the contact pages it needs, their contacts merged.
//! - `admission`: how many domains are fetched at once, a limit that
//!   follows the parsing threads (grows while they idle, shrinks while
//!   pages queue for them).
//! - `reach`: which URLs of a domain are tried (`https://`, then `www.`,
//!   then plain `http://`), and why the one that answered was chosen.
//! - `robots`: `robots.txt` (`fetch.robots`), read once per site and
//!   asked before each page.
//! - `fetch`: one URL's fetch: quick retries within the time limit,
//!   redirects, the body cap, bot challenges in error answers.
//! - `page`: [`FetchedPage`], and its extraction on the parsing threads.
//! - `politeness`: requests at once per IP address (`fetch.per_address`),
//!   and addresses paused after a 429 or 503.
//! - `budget`: the byte budget of page bodies held in memory
//!   (`fetch.body_budget_mib`).
//! - `client`: the reqwest client (TLS, proxy, limits, headers) and the
//!   resolver it connects through.
//! - `failure`: how a failed request or a challenge page becomes an
//!   [`ExtractionError`](scheduler_domain::ExtractionError).
//! - [`settings`]: [`FetchSettings`], the `[fetch]` section.
//! - `resolver`: the DNS resolver given to reqwest: rules, then the
//!   asynchronous resolver with its cache (`resolver::asynchronous`) or the
//!   system's (`resolver::system`), then the address filter;
//!   `resolver::rule` holds [`ResolveRule`] (host -> address overrides,
//!   like curl's `--resolve`), `resolver::config` [`DnsResolver`] and
//!   [`Nameserver`].
//! - [`address`]: [`is_public_address`], the filter's classifier.
//! - `tls`: the rustls configuration (webpki roots, the system trust store,
//!   extra PEM files).
//! - `proxy`: [`ProxyUrl`], the proxy every fetch goes through, never shown
//!   with its password.
//! - `retry`: backoff with jitter, and `Retry-After` (seconds or a date).
//! - `error`: [`HttpExtractorError`], the start-up errors.
//! - `parse_pool`: the parsing threads, one per core; they tell
//!   `admission` when they idle and when pages queue.
//! - `observe`: the extractor's metrics ([`describe_metrics`]).

pub mod address;
mod admission;
mod budget;
mod client;
mod error;
mod extractor;
mod failure;
mod fetch;
mod observe;
mod page;
mod parse_pool;
mod politeness;
mod proxy;
mod reach;
mod resolver;
mod retry;
mod robots;
pub mod settings;
mod tls;

pub use address::is_public_address;
pub use error::HttpExtractorError;
pub use extractor::HttpExtractor;
pub use observe::{
    ADDRESS_BUSY, EXTRACTION_DURATION, FETCH_ADMISSION_LIMIT, FETCH_RETRIES, describe_metrics,
};
pub use page::FetchedPage;
pub use proxy::ProxyUrl;
pub use resolver::{DnsResolver, Nameserver, ResolveRule};
pub use settings::{DEFAULT_USER_AGENT, FetchSettings, MAX_CONTACT_PAGES, RobotsMode};
/// The URL type of [`HttpExtractor::extract_url`], re-exported so callers
/// need no `url` dependency of their own.
pub use url::Url;
