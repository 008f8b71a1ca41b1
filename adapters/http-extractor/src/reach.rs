//! [`Reach`]: which URLs of a domain are tried for its home page, in a
//! browser's order, and `robots.txt` asked before each page.
//!
//! `https://<name>/` first. When the name does not resolve, the connection
//! is refused, or TLS fails (a certificate for other names, most often:
//! many sites hold one for `www.` only), `https://www.<name>/`. When
//! neither name gives HTTPS (each refused, failed TLS or did not resolve)
//! and `fetch.plain_http` allows, plain `http://<name>/`, or
//! `http://www.<name>/` when the bare name does not resolve. An answer of
//! any kind (a 4xx or 5xx, a challenge, a page that is not HTML) and a
//! time-out end the tries: the site is there. All tries share the home
//! page's `fetch.timeout`, and each goes through the same address filter.
//!
//! When every try fails, the domain's error is the first try's (the
//! common case reads as it always did), unless a later try got further:
//! a TLS failure is further than a refused connection, which is further
//! than a name that does not resolve; an answer is furthest.

use std::time::Duration;

use scheduler_domain::metadata::{Reached, ReachedVia};
use scheduler_domain::{DomainName, ExtractionError};
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use crate::failure::is_refused;
use crate::fetch::{Fetcher, HeldPage, Read, upgrade_to_https, within_site_url};
use crate::robots::RobotsTxt;
use crate::settings::FetchSettings;

/// The least time left for a fallback to be started, unless the whole
/// `fetch.timeout` is shorter (then a quarter of it): a DNS lookup, a
/// connection, a TLS handshake and a page take a slow site about this
/// long, and a try cut off by the deadline gives nothing but a time-out.
const FALLBACK_FLOOR: Duration = Duration::from_secs(1);

/// What reaches pages of a site: the fetcher, the `robots.txt` rules, the
/// settings.
pub(crate) struct Reach<'a> {
    pub(crate) fetcher: &'a Fetcher,
    pub(crate) robots: &'a RobotsTxt,
    pub(crate) settings: &'a FetchSettings,
}

impl Reach<'_> {
    /// The home page of `domain`, by the first URL that answers (see the
    /// module's documentation), and how it was reached.
    ///
    /// # Errors
    ///
    /// The first try's error, or a later one that got further.
    pub(crate) async fn home_page(
        &self,
        domain: &DomainName,
    ) -> Result<(HeldPage, Reached), ExtractionError> {
        let deadline = Instant::now() + self.settings.total_timeout;
        let bare = home_url("https", domain.as_str())?;
        let first = match self.try_page(&bare, deadline, true).await {
            Ok(page) => return Ok((page, reached(&bare, ReachedVia::Https, None))),
            Err(error) => error,
        };
        if !leads_on(&first) {
            return Err(first);
        }
        let because = Some(first.to_string());
        let mut best = first;
        let www_name = format!("www.{}", domain.as_str());
        let www = home_url("https", &www_name)?;
        if !self.time_for_another(deadline) {
            return Err(best);
        }
        let www_error = match self
            .try_page(&www, deadline, self.settings.plain_http)
            .await
        {
            Ok(page) => return Ok((page, reached(&www, ReachedVia::Www, because))),
            Err(error) => error,
        };
        debug!(error = %www_error, "no https at www. either");
        let plain_host = match (&best, &www_error) {
            _ if !self.settings.plain_http || !leads_on(&www_error) => None,
            (ExtractionError::Dns(_), ExtractionError::Dns(_)) => None,
            (ExtractionError::Dns(_), _) => Some(www_name.as_str()),
            _ => Some(domain.as_str()),
        };
        best = further(best, www_error);
        let Some(host) = plain_host else {
            return Err(best);
        };
        if !self.time_for_another(deadline) {
            return Err(best);
        }
        let plain = home_url("http", host)?;
        match self.try_page(&plain, deadline, false).await {
            Ok(page) => Ok((page, reached(&plain, ReachedVia::Http, because))),
            Err(error) => Err(further(best, error)),
        }
    }

    /// `url` alone (an `http://` URL fetched as `https://`), with the
    /// quick retries within `fetch.timeout`.
    ///
    /// # Errors
    ///
    /// As [`Fetcher::fetch`], and `DisallowedByRobots`.
    pub(crate) async fn url(&self, url: &Url) -> Result<(HeldPage, Reached), ExtractionError> {
        let url = upgrade_to_https(url)?;
        let deadline = Instant::now() + self.settings.total_timeout;
        let page = self.try_page(&url, deadline, false).await?;
        Ok((page, reached(&url, ReachedVia::Https, None)))
    }

    /// One contact page of the site at `site`, within a `fetch.timeout`
    /// of its own, `robots.txt` included.
    ///
    /// # Errors
    ///
    /// As [`Fetcher::fetch_within_site`], and `DisallowedByRobots`.
    pub(crate) async fn contact_page(
        &self,
        candidate: &Url,
        site: &Url,
    ) -> Result<HeldPage, ExtractionError> {
        let deadline = Instant::now() + self.settings.total_timeout;
        let url = within_site_url(candidate, site)?;
        self.robots
            .allow(self.fetcher, &url, deadline, |_| false)
            .await?;
        self.fetcher.fetch_within_site(&url, site, deadline).await
    }

    /// `robots.txt`, then the page at `url`, before `deadline`. With
    /// `more_to_come`, a refused connection is not retried in place: the
    /// next URL is the better use of the time.
    async fn try_page(
        &self,
        url: &Url,
        deadline: Instant,
        more_to_come: bool,
    ) -> Result<HeldPage, ExtractionError> {
        let ends_here = |error: &ExtractionError| more_to_come && is_refused(error);
        self.robots
            .allow(self.fetcher, url, deadline, ends_here)
            .await?;
        self.fetcher
            .fetch_until(url, deadline, Read::Page, ends_here)
            .await
    }

    /// Whether enough of the time limit is left to start another try.
    fn time_for_another(&self, deadline: Instant) -> bool {
        let floor = FALLBACK_FLOOR.min(self.settings.total_timeout / 4);
        let enough = deadline.saturating_duration_since(Instant::now()) >= floor;
        if !enough {
            debug!("no fallback: too little of the time limit is left");
        }
        enough
    }
}

/// `<scheme>://<host>/`.
fn home_url(scheme: &str, host: &str) -> Result<Url, ExtractionError> {
    Url::parse(&format!("{scheme}://{host}/")).map_err(|error| {
        ExtractionError::Other(format!("cannot build the URL of {host:?}: {error}"))
    })
}

fn reached(url: &Url, via: ReachedVia, because: Option<String>) -> Reached {
    Reached {
        url: url.to_string(),
        via,
        because,
    }
}

/// Whether a failed try leads on to the next URL: the name does not
/// resolve, nothing listens, or TLS fails. Anything else means the site
/// is there (it answered, or is too slow to answer in time).
fn leads_on(error: &ExtractionError) -> bool {
    matches!(error, ExtractionError::Dns(_) | ExtractionError::Tls(_)) || is_refused(error)
}

/// How far a failed try got: the name did not resolve (or it cannot be
/// told), the network failed, TLS failed, the site answered.
fn progress(error: &ExtractionError) -> u8 {
    match error {
        ExtractionError::Dns(_) | ExtractionError::Other(_) => 0,
        ExtractionError::Tls(_) => 2,
        ExtractionError::HttpStatus { .. }
        | ExtractionError::NotHtml { .. }
        | ExtractionError::TooManyRedirects { .. }
        | ExtractionError::BotChallenge { .. }
        | ExtractionError::Unprocessable(_)
        | ExtractionError::TooSlow { .. }
        | ExtractionError::DisallowedByRobots { .. } => 3,
        // A refused or broken connection, a time-out, a busy or forbidden
        // address: the name resolved, the network said no.
        _ => 1,
    }
}

/// The error to keep of `kept` (an earlier try's) and `later`.
fn further(kept: ExtractionError, later: ExtractionError) -> ExtractionError {
    if progress(&later) > progress(&kept) {
        later
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> ExtractionError {
        ExtractionError::Connection("connection refused (127.0.0.9:443)".into())
    }

    #[test]
    fn only_a_missing_name_a_refusal_or_tls_lead_on() {
        assert!(leads_on(&ExtractionError::Dns(
            "acme.test: no address".into()
        )));
        assert!(leads_on(&ExtractionError::Tls("NotValidForName".into())));
        assert!(leads_on(&refused()));
        assert!(!leads_on(&ExtractionError::Connection(
            "connection reset (127.0.0.9:443)".into()
        )));
        assert!(!leads_on(&ExtractionError::Timeout { seconds: 30 }));
        assert!(!leads_on(&ExtractionError::HttpStatus {
            status: 404,
            url: "https://acme.test/".into()
        }));
    }

    #[test]
    fn the_first_error_stays_unless_a_later_try_got_further() {
        let dns = || ExtractionError::Dns("acme.test: no address".into());
        let tls = || ExtractionError::Tls("expired".into());
        let status = || ExtractionError::HttpStatus {
            status: 404,
            url: "https://www.acme.test/".into(),
        };
        assert_eq!(further(refused(), dns()), refused());
        assert_eq!(further(tls(), refused()), tls());
        assert_eq!(further(dns(), refused()), refused());
        assert_eq!(further(refused(), status()), status());
        assert_eq!(further(tls(), tls()), tls());
    }
}
