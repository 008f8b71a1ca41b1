//! How a failed request (or a challenge page) becomes an
//! [`ExtractionError`].

use std::error::Error as StdError;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use scheduler_domain::{ExtractionError, SiteMetadata};
use url::Url;

use crate::resolver::{ForbiddenAddress, GuardedResolver, LookupFailed};

/// rustls names a certificate's names in their debug form
/// (`DnsName("acme.test")`): shown to people as the names they are.
fn plain_names(message: &str) -> String {
    const OPEN: &str = "DnsName(\"";
    let mut plain = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find("\")") else {
            break;
        };
        plain.push_str(&rest[..start]);
        plain.push_str(&after[..end]);
        rest = &after[end + 2..];
    }
    plain.push_str(rest);
    plain
}

/// What one request attempt needs to turn a reqwest error into a clear,
/// classified [`ExtractionError`].
pub(crate) struct ErrorContext<'a> {
    pub(crate) url: &'a Url,
    pub(crate) connect_timeout: Duration,
    pub(crate) total_timeout: Duration,
    pub(crate) resolver: &'a GuardedResolver,
}

impl ErrorContext<'_> {
    pub(crate) fn classify(&self, error: &reqwest::Error) -> ExtractionError {
        let causes = causes(error);
        for cause in &causes {
            if let Some(forbidden) = cause.downcast_ref::<ForbiddenAddress>() {
                return ExtractionError::ForbiddenAddress {
                    host: forbidden.host.clone(),
                    address: forbidden.address.to_string(),
                };
            }
            if let Some(failed) = cause.downcast_ref::<LookupFailed>() {
                return if failed.temporary {
                    ExtractionError::Other(format!("DNS lookup failed for now: {failed}"))
                } else {
                    ExtractionError::Dns(failed.to_string())
                };
            }
            if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
                let tls = plain_names(&tls.to_string());
                return ExtractionError::Tls(format!("{tls} ({})", self.host_port()));
            }
        }
        if error.is_timeout() {
            let limit = if error.is_connect() {
                self.connect_timeout
            } else {
                self.total_timeout
            };
            return ExtractionError::Timeout {
                seconds: whole_seconds(limit),
            };
        }
        for cause in &causes {
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                let what = match io.kind() {
                    io::ErrorKind::ConnectionRefused => REFUSED,
                    io::ErrorKind::ConnectionReset => "connection reset",
                    io::ErrorKind::ConnectionAborted => "connection aborted",
                    io::ErrorKind::HostUnreachable => "host unreachable",
                    io::ErrorKind::NetworkUnreachable => "network unreachable",
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => {
                        "connection closed by the server"
                    }
                    _ => continue,
                };
                return ExtractionError::Connection(format!("{what} ({})", self.peer()));
            }
        }
        let detail = describe(&causes);
        if error.is_connect() {
            ExtractionError::Connection(format!("{detail} ({})", self.peer()))
        } else {
            ExtractionError::Other(format!("{detail} ({})", self.url))
        }
    }

    fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    fn host_port(&self) -> String {
        format!(
            "{}:{}",
            self.url.host_str().unwrap_or_default(),
            self.port()
        )
    }

    /// `127.0.0.9:443`, or `acme.test:443` when the address is not known.
    fn peer(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        let addresses: Vec<IpAddr> = match self.url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            _ => self.resolver.recent_addresses(&host.to_ascii_lowercase()),
        };
        if addresses.is_empty() {
            return self.host_port();
        }
        addresses
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, self.port()).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How a refused connection's `Connection` message begins.
const REFUSED: &str = "connection refused";

/// Whether `error` is a refused connection: nothing listens on the port,
/// so another URL of the site may be worth a try where a reset or an
/// unreachable network is not.
pub(crate) fn is_refused(error: &ExtractionError) -> bool {
    matches!(error, ExtractionError::Connection(message) if message.starts_with(REFUSED))
}

/// A page the extractor read as a bot challenge, as the error it is.
pub(crate) fn challenge_error(metadata: &SiteMetadata) -> ExtractionError {
    ExtractionError::BotChallenge {
        provider: metadata
            .site_kind_detail
            .clone()
            .unwrap_or_else(|| "an unknown service".to_owned()),
    }
}

/// A time limit in whole seconds, rounded up so a sub-second limit does not
/// read "timed out after 0s".
pub(crate) fn whole_seconds(limit: Duration) -> u64 {
    limit.as_secs() + u64::from(limit.subsec_nanos() > 0)
}

/// The error and its causes, outermost first. An `io::Error` that wraps
/// another error reports that error's source as its own, skipping the
/// wrapped error itself; the wrapped one is what tells (a rustls alert, a
/// resolver refusal), so it is visited instead.
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut found = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        found.push(current);
        if found.len() > 32 {
            break;
        }
        next = match current
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    found
}

/// The causes below reqwest's own "error sending request for url (...)",
/// joined, without repeats or stage labels.
fn describe(causes: &[&(dyn StdError + 'static)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes.iter().skip(1) {
        let text = cause.to_string();
        // hyper-util's "client error (SendRequest)" and "client error
        // (Connect)" only say which stage failed; the causes below say why.
        if text.is_empty()
            || text.starts_with("client error (")
            || parts.iter().any(|part| part.contains(&text))
        {
            continue;
        }
        parts.push(text);
    }
    if parts.is_empty() {
        causes
            .first()
            .map(|cause| cause.to_string())
            .unwrap_or_default()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_read_as_names() {
        assert_eq!(
            plain_names(
                r#"invalid peer certificate: certificate is only valid for DnsName("acme.test") or DnsName("*.acme.test")"#
            ),
            "invalid peer certificate: certificate is only valid for acme.test or *.acme.test"
        );
        assert_eq!(plain_names("expired"), "expired");
        assert_eq!(plain_names(r#"odd DnsName("x"#), r#"odd DnsName("x"#);
    }

    #[test]
    fn sub_second_limits_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(300)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn causes_look_inside_io_errors() {
        let inner = LookupFailed {
            host: "acme.test".to_owned(),
            reason: "no address found".to_owned(),
            temporary: false,
        };
        let outer = io::Error::other(inner);
        let chain = causes(&outer);
        assert!(chain.iter().any(|cause| cause.is::<LookupFailed>()));
    }
}
