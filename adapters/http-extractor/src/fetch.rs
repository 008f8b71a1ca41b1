//! [`Fetcher`]: one URL's fetch. The quick retries within the time limit,
//! the redirects (each hop's address checked), the body read up to its
//! size limit, and the error answers that are bot challenges.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION};
use scheduler_domain::{DomainName, ExtractionError, FailureKind, SiteKind};
use scheduler_html_metadata as html;
use tokio::time::Instant;
use tracing::{debug, instrument};
use url::Url;

use crate::budget::{BodyAllowance, BodyBudget};
use crate::client::HttpClient;
use crate::failure::{ErrorContext, challenge_error, whole_seconds};
use crate::page::FetchedPage;
use crate::parse_pool::ParsePool;
use crate::politeness::{AddressPermit, Busy, Politeness};
use crate::retry::{backoff, retry_after};
use crate::settings::FetchSettings;

/// A body must bring at least [`SLOW_BODY_BYTES`] in every
/// [`SLOW_BODY_WINDOW`] (1 KiB/s): a host that trickles its answer a byte
/// at a time would otherwise hold its place for the whole `fetch.timeout`.
/// Real pages, even over a poor link, arrive far faster.
const SLOW_BODY_WINDOW: Duration = Duration::from_secs(10);
const SLOW_BODY_BYTES: usize = 10 * 1024;

/// A body whose length is announced takes its whole share of the budget
/// at once, so that pages being read never wait on each other for the
/// rest of theirs. Past this long, what is not read yet is given back: a
/// host that announces a large page and sends it slowly (or not at all)
/// then holds only the bytes it sent, not the budget others wait for.
/// A real 2 MiB page arrives well within it over a 10 Mbit/s link.
const ANNOUNCED_LENGTH_HELD_FOR: Duration = Duration::from_secs(2);

/// The body's pace, checked window by window.
struct BodyPace {
    window_started: Instant,
    bytes_in_window: usize,
}

impl BodyPace {
    fn starting_now() -> BodyPace {
        BodyPace {
            window_started: Instant::now(),
            bytes_in_window: 0,
        }
    }

    fn window_ends(&self) -> Instant {
        self.window_started + SLOW_BODY_WINDOW
    }

    /// Counts `bytes` that just arrived; at the end of a window, fails a
    /// body that brought too little in it.
    fn check(&mut self, bytes: usize) -> Result<(), ExtractionError> {
        self.bytes_in_window += bytes;
        if Instant::now() < self.window_ends() {
            return Ok(());
        }
        if self.bytes_in_window < SLOW_BODY_BYTES {
            return Err(ExtractionError::TooSlow {
                bytes: SLOW_BODY_BYTES,
                seconds: SLOW_BODY_WINDOW.as_secs(),
            });
        }
        *self = BodyPace::starting_now();
        Ok(())
    }
}

/// How much of the body is read before deciding whether it is HTML when
/// the `Content-Type` leaves the question open.
const SNIFF_BYTES: usize = 1024;

/// How much of an error answer's page is read to tell a bot challenge
/// (challenge pages are small; their scripts come first).
const CHALLENGE_PAGE_BYTES: usize = 64 * 1024;

/// Fetches pages through one [`HttpClient`] under one [`FetchSettings`].
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    http: HttpClient,
    settings: Arc<FetchSettings>,
    /// Reads the pages of error answers, to tell bot challenges.
    parser: Arc<ParsePool>,
    /// Requests at once per IP address, and addresses that asked for time.
    politeness: Arc<Politeness>,
    /// Page bytes held in memory by every fetch.
    budget: BodyBudget,
}

/// A page and its share of the body budget: keep the share until the page
/// has been parsed.
pub(crate) type HeldPage = (FetchedPage, BodyAllowance);

/// What the body at the end of the redirects must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// An HTML page (else `NotHtml`), cut at `fetch.max_body_kib`.
    Page,
    /// Any content, cut at this many bytes (`robots.txt`).
    Text(usize),
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

impl Fetcher {
    pub(crate) fn new(
        http: HttpClient,
        settings: Arc<FetchSettings>,
        parser: Arc<ParsePool>,
    ) -> Fetcher {
        Fetcher {
            politeness: Politeness::new(settings.per_address, settings.address_wait),
            budget: BodyBudget::new(settings.body_budget_bytes),
            http,
            settings,
            parser,
        }
    }

    /// The fetch that [`HttpExtractor::fetch`](crate::HttpExtractor::fetch)
    /// describes: attempts until one succeeds, one fails for good, the
    /// retries are spent, or the next wait would outlast `total_timeout`.
    pub(crate) async fn fetch(&self, url: &Url) -> Result<HeldPage, ExtractionError> {
        let url = upgrade_to_https(url)?;
        let deadline = Instant::now() + self.settings.total_timeout;
        self.fetch_until(&url, deadline, Read::Page, |_| false)
            .await
    }

    /// [`Fetcher::fetch`]'s attempts at `url` as it is (no upgrade to
    /// https), until `deadline`, reading the last hop's body as `read`
    /// says. A failure that `ends_here` holds true of is not retried: the
    /// caller has another URL to try instead.
    #[instrument(skip_all, fields(url = %url))]
    pub(crate) async fn fetch_until(
        &self,
        url: &Url,
        deadline: Instant,
        read: Read,
        ends_here: impl Fn(&ExtractionError) -> bool,
    ) -> Result<HeldPage, ExtractionError> {
        let mut retry = 0;
        loop {
            let failure = match self.attempt(url, None, deadline, read).await {
                Ok(page) => return Ok(page),
                Err(failure) => failure,
            };
            // A challenge answers the same way a second later; a timeout
            // or a trickling host has spent the time a retry would need; a
            // busy address is the scheduler's to wait for.
            let final_answer = matches!(
                failure.error,
                ExtractionError::BotChallenge { .. }
                    | ExtractionError::Timeout { .. }
                    | ExtractionError::TooSlow { .. }
                    | ExtractionError::AddressBusy { .. }
            );
            if failure.error.kind() == FailureKind::Permanent
                || final_answer
                || ends_here(&failure.error)
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

    /// One attempt at a page of the site at `site` (the URL as
    /// [`within_site_url`] makes it), until `deadline`: no retry, and a
    /// redirect off the site is refused before it is followed.
    ///
    /// # Errors
    ///
    /// As [`Fetcher::fetch`], and `Other` for a redirect off the site.
    pub(crate) async fn fetch_within_site(
        &self,
        url: &Url,
        site: &Url,
        deadline: Instant,
    ) -> Result<HeldPage, ExtractionError> {
        let url = within_site_url(url, site)?;
        self.attempt(&url, Some(site), deadline, Read::Page)
            .await
            .map_err(|failed| failed.error)
    }

    /// One attempt: every redirect hop and the body, until `deadline`;
    /// with `within_site`, a redirect off that site is refused before it
    /// is followed.
    async fn attempt(
        &self,
        url: &Url,
        within_site: Option<&Url>,
        deadline: Instant,
        read: Read,
    ) -> Result<HeldPage, AttemptError> {
        tokio::time::timeout_at(deadline, self.follow(url, within_site, read))
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
        read: Read,
    ) -> Result<HeldPage, AttemptError> {
        let mut url = start.clone();
        let mut redirects = 0;
        loop {
            check_port(&url)?;
            self.check_literal_address(&url)?;
            let context = self.error_context(&url);
            // Held until this hop's answer has been read: the address's
            // place is taken for the whole exchange.
            let place = self.enter_address(&url).await?;
            let response = tokio::time::timeout(
                self.settings.first_byte_timeout,
                self.http.client.get(url.clone()).send(),
            )
            .await
            .map_err(|_| ExtractionError::Timeout {
                seconds: whole_seconds(self.settings.first_byte_timeout),
            })?
            .map_err(|error| context.classify(&error))?;
            let status = response.status();
            if let Some(place) = &place {
                place.answered(status.as_u16(), retry_after(status, response.headers()));
            }
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
            return self.read_page(url, redirects, response, read).await;
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
        let home = page
            .extract_on(&self.parser, html::extract_home_page)
            .await
            .ok()?;
        (home.metadata.site_kind == SiteKind::Challenge).then(|| challenge_error(&home.metadata))
    }

    async fn read_page(
        &self,
        url: Url,
        redirects: usize,
        mut response: reqwest::Response,
        read: Read,
    ) -> Result<HeldPage, AttemptError> {
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
        let (cap, html_only) = match read {
            Read::Page => (self.settings.max_body_bytes, true),
            Read::Text(cap) => (cap, false),
        };
        let context = self.error_context(&url);
        // Sized from the announced length (never past the cap): a doubling
        // buffer would hold up to twice the page while it is read.
        let announced = response
            .content_length()
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(0);
        let mut allowance = self.budget.allowance();
        allowance.cover(announced.min(cap)).await;
        let mut body = Vec::with_capacity(announced.min(cap));
        let mut sniffed = false;
        let mut pace = BodyPace::starting_now();
        let mut announced_held_until =
            (announced > 0).then(|| Instant::now() + ANNOUNCED_LENGTH_HELD_FOR);
        while body.len() < cap {
            if announced_held_until.is_some_and(|until| Instant::now() >= until) {
                allowance.shrink_to(body.len());
                announced_held_until = None;
            }
            let wait_until = announced_held_until
                .map_or(pace.window_ends(), |until| until.min(pace.window_ends()));
            let chunk = match tokio::time::timeout_at(wait_until, response.chunk()).await {
                Ok(chunk) => chunk.map_err(|error| context.classify(&error))?,
                Err(_) => {
                    // Nothing more came in time: judge what did.
                    pace.check(0)?;
                    continue;
                }
            };
            let Some(chunk) = chunk else { break };
            pace.check(chunk.len())?;
            let take = chunk.len().min(cap - body.len());
            allowance.cover(body.len() + take).await;
            body.extend_from_slice(&chunk[..take]);
            if html_only && !sniffed && body.len() >= SNIFF_BYTES.min(cap) {
                if !html::is_html(content_type.as_deref(), &body) {
                    return Err(not_html().into());
                }
                sniffed = true;
            }
        }
        // Reaching the cap ends the read, whether or not more was coming.
        let truncated = body.len() >= cap;
        if html_only && !sniffed && !html::is_html(content_type.as_deref(), &body) {
            return Err(not_html().into());
        }
        if truncated {
            debug!(%url, cap, "body cut at the size limit");
        }
        Ok((
            FetchedPage {
                final_url: url,
                status,
                headers,
                body,
                truncated,
                redirects,
            },
            allowance,
        ))
    }

    /// A place at the address `url` is about to reach, waited for at most
    /// `fetch.address_wait`. `None` where the address is not ours to know:
    /// through a proxy (it chooses), or when the name does not resolve
    /// (the request then fails as it would have, from the same cached
    /// answer).
    async fn enter_address(&self, url: &Url) -> Result<Option<AddressPermit>, ExtractionError> {
        if self.settings.proxy.is_some() {
            return Ok(None);
        }
        let address = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(host)) => match self.http.resolver.lookup(host).await {
                Ok(addresses) => match addresses.first() {
                    Some(&first) => first,
                    None => return Ok(None),
                },
                Err(_) => return Ok(None),
            },
            None => return Ok(None),
        };
        match self.politeness.enter(address).await {
            Ok(place) => Ok(Some(place)),
            Err(Busy { address, retry_in }) => {
                crate::observe::address_busy();
                Err(ExtractionError::AddressBusy {
                    address: address.to_string(),
                    retry_in_seconds: retry_in.as_secs().max(1),
                })
            }
        }
    }

    /// An IP literal in a URL skips the resolver, so its address is checked
    /// here.
    fn check_literal_address(&self, url: &Url) -> Result<(), ExtractionError> {
        let address = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.http.resolver.allows(address) {
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
            resolver: &self.http.resolver,
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

/// A page of `site` as it is fetched: upgraded to https (as
/// [`upgrade_to_https`]) unless the site itself was reached over plain
/// http, where its links are taken as they are.
pub(crate) fn within_site_url(url: &Url, site: &Url) -> Result<Url, ExtractionError> {
    if site.scheme() == "http" && matches!(url.scheme(), "http" | "https") {
        Ok(url.clone())
    } else {
        upgrade_to_https(url)
    }
}

/// `https` as is; `http` upgraded to `https` (the explicit port, if any, is
/// kept); any other scheme refused as not a web address.
pub(crate) fn upgrade_to_https(url: &Url) -> Result<Url, ExtractionError> {
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

/// The ports that browsers never fetch, whatever a page or a redirect says
/// (the Fetch standard's list of bad ports): talking HTTP to a mail, IRC or
/// SSH server on someone's behalf is what they are kept from.
const BLOCKED_PORTS: &[u16] = &[
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
    102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427,
    465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990,
    993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
    6668, 6669, 6679, 6697, 10080,
];

/// Refuses a URL on one of [`BLOCKED_PORTS`].
fn check_port(url: &Url) -> Result<(), ExtractionError> {
    match url.port() {
        Some(port) if BLOCKED_PORTS.binary_search(&port).is_ok() => {
            Err(ExtractionError::BlockedPort {
                url: url.to_string(),
                port,
            })
        }
        _ => Ok(()),
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
mod tests;
