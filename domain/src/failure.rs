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
    /// The page came too slowly to be worth waiting for (a host that
    /// trickles its answer): fewer than `bytes` in `seconds`.
    #[error("too slow: fewer than {bytes} bytes of the page in {seconds}s")]
    TooSlow {
        /// The least a window had to bring.
        bytes: usize,
        /// The window, in seconds.
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
    /// The site's `robots.txt` disallows the page for our user agent
    /// (only with `fetch.robots = "obey"`). Permanent: the site said no.
    #[error("disallowed by robots.txt: {url}")]
    DisallowedByRobots {
        /// The page that was not fetched.
        url: String,
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
    /// A URL (a redirect's target, a contact page's link) on a port that
    /// browsers never fetch (the Fetch standard's "bad ports": mail, IRC,
    /// SSH, ...): the web server of a site has no business sending the
    /// worker there. Permanent.
    #[error("blocked port {port}: {url} is not fetched (browsers never fetch this port)")]
    BlockedPort {
        /// The URL refused.
        url: String,
        /// Its port.
        port: u16,
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
    /// The site's IP address already has as many requests in flight as
    /// the worker allows one address, or asked for time (429, 503): the
    /// domain is handed back untouched, to be tried after `retry_in_seconds`,
    /// its attempt not counted. Nothing went wrong with the site.
    #[error("address busy: {address} (tried again in {retry_in_seconds}s)")]
    AddressBusy {
        /// The IP address.
        address: String,
        /// How long to wait before trying again.
        retry_in_seconds: u64,
    },
    /// Anything else (a protocol error in the middle of the body, ...).
    #[error("{0}")]
    Other(String),
}

impl ExtractionError {
    /// How long to wait before trying a domain that was handed back
    /// without being tried ([`ExtractionError::AddressBusy`]); `None` for a
    /// failure, which costs an attempt.
    pub fn deferral(&self) -> Option<std::time::Duration> {
        match self {
            ExtractionError::AddressBusy {
                retry_in_seconds, ..
            } => Some(std::time::Duration::from_secs(*retry_in_seconds)),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed. 408, 425, 429 and 5xx answers,
    /// time-outs, broken connections and unclassified failures (`Other`)
    /// are transient; everything else is permanent.
    pub fn kind(&self) -> FailureKind {
        match self {
            ExtractionError::Connection(_)
            | ExtractionError::Timeout { .. }
            | ExtractionError::TooSlow { .. }
            | ExtractionError::BotChallenge { .. }
            | ExtractionError::AddressBusy { .. }
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

/// How the messages of one kind of failure read. Plain text, not a query
/// language: each repository matches it its own way (the SQL ones build a
/// `LIKE` from it, [`error_kind`] compares in Rust), so that all of them
/// group `last_error` by the same table. Case-sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageShape {
    /// The message begins with this text.
    StartsWith(&'static str),
    /// The message has this text somewhere.
    Contains(&'static str),
}

impl MessageShape {
    /// The text the shape looks for.
    pub fn text(self) -> &'static str {
        match self {
            MessageShape::StartsWith(text) | MessageShape::Contains(text) => text,
        }
    }

    /// Whether `message` has this shape.
    pub fn matches(self, message: &str) -> bool {
        match self {
            MessageShape::StartsWith(prefix) => message.starts_with(prefix),
            MessageShape::Contains(text) => message.contains(text),
        }
    }
}

/// One kind of failure as `status` groups `last_error`: its name and the
/// shape of its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKindRule {
    /// The kind's name.
    pub kind: &'static str,
    /// How the messages of the kind read.
    pub shape: MessageShape,
    /// When set, the kind is the message's first this many characters
    /// instead (`HTTP 404`): the status code tells more than "HTTP".
    pub keep_prefix: Option<u8>,
}

const fn starts_with(kind: &'static str, prefix: &'static str) -> ErrorKindRule {
    ErrorKindRule {
        kind,
        shape: MessageShape::StartsWith(prefix),
        keep_prefix: None,
    }
}

const fn contains(kind: &'static str, text: &'static str) -> ErrorKindRule {
    ErrorKindRule {
        kind,
        shape: MessageShape::Contains(text),
        keep_prefix: None,
    }
}

/// The kinds of `last_error`, first match wins; a message matching none is
/// of kind `other`. The shapes follow the messages of [`ExtractionError`],
/// of invalid names, of the rescue sweep
/// ([`crate::stored::lease_expired_message`]) and of failed writes.
pub const ERROR_KINDS: &[ErrorKindRule] = &[
    ErrorKindRule {
        kind: "HTTP",
        shape: MessageShape::StartsWith("HTTP "),
        keep_prefix: Some(8),
    },
    starts_with("robots", "disallowed by robots.txt"),
    starts_with("dns", "DNS lookup failed"),
    starts_with("timeout", "timed out"),
    starts_with("too slow", "too slow:"),
    starts_with("connection", "connection failed"),
    starts_with("tls", "TLS failed"),
    starts_with("bot challenge", "bot challenge by"),
    starts_with("not html", "not an HTML page"),
    starts_with("redirects", "too many redirects"),
    starts_with("private address", "refused to fetch"),
    starts_with("blocked port", "blocked port"),
    starts_with("unprocessable", "could not extract the page"),
    starts_with("address busy", "address busy:"),
    starts_with("lease expired", "lease expired after"),
    starts_with("write failed", "could not write the result"),
    contains("invalid domain", "is not a valid domain name:"),
];

/// The kind name of messages that match no rule of [`ERROR_KINDS`].
pub const OTHER_ERROR_KIND: &str = "other";

/// The kind of a `last_error` message by [`ERROR_KINDS`].
pub fn error_kind(message: &str) -> String {
    ERROR_KINDS
        .iter()
        .find(|rule| rule.shape.matches(message))
        .map_or_else(
            || OTHER_ERROR_KIND.to_owned(),
            |rule| match rule.keep_prefix {
                Some(keep) => message.chars().take(usize::from(keep)).collect(),
                None => rule.kind.to_owned(),
            },
        )
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
    fn a_page_disallowed_by_robots_is_permanent() {
        let disallowed = ExtractionError::DisallowedByRobots {
            url: "https://example.com/".into(),
        };
        assert_eq!(disallowed.kind(), FailureKind::Permanent);
        assert_eq!(
            disallowed.to_string(),
            "disallowed by robots.txt: https://example.com/"
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

    #[test]
    fn only_a_busy_address_defers_a_domain_instead_of_failing_it() {
        let busy = ExtractionError::AddressBusy {
            address: "203.0.113.7".into(),
            retry_in_seconds: 12,
        };
        assert_eq!(busy.deferral(), Some(std::time::Duration::from_secs(12)));
        assert_eq!(status(429).deferral(), None);
        assert_eq!(ExtractionError::Timeout { seconds: 30 }.deferral(), None);
    }

    #[test]
    fn every_failure_message_has_a_kind_of_its_own() {
        let url = "https://example.com/".to_owned();
        let cases = [
            (status(404), "HTTP 404"),
            (status(503), "HTTP 503"),
            (ExtractionError::Dns("no such host".into()), "dns"),
            (ExtractionError::Timeout { seconds: 20 }, "timeout"),
            (
                ExtractionError::TooSlow {
                    bytes: 10_240,
                    seconds: 10,
                },
                "too slow",
            ),
            (ExtractionError::Connection("reset".into()), "connection"),
            (ExtractionError::Tls("expired".into()), "tls"),
            (
                ExtractionError::BotChallenge {
                    provider: "Akamai".into(),
                },
                "bot challenge",
            ),
            (
                ExtractionError::NotHtml {
                    content_type: "image/png".into(),
                    url,
                },
                "not html",
            ),
            (ExtractionError::TooManyRedirects { limit: 10 }, "redirects"),
            (
                ExtractionError::DisallowedByRobots {
                    url: "https://example.com/".into(),
                },
                "robots",
            ),
            (
                ExtractionError::ForbiddenAddress {
                    host: "a.example".into(),
                    address: "10.0.0.1".into(),
                },
                "private address",
            ),
            (
                ExtractionError::BlockedPort {
                    url: "http://example.com:25/".into(),
                    port: 25,
                },
                "blocked port",
            ),
            (
                ExtractionError::Unprocessable("bad".into()),
                "unprocessable",
            ),
            (
                ExtractionError::from(crate::DomainName::parse("nope").unwrap_err()),
                "invalid domain",
            ),
            (
                ExtractionError::AddressBusy {
                    address: "203.0.113.7".into(),
                    retry_in_seconds: 10,
                },
                "address busy",
            ),
            (ExtractionError::Other("odd".into()), OTHER_ERROR_KIND),
        ];
        for (failure, kind) in cases {
            assert_eq!(error_kind(&failure.to_string()), kind, "{failure}");
        }
        assert_eq!(
            error_kind(&crate::stored::lease_expired_message(3)),
            "lease expired"
        );
        assert_eq!(
            error_kind("could not write the result: database unavailable: gone"),
            "write failed"
        );
        // A retry's suffix does not change the kind.
        assert_eq!(
            error_kind("timed out after 20s (gave up after 3 attempts)"),
            "timeout"
        );
    }

    #[test]
    fn shapes_match_at_the_start_or_anywhere_with_case() {
        assert!(MessageShape::StartsWith("HTTP ").matches("HTTP 404 from x"));
        assert!(!MessageShape::StartsWith("HTTP ").matches("got HTTP 404"));
        assert!(!MessageShape::StartsWith("HTTP ").matches("http 404"));
        assert!(MessageShape::Contains("not valid").matches("x is not valid: y"));
        assert!(!MessageShape::Contains("not valid").matches("x is NOT VALID"));
    }
}
