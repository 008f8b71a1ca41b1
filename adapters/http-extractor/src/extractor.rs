//! [`HttpExtractor`]: one fetch of a home page, with its redirects, limits
//! and retries, then the HTML extraction.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Client, StatusCode, redirect};
use scheduler_domain::{
    ContactPage, DomainName, ExtractionError, FailureKind, MetadataExtractor, SiteKind,
    SiteMetadata,
};
use scheduler_html_metadata as html;
use tokio::time::Instant;
use tracing::{debug, error, instrument};
use url::Url;

use crate::error::{ErrorContext, HttpExtractorError, whole_seconds};
use crate::parse_pool::{Panicked, ParsePool};
use crate::resolver::{GuardedResolver, SharedResolver};
use crate::retry::{backoff, retry_after};
use crate::{FetchSettings, ProxyUrl, tls};

const ACCEPT_VALUE: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5";
const ACCEPT_LANGUAGE_VALUE: &str = "en;q=0.9,*;q=0.5";

/// How much of the body is read before deciding whether it is HTML when
/// the `Content-Type` leaves the question open.
const SNIFF_BYTES: usize = 1024;

/// How much of an error answer's page is read to tell a bot challenge
/// (challenge pages are small; their scripts come first).
const CHALLENGE_PAGE_BYTES: usize = 64 * 1024;

/// Fetches home pages over HTTPS and extracts their metadata. Cheap to
/// share: one connection pool and one TLS configuration for all fetches.
#[derive(Debug, Clone)]
pub struct HttpExtractor {
    client: Client,
    resolver: Arc<GuardedResolver>,
    settings: Arc<FetchSettings>,
    /// One thread per core that parses pages.
    parser: Arc<ParsePool>,
}

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

/// A failed attempt, with the wait a 429 or 503 asked for.
struct AttemptError {
    error: ExtractionError,
    retry_after: Option<Duration>,
}

impl From<ExtractionError> for AttemptError {
    fn from(error: ExtractionError) -> Self {
        AttemptError {
            error,
            retry_after: None,
        }
    }
}

impl HttpExtractor {
    /// Builds the client: TLS roots, resolver, limits and headers.
    ///
    /// # Errors
    ///
    /// [`HttpExtractorError`] when an extra root certificate file cannot be
    /// read or holds no certificate, the user agent is not a valid header
    /// value, or the client cannot be built.
    pub fn new(settings: FetchSettings) -> Result<HttpExtractor, HttpExtractorError> {
        settings.validate()?;
        let tls = tls::client_config(&settings.extra_root_certificates)?;
        let resolver = Arc::new(GuardedResolver::new(
            settings.resolve.clone(),
            settings.allow_private_networks,
        ));
        let user_agent = HeaderValue::from_str(&settings.user_agent).map_err(|_| {
            HttpExtractorError::Client(format!(
                "the user agent {:?} is not a valid header value",
                settings.user_agent
            ))
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE));
        headers.insert(
            ACCEPT_LANGUAGE,
            HeaderValue::from_static(ACCEPT_LANGUAGE_VALUE),
        );
        let client = Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(SharedResolver(Arc::clone(&resolver)))
            // Redirects are followed by hand: each hop's address is checked,
            // the count and the final URL are ours to report.
            .redirect(redirect::Policy::none());
        let client = with_proxy(client, settings.proxy.as_ref())?
            .user_agent(user_agent)
            .default_headers(headers)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            // Each site is fetched once per run, so an idle connection is
            // never used again; kept (one per host, for the idle timeout),
            // they held a socket and its TLS and read buffers per site
            // fetched in the last seconds: 1,009 sockets and 310 MB after
            // 1,000 sites with servers that keep connections alive.
            // Redirect hops open a connection of their own instead.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|error| HttpExtractorError::Client(error.to_string()))?;
        Ok(HttpExtractor {
            client,
            resolver,
            settings: Arc::new(settings),
            parser: Arc::new(
                ParsePool::new(
                    std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                )
                .map_err(|error| {
                    HttpExtractorError::Client(format!("cannot start the parsing threads: {error}"))
                })?,
            ),
        })
    }

    /// The settings this extractor runs with.
    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Fetches `url` (an `http://` URL is fetched as `https://`) and
    /// extracts the page's metadata.
    ///
    /// # Errors
    ///
    /// The [`ExtractionError`] of the last attempt; see
    /// [`HttpExtractor::fetch`].
    pub async fn extract_url(&self, url: &Url) -> Result<SiteMetadata, ExtractionError> {
        let page = self.fetch(url).await?;
        let home_url = page.final_url.clone();
        let home = self.on_parse_thread(page, html::extract_home_page).await?;
        let mut metadata = home.metadata;
        if metadata.site_kind == SiteKind::Challenge {
            return Err(challenge_error(&metadata));
        }
        if self.settings.contact_pages > 0
            && metadata.emails.len() < self.settings.contact_pages_when_fewer_than
        {
            self.read_contact_pages(&mut metadata, &home_url, home.contact_pages)
                .await;
        }
        Ok(metadata)
    }

    /// Reads up to `contact_pages` of the candidates, one attempt each and
    /// never off the site, and merges their contacts after the home
    /// page's. A page that fails is recorded and skipped.
    async fn read_contact_pages(
        &self,
        metadata: &mut SiteMetadata,
        home_url: &Url,
        candidates: Vec<Url>,
    ) {
        for candidate in candidates.into_iter().take(self.settings.contact_pages) {
            let read = match upgrade_to_https(&candidate) {
                Ok(url) => self
                    .attempt(
                        &url,
                        Some(home_url),
                        Instant::now() + self.settings.total_timeout,
                    )
                    .await
                    .map_err(|failed| failed.error),
                Err(error) => Err(error),
            };
            let outcome = match read {
                Ok(page) => {
                    let url = page.final_url.to_string();
                    self.on_parse_thread(page, html::extract_contacts)
                        .await
                        .map(|contacts| (url, contacts))
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok((url, contacts)) => {
                    metadata.merge_contacts(&url, contacts);
                    metadata
                        .contact_pages
                        .push(ContactPage { url, error: None });
                }
                Err(error) => {
                    debug!(url = %candidate, %error, "contact page not read");
                    metadata.contact_pages.push(ContactPage {
                        url: candidate.to_string(),
                        error: Some(error.to_string()),
                    });
                }
            }
        }
    }

    /// Fetches `url` (an `http://` URL is fetched as `https://`), following
    /// up to `max_redirects` redirects and reading at most `max_body_bytes`.
    ///
    /// A transient failure that did not use up the time (a refused or reset
    /// connection, a 5xx, a 429 or 503 with a short `Retry-After`) is tried
    /// again up to `retries` times, but the fetch as a whole, retries and
    /// waits included, never lasts longer than `total_timeout`: a timeout
    /// is not retried here, and a retry whose wait would not end before the
    /// deadline is left to the scheduler's next attempt.
    ///
    /// # Errors
    ///
    /// [`ExtractionError`]: `Dns`, `Connection`, `Tls`, `Timeout`,
    /// `HttpStatus` (4xx, 5xx, a redirect without a usable `Location`),
    /// `NotHtml`, `TooManyRedirects`, `ForbiddenAddress` (the host, or a
    /// redirect, leads to a non-public address), `InvalidDomain` (not an
    /// http or https URL), or `Other` (a protocol error).
    #[instrument(skip_all, fields(url = %url))]
    pub async fn fetch(&self, url: &Url) -> Result<FetchedPage, ExtractionError> {
        let url = upgrade_to_https(url)?;
        let deadline = Instant::now() + self.settings.total_timeout;
        let mut retry = 0;
        loop {
            let failure = match self.attempt(&url, None, deadline).await {
                Ok(page) => return Ok(page),
                Err(failure) => failure,
            };
            // A challenge answers the same way a second later; a timeout
            // has spent the time a retry would need.
            let final_answer = matches!(
                failure.error,
                ExtractionError::BotChallenge { .. } | ExtractionError::Timeout { .. }
            );
            if failure.error.kind() == FailureKind::Permanent
                || final_answer
                || retry >= self.settings.retries
            {
                return Err(failure.error);
            }
            let wait = failure
                .retry_after
                .unwrap_or_else(|| backoff(self.settings.retry_backoff, retry));
            if Instant::now() + wait >= deadline {
                debug!(
                    error = %failure.error,
                    ?wait,
                    "no retry: the wait would outlast the fetch's time limit"
                );
                return Err(failure.error);
            }
            retry += 1;
            crate::observe::retried();
            debug!(error = %failure.error, retry, ?wait, "transient failure, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: every redirect hop and the body, until `deadline`;
    /// with `within_site`, a redirect off that site is refused before it
    /// is followed.
    async fn attempt(
        &self,
        url: &Url,
        within_site: Option<&Url>,
        deadline: Instant,
    ) -> Result<FetchedPage, AttemptError> {
        tokio::time::timeout_at(deadline, self.follow(url, within_site))
            .await
            .unwrap_or_else(|_| {
                Err(ExtractionError::Timeout {
                    seconds: whole_seconds(self.settings.total_timeout),
                }
                .into())
            })
    }

    async fn follow(
        &self,
        start: &Url,
        within_site: Option<&Url>,
    ) -> Result<FetchedPage, AttemptError> {
        let mut url = start.clone();
        let mut redirects = 0;
        loop {
            self.check_literal_address(&url)?;
            let context = self.error_context(&url);
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|error| context.classify(&error))?;
            let status = response.status();
            if let Some(next) = redirect_target(&url, status, response.headers()) {
                redirects += 1;
                if redirects > self.settings.max_redirects {
                    return Err(ExtractionError::TooManyRedirects {
                        limit: self.settings.max_redirects,
                    }
                    .into());
                }
                if next.scheme() == "http" {
                    debug!(from = %url, to = %next, "redirected to plain http");
                }
                if let Some(site) = within_site
                    && !html::same_site(&next, site)
                {
                    return Err(ExtractionError::Other(format!(
                        "{url} redirects to another site ({next}), not followed"
                    ))
                    .into());
                }
                url = next;
                continue;
            }
            if !status.is_success() {
                let retry_after = retry_after(status, response.headers());
                let status = status.as_u16();
                // Bot challenges come as 403, 429 or 503 with a page that
                // says whose they are.
                if matches!(status, 403 | 429 | 503)
                    && let Some(challenge) = self.challenge_page(url.clone(), response).await
                {
                    return Err(challenge.into());
                }
                return Err(AttemptError {
                    retry_after,
                    error: ExtractionError::HttpStatus {
                        status,
                        url: url.to_string(),
                    },
                });
            }
            return self.read_page(url, redirects, response).await;
        }
    }

    /// The challenge an error answer's page is, if any: its first
    /// [`CHALLENGE_PAGE_BYTES`] are read and looked at like a page.
    async fn challenge_page(
        &self,
        url: Url,
        mut response: reqwest::Response,
    ) -> Option<ExtractionError> {
        let headers = header_pairs(response.headers());
        let mut body = Vec::new();
        while body.len() < CHALLENGE_PAGE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                // What arrived is enough to look at; a broken error body
                // changes nothing about the status.
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(CHALLENGE_PAGE_BYTES);
        let page = FetchedPage {
            final_url: url,
            status: response.status().as_u16(),
            headers,
            body,
            truncated: false,
            redirects: 0,
        };
        let home = self
            .on_parse_thread(page, html::extract_home_page)
            .await
            .ok()?;
        (home.metadata.site_kind == SiteKind::Challenge).then(|| challenge_error(&home.metadata))
    }

    async fn read_page(
        &self,
        url: Url,
        redirects: usize,
        mut response: reqwest::Response,
    ) -> Result<FetchedPage, AttemptError> {
        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
            .filter(|value| !value.is_empty());
        let not_html = || ExtractionError::NotHtml {
            content_type: content_type.clone().unwrap_or_else(|| "none".to_owned()),
            url: url.to_string(),
        };
        let cap = self.settings.max_body_bytes;
        let context = self.error_context(&url);
        // Sized from the announced length (never past the cap): a doubling
        // buffer would hold up to twice the page while it is read.
        let announced = response
            .content_length()
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(0);
        let mut body = Vec::with_capacity(announced.min(cap));
        let mut sniffed = false;
        while body.len() < cap {
            let chunk = response
                .chunk()
                .await
                .map_err(|error| context.classify(&error))?;
            let Some(chunk) = chunk else { break };
            let take = chunk.len().min(cap - body.len());
            body.extend_from_slice(&chunk[..take]);
            if !sniffed && body.len() >= SNIFF_BYTES.min(cap) {
                if !html::is_html(content_type.as_deref(), &body) {
                    return Err(not_html().into());
                }
                sniffed = true;
            }
        }
        // Reaching the cap ends the read, whether or not more was coming.
        let truncated = body.len() >= cap;
        if !sniffed && !html::is_html(content_type.as_deref(), &body) {
            return Err(not_html().into());
        }
        if truncated {
            debug!(%url, cap, "body cut at the size limit");
        }
        Ok(FetchedPage {
            final_url: url,
            status,
            headers,
            body,
            truncated,
            redirects,
        })
    }

    /// An IP literal in a URL skips the resolver, so its address is checked
    /// here.
    fn check_literal_address(&self, url: &Url) -> Result<(), ExtractionError> {
        let address = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.resolver.allows(address) {
            Ok(())
        } else {
            Err(ExtractionError::ForbiddenAddress {
                host: url.host_str().unwrap_or_default().to_owned(),
                address: address.to_string(),
            })
        }
    }

    fn error_context<'a>(&'a self, url: &'a Url) -> ErrorContext<'a> {
        ErrorContext {
            url,
            connect_timeout: self.settings.connect_timeout,
            total_timeout: self.settings.total_timeout,
            resolver: &self.resolver,
        }
    }
}

/// Response headers as the HTML extractor takes them: lower-case names
/// (as `http` keeps them), values read lossily.
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn challenge_error(metadata: &SiteMetadata) -> ExtractionError {
    ExtractionError::BotChallenge {
        provider: metadata
            .site_kind_detail
            .clone()
            .unwrap_or_else(|| "an unknown service".to_owned()),
    }
}

/// Every fetch through `proxy` when one is set; else none at all, not even
/// one from the environment, which would resolve names past the address
/// filter without the operator having said so.
fn with_proxy(
    builder: reqwest::ClientBuilder,
    proxy: Option<&ProxyUrl>,
) -> Result<reqwest::ClientBuilder, HttpExtractorError> {
    let Some(proxy) = proxy else {
        return Ok(builder.no_proxy());
    };
    let configured = reqwest::Proxy::all(proxy.as_url().as_str()).map_err(|error| {
        HttpExtractorError::InvalidProxy {
            proxy: proxy.to_string(),
            // reqwest's message names the scheme, never the credentials.
            reason: error.to_string(),
        }
    })?;
    Ok(builder.proxy(configured))
}

impl HttpExtractor {
    /// Runs an extraction over a fetched page on a parsing thread (see
    /// `parse_pool`: one per core, so memory grows with the cores, not with
    /// `concurrency`).
    async fn on_parse_thread<T: Send + 'static>(
        &self,
        page: FetchedPage,
        extract: fn(&html::Page<'_>) -> T,
    ) -> Result<T, ExtractionError> {
        self.parser
            .run(move || {
                extract(&html::Page {
                    url: &page.final_url,
                    body: &page.body,
                    headers: &page.headers,
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

impl MetadataExtractor for HttpExtractor {
    async fn extract(&self, domain: &DomainName) -> Result<SiteMetadata, ExtractionError> {
        let url = Url::parse(&domain.home_page_url()).map_err(|error| {
            ExtractionError::Other(format!("cannot build the URL of {domain:?}: {error}"))
        })?;
        self.extract_url(&url).await
    }
}

/// `https` as is; `http` upgraded to `https` (the explicit port, if any, is
/// kept); any other scheme refused as not a web address.
fn upgrade_to_https(url: &Url) -> Result<Url, ExtractionError> {
    match url.scheme() {
        "https" => Ok(url.clone()),
        "http" => {
            let mut upgraded = url.clone();
            upgraded
                .set_scheme("https")
                .map_err(|()| ExtractionError::Other(format!("cannot fetch {url} over https")))?;
            Ok(upgraded)
        }
        _ => Err(match DomainName::parse(url.as_str()) {
            Err(invalid) => ExtractionError::InvalidDomain(invalid),
            Ok(_) => ExtractionError::Other(format!("only http and https URLs are fetched: {url}")),
        }),
    }
}

/// The next URL of a redirect answer: a 301, 302, 303, 307 or 308 with a
/// `Location` that resolves, against the current URL, to an http or https
/// URL. Anything else is not followed (and ends as an HTTP status error).
fn redirect_target(current: &Url, status: StatusCode, headers: &HeaderMap) -> Option<Url> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    // Lossy: a raw UTF-8 path in `Location` is common and the URL parser
    // percent-encodes it.
    let location = String::from_utf8_lossy(headers.get(LOCATION)?.as_bytes()).into_owned();
    let next = current.join(location.trim()).ok()?;
    matches!(next.scheme(), "http" | "https").then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn http_is_upgraded_keeping_path_and_explicit_port() {
        assert_eq!(
            upgrade_to_https(&url("http://acme.test/about?x=1"))
                .unwrap()
                .as_str(),
            "https://acme.test/about?x=1"
        );
        assert_eq!(
            upgrade_to_https(&url("http://acme.test:8080/"))
                .unwrap()
                .as_str(),
            "https://acme.test:8080/"
        );
        assert_eq!(
            upgrade_to_https(&url("http://acme.test:80/"))
                .unwrap()
                .as_str(),
            "https://acme.test/"
        );
    }

    #[test]
    fn other_schemes_are_a_permanent_invalid_domain() {
        let error = upgrade_to_https(&url("ftp://acme.test/")).unwrap_err();
        assert!(
            matches!(error, ExtractionError::InvalidDomain(_)),
            "{error:?}"
        );
        assert_eq!(error.kind(), FailureKind::Permanent);
    }

    #[test]
    fn redirects_resolve_relative_locations_and_refuse_other_schemes() {
        let here = url("https://acme.test/a/b");
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("../c"));
        assert_eq!(
            redirect_target(&here, StatusCode::FOUND, &headers).map(String::from),
            Some("https://acme.test/c".to_owned())
        );
        assert_eq!(
            redirect_target(&here, StatusCode::NOT_MODIFIED, &headers),
            None
        );
        headers.insert(LOCATION, HeaderValue::from_static("javascript:alert(1)"));
        assert_eq!(redirect_target(&here, StatusCode::FOUND, &headers), None);
        headers.insert(LOCATION, HeaderValue::from_static("http://www.acme.test/"));
        assert_eq!(
            redirect_target(&here, StatusCode::MOVED_PERMANENTLY, &headers).map(String::from),
            Some("http://www.acme.test/".to_owned())
        );
        assert_eq!(
            redirect_target(&here, StatusCode::FOUND, &HeaderMap::new()),
            None
        );
    }
}
