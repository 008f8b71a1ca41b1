//! [`ResolveRule`]: a host name answered from configuration instead of DNS,
//! like curl's `--resolve`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::HttpExtractorError;

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
    // As the URL parser reads it: `0x7f.1` is an address too.
    if matches!(
        url::Host::parse(name),
        Ok(url::Host::Ipv4(_) | url::Host::Ipv6(_))
    ) {
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
