//! Turning the `href`s and `src`s a page writes into absolute web URLs.

use url::Url;

use crate::text::MAX_URL;

/// Resolves links against the final URL and `<base href>`.
#[derive(Debug)]
pub(crate) struct Resolver {
    base: Url,
}

impl Resolver {
    pub(crate) fn new(page_url: &Url, base_href: Option<&str>) -> Self {
        let base = base_href
            .and_then(|href| Self::join(page_url, href))
            .unwrap_or_else(|| page_url.clone());
        Self { base }
    }

    fn join(base: &Url, href: &str) -> Option<Url> {
        let href = href.trim();
        if href.is_empty() || href.len() > MAX_URL {
            return None;
        }
        let lower = href.get(..11).unwrap_or(href).to_ascii_lowercase();
        if ["javascript:", "data:", "mailto:", "tel:", "about:", "blob:"]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
        {
            return None;
        }
        // Protocol-relative links are fetched over https today.
        let url = match href.strip_prefix("//") {
            Some(rest) => Url::parse(&format!("https://{rest}")).ok()?,
            None => base.join(href).ok()?,
        };
        matches!(url.scheme(), "http" | "https").then_some(url)
    }

    /// What relative links are resolved against: `<base href>`, or the
    /// page's URL.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `href` as an absolute `http`/`https` URL.
    pub(crate) fn resolve_url(&self, href: &str) -> Option<Url> {
        Self::join(&self.base, href)
    }

    /// `href` as an absolute `http`/`https` URL of at most
    /// [`MAX_URL`] bytes, as stored.
    pub(crate) fn resolve(&self, href: &str) -> Option<String> {
        self.resolve_url(href)
            .map(String::from)
            .filter(|url| url.len() <= MAX_URL)
    }
}
