//! The DNS resolver reqwest connects through: configured rules first, else
//! the system resolver, then the address filter.
//!
//! Doing the filter here, where the addresses are chosen, covers every hop
//! of a redirect chain and leaves no gap between the check and the connect
//! (a name checked first and resolved again later could answer differently).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address::is_public_address;
use crate::settings::ResolveRule;

/// How many host names [`GuardedResolver`] remembers the addresses of, for
/// naming them in connection errors. Cleared whole when full: it only
/// feeds messages.
const REMEMBERED_HOSTS: usize = 4096;

#[derive(Debug)]
pub(crate) struct GuardedResolver {
    rules: Vec<ResolveRule>,
    allow_private_networks: bool,
    recent: Mutex<HashMap<String, Vec<IpAddr>>>,
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

/// The system resolver found no address for the name.
#[derive(Debug)]
pub(crate) struct LookupFailed {
    pub(crate) host: String,
    pub(crate) reason: String,
    /// The resolver could not get an answer (no DNS server reachable):
    /// the name may well exist, so this is worth a retry.
    pub(crate) temporary: bool,
}

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.reason)
    }
}

impl StdError for LookupFailed {}

impl GuardedResolver {
    pub(crate) fn new(rules: Vec<ResolveRule>, allow_private_networks: bool) -> GuardedResolver {
        GuardedResolver {
            rules,
            allow_private_networks,
            recent: Mutex::new(HashMap::new()),
        }
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

    pub(crate) async fn lookup(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn StdError + Send + Sync>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(address) = ResolveRule::find(&self.rules, &host) {
            self.remember(&host, &[address]);
            return Ok(vec![address]);
        }
        let found: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|error| {
                let reason = lookup_reason(&error);
                LookupFailed {
                    host: host.clone(),
                    temporary: reason.contains("Temporary failure") || reason.contains("EAI_AGAIN"),
                    reason,
                }
            })?
            .map(|socket| socket.ip())
            .collect();
        let Some(&first) = found.first() else {
            return Err(Box::new(LookupFailed {
                host,
                reason: "no address found".to_owned(),
                temporary: false,
            }));
        };
        let allowed: Vec<IpAddr> = found.into_iter().filter(|&ip| self.allows(ip)).collect();
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

fn lookup_reason(error: &io::Error) -> String {
    // getaddrinfo's message for NXDOMAIN is "failed to lookup address
    // information: Name or service not known"; keep only the reason.
    let text = error.to_string();
    match text.strip_prefix("failed to lookup address information: ") {
        Some(reason) => reason.to_owned(),
        None => text,
    }
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
    use super::*;

    fn rules(entries: &[(&str, &str)]) -> Vec<ResolveRule> {
        entries
            .iter()
            .map(|(pattern, address)| ResolveRule::parse(pattern, address).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn rules_answer_before_dns_and_their_private_addresses_are_trusted() {
        let resolver = GuardedResolver::new(rules(&[("*.test", "127.0.0.7")]), false);
        let found = resolver.lookup("Shop.Acme.TEST.").await.unwrap();
        assert_eq!(found, vec!["127.0.0.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(resolver.recent_addresses("shop.acme.test"), found);
    }

    #[tokio::test]
    async fn a_name_the_system_maps_to_loopback_is_refused_unless_private_networks_are_allowed() {
        let guarded = GuardedResolver::new(Vec::new(), false);
        let error = guarded.lookup("localhost").await.unwrap_err();
        let forbidden = error.downcast_ref::<ForbiddenAddress>().unwrap();
        assert_eq!(forbidden.host, "localhost");
        assert!(forbidden.address.is_loopback(), "{}", forbidden.address);

        let open = GuardedResolver::new(Vec::new(), true);
        let found = open.lookup("localhost").await.unwrap();
        assert!(found.iter().all(IpAddr::is_loopback), "{found:?}");
    }

    #[tokio::test]
    async fn an_unknown_name_is_a_lookup_failure_naming_the_host() {
        let resolver = GuardedResolver::new(Vec::new(), false);
        let error = resolver.lookup("no-such-host.invalid").await.unwrap_err();
        let failed = error.downcast_ref::<LookupFailed>().unwrap();
        assert_eq!(failed.host, "no-such-host.invalid");
        assert!(!failed.reason.is_empty());
    }
}
