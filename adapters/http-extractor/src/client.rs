//! [`HttpClient`]: the reqwest client every fetch goes through, with its
//! TLS roots, proxy, limits and headers, and the resolver it connects
//! through.

use std::sync::Arc;

use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, HeaderMap, HeaderValue};
use reqwest::{Client, redirect};

use crate::error::HttpExtractorError;
use crate::proxy::ProxyUrl;
use crate::resolver::{GuardedResolver, SharedResolver};
use crate::settings::FetchSettings;
use crate::tls;

const ACCEPT_VALUE: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5";
const ACCEPT_LANGUAGE_VALUE: &str = "en;q=0.9,*;q=0.5";

/// The client and the resolver it connects through. Cheap to clone: one
/// connection pool and one TLS configuration for all fetches.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    pub(crate) client: Client,
    /// The same resolver reqwest holds, kept for the address filter of IP
    /// literals and for naming addresses in errors.
    pub(crate) resolver: Arc<GuardedResolver>,
}

impl HttpClient {
    /// Builds the client: TLS roots, resolver, proxy, limits and headers.
    ///
    /// # Errors
    ///
    /// [`HttpExtractorError`] when an extra root certificate file cannot be
    /// read or holds no certificate, the system's DNS configuration cannot
    /// be read, the user agent is not a valid header value, the proxy is
    /// refused, or the client cannot be built.
    pub(crate) fn new(settings: &FetchSettings) -> Result<HttpClient, HttpExtractorError> {
        let tls = tls::client_config(&settings.extra_root_certificates)?;
        let resolver = Arc::new(
            GuardedResolver::new(
                settings.resolve.clone(),
                settings.allow_private_networks,
                settings.dns,
                &settings.nameservers,
            )?
            .trusting_proxy(settings.proxy.as_ref().and_then(ProxyUrl::host_name)),
        );
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
        Ok(HttpClient { client, resolver })
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
