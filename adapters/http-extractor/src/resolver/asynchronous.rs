//! The asynchronous resolver (hickory-resolver): `/etc/hosts`, then the
//! servers of `/etc/resolv.conf` or `fetch.nameservers`, with a cache of
//! answers and of NXDOMAIN. A lookup is a future and a UDP socket, not a
//! thread, so the thousands of names a worker waits on at once cost little.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;

use super::LookupFailed;
use super::config::Nameserver;
use crate::error::HttpExtractorError;

/// Responses kept, one per name and record type (A and AAAA): some 8,000
/// names, far more than are fetched at once, and a few MB at most. A name
/// is asked for again while its site is fetched (the home page, each
/// redirect hop, contact pages), seldom after.
const CACHE_ENTRIES: u64 = 16_384;

/// The shortest time an answer is kept, whatever its TTL: one site's
/// fetch (home page, redirects, contact pages) asks for its name several
/// times within a minute, and a TTL of 0 would send each to the server.
const POSITIVE_MIN_TTL: Duration = Duration::from_secs(30);

/// The longest: a run lasts hours and sites move.
const POSITIVE_MAX_TTL: Duration = Duration::from_secs(3600);

/// NXDOMAIN and "no address" are kept at least this long (an answer
/// without an SOA record has no negative TTL at all) ...
const NEGATIVE_MIN_TTL: Duration = Duration::from_secs(30);

/// ... and at most this long, so a domain registered during a run is
/// found again soon (RFC 2308 allows hours).
const NEGATIVE_MAX_TTL: Duration = Duration::from_secs(300);

/// The resolver, configured from `/etc/resolv.conf` (servers, search
/// list, timeout, attempts) unless `nameservers` are given, and reading
/// `/etc/hosts` either way.
///
/// # Errors
///
/// [`HttpExtractorError::Client`] when the system's configuration cannot
/// be read (no `/etc/resolv.conf`, or no server in it) and no
/// `nameservers` are given.
pub(super) fn build(nameservers: &[Nameserver]) -> Result<TokioResolver, HttpExtractorError> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = if nameservers.is_empty() {
        TokioResolver::builder(provider).map_err(|error| {
            HttpExtractorError::Client(format!(
                "cannot read the system's DNS configuration (/etc/resolv.conf): {error}; \
                 set fetch.nameservers, or fetch.dns = \"system\""
            ))
        })?
    } else {
        let servers = nameservers.iter().map(server_config).collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
    };
    let options = builder.options_mut();
    options.cache_size = CACHE_ENTRIES;
    options.positive_min_ttl = Some(POSITIVE_MIN_TTL);
    options.positive_max_ttl = Some(POSITIVE_MAX_TTL);
    options.negative_min_ttl = Some(NEGATIVE_MIN_TTL);
    options.negative_max_ttl = Some(NEGATIVE_MAX_TTL);
    options.use_hosts_file = ResolveHosts::Always;
    // Both families at once, IPv4 first: getaddrinfo asks for both too, and
    // on the many hosts without an IPv6 route an IPv6 address tried first
    // costs a connect attempt before the fallback.
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    builder
        .build()
        .map_err(|error| HttpExtractorError::Client(format!("cannot build the resolver: {error}")))
}

/// UDP, and TCP for answers too long for a datagram, on the server's port.
fn server_config(server: &Nameserver) -> NameServerConfig {
    let address = server.address();
    let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
        .into_iter()
        .map(|mut connection| {
            connection.port = address.port();
            connection
        })
        .collect();
    NameServerConfig::new(address.ip(), true, connections)
}

/// The addresses of `host` (lower case, no trailing dot), from the cache
/// when it holds them.
pub(super) async fn lookup(
    resolver: &TokioResolver,
    host: &str,
) -> Result<Vec<IpAddr>, LookupFailed> {
    if let Ok(address) = host.parse::<IpAddr>() {
        return Ok(vec![address]);
    }
    // A name with a dot is asked as an absolute name: a site's name is
    // never relative, and trying it under each search domain of
    // resolv.conf too would triple the queries for every dead domain.
    let name = if host.contains('.') {
        format!("{host}.")
    } else {
        host.to_owned()
    };
    match resolver.lookup_ip(name.as_str()).await {
        Ok(found) => Ok(found.iter().collect()),
        Err(error) => {
            let (reason, temporary) = reason(&error);
            Err(LookupFailed {
                host: host.to_owned(),
                reason,
                temporary,
            })
        }
    }
}

/// A short reason for the failure, and whether it may pass: only an
/// answer about the name (NXDOMAIN, or no address records) is final; a
/// server that failed, refused or never answered says nothing about it.
fn reason(error: &NetError) -> (String, bool) {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code, .. })) => {
            if *response_code == ResponseCode::NXDomain {
                ("no such domain (NXDOMAIN)".to_owned(), false)
            } else {
                ("no address for the name".to_owned(), false)
            }
        }
        NetError::Dns(DnsError::ResponseCode(code)) => {
            let reason = match code {
                ResponseCode::ServFail => "the DNS server failed to answer (SERVFAIL)".to_owned(),
                ResponseCode::Refused => "the DNS server refused the query (REFUSED)".to_owned(),
                other => format!("the DNS server answered {other} ({})", u16::from(*other)),
            };
            (reason, true)
        }
        NetError::Timeout => ("no answer from the DNS server in time".to_owned(), true),
        NetError::NoConnections => ("no DNS server reachable".to_owned(), true),
        NetError::Io(io) => (format!("cannot reach the DNS server: {io}"), true),
        other => (format!("DNS error: {other}"), true),
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use hickory_resolver::Hosts;
    use hickory_resolver::proto::op::Query;
    use hickory_resolver::proto::rr::{Name, RecordType};

    use super::*;

    fn no_records(code: ResponseCode) -> NetError {
        let query = Query::query(Name::from_ascii("acme.test.").unwrap(), RecordType::A);
        NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(query, code)))
    }

    #[test]
    fn only_an_answer_about_the_name_is_permanent() {
        let cases = [
            (no_records(ResponseCode::NXDomain), false, "NXDOMAIN"),
            (no_records(ResponseCode::NoError), false, "no address"),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)),
                true,
                "SERVFAIL",
            ),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)),
                true,
                "REFUSED",
            ),
            (NetError::Timeout, true, "in time"),
            (NetError::NoConnections, true, "no DNS server"),
            (
                NetError::Io(Arc::new(io::Error::from(io::ErrorKind::ConnectionRefused))),
                true,
                "cannot reach",
            ),
            (NetError::Busy, true, "DNS error"),
        ];
        for (error, temporary, words) in cases {
            let (reason, found) = reason(&error);
            assert_eq!(found, temporary, "{error}");
            assert!(reason.contains(words), "{error}: {reason}");
        }
    }

    #[tokio::test]
    async fn names_in_the_hosts_file_are_answered_without_asking_a_server() {
        // The only server is a closed port: any query would fail.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = Nameserver::new(closed.local_addr().unwrap());
        drop(closed);
        let mut resolver = build(&[server]).unwrap();
        let mut hosts = Hosts::default();
        hosts
            .read_hosts_conf(
                "192.0.2.7 intranet.acme.test\n2001:db8::7 intranet.acme.test\n".as_bytes(),
            )
            .unwrap();
        resolver.set_hosts(Arc::new(hosts));

        let found = lookup(&resolver, "intranet.acme.test").await.unwrap();

        assert_eq!(
            found,
            vec![
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                "2001:db8::7".parse::<IpAddr>().unwrap()
            ]
        );
    }

    #[tokio::test]
    async fn an_ip_address_is_its_own_answer() {
        let server = Nameserver::new(SocketAddr::from(([127, 0, 0, 1], 9)));
        let resolver = build(&[server]).unwrap();
        let found = lookup(&resolver, "192.0.2.1").await.unwrap();
        assert_eq!(found, vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))]);
    }

    #[test]
    fn the_resolver_is_built_outside_a_runtime() {
        let server = Nameserver::new(SocketAddr::from(([127, 0, 0, 1], 53)));
        assert!(build(&[server]).is_ok());
    }
}
