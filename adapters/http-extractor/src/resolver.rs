//! The DNS resolver reqwest connects through: configured rules first, else
//! the system resolver, then the address filter.
//!
//! Doing the filter here, where the addresses are chosen, covers every hop
//! of a redirect chain and leaves no gap between the check and the connect
//! (a name checked first and resolved again later could answer differently).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use dns_lookup::LookupErrorKind;
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
        let found = system_lookup(&host).await?;
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

/// The system resolver (getaddrinfo: `/etc/hosts`, nsswitch, DNS) on
/// tokio's blocking pool, its failure classified by the `EAI_*` code rather
/// than by a message that differs between C libraries.
async fn system_lookup(host: &str) -> Result<Vec<IpAddr>, LookupFailed> {
    let name = host.to_owned();
    let looked_up = tokio::task::spawn_blocking(move || {
        dns_lookup::lookup_host(&name).map(Iterator::collect::<Vec<IpAddr>>)
    })
    .await;
    match looked_up {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(error)) => {
            // The message reads "failed to lookup address information: Name
            // or service not known"; the reason is what is worth keeping.
            let text = error.to_string();
            let reason = text
                .strip_prefix("failed to lookup address information: ")
                .map_or_else(|| text.clone(), str::to_owned);
            Err(LookupFailed {
                host: host.to_owned(),
                reason,
                temporary: is_temporary(error.kind()),
            })
        }
        // The blocking pool is shutting down or the call panicked: nothing
        // was learnt about the name.
        Err(error) => Err(LookupFailed {
            host: host.to_owned(),
            reason: format!("the lookup did not finish: {error}"),
            temporary: true,
        }),
    }
}

/// Whether a failed lookup may succeed later. Only "no such name"
/// (`EAI_NONAME`, NXDOMAIN) and "no address for the name" (`EAI_NODATA`) say
/// something about the name; every other code says the resolver could not
/// answer (`EAI_AGAIN`: no server reachable, SERVFAIL) or failed in itself,
/// and condemning the domain for it would turn a DNS outage into errors.
fn is_temporary(kind: LookupErrorKind) -> bool {
    !matches!(kind, LookupErrorKind::NoName | LookupErrorKind::NoData)
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
    async fn an_unknown_name_is_a_permanent_lookup_failure_naming_the_host() {
        let resolver = GuardedResolver::new(Vec::new(), false);
        let error = resolver.lookup("no-such-host.invalid").await.unwrap_err();
        let failed = error.downcast_ref::<LookupFailed>().unwrap();
        assert_eq!(failed.host, "no-such-host.invalid");
        assert!(!failed.reason.is_empty());
        assert!(!failed.reason.starts_with("failed to"), "{failed}");
        // `.invalid` never exists (RFC 6761): the resolver says so, and that
        // is final.
        assert!(!failed.temporary, "{failed}");
    }

    #[test]
    fn only_an_answer_about_the_name_is_permanent() {
        let cases = [
            (LookupErrorKind::NoName, false),
            (LookupErrorKind::NoData, false),
            (LookupErrorKind::Again, true),
            (LookupErrorKind::Fail, true),
            (LookupErrorKind::System, true),
            (LookupErrorKind::Memory, true),
            (LookupErrorKind::IO, true),
            (LookupErrorKind::Unknown, true),
            (LookupErrorKind::Badflags, true),
            (LookupErrorKind::Family, true),
            (LookupErrorKind::Socktype, true),
            (LookupErrorKind::Service, true),
        ];
        for (kind, temporary) in cases {
            assert_eq!(is_temporary(kind), temporary, "{kind:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn getaddrinfo_codes_map_to_their_kinds() {
        // The codes as glibc and musl number them: musl's "Try again" text
        // for EAI_AGAIN is where reading the message went wrong.
        let temporary_of = |code| is_temporary(dns_lookup::LookupError::new(code).kind());
        assert!(temporary_of(libc::EAI_AGAIN));
        assert!(temporary_of(libc::EAI_FAIL));
        assert!(temporary_of(libc::EAI_SYSTEM));
        assert!(!temporary_of(libc::EAI_NONAME));
        assert!(!temporary_of(libc::EAI_NODATA));
    }
}
