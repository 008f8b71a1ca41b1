//! What the operator chooses about DNS: [`DnsResolver`], which resolver
//! answers, and [`Nameserver`], the servers it asks instead of
//! `/etc/resolv.conf`'s.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Which resolver turns host names into addresses (config key `dns`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsResolver {
    /// hickory-resolver: `/etc/hosts`, then the servers of
    /// `/etc/resolv.conf` (or `fetch.nameservers`) over UDP and TCP, its
    /// answers and NXDOMAIN cached for their TTL. A lookup is a future on
    /// the runtime, so thousands can wait at once.
    #[default]
    Async,
    /// The C library's getaddrinfo, one blocking thread per lookup and no
    /// cache: for hosts whose names come from nsswitch sources other than
    /// files and DNS (LDAP, mDNS).
    System,
}

impl fmt::Display for DnsResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsResolver::Async => "async",
            DnsResolver::System => "system",
        })
    }
}

/// A DNS server to ask instead of those of `/etc/resolv.conf`: an address
/// and a port (53 unless given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nameserver(SocketAddr);

/// Port 53, where DNS servers listen unless told otherwise.
const DNS_PORT: u16 = 53;

impl Nameserver {
    /// The server at `address`.
    pub fn new(address: SocketAddr) -> Nameserver {
        Nameserver(address)
    }

    /// Its address and port.
    pub fn address(&self) -> SocketAddr {
        self.0
    }
}

/// `"192.0.2.53"`, `"192.0.2.53:5353"`, `"2001:db8::53"` or
/// `"[2001:db8::53]:5353"`.
impl FromStr for Nameserver {
    type Err = String;

    fn from_str(text: &str) -> Result<Nameserver, String> {
        let trimmed = text.trim();
        let bare = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(trimmed);
        let address = match bare.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, DNS_PORT),
            Err(_) => trimmed.parse::<SocketAddr>().map_err(|_| {
                format!("{text:?} is not an IP address, or an IP address and a port")
            })?,
        };
        if address.port() == 0 {
            return Err(format!("{text:?} has port 0"));
        }
        Ok(Nameserver(address))
    }
}

impl fmt::Display for Nameserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for Nameserver {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Nameserver, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|reason| {
            serde::de::Error::custom(format!(
                "fetch.nameservers: {reason} (expected \"ip\" or \"ip:port\", e.g. \
                 \"127.0.0.53\" or \"[::1]:5353\")"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<String, String> {
        text.parse::<Nameserver>().map(|server| server.to_string())
    }

    #[test]
    fn a_nameserver_is_an_address_with_port_53_unless_given() {
        assert_eq!(parsed("192.0.2.53").as_deref(), Ok("192.0.2.53:53"));
        assert_eq!(parsed(" 127.0.0.1:5353 ").as_deref(), Ok("127.0.0.1:5353"));
        assert_eq!(parsed("2001:db8::53").as_deref(), Ok("[2001:db8::53]:53"));
        assert_eq!(parsed("[2001:db8::53]").as_deref(), Ok("[2001:db8::53]:53"));
        assert_eq!(parsed("[::1]:5353").as_deref(), Ok("[::1]:5353"));
    }

    #[test]
    fn a_bad_nameserver_says_what_is_wrong() {
        assert!(
            parsed("dns.example")
                .unwrap_err()
                .contains("not an IP address")
        );
        assert!(parsed("127.0.0.1:99999").is_err());
        assert!(parsed("127.0.0.1:0").unwrap_err().contains("port 0"));
        assert!(parsed("").is_err());
    }

    #[test]
    fn the_resolver_reads_as_written() {
        let choice: DnsResolver = serde_json::from_str("\"system\"").unwrap();
        assert_eq!(choice, DnsResolver::System);
        assert_eq!(DnsResolver::default().to_string(), "async");
        assert!(serde_json::from_str::<DnsResolver>("\"libc\"").is_err());
    }
}
