//! [`FetchSettings`]: how the extractor fetches, the `[fetch]` section of
//! the configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use scheduler_domain::InvalidSetting;
use scheduler_domain::settings::{check_duration, check_range, duration};
use serde::{Deserialize, Deserializer};

// The types of two keys live beside the code that uses them; named here as
// well, so that `settings` still holds everything a `[fetch]` section is.
#[doc(no_inline)]
pub use crate::proxy::ProxyUrl;
#[doc(no_inline)]
pub use crate::resolver::ResolveRule;
#[doc(no_inline)]
pub use crate::resolver::{DnsResolver, Nameserver};

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
    /// Time allowed from sending a request to its answer's first byte
    /// (the status line), connect and TLS handshake included (15 s). A host
    /// that accepts connections and never answers costs this, not the
    /// whole `total_timeout`; a slow but real site answers well within it
    /// and still has `total_timeout` for its body.
    #[serde(deserialize_with = "duration::seconds")]
    pub first_byte_timeout: Duration,
    /// Requests at once to one IP address (4): shared hosting serves
    /// thousands of sites from one address and limits each client there.
    pub per_address: usize,
    /// The longest a fetch waits for a place at its address before its
    /// domain is handed back to be tried later (10 s), so that a busy
    /// address does not hold places that domains elsewhere could use.
    #[serde(deserialize_with = "duration::seconds")]
    pub address_wait: Duration,
    /// Page bytes held in memory at once, by every fetch being read or
    /// waiting to be parsed (64 MiB; the key is in MiB). A read that finds
    /// the budget spent waits for pages to be parsed.
    #[serde(rename = "body_budget_mib", deserialize_with = "mebibytes")]
    pub body_budget_bytes: usize,
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
    /// Which resolver looks names up (config key `dns`): the asynchronous
    /// one with its cache (the default), or the C library's.
    pub dns: DnsResolver,
    /// DNS servers asked instead of those of `/etc/resolv.conf` (config key
    /// `nameservers`, `"ip"` or `"ip:port"`), such as a local caching
    /// resolver; empty, the system's. Only with `dns = "async"`.
    pub nameservers: Vec<Nameserver>,
    /// PEM files whose certificates are trusted besides the built-in roots.
    pub extra_root_certificates: Vec<PathBuf>,
    /// Whether names may resolve to loopback, private, link-local and other
    /// non-public addresses. Addresses given by a [`ResolveRule`] are
    /// always allowed: the operator chose them.
    pub allow_private_networks: bool,
    /// Same-site pages read besides the home page (config key
    /// `contact_pages`): contact, about or legal pages when the home page
    /// has too few e-mails, and the imprint or legal page when it does not
    /// state the company behind the site, within this one count; 0 turns
    /// both off.
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
    /// Whether a site that offers no HTTPS (nothing on port 443, or a TLS
    /// failure on both the bare name and `www.`) is read over plain
    /// `http://` (config key `plain_http`; true: small businesses still
    /// run such sites).
    pub plain_http: bool,
    /// Whether `robots.txt` is read and obeyed (config key `robots`;
    /// `ignore` by default, as the old service did).
    pub robots: RobotsMode,
}

/// What the worker does with a site's `robots.txt` (`fetch.robots`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RobotsMode {
    /// Never asks for it.
    #[default]
    Ignore,
    /// Reads it once per site and run, and fetches no page it disallows.
    Obey,
}

/// The most contact pages one site may cost: each is a whole fetch.
pub const MAX_CONTACT_PAGES: usize = 10;

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            first_byte_timeout: Duration::from_secs(15),
            per_address: 4,
            address_wait: Duration::from_secs(10),
            body_budget_bytes: 64 * 1024 * 1024,
            max_redirects: 10,
            max_body_bytes: 2 * 1024 * 1024,
            retries: 3,
            retry_backoff: Duration::from_millis(500),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            resolve: Vec::new(),
            dns: DnsResolver::Async,
            nameservers: Vec::new(),
            extra_root_certificates: Vec::new(),
            allow_private_networks: false,
            contact_pages: 2,
            contact_pages_when_fewer_than: 1,
            proxy: None,
            proxy_trusted: false,
            plain_http: true,
            robots: RobotsMode::Ignore,
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
        check_duration(
            "fetch.first_byte_timeout",
            self.first_byte_timeout,
            Duration::from_millis(1),
            hour,
        )?;
        check_range("fetch.per_address", self.per_address, 1, 256)?;
        check_duration(
            "fetch.address_wait",
            self.address_wait,
            Duration::ZERO,
            hour,
        )?;
        check_range(
            "fetch.body_budget_mib",
            self.body_budget_bytes / (1024 * 1024),
            8,
            64 * 1024,
        )?;
        if self.body_budget_bytes < self.max_body_bytes {
            return Err(InvalidSetting::new(
                "fetch.body_budget_mib",
                format!("{} MiB", self.body_budget_bytes / (1024 * 1024)),
                format!(
                    "at least fetch.max_body_kib ({} KiB): one whole page must fit",
                    self.max_body_bytes / 1024
                ),
            ));
        }
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
        if self.dns == DnsResolver::System && !self.nameservers.is_empty() {
            // getaddrinfo reads only resolv.conf: the servers would be
            // silently ignored.
            return Err(InvalidSetting::new(
                "fetch.nameservers",
                format!("{} servers", self.nameservers.len()),
                "no servers with fetch.dns = \"system\" (the system resolver asks those of \
                 /etc/resolv.conf), or fetch.dns = \"async\"",
            ));
        }
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
    /// `total_timeout`, its quick retries included, then its contact and
    /// legal pages, read at once, each within a `total_timeout` of its own.
    pub fn budget(&self) -> Duration {
        if self.contact_pages == 0 {
            self.total_timeout
        } else {
            self.total_timeout.saturating_mul(2)
        }
    }
}

/// `max_body_kib = 2048` into bytes.
fn kibibytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    bytes_of(deserializer, 1024, "KiB")
}

fn mebibytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    bytes_of(deserializer, 1024 * 1024, "MiB")
}

fn bytes_of<'de, D: Deserializer<'de>>(
    deserializer: D,
    unit: u64,
    name: &str,
) -> Result<usize, D::Error> {
    let count = u64::deserialize(deserializer)?;
    count
        .checked_mul(unit)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{count} {name} is too large")))
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            new.resolve,
            vec![ResolveRule::parse("*.test", "127.0.0.2").unwrap()]
        );
        assert_eq!(new.user_agent, DEFAULT_USER_AGENT);
        new.validate().unwrap();
        // The home page, its retries included, then its two contact pages
        // at once: 20 s each.
        assert_eq!(new.budget(), Duration::from_secs(2 * 20));
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
    fn nameservers_are_read_and_checked_with_the_key_named() {
        let settings: FetchSettings =
            serde_json::from_str(r#"{"nameservers": ["127.0.0.53", "[::1]:5353"]}"#).unwrap();
        assert_eq!(settings.dns, DnsResolver::Async);
        let servers: Vec<String> = settings
            .nameservers
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(servers, ["127.0.0.53:53", "[::1]:5353"]);
        settings.validate().unwrap();

        let error = serde_json::from_str::<FetchSettings>(r#"{"nameservers": ["dns.example"]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("fetch.nameservers"), "{error}");
        assert!(error.contains("dns.example"), "{error}");

        let system = FetchSettings {
            dns: DnsResolver::System,
            ..settings
        };
        let refused = system.validate().unwrap_err();
        assert_eq!(refused.key, "fetch.nameservers");
        assert!(refused.to_string().contains("fetch.dns"), "{refused}");
        let error = serde_json::from_str::<FetchSettings>(r#"{"dns": "libc"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("async") && error.contains("system"),
            "{error}"
        );
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
    fn plain_http_is_on_and_robots_ignored_unless_configured() {
        let defaults = FetchSettings::default();
        assert!(defaults.plain_http);
        assert_eq!(defaults.robots, RobotsMode::Ignore);
        let set: FetchSettings =
            serde_json::from_str(r#"{"plain_http": false, "robots": "obey"}"#).unwrap();
        assert!(!set.plain_http);
        assert_eq!(set.robots, RobotsMode::Obey);
        let error = serde_json::from_str::<FetchSettings>(r#"{"robots": "maybe"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("obey"), "{error}");
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
    fn proxy_credentials_never_show_in_the_settings() {
        let proxy = ProxyUrl::parse("socks5h://worker:s3cret@proxy.internal:1080").unwrap();
        let settings = FetchSettings {
            proxy: Some(proxy),
            ..FetchSettings::default()
        };
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
