//! [`FetchSettings`] and [`ResolveRule`]: how the extractor fetches.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use scheduler_domain::InvalidSetting;
use scheduler_domain::settings::{check_duration, check_range, duration};
use serde::{Deserialize, Deserializer};

use crate::HttpExtractorError;

/// The `User-Agent` sent by default: the program and its version, and what
/// it does, so a site's operator can tell the worker from a browser.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "domain-scheduler/",
    env!("CARGO_PKG_VERSION"),
    " (site metadata fetcher; reads home pages only)"
);

/// How pages are fetched: the `[fetch]` section of the configuration.
/// [`FetchSettings::default`] holds the defaults the worker runs with. A
/// duration reads `"30s"` or a bare number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    /// Time allowed to open the TCP connection (per address tried; 10 s).
    #[serde(
        alias = "connect_timeout_seconds",
        deserialize_with = "duration::seconds"
    )]
    pub connect_timeout: Duration,
    /// Time allowed for the home page as a whole: every redirect hop, the
    /// TLS handshakes, reading the body, and the quick retries with their
    /// waits (30 s). Each contact page has the same limit of its own.
    #[serde(
        rename = "timeout",
        alias = "timeout_seconds",
        deserialize_with = "duration::seconds"
    )]
    pub total_timeout: Duration,
    /// Redirects followed before giving up with `TooManyRedirects` (10).
    pub max_redirects: usize,
    /// The most of the (decoded) body that is read; a longer page is cut
    /// there and what was read is parsed (2 MiB; the key is in KiB).
    #[serde(rename = "max_body_kib", deserialize_with = "kibibytes")]
    pub max_body_bytes: usize,
    /// Quick retries of a transient failure that ended before the time
    /// limit (3); the first request and its retries share `total_timeout`.
    pub retries: u32,
    /// The first backoff; each further retry doubles it, with jitter.
    #[serde(skip)]
    pub retry_backoff: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Host names answered from configuration instead of DNS, like curl's
    /// `--resolve` (the port stays the URL's). In a file, a table of
    /// `"host" = "address"` (or `"*.suffix" = "address"`).
    #[serde(deserialize_with = "resolve_table")]
    pub resolve: Vec<ResolveRule>,
    /// PEM files whose certificates are trusted besides the built-in roots.
    pub extra_root_certificates: Vec<PathBuf>,
    /// Whether names may resolve to loopback, private, link-local and other
    /// non-public addresses. Addresses given by a [`ResolveRule`] are
    /// always allowed: the operator chose them.
    pub allow_private_networks: bool,
    /// Same-site contact, about or legal pages read when the home page has
    /// too few e-mails (config key `contact_pages`); 0 turns it off.
    pub contact_pages: usize,
    /// Contact pages are read when the home page yields fewer e-mails than
    /// this (config key `contact_pages_when_fewer_than`).
    pub contact_pages_when_fewer_than: usize,
    /// An HTTP(S) or SOCKS5 proxy for every fetch (config key `proxy`).
    /// Its credentials never reach a log or an error.
    pub proxy: Option<ProxyUrl>,
    /// The operator's confirmation that fetching through `proxy` is safe
    /// although the address filter cannot apply through it (config key
    /// `proxy_trusted`).
    pub proxy_trusted: bool,
}

/// The most contact pages one site may cost: each is a whole fetch.
pub const MAX_CONTACT_PAGES: usize = 10;

/// A proxy URL: `http://`, `https://`, `socks5://` or `socks5h://`, with
/// optional `user:password@`. Shown (`Display`, `Debug`) with the password
/// replaced by `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ProxyUrl(url::Url);

impl TryFrom<String> for ProxyUrl {
    type Error = HttpExtractorError;

    fn try_from(text: String) -> Result<ProxyUrl, HttpExtractorError> {
        ProxyUrl::parse(&text)
    }
}

impl ProxyUrl {
    /// Parses and checks a proxy URL.
    ///
    /// # Errors
    ///
    /// [`HttpExtractorError::InvalidProxy`] (naming the URL without its
    /// password) when it does not parse, has another scheme, or no host.
    pub fn parse(text: &str) -> Result<ProxyUrl, HttpExtractorError> {
        let url =
            url::Url::parse(text.trim()).map_err(|error| HttpExtractorError::InvalidProxy {
                // An unparsable URL cannot be redacted piecewise: say only
                // what kind of text it was.
                proxy: format!("({} characters)", text.chars().count()),
                reason: error.to_string(),
            })?;
        let proxy = ProxyUrl(url);
        let invalid = |reason: &str| HttpExtractorError::InvalidProxy {
            proxy: proxy.to_string(),
            reason: reason.to_owned(),
        };
        if !matches!(proxy.0.scheme(), "http" | "https" | "socks5" | "socks5h") {
            return Err(invalid(
                "the scheme must be http, https, socks5 or socks5h (the proxy resolves names)",
            ));
        }
        if proxy.0.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if proxy.0.path() != "/" && !proxy.0.path().is_empty() {
            return Err(invalid("a proxy URL has no path"));
        }
        Ok(proxy)
    }

    /// The URL with its credentials, for the HTTP client only.
    pub(crate) fn as_url(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            // Only fails for URLs that cannot have credentials, which a
            // parsed proxy URL with a host can.
            let _ = shown.set_password(Some("***"));
        }
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

impl FromStr for ProxyUrl {
    type Err = HttpExtractorError;

    fn from_str(text: &str) -> Result<ProxyUrl, HttpExtractorError> {
        ProxyUrl::parse(text)
    }
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_redirects: 10,
            max_body_bytes: 2 * 1024 * 1024,
            retries: 3,
            retry_backoff: Duration::from_millis(500),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            resolve: Vec::new(),
            extra_root_certificates: Vec::new(),
            allow_private_networks: false,
            contact_pages: 2,
            contact_pages_when_fewer_than: 1,
            proxy: None,
            proxy_trusted: false,
        }
    }
}

impl FetchSettings {
    /// Checks every key.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] naming the first key at fault.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let hour = Duration::from_secs(3600);
        check_duration(
            "fetch.connect_timeout",
            self.connect_timeout,
            Duration::from_millis(1),
            hour,
        )?;
        check_duration(
            "fetch.timeout",
            self.total_timeout,
            Duration::from_millis(1),
            hour,
        )?;
        check_range("fetch.max_redirects", self.max_redirects, 0, 30)?;
        check_range(
            "fetch.max_body_kib",
            self.max_body_bytes / 1024,
            16,
            64 * 1024,
        )?;
        check_range("fetch.retries", self.retries, 0, 10)?;
        check_range(
            "fetch.contact_pages",
            self.contact_pages,
            0,
            MAX_CONTACT_PAGES,
        )?;
        if let Some(proxy) = &self.proxy
            && !self.proxy_trusted
            && !self.allow_private_networks
        {
            // Through a proxy the worker never sees the address a name
            // resolves to, so the filter that keeps it off private networks
            // cannot apply: the operator must say the proxy does that.
            return Err(InvalidSetting::new(
                "fetch.proxy",
                proxy,
                "a proxy confirmed with fetch.proxy_trusted = true (through a proxy the worker \
                 cannot see the address a name resolves to, so it cannot keep fetches off \
                 private networks; confirm that the proxy refuses them) or \
                 fetch.allow_private_networks = true",
            ));
        }
        if self.user_agent.trim().is_empty() {
            return Err(InvalidSetting::new(
                "fetch.user_agent",
                "\"\"",
                "a User-Agent that says who fetches",
            ));
        }
        Ok(())
    }

    /// The longest one extraction can take: the home page within
    /// `total_timeout`, its quick retries included, then each contact page
    /// within a `total_timeout` of its own.
    pub fn budget(&self) -> Duration {
        let pages = u32::try_from(self.contact_pages)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.total_timeout.saturating_mul(pages)
    }
}

/// `max_body_kib = 2048` into bytes.
fn kibibytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let kib = u64::deserialize(deserializer)?;
    kib.checked_mul(1024)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{kib} KiB is too large")))
}

/// `resolve = { "*.internal.test" = "127.0.0.2" }` into rules, each bad
/// entry named with its reason.
fn resolve_table<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ResolveRule>, D::Error> {
    BTreeMap::<String, String>::deserialize(deserializer)?
        .iter()
        .map(|(host, address)| {
            ResolveRule::parse(host, address).map_err(|error| {
                serde::de::Error::custom(format!(
                    "fetch.resolve: {error} (expected a host or *.suffix mapped to an IP address)"
                ))
            })
        })
        .collect()
}

/// One `host -> address` override: an exact host name (`shop.example.com`)
/// or a wildcard (`*.example.com`, any name that ends in `.example.com`, not
/// `example.com` itself).
///
/// Where several rules match, an exact one wins, then the wildcard with the
/// longest suffix, then the first given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRule {
    pattern: HostPattern,
    address: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// The suffix with its leading dot: `.example.com`.
    Subdomains(String),
}

impl ResolveRule {
    /// A rule from a host pattern and an address.
    ///
    /// # Errors
    ///
    /// [`HttpExtractorError::InvalidResolveRule`] when the pattern is not a
    /// host name or `*.` followed by one.
    pub fn new(pattern: &str, address: IpAddr) -> Result<ResolveRule, HttpExtractorError> {
        let pattern = parse_pattern(pattern).map_err(|reason| invalid(pattern, address, reason))?;
        Ok(ResolveRule { pattern, address })
    }

    /// A rule from the two strings of a configuration entry
    /// (`"*.internal.test" = "127.0.0.2"`).
    ///
    /// # Errors
    ///
    /// [`HttpExtractorError::InvalidResolveRule`] naming the entry when the
    /// pattern is not a host name or `*.` followed by one, or the address is
    /// not an IPv4 or IPv6 address.
    pub fn parse(pattern: &str, address: &str) -> Result<ResolveRule, HttpExtractorError> {
        let trimmed = address.trim();
        let trimmed = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(trimmed);
        let address = trimmed.parse::<IpAddr>().map_err(|_| {
            let reason = if trimmed.parse::<std::net::SocketAddr>().is_ok() {
                "the address must not have a port: the URL's port is kept".to_owned()
            } else {
                format!("{address:?} is not an IPv4 or IPv6 address")
            };
            invalid(pattern, address, reason)
        })?;
        ResolveRule::new(pattern, address)
    }

    /// The host pattern, as matched (lower case, `*.` for a wildcard).
    pub fn pattern(&self) -> String {
        match &self.pattern {
            HostPattern::Exact(host) => host.clone(),
            HostPattern::Subdomains(suffix) => format!("*{suffix}"),
        }
    }

    /// The address the matching names resolve to.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Whether `host` (any case, with or without a trailing dot) is covered.
    pub fn matches(&self, host: &str) -> bool {
        let host = normalize_host(host);
        match &self.pattern {
            HostPattern::Exact(exact) => host == *exact,
            HostPattern::Subdomains(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
        }
    }

    /// The address of the rule that decides for `host`, if any: an exact
    /// match first, then the longest wildcard suffix, then the first given.
    pub fn find(rules: &[ResolveRule], host: &str) -> Option<IpAddr> {
        let mut best: Option<(&ResolveRule, usize)> = None;
        for rule in rules.iter().filter(|rule| rule.matches(host)) {
            let strength = match &rule.pattern {
                HostPattern::Exact(_) => usize::MAX,
                HostPattern::Subdomains(suffix) => suffix.len(),
            };
            if best.is_none_or(|(_, best_strength)| strength > best_strength) {
                best = Some((rule, strength));
            }
        }
        best.map(|(rule, _)| rule.address)
    }
}

/// `PATTERN=ADDRESS`, the form of a command-line flag.
impl FromStr for ResolveRule {
    type Err = HttpExtractorError;

    fn from_str(entry: &str) -> Result<ResolveRule, HttpExtractorError> {
        match entry.split_once('=') {
            Some((pattern, address)) => ResolveRule::parse(pattern.trim(), address),
            None => Err(HttpExtractorError::InvalidResolveRule {
                entry: entry.to_owned(),
                reason: "expected HOST=ADDRESS, e.g. *.internal.test=127.0.0.2".to_owned(),
            }),
        }
    }
}

impl fmt::Display for ResolveRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.pattern(), self.address)
    }
}

fn invalid(pattern: &str, address: impl fmt::Display, reason: String) -> HttpExtractorError {
    HttpExtractorError::InvalidResolveRule {
        entry: format!("{pattern} = {address}"),
        reason,
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_pattern(raw: &str) -> Result<HostPattern, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("the host pattern is empty".to_owned());
    }
    if !trimmed.is_ascii() {
        return Err("write international names in their ASCII (xn--) form".to_owned());
    }
    let (wildcard, name) = match trimmed.strip_prefix("*.") {
        Some(rest) => (true, normalize_host(rest)),
        None => (false, normalize_host(trimmed)),
    };
    let name = name.as_str();
    if name.is_empty() {
        return Err("a wildcard needs a suffix, e.g. *.example.com".to_owned());
    }
    if name.contains('*') {
        return Err("only a leading `*.` wildcard is supported".to_owned());
    }
    if name.len() > 253 {
        return Err("the host name is longer than 253 characters".to_owned());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("label {label:?} must have 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "label {label:?} may only have letters, digits, `-` and `_`"
            ));
        }
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err("the pattern must be a host name, not an IP address".to_owned());
    }
    Ok(if wildcard {
        HostPattern::Subdomains(format!(".{name}"))
    } else {
        HostPattern::Exact(name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, address: &str) -> ResolveRule {
        ResolveRule::parse(pattern, address).unwrap()
    }

    #[test]
    fn exact_rules_match_only_that_host_in_any_case() {
        let exact = rule("Shop.Example.com", "127.0.0.2");
        assert!(exact.matches("shop.example.com"));
        assert!(exact.matches("SHOP.example.com."));
        assert!(!exact.matches("www.shop.example.com"));
        assert!(!exact.matches("example.com"));
        assert_eq!(exact.pattern(), "shop.example.com");
    }

    #[test]
    fn wildcards_match_subdomains_at_any_depth_but_not_the_bare_suffix() {
        let wildcard = rule("*.test", "127.0.0.2");
        assert!(wildcard.matches("acme.test"));
        assert!(wildcard.matches("www.acme.test"));
        assert!(!wildcard.matches("test"));
        assert!(!wildcard.matches("acmetest"));
        assert!(!wildcard.matches("acme.test.example"));
        assert_eq!(wildcard.to_string(), "*.test=127.0.0.2");
    }

    #[test]
    fn exact_beats_wildcard_and_longer_suffix_beats_shorter() {
        let rules = [
            rule("*.test", "127.0.0.2"),
            rule("*.acme.test", "127.0.0.3"),
            rule("shop.acme.test", "127.0.0.4"),
            rule("*.test", "127.0.0.5"),
        ];
        let find = |host| ResolveRule::find(&rules, host).map(|ip| ip.to_string());
        assert_eq!(find("shop.acme.test").as_deref(), Some("127.0.0.4"));
        assert_eq!(find("www.acme.test").as_deref(), Some("127.0.0.3"));
        assert_eq!(find("other.test").as_deref(), Some("127.0.0.2"));
        assert_eq!(find("example.com"), None);
    }

    #[test]
    fn ipv6_addresses_are_accepted_with_or_without_brackets() {
        assert_eq!(rule("a.test", "::1").address().to_string(), "::1");
        assert_eq!(rule("a.test", "[fd00::2]").address().to_string(), "fd00::2");
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_and_the_reason() {
        let message = |pattern: &str, address: &str| {
            ResolveRule::parse(pattern, address)
                .unwrap_err()
                .to_string()
        };
        let bad_address = message("*.test", "localhost");
        assert!(bad_address.contains("*.test = localhost"), "{bad_address}");
        assert!(
            bad_address.contains("not an IPv4 or IPv6 address"),
            "{bad_address}"
        );
        let with_port = message("a.test", "127.0.0.1:8443");
        assert!(with_port.contains("must not have a port"), "{with_port}");
        assert!(message("*.", "127.0.0.1").contains("needs a suffix"));
        assert!(message("a.*.test", "127.0.0.1").contains("only a leading"));
        assert!(message("", "127.0.0.1").contains("empty"));
        assert!(message("a..test", "127.0.0.1").contains("1 to 63"));
        assert!(message("bad host.test", "127.0.0.1").contains("may only have"));
        assert!(message("bücher.test", "127.0.0.1").contains("xn--"));
        assert!(message("10.0.0.1", "127.0.0.1").contains("not an IP address"));
    }

    #[test]
    fn a_fetch_section_reads_old_and_new_keys() {
        let old: FetchSettings = serde_json::from_str(
            r#"{"connect_timeout_seconds": 5, "timeout_seconds": 20, "max_body_kib": 512,
                "resolve": {"*.test": "127.0.0.2"}}"#,
        )
        .unwrap();
        let new: FetchSettings = serde_json::from_str(
            r#"{"connect_timeout": "5s", "timeout": "20s", "max_body_kib": 512,
                "resolve": {"*.test": "127.0.0.2"}}"#,
        )
        .unwrap();
        assert_eq!(old, new);
        assert_eq!(new.max_body_bytes, 512 * 1024);
        assert_eq!(new.resolve, vec![rule("*.test", "127.0.0.2")]);
        assert_eq!(new.user_agent, DEFAULT_USER_AGENT);
        new.validate().unwrap();
        // The home page, its retries included, and two contact pages: 20 s
        // each.
        assert_eq!(new.budget(), Duration::from_secs(3 * 20));
        let no_contact_pages = FetchSettings {
            contact_pages: 0,
            ..new
        };
        assert_eq!(no_contact_pages.budget(), Duration::from_secs(20));
    }

    #[test]
    fn a_bad_resolve_entry_is_named_in_the_error() {
        let error =
            serde_json::from_str::<FetchSettings>(r#"{"resolve": {"*.test": "localhost"}}"#)
                .unwrap_err()
                .to_string();
        assert!(error.contains("fetch.resolve"), "{error}");
        assert!(error.contains("*.test = localhost"), "{error}");
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let settings = FetchSettings {
            max_body_bytes: 1024,
            ..FetchSettings::default()
        };
        assert_eq!(settings.validate().unwrap_err().key, "fetch.max_body_kib");
    }

    #[test]
    fn defaults_are_valid_and_follow_two_contact_pages_when_no_email() {
        let settings = FetchSettings::default();
        assert_eq!(settings.contact_pages, 2);
        assert_eq!(settings.contact_pages_when_fewer_than, 1);
        assert_eq!(settings.proxy, None);
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn a_proxy_is_read_from_the_fetch_section_and_checked() {
        let settings: FetchSettings = serde_json::from_str(
            r#"{"proxy": "http://worker:s3cret@proxy.internal:3128", "proxy_trusted": true,
                "contact_pages": 0}"#,
        )
        .unwrap();
        assert_eq!(
            settings.proxy.as_ref().map(ToString::to_string).as_deref(),
            Some("http://worker:***@proxy.internal:3128/")
        );
        assert_eq!(settings.contact_pages, 0);
        settings.validate().unwrap();
        let error = serde_json::from_str::<FetchSettings>(r#"{"proxy": "ftp://proxy.internal"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("scheme"), "{error}");
    }

    #[test]
    fn too_many_contact_pages_are_refused() {
        let settings = FetchSettings {
            contact_pages: 50,
            ..FetchSettings::default()
        };
        let message = settings.validate().unwrap_err().to_string();
        assert!(message.contains("contact_pages"), "{message}");
    }

    #[test]
    fn a_proxy_needs_the_operators_confirmation() {
        let proxy = ProxyUrl::parse("http://worker:s3cret@proxy.internal:3128").unwrap();
        let untrusted = FetchSettings {
            proxy: Some(proxy),
            ..FetchSettings::default()
        };
        let message = untrusted.validate().unwrap_err().to_string();
        assert!(message.contains("proxy_trusted"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        let trusted = FetchSettings {
            proxy_trusted: true,
            ..untrusted.clone()
        };
        assert!(trusted.validate().is_ok());
        let private = FetchSettings {
            allow_private_networks: true,
            ..untrusted
        };
        assert!(private.validate().is_ok());
    }

    #[test]
    fn proxy_credentials_never_show() {
        let proxy = ProxyUrl::parse("socks5h://worker:s3cret@proxy.internal:1080").unwrap();
        assert_eq!(
            proxy.to_string(),
            "socks5h://worker:***@proxy.internal:1080"
        );
        assert!(!format!("{proxy:?}").contains("s3cret"));
        let settings = FetchSettings {
            proxy: Some(proxy),
            ..FetchSettings::default()
        };
        assert!(!format!("{settings:?}").contains("s3cret"));
        let bad_scheme = ProxyUrl::parse("ftp://worker:s3cret@proxy.internal").unwrap_err();
        assert!(bad_scheme.to_string().contains("scheme"), "{bad_scheme}");
        assert!(!bad_scheme.to_string().contains("s3cret"), "{bad_scheme}");
        let unparsable = ProxyUrl::parse("http://worker:s3cret@[bad").unwrap_err();
        assert!(!unparsable.to_string().contains("s3cret"), "{unparsable}");
    }

    #[test]
    fn flag_form_is_host_equals_address() {
        let parsed: ResolveRule = "*.internal.test=127.0.0.2".parse().unwrap();
        assert_eq!(parsed, rule("*.internal.test", "127.0.0.2"));
        let missing = "*.internal.test".parse::<ResolveRule>().unwrap_err();
        assert!(
            missing.to_string().contains("expected HOST=ADDRESS"),
            "{missing}"
        );
    }
}
