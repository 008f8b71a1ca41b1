//! [`ProxyUrl`]: the `fetch.proxy` every fetch goes through, checked when
//! read and never shown with its password.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::error::HttpExtractorError;

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
                "the scheme must be http or https (the proxy resolves names), socks5h (the proxy \
                 resolves names) or socks5 (names are resolved here, through the address filter)",
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

    /// The proxy's host when it is a name (not an address literal): the
    /// resolver lets it reach a private address.
    pub(crate) fn host_name(&self) -> Option<String> {
        match self.0.host() {
            Some(url::Host::Domain(name)) => Some(name.to_owned()),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_never_show() {
        let proxy = ProxyUrl::parse("socks5h://worker:s3cret@proxy.internal:1080").unwrap();
        assert_eq!(
            proxy.to_string(),
            "socks5h://worker:***@proxy.internal:1080"
        );
        assert!(!format!("{proxy:?}").contains("s3cret"));
        let bad_scheme = ProxyUrl::parse("ftp://worker:s3cret@proxy.internal").unwrap_err();
        assert!(bad_scheme.to_string().contains("scheme"), "{bad_scheme}");
        assert!(!bad_scheme.to_string().contains("s3cret"), "{bad_scheme}");
        let unparsable = ProxyUrl::parse("http://worker:s3cret@[bad").unwrap_err();
        assert!(!unparsable.to_string().contains("s3cret"), "{unparsable}");
    }
}
