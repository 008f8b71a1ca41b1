//! Why fetching or extracting a site failed, and whether to try again.

/// Whether a failure is worth another attempt later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// The same request will fail the same way: give up (`error`).
    Permanent,
    /// The site or the network may recover: retry with a backoff until the
    /// attempts are spent.
    Transient,
}

/// A failure to get metadata for one domain. Each variant knows its
/// [`FailureKind`]; the message is what lands in `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractionError {
    /// The stored value is not a domain name.
    #[error("{0}")]
    InvalidDomain(#[from] crate::DomainNameError),
    /// The name does not resolve (no such host).
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    /// The TCP connection was refused, reset or unreachable.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The TLS handshake failed (bad or expired certificate, protocol error).
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The connect or total timeout elapsed.
    #[error("timed out after {seconds}s")]
    Timeout {
        /// The limit that elapsed, in seconds.
        seconds: u64,
    },
    /// The server answered with an HTTP error status.
    #[error("HTTP {status} from {url}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The URL that answered it.
        url: String,
    },
    /// The page is not HTML (an image, a PDF, JSON, ...).
    #[error("not an HTML page (content-type {content_type}) at {url}")]
    NotHtml {
        /// The `Content-Type` the server sent.
        content_type: String,
        /// The URL that answered it.
        url: String,
    },
    /// More than the allowed number of redirects, or a redirect loop.
    #[error("too many redirects (more than {limit})")]
    TooManyRedirects {
        /// The limit.
        limit: usize,
    },
    /// The name resolves to an address the worker is not allowed to reach
    /// (loopback, private or link-local, unless configured otherwise).
    #[error("refused to fetch {host}: it resolves to a non-public address {address}")]
    ForbiddenAddress {
        /// The host name.
        host: String,
        /// The address it resolved to.
        address: String,
    },
    /// The page arrived but could not be processed (the parser failed on
    /// it): the same bytes would fail the same way.
    #[error("could not extract the page: {0}")]
    Unprocessable(String),
    /// A bot-protection service (Cloudflare, Akamai, DataDome,
    /// PerimeterX, ...) answered with a challenge instead of the site: the
    /// content was never seen. Worth a later attempt (challenges come and
    /// go with the service's mood), never an immediate one.
    #[error("bot challenge by {provider}: not retried before the next scheduled attempt")]
    BotChallenge {
        /// The service, e.g. `Cloudflare`.
        provider: String,
    },
    /// Anything else (a protocol error in the middle of the body, ...).
    #[error("{0}")]
    Other(String),
}

impl ExtractionError {
    /// Whether a later attempt may succeed. 408, 425, 429 and 5xx answers,
    /// time-outs, broken connections and unclassified failures (`Other`)
    /// are transient; everything else is permanent.
    pub fn kind(&self) -> FailureKind {
        match self {
            ExtractionError::Connection(_)
            | ExtractionError::Timeout { .. }
            | ExtractionError::BotChallenge { .. }
            | ExtractionError::Other(_) => FailureKind::Transient,
            ExtractionError::HttpStatus { status, .. }
                if matches!(status, 408 | 425 | 429) || *status >= 500 =>
            {
                FailureKind::Transient
            }
            _ => FailureKind::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ExtractionError {
        ExtractionError::HttpStatus {
            status,
            url: "https://example.com/".into(),
        }
    }

    #[test]
    fn client_errors_are_permanent_but_throttling_and_server_errors_are_not() {
        assert_eq!(status(404).kind(), FailureKind::Permanent);
        assert_eq!(status(403).kind(), FailureKind::Permanent);
        assert_eq!(status(429).kind(), FailureKind::Transient);
        assert_eq!(status(408).kind(), FailureKind::Transient);
        assert_eq!(status(503).kind(), FailureKind::Transient);
    }

    #[test]
    fn network_failures_are_transient_and_bad_names_are_permanent() {
        assert_eq!(
            ExtractionError::Timeout { seconds: 30 }.kind(),
            FailureKind::Transient
        );
        assert_eq!(
            ExtractionError::Connection("reset".into()).kind(),
            FailureKind::Transient
        );
        assert_eq!(
            ExtractionError::Dns("no such host".into()).kind(),
            FailureKind::Permanent
        );
        let invalid = crate::DomainName::parse("nope").unwrap_err();
        assert_eq!(
            ExtractionError::from(invalid).kind(),
            FailureKind::Permanent
        );
    }

    #[test]
    fn a_bot_challenge_is_retried_later_and_names_the_service() {
        let challenge = ExtractionError::BotChallenge {
            provider: "Cloudflare".into(),
        };
        assert_eq!(challenge.kind(), FailureKind::Transient);
        assert_eq!(
            challenge.to_string(),
            "bot challenge by Cloudflare: not retried before the next scheduled attempt"
        );
    }

    #[test]
    fn messages_say_what_happened() {
        assert_eq!(
            status(404).to_string(),
            "HTTP 404 from https://example.com/"
        );
        assert_eq!(
            ExtractionError::Timeout { seconds: 30 }.to_string(),
            "timed out after 30s"
        );
    }
}
