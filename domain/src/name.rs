//! [`DomainName`]: the standardized, validated host name a worker fetches.

use std::fmt;

/// A registrable-looking host name in its canonical form: ASCII (IDN labels
/// in punycode), lower case, without `www.`, scheme, port, path or query.
///
/// The only way to get one is [`DomainName::parse`], so a value of this type
/// is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

/// Why a raw value is not a domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid domain name: {reason}")]
pub struct DomainNameError {
    /// The raw value, as given (capped at 200 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: InvalidDomainReason,
}

/// What is wrong with a raw domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDomainReason {
    /// Nothing but white space.
    #[error("it is empty")]
    Empty,
    /// A URL whose scheme is not http or https.
    #[error("only http and https URLs are accepted, not {0}:")]
    UnsupportedScheme(String),
    /// An IPv4 or IPv6 literal.
    #[error("an IP address is not a domain name")]
    IpAddress,
    /// A single label such as `localhost`.
    #[error("it needs at least two labels, like example.com")]
    SingleLabel,
    /// Longer than 253 characters once in ASCII form.
    #[error("it is longer than 253 characters")]
    TooLong,
    /// A label that is empty, too long, or has characters a host name cannot have.
    #[error("label {label:?} {problem}")]
    BadLabel {
        /// The offending label (ASCII form where it could be computed).
        label: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A top-level label made only of digits.
    #[error("the top-level label {0:?} is numeric")]
    NumericTld(String),
    /// Characters that IDNA processing refuses.
    #[error("it is not a valid internationalized name")]
    InvalidIdn,
}

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

impl DomainName {
    /// Standardizes and validates a raw value the way the old service did,
    /// and a little stricter: trims, lower-cases, takes the host out of a
    /// URL (`http`/`https`, user info and port dropped), strips one leading
    /// `www.`, a trailing dot, any path, query or fragment, converts IDN
    /// labels to punycode, and refuses anything that is not a host name.
    ///
    /// # Errors
    ///
    /// [`DomainNameError`] with the [`InvalidDomainReason`].
    pub fn parse(raw: &str) -> Result<DomainName, DomainNameError> {
        let fail = |reason| DomainNameError {
            input: raw.chars().take(200).collect(),
            reason,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(fail(InvalidDomainReason::Empty));
        }
        let mut rest = trimmed;
        if let Some((scheme, after)) = rest.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(fail(InvalidDomainReason::UnsupportedScheme(scheme)));
            }
            rest = after;
        } else if let Some(after) = rest.strip_prefix("//") {
            rest = after;
        }
        // The authority ends at the first path, query or fragment delimiter.
        let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if host_port.starts_with('[') {
            return Err(fail(InvalidDomainReason::IpAddress));
        }
        let host = match host_port.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => host_port,
        };
        let host = host.trim().trim_end_matches('.');
        if host.is_empty() {
            return Err(fail(InvalidDomainReason::Empty));
        }
        if host.parse::<std::net::IpAddr>().is_ok() {
            return Err(fail(InvalidDomainReason::IpAddress));
        }
        let ascii = if host.is_ascii() {
            host.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(host).map_err(|_| fail(InvalidDomainReason::InvalidIdn))?
        };
        // `www.com` is a name of its own: strip `www.` only in front of a
        // name that still has two labels.
        let ascii = match ascii.strip_prefix("www.") {
            Some(rest) if rest.contains('.') => rest.to_owned(),
            _ => ascii,
        };
        validate_ascii_name(&ascii).map_err(fail)?;
        // The URL parser decides what is an address, as the HTTP client
        // will: `0x7f.0.0.1` is an IPv4 address there, and a name whose last
        // label reads as a number (`2130706433.0x1`) an invalid one.
        if !matches!(url::Host::parse(&ascii), Ok(url::Host::Domain(_))) {
            return Err(fail(InvalidDomainReason::IpAddress));
        }
        Ok(DomainName(ascii))
    }

    /// The name, e.g. `example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The home page the worker fetches: `https://<name>/`.
    pub fn home_page_url(&self) -> String {
        format!("https://{}/", self.0)
    }
}

fn validate_ascii_name(name: &str) -> Result<(), InvalidDomainReason> {
    if name.len() > MAX_NAME_LEN {
        return Err(InvalidDomainReason::TooLong);
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        let problem = if label.is_empty() {
            Some("is empty")
        } else if label.len() > MAX_LABEL_LEN {
            Some("is longer than 63 characters")
        } else if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Some("has characters other than letters, digits and hyphens")
        } else if label.starts_with('-') || label.ends_with('-') {
            Some("starts or ends with a hyphen")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(InvalidDomainReason::BadLabel {
                label: (*label).to_owned(),
                problem,
            });
        }
    }
    if labels.len() < 2 {
        return Err(InvalidDomainReason::SingleLabel);
    }
    let tld = labels[labels.len() - 1];
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidDomainReason::NumericTld(tld.to_owned()));
    }
    Ok(())
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> String {
        DomainName::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
            .to_string()
    }

    fn reason(raw: &str) -> InvalidDomainReason {
        DomainName::parse(raw).unwrap_err().reason
    }

    #[test]
    fn standardizes_case_space_www_and_trailing_dot() {
        assert_eq!(parsed("  Example.COM  "), "example.com");
        assert_eq!(parsed("WWW.example.com"), "example.com");
        assert_eq!(parsed("example.com."), "example.com");
        assert_eq!(parsed("shop.example.co.uk"), "shop.example.co.uk");
    }

    #[test]
    fn takes_the_host_out_of_urls() {
        assert_eq!(
            parsed("https://www.Example.com/about?x=1#top"),
            "example.com"
        );
        assert_eq!(parsed("http://example.com"), "example.com");
        assert_eq!(
            parsed("HTTPS://user:pw@example.com:8443/path"),
            "example.com"
        );
        assert_eq!(parsed("example.com/path/page.html"), "example.com");
        assert_eq!(parsed("example.com?ref=1"), "example.com");
        assert_eq!(parsed("//cdn.example.com/lib.js"), "cdn.example.com");
    }

    #[test]
    fn converts_internationalized_names_to_punycode() {
        assert_eq!(parsed("Bücher.example"), "xn--bcher-kva.example");
        assert_eq!(parsed("https://www.münchen.de/"), "xn--mnchen-3ya.de");
    }

    #[test]
    fn only_one_leading_www_is_stripped() {
        assert_eq!(parsed("www.www.example.com"), "www.example.com");
        assert_eq!(parsed("www2.example.com"), "www2.example.com");
        assert_eq!(parsed("www.com"), "www.com");
    }

    #[test]
    fn refuses_what_is_not_a_host_name() {
        assert_eq!(reason("   "), InvalidDomainReason::Empty);
        assert_eq!(reason("https://"), InvalidDomainReason::Empty);
        assert_eq!(
            reason("ftp://example.com"),
            InvalidDomainReason::UnsupportedScheme("ftp".into())
        );
        assert_eq!(reason("192.168.1.10"), InvalidDomainReason::IpAddress);
        assert_eq!(reason("http://[::1]:8080/"), InvalidDomainReason::IpAddress);
        // Forms a URL parser reads as addresses.
        for address in ["0x7f.0x0.0x0.0x1", "2130706433.0x1", "10.0.0.0x1"] {
            assert_eq!(reason(address), InvalidDomainReason::IpAddress, "{address}");
        }
        assert_eq!(
            reason("0x7f.1"),
            InvalidDomainReason::NumericTld("1".into())
        );
        assert_eq!(reason("localhost"), InvalidDomainReason::SingleLabel);
        assert!(matches!(
            reason("exa mple.com"),
            InvalidDomainReason::BadLabel { .. }
        ));
        assert!(matches!(
            reason("example..com"),
            InvalidDomainReason::BadLabel { .. }
        ));
        assert!(matches!(
            reason("-example.com"),
            InvalidDomainReason::BadLabel { .. }
        ));
        assert!(matches!(
            reason("under_score.com"),
            InvalidDomainReason::BadLabel { .. }
        ));
        assert!(matches!(
            reason("not a domain"),
            InvalidDomainReason::BadLabel { .. }
        ));
        assert_eq!(
            reason("example.123"),
            InvalidDomainReason::NumericTld("123".into())
        );
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            reason(&long_label),
            InvalidDomainReason::BadLabel { .. }
        ));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert_eq!(reason(&long_name), InvalidDomainReason::TooLong);
    }

    #[test]
    fn error_message_names_the_input_and_the_reason() {
        let error = DomainName::parse("not a domain").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"not a domain\" is not a valid domain name: label \"not a domain\" has characters \
             other than letters, digits and hyphens"
        );
    }

    #[test]
    fn home_page_is_https_root() {
        let name = DomainName::parse("http://Example.com/x").unwrap();
        assert_eq!(name.home_page_url(), "https://example.com/");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever the input, a name accepted here is the host a URL
        /// parser finds in its home page URL: never an address, never
        /// another name.
        #[test]
        fn a_parsed_name_is_the_host_a_url_parser_reads(
            raw in r"(https?://)?(www\.)?([a-zA-Z0-9xX_\-]{0,6}\.){0,4}[a-zA-Z0-9xXéü\-]{0,6}\.?(:[0-9]{1,5})?(/[a-z]{0,3})?"
        ) {
            if let Ok(name) = DomainName::parse(&raw) {
                let url = url::Url::parse(&name.home_page_url()).unwrap();
                proptest::prop_assert_eq!(url.host(), Some(url::Host::Domain(name.as_str())));
            }
        }

        /// Arbitrary text never panics the parser.
        #[test]
        fn any_text_is_parsed_or_refused_without_panic(raw in proptest::prelude::any::<String>()) {
            let _ = DomainName::parse(&raw);
        }
    }
}
