//! [`RobotsTxt`]: a site's `robots.txt`, read when `fetch.robots = "obey"`,
//! once per site (scheme, host and port) and run, and asked before each
//! page of the site is fetched.
//!
//! What a `robots.txt` answer means follows RFC 9309:
//!
//! - 2xx: its rules for our product token (else for `*`); a file that does
//!   not parse allows everything.
//! - 4xx but 429 ("unavailable"), or more redirects than
//!   `fetch.max_redirects`: everything is allowed.
//! - 5xx, 429, or no answer at all ("unreachable"): nothing is allowed for
//!   now. The fetch fails with that error, which is transient, so the
//!   domain is tried again at its next attempt; the failure is not cached,
//!   so that attempt asks again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use scheduler_domain::ExtractionError;
use texting_robots::Robot;
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use crate::fetch::{Fetcher, Read};
use crate::settings::{FetchSettings, RobotsMode};

/// Sites whose rules are kept. Each site is read once per run, so the
/// cache only has to outlive one domain's pages and its quick retries;
/// emptied when full rather than ordered by use, as a few thousand small
/// entries are cheap to read again.
const CACHE_ENTRIES: usize = 4096;

/// The most of a `robots.txt` that is read: RFC 9309 asks crawlers to
/// parse at least 500 KiB.
const MAX_ROBOTS_BYTES: usize = 500 * 1024;

/// The rules of the sites read so far, and whether to read them at all.
#[derive(Debug)]
pub(crate) struct RobotsTxt {
    mode: RobotsMode,
    /// The product token of our `User-Agent` (`domain-scheduler`), which
    /// a `robots.txt` group names.
    agent: String,
    /// By origin (`https://acme.test`, with the port when not the
    /// scheme's own).
    cache: Mutex<HashMap<String, Arc<Rules>>>,
}

/// What one site's `robots.txt` says to us.
#[derive(Debug)]
enum Rules {
    AllowAll,
    Parsed(Robot),
}

impl Rules {
    fn allows(&self, url: &Url) -> bool {
        match self {
            Rules::AllowAll => true,
            Rules::Parsed(robot) => robot.allowed(url.as_str()),
        }
    }
}

impl RobotsTxt {
    pub(crate) fn new(settings: &FetchSettings) -> RobotsTxt {
        RobotsTxt {
            mode: settings.robots,
            agent: product_token(&settings.user_agent).to_owned(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `url` may be fetched: always with `ignore`; with `obey`,
    /// by its site's `robots.txt`, read through `fetcher` before
    /// `deadline` unless already known.
    ///
    /// # Errors
    ///
    /// `DisallowedByRobots` when the rules disallow `url`; the error of
    /// the `robots.txt` request when it was unreachable or answered 5xx or
    /// 429 (see the module's documentation). A failure that `ends_here`
    /// holds true of is not retried, as [`Fetcher::fetch_until`] says.
    pub(crate) async fn allow(
        &self,
        fetcher: &Fetcher,
        url: &Url,
        deadline: Instant,
        ends_here: impl Fn(&ExtractionError) -> bool,
    ) -> Result<(), ExtractionError> {
        if self.mode == RobotsMode::Ignore {
            return Ok(());
        }
        let origin = url.origin().ascii_serialization();
        let rules = match self.cached(&origin) {
            Some(rules) => rules,
            None => {
                let rules = Arc::new(self.read(fetcher, url, deadline, ends_here).await?);
                self.keep(origin, Arc::clone(&rules));
                rules
            }
        };
        if rules.allows(url) {
            Ok(())
        } else {
            Err(ExtractionError::DisallowedByRobots {
                url: url.to_string(),
            })
        }
    }

    async fn read(
        &self,
        fetcher: &Fetcher,
        url: &Url,
        deadline: Instant,
        ends_here: impl Fn(&ExtractionError) -> bool,
    ) -> Result<Rules, ExtractionError> {
        let robots_url = url.join("/robots.txt").map_err(|error| {
            ExtractionError::Other(format!("no robots.txt URL for {url}: {error}"))
        })?;
        let answer = fetcher
            .fetch_until(
                &robots_url,
                deadline,
                Read::Text(MAX_ROBOTS_BYTES),
                ends_here,
            )
            .await;
        match answer {
            Ok((page, _held)) => Ok(match Robot::new(&self.agent, &page.body) {
                Ok(robot) => Rules::Parsed(robot),
                Err(error) => {
                    debug!(url = %robots_url, %error, "robots.txt unreadable, everything allowed");
                    Rules::AllowAll
                }
            }),
            Err(ExtractionError::HttpStatus { status, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                Ok(Rules::AllowAll)
            }
            Err(ExtractionError::TooManyRedirects { .. }) => Ok(Rules::AllowAll),
            Err(error) => Err(error),
        }
    }

    fn cached(&self, origin: &str) -> Option<Arc<Rules>> {
        // Nothing panics while the lock is held: a poisoned map is whole.
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(origin).cloned()
    }

    fn keep(&self, origin: String, rules: Arc<Rules>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(origin, rules);
    }
}

/// `domain-scheduler` of `domain-scheduler/0.4.0 (...)`: the name a
/// `robots.txt` group would give (RFC 9309 matches it case-insensitively).
fn product_token(user_agent: &str) -> &str {
    user_agent
        .split(|c: char| c == '/' || c.is_whitespace())
        .find(|token| !token.is_empty())
        .unwrap_or(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::DEFAULT_USER_AGENT;

    #[test]
    fn the_product_token_is_the_user_agents_first_word() {
        assert_eq!(product_token(DEFAULT_USER_AGENT), "domain-scheduler");
        assert_eq!(product_token("AcmeBot"), "AcmeBot");
        assert_eq!(product_token("  AcmeBot/2 (x)"), "AcmeBot");
    }

    #[test]
    fn our_group_wins_over_the_catch_all() {
        let txt =
            b"User-agent: *\nDisallow: /\n\nUser-agent: Domain-Scheduler\nDisallow: /private\n";
        let robot = Robot::new(product_token(DEFAULT_USER_AGENT), txt).unwrap();
        let rules = Rules::Parsed(robot);
        let url = |text: &str| Url::parse(text).unwrap();
        assert!(rules.allows(&url("https://acme.test/")));
        assert!(!rules.allows(&url("https://acme.test/private/x")));
    }

    #[test]
    fn the_cache_is_emptied_when_full() {
        let robots = RobotsTxt::new(&FetchSettings::default());
        for site in 0..CACHE_ENTRIES {
            robots.keep(format!("https://s{site}.test"), Arc::new(Rules::AllowAll));
        }
        assert!(robots.cached("https://s0.test").is_some());
        robots.keep(
            "https://one-more.test".to_owned(),
            Arc::new(Rules::AllowAll),
        );
        assert!(robots.cached("https://s0.test").is_none());
        assert!(robots.cached("https://one-more.test").is_some());
    }
}
