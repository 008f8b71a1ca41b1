//! The DNS resolver reqwest connects through: configured rules first, else
//! the asynchronous resolver (`asynchronous`, the default) or the system's
//! (`system`), then the address filter.
//!
//! Doing the filter here, where the addresses are chosen, covers every hop
//! of a redirect chain and leaves no gap between the check and the connect
//! (a name checked first and resolved again later could answer differently).
//!
//! The rules themselves, [`ResolveRule`], are in `rule`; the operator's
//! choice of resolver and servers, [`DnsResolver`] and [`Nameserver`], in
//! `config`.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::TokioResolver;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address::is_public_address;
use crate::error::HttpExtractorError;

mod asynchronous;
mod config;
mod rule;
mod system;

pub use config::{DnsResolver, Nameserver};
pub use rule::ResolveRule;

/// How many host names [`GuardedResolver`] remembers the addresses of, for
/// naming them in connection errors. Cleared whole when full: it only
/// feeds messages.
const REMEMBERED_HOSTS: usize = 4096;

#[derive(Debug)]
pub(crate) struct GuardedResolver {
    rules: Vec<ResolveRule>,
    allow_private_networks: bool,
    /// The proxy's own host name, resolved without the address filter: the
    /// operator chose it, and proxies live on private networks.
    proxy_host: Option<String>,
    backend: Backend,
    recent: Mutex<HashMap<String, Vec<IpAddr>>>,
}

/// Where names that no rule covers are looked up.
#[derive(Debug)]
enum Backend {
    /// hickory-resolver, with its cache.
    Async(Box<TokioResolver>),
    /// getaddrinfo on the blocking pool.
    System,
}

/// The name resolves only to addresses the worker may not reach.
#[derive(Debug)]
pub(crate) struct ForbiddenAddress {
    pub(crate) host: String,
    pub(crate) address: IpAddr,
}

impl fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves to non-public address {}",
            self.host, self.address
        )
    }
}

impl StdError for ForbiddenAddress {}

/// The resolver found no address for the name.
#[derive(Debug)]
pub(crate) struct LookupFailed {
    pub(crate) host: String,
    pub(crate) reason: String,
    /// The resolver could not get an answer (no DNS server reachable, or
    /// one that failed): the name may well exist, so this is worth a retry.
    pub(crate) temporary: bool,
}

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.reason)
    }
}

impl StdError for LookupFailed {}

impl GuardedResolver {
    /// The resolver: `rules`, then `dns` (asking `nameservers` instead of
    /// resolv.conf's when some are given, with the asynchronous resolver).
    ///
    /// # Errors
    ///
    /// [`HttpExtractorError::Client`] when the asynchronous resolver is
    /// chosen, no `nameservers` are given and the system's DNS
    /// configuration cannot be read.
    pub(crate) fn new(
        rules: Vec<ResolveRule>,
        allow_private_networks: bool,
        dns: DnsResolver,
        nameservers: &[Nameserver],
    ) -> Result<GuardedResolver, HttpExtractorError> {
        let backend = match dns {
            DnsResolver::Async => Backend::Async(Box::new(asynchronous::build(nameservers)?)),
            DnsResolver::System => Backend::System,
        };
        Ok(GuardedResolver {
            rules,
            allow_private_networks,
            proxy_host: None,
            backend,
            recent: Mutex::new(HashMap::new()),
        })
    }

    /// The same resolver, answering `proxy_host` with every address it has,
    /// private ones included.
    pub(crate) fn trusting_proxy(mut self, proxy_host: Option<String>) -> GuardedResolver {
        self.proxy_host = proxy_host.map(|host| normalised(&host));
        self
    }

    pub(crate) fn allows(&self, address: IpAddr) -> bool {
        self.allow_private_networks || is_public_address(address)
    }

    /// The addresses last handed out for `host`, for error messages.
    pub(crate) fn recent_addresses(&self, host: &str) -> Vec<IpAddr> {
        self.recent
            .lock()
            .map(|recent| recent.get(host).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    fn remember(&self, host: &str, addresses: &[IpAddr]) {
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= REMEMBERED_HOSTS {
                recent.clear();
            }
            recent.insert(host.to_owned(), addresses.to_vec());
        }
    }

    /// The addresses `host` may be reached at: a rule's, or those the
    /// resolver found that the filter lets through. With the asynchronous
    /// resolver, a name asked for again within its TTL is answered from
    /// the cache, so calling this before a request costs the request's own
    /// lookup nothing.
    ///
    /// # Errors
    ///
    /// [`LookupFailed`] when the name has no address (permanent) or the
    /// resolver could not answer (temporary); [`ForbiddenAddress`] when
    /// every address found is one the filter refuses.
    pub(crate) async fn lookup(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn StdError + Send + Sync>> {
        let host = normalised(host);
        if let Some(address) = ResolveRule::find(&self.rules, &host) {
            self.remember(&host, &[address]);
            return Ok(vec![address]);
        }
        let found = match &self.backend {
            Backend::Async(resolver) => asynchronous::lookup(resolver, &host).await?,
            Backend::System => system::lookup(&host).await?,
        };
        let Some(&first) = found.first() else {
            return Err(Box::new(LookupFailed {
                host,
                reason: "no address found".to_owned(),
                temporary: false,
            }));
        };
        let is_proxy = self.proxy_host.as_deref() == Some(host.as_str());
        let allowed: Vec<IpAddr> = found
            .into_iter()
            .filter(|&ip| is_proxy || self.allows(ip))
            .collect();
        if allowed.is_empty() {
            return Err(Box::new(ForbiddenAddress {
                host,
                address: first,
            }));
        }
        self.remember(&host, &allowed);
        Ok(allowed)
    }
}

/// `host` as the resolver compares names: lower case, no final dot.
fn normalised(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The handle given to reqwest; the extractor keeps another to the same
/// resolver for its messages.
#[derive(Debug, Clone)]
pub(crate) struct SharedResolver(pub(crate) Arc<GuardedResolver>);

impl Resolve for SharedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = Arc::clone(&self.0);
        Box::pin(async move {
            let addresses = resolver.lookup(name.as_str()).await?;
            // Port 0: reqwest puts in the URL's port.
            let addrs: Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn rules(entries: &[(&str, &str)]) -> Vec<ResolveRule> {
        entries
            .iter()
            .map(|(pattern, address)| ResolveRule::parse(pattern, address).unwrap())
            .collect()
    }

    /// A resolver whose only DNS server is a port nothing answers on: what
    /// it resolves comes from rules, the hosts file or hickory itself.
    fn offline(rules: Vec<ResolveRule>, allow_private_networks: bool) -> GuardedResolver {
        let nowhere = Nameserver::new(SocketAddr::from(([127, 0, 0, 1], 9)));
        GuardedResolver::new(
            rules,
            allow_private_networks,
            DnsResolver::Async,
            &[nowhere],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn rules_answer_before_dns_and_their_private_addresses_are_trusted() {
        let resolver = offline(rules(&[("*.test", "127.0.0.7")]), false);
        let found = resolver.lookup("Shop.Acme.TEST.").await.unwrap();
        assert_eq!(found, vec!["127.0.0.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(resolver.recent_addresses("shop.acme.test"), found);
    }

    #[tokio::test]
    async fn a_name_mapped_to_loopback_is_refused_unless_private_networks_are_allowed() {
        let system =
            |allow| GuardedResolver::new(Vec::new(), allow, DnsResolver::System, &[]).unwrap();
        for (guarded, open) in [
            (offline(Vec::new(), false), offline(Vec::new(), true)),
            (system(false), system(true)),
        ] {
            let error = guarded.lookup("localhost").await.unwrap_err();
            let forbidden = error.downcast_ref::<ForbiddenAddress>().unwrap();
            assert_eq!(forbidden.host, "localhost");
            assert!(forbidden.address.is_loopback(), "{}", forbidden.address);

            let found = open.lookup("localhost").await.unwrap();
            assert!(!found.is_empty());
            assert!(found.iter().all(IpAddr::is_loopback), "{found:?}");
        }
    }

    #[tokio::test]
    async fn the_proxys_own_name_may_resolve_to_a_private_address_and_only_it() {
        let proxy_is_local =
            offline(Vec::new(), false).trusting_proxy(Some("LocalHost.".to_owned()));
        let found = proxy_is_local.lookup("localhost").await.unwrap();
        assert!(found.iter().all(IpAddr::is_loopback), "{found:?}");

        let proxy_is_elsewhere =
            offline(Vec::new(), false).trusting_proxy(Some("proxy.internal".to_owned()));
        let error = proxy_is_elsewhere.lookup("localhost").await.unwrap_err();
        assert!(
            error.downcast_ref::<ForbiddenAddress>().is_some(),
            "{error}"
        );
    }
}
