//! Who may read the endpoint.
//!
//! - **Host.** A web page an operator has open could resolve its own name
//!   to this endpoint's address (DNS rebinding) and read `/api/status` as
//!   if it were the same site; the request then carries that page's name
//!   as `Host`. So a request is answered only when its `Host` is the
//!   address the endpoint listens on, an IP address when it listens on
//!   every interface (a rebinding page never sends one), `localhost` when
//!   it listens on a loopback address, or a name of `http.hosts`.
//! - **Token.** With `http.token_file`, `/metrics`, `/api/*` and the page
//!   ask for the token: `Authorization: Bearer <token>` (Prometheus's
//!   `authorization` setting), or HTTP Basic with the token as the
//!   password, which a browser asks for itself and then sends with every
//!   request of the page. `/healthz` and `/readyz` stay open: probes say
//!   nothing about the table.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::EndpointError;

/// The paths anyone who may reach the endpoint can read, token or not.
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// What a request must show to be answered.
#[derive(Clone)]
pub(crate) struct Guard {
    listen: SocketAddr,
    /// Lower-case names accepted as `Host`, besides the address.
    hosts: Arc<[String]>,
    token: Option<Arc<str>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never prints.
        f.debug_struct("Guard")
            .field("listen", &self.listen)
            .field("hosts", &self.hosts)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Guard {
    /// The guard of an endpoint on `listen` that accepts `hosts` as names
    /// and, when `token_file` is given, asks for the token it holds.
    ///
    /// # Errors
    ///
    /// [`EndpointError::TokenFile`] when the file cannot be read or holds
    /// no token.
    pub(crate) fn new(
        listen: SocketAddr,
        hosts: &[String],
        token_file: Option<&Path>,
    ) -> Result<Guard, EndpointError> {
        let token = token_file.map(read_token).transpose()?;
        let mut names: Vec<String> = hosts.iter().map(|host| host.to_ascii_lowercase()).collect();
        if listen.ip().is_loopback() {
            names.push("localhost".to_owned());
        }
        Ok(Guard {
            listen,
            hosts: names.into(),
            token: token.map(Arc::from),
        })
    }

    /// Whether the endpoint answers on more than this machine without a
    /// token: worth a warning at start.
    pub(crate) fn is_open_beyond_this_machine(&self) -> bool {
        self.token.is_none() && !self.listen.ip().is_loopback()
    }

    /// Whether `host` (a `Host` header's value) names this endpoint.
    fn accepts_host(&self, host: &str) -> bool {
        let name = host_name(host);
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return ip == self.listen.ip() || self.listen.ip().is_unspecified();
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&name)
    }

    fn accepts_credentials(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(presented_token)
            .any(|presented| same_secret(presented.as_bytes(), token.as_bytes()))
    }
}

/// The host part of a `Host` value: without the port, brackets kept.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

fn read_token(path: &Path) -> Result<String, EndpointError> {
    let failed = |reason: String| EndpointError::TokenFile {
        path: PathBuf::from(path),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| failed(error.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(failed("it holds no token".to_owned()));
    }
    if token.contains(char::is_whitespace) {
        return Err(failed(
            "a token is one word: no spaces or line breaks inside it".to_owned(),
        ));
    }
    Ok(token.to_owned())
}

/// The token an `Authorization` value presents: a bearer token, or the
/// password of Basic credentials (any user name).
fn presented_token(authorization: &str) -> Option<String> {
    let (scheme, credentials) = authorization.trim().split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(decode_base64(credentials)?).ok()?;
        return decoded
            .split_once(':')
            .map(|(_, password)| password.to_owned());
    }
    None
}

/// Standard base64 with padding, as Basic credentials are written; `None`
/// for anything else.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(symbol: u8) -> Option<u32> {
        match symbol {
            b'A'..=b'Z' => Some(u32::from(symbol - b'A')),
            b'a'..=b'z' => Some(u32::from(symbol - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(symbol - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut decoded = Vec::with_capacity(bytes.len() / 4 * 3);
    for (index, quad) in bytes.chunks(4).enumerate() {
        let last = index + 1 == bytes.len() / 4;
        let padding = quad
            .iter()
            .rev()
            .take_while(|&&symbol| symbol == b'=')
            .count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut bits = 0_u32;
        for &symbol in &quad[..4 - padding] {
            bits = (bits << 6) | value(symbol)?;
        }
        bits <<= 6 * padding as u32;
        let [_, first, second, third] = bits.to_be_bytes();
        decoded.extend_from_slice(&[first, second, third][..3 - padding]);
    }
    Some(decoded)
}

/// Compares two secrets in a time that depends on their lengths only.
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0_u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The middleware: a wrong `Host` is refused (421), a missing or wrong
/// token asked for (401) on every path but the probes.
pub(crate) async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    if !host.is_some_and(|host| guard.accepts_host(host)) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this endpoint does not answer to that Host; add the name to http.hosts\n",
        )
            .into_response();
    }
    if OPEN_PATHS.contains(&request.uri().path()) || guard.accepts_credentials(request.headers()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"domain-scheduler\", charset=\"UTF-8\"",
        )],
        "the token of http.token_file is needed: Authorization: Bearer <token>\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str, hosts: &[&str]) -> Guard {
        let hosts: Vec<String> = hosts.iter().map(|&host| host.to_owned()).collect();
        Guard::new(listen.parse().unwrap(), &hosts, None).unwrap()
    }

    #[test]
    fn only_the_listen_address_and_configured_names_are_accepted_as_host() {
        let local = guard("127.0.0.1:9464", &["Worker-1.internal"]);
        for host in [
            "127.0.0.1:9464",
            "127.0.0.1",
            "localhost:9464",
            "worker-1.internal:9464",
            "WORKER-1.internal.",
        ] {
            assert!(local.accepts_host(host), "{host}");
        }
        for host in [
            "attacker.example:9464",
            "127.0.0.2:9464",
            "[::1]:9464",
            "worker-1.internal.attacker.example",
            "",
        ] {
            assert!(!local.accepts_host(host), "{host}");
        }
        // On every interface: any address, still no other name.
        let everywhere = guard("[::]:9464", &[]);
        assert!(everywhere.accepts_host("10.1.2.3:9464"));
        assert!(everywhere.accepts_host("[fd00::1]:9464"));
        assert!(!everywhere.accepts_host("localhost:9464"));
        assert!(!everywhere.accepts_host("rebound.example:9464"));
        assert!(guard("[::1]:9464", &[]).accepts_host("[::1]:9464"));
    }

    #[test]
    fn the_token_is_taken_as_bearer_or_as_a_basic_password() {
        assert_eq!(presented_token("Bearer s3cret"), Some("s3cret".into()));
        assert_eq!(presented_token("bearer  s3cret "), Some("s3cret".into()));
        // "anyone:s3cret"
        assert_eq!(
            presented_token("Basic YW55b25lOnMzY3JldA=="),
            Some("s3cret".into())
        );
        assert_eq!(presented_token("Basic not-base64!"), None);
        assert_eq!(presented_token("Digest s3cret"), None);
        assert_eq!(decode_base64("YQ=="), Some(b"a".to_vec()));
        assert_eq!(decode_base64("YWI="), Some(b"ab".to_vec()));
        assert_eq!(decode_base64("YWJj"), Some(b"abc".to_vec()));
        assert_eq!(decode_base64("YQ==YWJj"), None);
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }

    #[test]
    fn a_token_file_must_hold_one_word() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  s3cret\n").unwrap();
        let listen = "0.0.0.0:9464".parse().unwrap();
        let guard = Guard::new(listen, &[], Some(&path)).unwrap();
        assert!(!guard.is_open_beyond_this_machine());
        assert!(!format!("{guard:?}").contains("s3cret"));
        let mut headers = HeaderMap::new();
        assert!(!guard.accepts_credentials(&headers));
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(guard.accepts_credentials(&headers));
        std::fs::write(&path, "\n").unwrap();
        assert!(Guard::new(listen, &[], Some(&path)).is_err());
        std::fs::write(&path, "two words").unwrap();
        assert!(Guard::new(listen, &[], Some(&path)).is_err());
        assert!(
            Guard::new(listen, &[], None)
                .unwrap()
                .is_open_beyond_this_machine()
        );
        assert!(
            !Guard::new("127.0.0.1:1".parse().unwrap(), &[], None)
                .unwrap()
                .is_open_beyond_this_machine()
        );
    }
}
