//! A real local HTTPS server that plays several web sites, for tests that
//! go through the extractor's whole https path (DNS override, TLS with a
//! private CA, redirects, limits).
//!
//! Each server listens on port 443 of a loopback address `127.x.y.z` chosen
//! at random (tests run in parallel processes; a taken address is retried),
//! with a CA and a leaf certificate made at start-up (and, if asked, on
//! port 80 with plain HTTP, or on that port alone). Sites are chosen by
//! the `Host` header. The responder is a minimal HTTP/1.1 one written here,
//! one request per connection unless asked to keep connections alive, so
//! hostile answers (a body that never ends or trickles, garbage, a hang-up)
//! are easy to play.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use scheduler_tests::https_fixture::{FixtureServer, Site};
//! let server = FixtureServer::builder()
//!     .site("acme.test", Site::html("<title>Acme</title>"))
//!     .site("gone.test", Site::status(404))
//!     .start()
//!     .await?;
//! let settings = server.fetch_settings(); // resolve rules + the CA
//! # drop(settings);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use scheduler_http_extractor::{FetchSettings, ResolveRule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The longest request head read; a longer one gets the connection closed.
const MAX_REQUEST_HEAD: usize = 64 * 1024;
/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most an endless body writes before the server gives up on it.
const ENDLESS_BODY_LIMIT: usize = 256 * 1024 * 1024;
/// The most bytes a slow body trickles before the server gives up on it.
const SLOW_BODY_LIMIT: usize = 100_000;

/// What a site answers. A site plays one answer per request, in order; the
/// last one answers every request after it (see [`Site::then`]).
#[derive(Debug, Clone)]
pub struct Site {
    answers: Vec<Answer>,
}

#[derive(Debug, Clone)]
enum Answer {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Body,
    },
    /// Reads the request, then closes the connection without a word.
    HangUp,
    /// Writes bytes that are not HTTP, then closes.
    Garbage(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Body {
    Full(Vec<u8>),
    /// A page served by many sites: one copy in memory for all of them.
    Shared(Arc<[u8]>),
    /// Announces a long body, sends `prefix`, then one byte per `interval`.
    Trickle {
        prefix: Vec<u8>,
        interval: Duration,
    },
    /// No length: `prefix`, then `filler` again and again.
    Endless {
        prefix: Vec<u8>,
        filler: Vec<u8>,
    },
}

impl Site {
    fn respond(status: u16, headers: Vec<(String, String)>, body: Body) -> Site {
        Site {
            answers: vec![Answer::Respond {
                status,
                headers,
                body,
            }],
        }
    }

    /// 200 with `page` as `text/html; charset=utf-8`.
    pub fn html(page: impl Into<String>) -> Site {
        Site::bytes("text/html; charset=utf-8", page.into().into_bytes())
    }

    /// 200 with any content type and body.
    pub fn bytes(content_type: &str, body: impl Into<Vec<u8>>) -> Site {
        Site::respond(
            200,
            vec![("Content-Type".to_owned(), content_type.to_owned())],
            Body::Full(body.into()),
        )
    }

    /// 200 with `page` as `text/html` with no charset (the page's own
    /// `<meta charset>` or a sniff decides), the bytes shared with every
    /// other site serving the same page: thousands of sites cost one copy.
    pub fn shared_html(page: Arc<[u8]>) -> Site {
        Site::respond(
            200,
            vec![("Content-Type".to_owned(), "text/html".to_owned())],
            Body::Shared(page),
        )
    }

    /// 200 with `page` gzip-encoded (`Content-Encoding: gzip`), sent whether
    /// or not the client asked for it.
    pub fn gzip_html(page: impl Into<String>) -> Site {
        Site::respond(
            200,
            vec![
                (
                    "Content-Type".to_owned(),
                    "text/html; charset=utf-8".to_owned(),
                ),
                ("Content-Encoding".to_owned(), "gzip".to_owned()),
            ],
            Body::Full(gzip(page.into().as_bytes())),
        )
    }

    /// `code` with a short HTML body.
    pub fn status(code: u16) -> Site {
        Site::respond(
            code,
            vec![("Content-Type".to_owned(), "text/html".to_owned())],
            Body::Full(format!("<html><title>{code}</title></html>").into_bytes()),
        )
    }

    /// 301 to `location`.
    pub fn redirect(location: impl Into<String>) -> Site {
        Site::redirect_with(301, location)
    }

    /// A redirect with the given status to `location`.
    pub fn redirect_with(code: u16, location: impl Into<String>) -> Site {
        Site::respond(
            code,
            vec![("Location".to_owned(), location.into())],
            Body::Full(Vec::new()),
        )
    }

    /// 200 HTML whose head arrives at once and whose body then trickles one
    /// byte per `interval`, never finishing (a slow-loris answer).
    pub fn slow_body(interval: Duration) -> Site {
        Site::respond(
            200,
            vec![
                ("Content-Type".to_owned(), "text/html".to_owned()),
                ("Content-Length".to_owned(), "10000000".to_owned()),
            ],
            Body::Trickle {
                prefix: b"<html><head><title>Slow</title></head><body>".to_vec(),
                interval,
            },
        )
    }

    /// 200 HTML with no length that never ends: a head with the title
    /// `Endless`, then paragraphs for ever.
    pub fn endless_body() -> Site {
        Site::respond(
            200,
            vec![("Content-Type".to_owned(), "text/html".to_owned())],
            Body::Endless {
                prefix: b"<!doctype html><html><head><title>Endless</title></head><body>".to_vec(),
                filler: b"<p>and on and on and on and on and on and on</p>\n".repeat(64),
            },
        )
    }

    /// Reads the request and closes the connection without answering.
    pub fn hang_up() -> Site {
        Site {
            answers: vec![Answer::HangUp],
        }
    }

    /// Answers with bytes that are not HTTP at all.
    pub fn garbage() -> Site {
        let mut noise = Vec::with_capacity(4096);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        while noise.len() < 4096 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            noise.extend_from_slice(&state.to_le_bytes());
        }
        Site {
            answers: vec![Answer::Garbage(noise)],
        }
    }

    /// Adds a response header to every answer of the site.
    pub fn with_header(mut self, name: &str, value: &str) -> Site {
        for answer in &mut self.answers {
            if let Answer::Respond { headers, .. } = answer {
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        self
    }

    /// Plays `self` for the next request(s), then `next`: e.g.
    /// `Site::status(503).then(Site::html(page))` fails once, then serves
    /// the page for good.
    pub fn then(mut self, next: Site) -> Site {
        self.answers.extend(next.answers);
        self
    }
}

/// One request as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, ...
    pub method: String,
    /// The request target, e.g. `/`.
    pub path: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Families of sites (see [`FixtureBuilder::sites_under`]): each suffix
/// with what answers its hosts (`None` for a host that is not one of the
/// family's sites).
#[derive(Clone, Default)]
struct SiteFamilies(Vec<(String, SiteFor)>);

/// What answers the hosts of one family.
type SiteFor = Arc<dyn Fn(&str) -> Option<Site> + Send + Sync>;

impl std::fmt::Debug for SiteFamilies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(suffix, _)| suffix))
            .finish()
    }
}

/// Sites to serve, before the server starts.
#[derive(Debug, Default)]
pub struct FixtureBuilder {
    sites: Vec<(String, Site)>,
    families: SiteFamilies,
    response_delay: Duration,
    keep_alive: Option<Duration>,
    pages: Vec<((String, String), Site)>,
    plain_http: bool,
    without_https: bool,
}

impl FixtureBuilder {
    /// Serves `site` for requests whose `Host` is `host` (a later call for
    /// the same host replaces the earlier).
    pub fn site(mut self, host: &str, site: Site) -> FixtureBuilder {
        let host = host.to_ascii_lowercase();
        self.sites.retain(|(known, _)| *known != host);
        self.sites.push((host, site));
        self
    }

    /// Serves every host `<name>.<suffix>` with `site_for(host)` (the host
    /// in lower case; `None` answers 404), without listing the hosts: a
    /// benchmark's twenty thousand sites cost one certificate name
    /// (`*.suffix`) and one resolve rule ([`FixtureServer::resolve_rules`]
    /// includes it). A listed [`FixtureBuilder::site`] wins over a family.
    pub fn sites_under(
        mut self,
        suffix: &str,
        site_for: impl Fn(&str) -> Option<Site> + Send + Sync + 'static,
    ) -> FixtureBuilder {
        self.families
            .0
            .push((suffix.to_ascii_lowercase(), Arc::new(site_for)));
        self
    }

    /// Keeps connections open after an answer of known length, for further
    /// requests, until the client closes or `idle` passes without one: as
    /// real servers do (nginx waits 75 s), where the default of one request
    /// per connection would hide what a client keeps open between fetches.
    pub fn keep_alive(mut self, idle: Duration) -> FixtureBuilder {
        self.keep_alive = Some(idle);
        self
    }

    /// Waits `delay` after reading each request before answering: a
    /// stand-in for the round trips of the internet.
    pub fn response_delay(mut self, delay: Duration) -> FixtureBuilder {
        self.response_delay = delay;
        self
    }

    /// Serves the same sites over plain HTTP on port 80 of the server's
    /// address as well (requests of both are counted together).
    pub fn plain_http(mut self) -> FixtureBuilder {
        self.plain_http = true;
        self
    }

    /// Listens on nothing but port 80 (see [`FixtureBuilder::plain_http`]):
    /// a connection to port 443 is refused, as by a site that has no
    /// HTTPS.
    pub fn only_plain_http(mut self) -> FixtureBuilder {
        self.plain_http = true;
        self.without_https = true;
        self
    }

    /// Serves `site` for requests to `path` (exactly, query included) of
    /// `host`, ahead of the host's [`FixtureBuilder::site`] answer, which
    /// every other path of the host still gets (a 404 without one). Its
    /// answers are played in order of the requests to the host as a whole.
    pub fn page(mut self, host: &str, path: &str, site: Site) -> FixtureBuilder {
        let key = (host.to_ascii_lowercase(), path.to_owned());
        self.pages.retain(|(known, _)| *known != key);
        self.pages.push((key, site));
        self
    }

    /// Binds a random loopback address on port 443 (and 80 with
    /// [`FixtureBuilder::plain_http`]), makes the certificates and starts
    /// serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// When no address could be bound (other than taken ones, which are
    /// retried) or the certificates could not be made or written.
    pub async fn start(self) -> io::Result<FixtureServer> {
        let ports: Vec<u16> = [
            (!self.without_https).then_some(443),
            self.plain_http.then_some(80),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut listeners = bind_random_loopback_ports(&ports).await?.into_iter();
        let https_listener = if self.without_https {
            None
        } else {
            listeners.next()
        };
        let http_listener = listeners.next();
        let ip = https_listener
            .as_ref()
            .or(http_listener.as_ref())
            .ok_or_else(|| io::Error::other("no port to listen on"))?
            .local_addr()?
            .ip();
        let mut hosts: Vec<String> = self.sites.iter().map(|(host, _)| host.clone()).collect();
        for ((host, _), _) in &self.pages {
            if !hosts.contains(host) {
                hosts.push(host.clone());
            }
        }
        // A family's suffix as a name covers `*.suffix` in the certificate.
        let certificate_names: Vec<String> = hosts
            .iter()
            .cloned()
            .chain(self.families.0.iter().map(|(suffix, _)| suffix.clone()))
            .collect();
        let certificates = Certificates::generate(&certificate_names, ip)?;
        let ca_pem = tempfile::Builder::new()
            .prefix("fixture-ca-")
            .suffix(".pem")
            .tempfile()?;
        std::fs::write(ca_pem.path(), &certificates.ca_pem)?;
        let ca_pem = ca_pem.into_temp_path();

        let mut config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![certificates.leaf], certificates.leaf_key)
        .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let state = Arc::new(State {
            hosts,
            pages: self.pages.into_iter().collect(),
            sites: self.sites.into_iter().collect(),
            families: self.families,
            response_delay: self.response_delay,
            keep_alive: self.keep_alive,
            requests: Mutex::new(HashMap::new()),
            first_connections: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        });
        let plain_state = Arc::clone(&state);
        let tls_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let https = async move {
                if let Some(listener) = https_listener {
                    serve(listener, Some(acceptor), tls_state).await;
                }
            };
            let http = async move {
                if let Some(listener) = http_listener {
                    serve(listener, None, plain_state).await;
                }
            };
            tokio::join!(https, http);
        });
        Ok(FixtureServer {
            ip,
            ca_pem,
            state,
            task,
        })
    }
}

/// A running fixture server; it stops (its tasks aborted, its CA file
/// removed) when dropped.
#[derive(Debug)]
pub struct FixtureServer {
    ip: IpAddr,
    ca_pem: tempfile::TempPath,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    /// Every host served, by a site or a page.
    hosts: Vec<String>,
    pages: HashMap<(String, String), Site>,
    sites: HashMap<String, Site>,
    families: SiteFamilies,
    response_delay: Duration,
    keep_alive: Option<Duration>,
    requests: Mutex<HashMap<String, Vec<RecordedRequest>>>,
    /// When the first connection that asked for each host was accepted.
    first_connections: Mutex<HashMap<String, SystemTime>>,
    /// Requests being answered now, on every host (the server is one
    /// address), and the most there ever were at once.
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// One request counted in flight until its answer is written.
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> InFlight<'a> {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    /// The site that answers `host`: a listed one, else its family's.
    fn site(&self, host: &str) -> Option<Site> {
        if let Some(site) = self.sites.get(host) {
            return Some(site.clone());
        }
        self.families.0.iter().find_map(|(suffix, site_for)| {
            host.strip_suffix(suffix.as_str())
                .filter(|name| name.len() > 1 && name.ends_with('.'))
                .and_then(|_| site_for(host))
        })
    }
}

impl FixtureServer {
    /// Sites to serve.
    pub fn builder() -> FixtureBuilder {
        FixtureBuilder::default()
    }

    /// The loopback address the server listens on (port 443).
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The PEM file of the CA that signed the server's certificate, for
    /// `extra_root_certificates`.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem
    }

    /// `https://<host>/`.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}/")
    }

    /// One exact rule per site, each host to this server's address, and one
    /// wildcard rule per family of [`FixtureBuilder::sites_under`].
    pub fn resolve_rules(&self) -> Vec<ResolveRule> {
        let families = self
            .state
            .families
            .0
            .iter()
            .map(|(suffix, _)| format!("*.{suffix}"));
        self.state
            .hosts
            .iter()
            .cloned()
            .chain(families)
            .filter_map(|host| ResolveRule::new(&host, self.ip).ok())
            .collect()
    }

    /// A rule sending every name under `suffix` (`*.suffix`) here. Names
    /// that are not a site get a 404 from the server but fail TLS first:
    /// the certificate names only the sites (and their subdomains).
    pub fn wildcard_rule(&self, suffix: &str) -> ResolveRule {
        match ResolveRule::new(&format!("*.{suffix}"), self.ip) {
            Ok(rule) => rule,
            Err(error) => panic!("bad fixture suffix {suffix:?}: {error}"),
        }
    }

    /// Settings that reach this server through the real https path: its
    /// resolve rules and its CA, short timeouts and backoff so failing
    /// tests end fast, everything else at the defaults.
    pub fn fetch_settings(&self) -> FetchSettings {
        FetchSettings {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_millis(20),
            resolve: self.resolve_rules(),
            extra_root_certificates: vec![self.ca_pem_path().to_owned()],
            ..FetchSettings::default()
        }
    }

    /// The most requests the server (one address, every site on it) was
    /// answering at once.
    pub fn peak_concurrent_requests(&self) -> usize {
        self.state.peak_in_flight.load(Ordering::SeqCst)
    }

    /// How many requests reached the site `host` (hang-ups and garbage
    /// answers included; refused TLS handshakes are not requests).
    pub fn request_count(&self, host: &str) -> usize {
        self.requests(host).len()
    }

    /// For each host that was asked for, when the server accepted the first
    /// connection that asked for it (before its TLS handshake).
    pub fn first_connection_times(&self) -> HashMap<String, SystemTime> {
        self.state
            .first_connections
            .lock()
            .map(|times| times.clone())
            .unwrap_or_default()
    }

    /// The requests that reached the site `host`, in order.
    pub fn requests(&self, host: &str) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .map(|requests| {
                requests
                    .get(&host.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A minimal HTTP proxy for HTTPS: it answers `CONNECT host:port` by
/// opening a tunnel to the same port of `upstream` (a fixture server's
/// address), whatever the host, so the client never resolves the name
/// itself. With credentials set, a `CONNECT` without the matching
/// `Proxy-Authorization: Basic ...` gets a 407. It stops when dropped.
#[derive(Debug)]
pub struct ConnectProxy {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

impl ConnectProxy {
    /// Listens on a free port of 127.0.0.1 and tunnels to `upstream`;
    /// `basic_auth` is the expected base64 of `user:password`, if any.
    ///
    /// # Errors
    ///
    /// When the listening socket cannot be bound.
    pub async fn start(upstream: IpAddr, basic_auth: Option<&str>) -> io::Result<ConnectProxy> {
        let listener = TcpListener::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).await?;
        let address = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let expected = basic_auth.map(|token| format!("Basic {token}"));
        let task = tokio::spawn(proxy_loop(
            listener,
            upstream,
            expected,
            Arc::clone(&requests),
        ));
        Ok(ConnectProxy {
            address,
            requests,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`, with `user:password@` when given.
    pub fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(credentials) => format!("http://{credentials}@{}", self.address),
            None => format!("http://{}", self.address),
        }
    }

    /// `http://localhost:<port>`: the proxy given by name, as operators
    /// give theirs.
    pub fn url_by_name(&self) -> String {
        format!("http://localhost:{}", self.address.port())
    }

    /// The `CONNECT` requests received (`path` is the `host:port` target).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .map(|requests| requests.clone())
            .unwrap_or_default()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_loop(
    listener: TcpListener,
    upstream: IpAddr,
    expected_auth: Option<String>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
) {
    let mut tunnels = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tunnels.spawn(tunnel(stream, upstream, expected_auth.clone(), Arc::clone(&requests)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = tunnels.join_next(), if !tunnels.is_empty() => {}
        }
    }
}

async fn tunnel(
    mut client: TcpStream,
    upstream: IpAddr,
    expected_auth: Option<String>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
) -> io::Result<()> {
    let Ok(Ok(Some(request))) =
        tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut client)).await
    else {
        return Ok(());
    };
    let authorized = expected_auth
        .as_deref()
        .is_none_or(|expected| request.header("proxy-authorization") == Some(expected));
    let target_port = request
        .path
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok());
    let is_connect = request.method.eq_ignore_ascii_case("CONNECT");
    if let Ok(mut seen) = requests.lock() {
        seen.push(request);
    }
    let Some(port) = target_port.filter(|_| is_connect) else {
        return client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await;
    };
    if !authorized {
        return client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"fixture\"\r\nContent-Length: 0\r\n\r\n",
            )
            .await;
    }
    let mut server = TcpStream::connect(SocketAddr::new(upstream, port)).await?;
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// A loopback address where nothing listens on port 443: a connection to
/// it is refused.
///
/// # Errors
///
/// When the probe bind fails for another reason than a taken address.
pub async fn closed_address() -> io::Result<IpAddr> {
    let listener = bind_random_loopback().await?;
    let ip = listener.local_addr()?.ip();
    // Bound a moment ago by this process and closed now; another process
    // would have to draw the same one of 16 million addresses.
    drop(listener);
    Ok(ip)
}

async fn bind_random_loopback() -> io::Result<TcpListener> {
    bind_random_loopback_ports(&[443])
        .await?
        .pop()
        .ok_or_else(|| io::Error::other("no listener"))
}

/// Listeners on each of `ports` of one random loopback address, in order.
async fn bind_random_loopback_ports(ports: &[u16]) -> io::Result<Vec<TcpListener>> {
    let mut last_error = None;
    'addresses: for _ in 0..64 {
        let ip = random_loopback();
        let mut listeners = Vec::with_capacity(ports.len());
        for &port in ports {
            match TcpListener::bind(SocketAddr::new(ip, port)).await {
                Ok(listener) => listeners.push(listener),
                Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
                    last_error = Some(error);
                    continue 'addresses;
                }
                Err(error) => return Err(error),
            }
        }
        return Ok(listeners);
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free loopback address")))
}

/// `127.x.y.z` with `x` in 1..=254 (leaving 127.0.0.0/24 to everything
/// else on the machine) and `z` in 1..=254.
fn random_loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        fastrand::u8(1..=254),
        fastrand::u8(..),
        fastrand::u8(1..=254),
    ))
}

struct Certificates {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

impl Certificates {
    /// A CA, and a leaf it signs for every host, its subdomains (`*.host`)
    /// and the server's address.
    fn generate(hosts: &[String], ip: IpAddr) -> io::Result<Certificates> {
        let ca_key = KeyPair::generate().map_err(io::Error::other)?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
        // A name of its own per server: two fixtures' CAs must be told
        // apart, so that trusting one does not half-trust the other.
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("domain-scheduler test CA {ip}"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(io::Error::other)?;

        let mut names: Vec<String> = hosts
            .iter()
            .flat_map(|host| [host.clone(), format!("*.{host}")])
            .collect();
        names.push(ip.to_string());
        let leaf_key = KeyPair::generate().map_err(io::Error::other)?;
        let mut leaf_params = CertificateParams::new(names).map_err(io::Error::other)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "domain-scheduler test site");
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca)
            .map_err(io::Error::other)?;
        Ok(Certificates {
            ca_pem: ca.pem(),
            leaf: leaf.der().clone(),
            leaf_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        })
    }
}

/// Accepts connections for ever: TLS ones with `acceptor`, else plain.
async fn serve(listener: TcpListener, acceptor: Option<TlsAcceptor>, state: Arc<State>) {
    // Connections live in the JoinSet so that aborting this task (when the
    // server is dropped) aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(handle(stream, acceptor.clone(), Arc::clone(&state)));
                }
                // Out of descriptors or an aborted handshake: the next
                // accept may work.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(stream: TcpStream, acceptor: Option<TlsAcceptor>, state: Arc<State>) {
    let accepted_at = SystemTime::now();
    let Some(acceptor) = acceptor else {
        return converse(stream, &state, accepted_at).await;
    };
    // Errors end the connection: the client under test sees a broken
    // connection, which is what it would see from a real server.
    let Ok(Ok(tls)) = tokio::time::timeout(REQUEST_TIMEOUT, acceptor.accept(stream)).await else {
        return;
    };
    converse(tls, &state, accepted_at).await;
}

/// Answers the requests of one connection, TLS or plain.
async fn converse<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    mut stream: S,
    state: &State,
    accepted_at: SystemTime,
) {
    let mut wait = REQUEST_TIMEOUT;
    while let Ok(Ok(Some(request))) = tokio::time::timeout(wait, read_request(&mut stream)).await {
        let _counted = InFlight::enter(state);
        let Some(answer) = answer(state, request, accepted_at) else {
            return;
        };
        if !state.response_delay.is_zero() {
            tokio::time::sleep(state.response_delay).await;
        }
        // Only a body of known length leaves the connection usable.
        let reusable = matches!(
            &answer,
            Answer::Respond {
                body: Body::Full(_) | Body::Shared(_),
                ..
            }
        );
        let keep_alive = state.keep_alive.filter(|_| reusable);
        if write_answer(&mut stream, answer, keep_alive.is_some())
            .await
            .is_err()
        {
            return;
        }
        match keep_alive {
            Some(idle) => wait = idle,
            None => break,
        }
    }
    let _ = stream.shutdown().await;
}

/// Records `request` and picks its answer; `None` when the state is
/// poisoned.
fn answer(state: &State, request: RecordedRequest, accepted_at: SystemTime) -> Option<Answer> {
    let host = request
        .header("host")
        .map(|host| host_without_port(host).to_ascii_lowercase())
        .unwrap_or_default();
    if let Ok(mut times) = state.first_connections.lock() {
        times.entry(host.clone()).or_insert(accepted_at);
    }
    let path = request.path.clone();
    let index = match state.requests.lock() {
        Ok(mut requests) => {
            let seen = requests.entry(host.clone()).or_default();
            seen.push(request);
            seen.len() - 1
        }
        Err(_) => return None,
    };
    let site = state
        .pages
        .get(&(host.clone(), path))
        .cloned()
        .or_else(|| state.site(&host));
    Some(match site {
        Some(site) => site
            .answers
            .get(index)
            .or(site.answers.last())
            .cloned()
            .unwrap_or(Answer::HangUp),
        None => Answer::Respond {
            status: 404,
            headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
            body: Body::Full(format!("no site {host:?} here").into_bytes()),
        },
    })
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(ip, _)| &ip[1..]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

async fn read_request<S: AsyncReadExt + Unpin>(
    stream: &mut S,
) -> io::Result<Option<RecordedRequest>> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return Ok(None);
        }
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Some(RecordedRequest {
        method,
        path,
        headers,
    }))
}

async fn write_answer<S: AsyncWriteExt + Unpin>(
    stream: &mut S,
    answer: Answer,
    keep_alive: bool,
) -> io::Result<()> {
    let (status, headers, body) = match answer {
        Answer::HangUp => return Ok(()),
        Answer::Garbage(noise) => {
            stream.write_all(&noise).await?;
            return stream.flush().await;
        }
        Answer::Respond {
            status,
            headers,
            body,
        } => (status, headers, body),
    };
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let has = |name: &str| {
        headers
            .iter()
            .any(|(key, _)| key.eq_ignore_ascii_case(name))
    };
    let length = match &body {
        Body::Full(bytes) => Some(bytes.len()),
        Body::Shared(bytes) => Some(bytes.len()),
        Body::Trickle { .. } | Body::Endless { .. } => None,
    };
    if let Some(length) = length
        && !has("content-length")
    {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    match body {
        Body::Full(bytes) => stream.write_all(&bytes).await?,
        Body::Shared(bytes) => stream.write_all(&bytes).await?,
        Body::Trickle { prefix, interval } => {
            stream.write_all(&prefix).await?;
            stream.flush().await?;
            for _ in 0..SLOW_BODY_LIMIT {
                tokio::time::sleep(interval).await;
                stream.write_all(b" ").await?;
                stream.flush().await?;
            }
        }
        Body::Endless { prefix, filler } => {
            stream.write_all(&prefix).await?;
            let mut written = prefix.len();
            while written < ENDLESS_BODY_LIMIT {
                stream.write_all(&filler).await?;
                written += filler.len();
            }
        }
    }
    stream.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// `data` gzip-compressed.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_bodies_decode_to_the_page() {
        use std::io::Read;
        let page = "<title>Zipped</title>".repeat(100);
        let zipped = gzip(page.as_bytes());
        assert!(zipped.len() < page.len(), "{} bytes", zipped.len());
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(zipped.as_slice())
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, page);
    }

    #[test]
    fn a_family_answers_only_names_under_its_suffix() {
        let builder = FixtureBuilder::default()
            .site("bench.test", Site::status(410))
            .sites_under("Bench.Test", |host| Some(Site::html(host.to_owned())));
        let state = State {
            hosts: Vec::new(),
            pages: HashMap::new(),
            sites: builder.sites.into_iter().collect(),
            families: builder.families,
            response_delay: Duration::ZERO,
            keep_alive: None,
            requests: Mutex::new(HashMap::new()),
            first_connections: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        };
        assert!(state.site("d1.bench.test").is_some());
        assert!(state.site("a.b.bench.test").is_some());
        assert!(state.site("xbench.test").is_none());
        assert!(state.site(".bench.test").is_none());
        let listed = state.site("bench.test").map(|site| site.answers.len());
        assert_eq!(listed, Some(1));
    }

    #[test]
    fn host_header_port_is_dropped() {
        assert_eq!(host_without_port("acme.test:443"), "acme.test");
        assert_eq!(host_without_port("acme.test"), "acme.test");
        assert_eq!(host_without_port("[::1]:443"), "::1");
    }
}
