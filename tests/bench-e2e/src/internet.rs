//! The web servers of the simulated internet: one TLS listener on port 443
//! of each address the mix gives (`127.<block>.x.y`, all on loopback), each
//! playing its site's kind (see [`crate::mix`]), with one CA of its own.
//!
//! HTTP/1.1 is answered by hand, as the fixture server does, so that
//! hanging, trickling and refusing hosts are easy to play. Every wait is
//! bounded, every connection serves a bounded number of requests, and
//! everything stops when the server is dropped.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::corpus::Corpus;
use crate::mix::{
    INTERNET_SUFFIX, Listener, Mix, SHARED_HOST_LIMIT, SHARED_HOST_RETRY_AFTER, SiteKind,
    UNAVAILABLE_REQUESTS, UNAVAILABLE_RETRY_AFTER,
};

/// How many `/16` blocks of loopback are tried before giving up (another
/// run or a test may hold an address of the first one drawn).
const BLOCK_ATTEMPTS: usize = 16;
/// How long a hanging host holds a connection, and the most a trickling
/// body lasts: well beyond any fetch time limit, and bounded.
const DEAD_HOST_HOLDS_FOR: Duration = Duration::from_secs(120);
/// A trickling body's pace.
const TRICKLE_EVERY: Duration = Duration::from_secs(1);
/// How long a connection may take to send a request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests served on one kept-alive connection.
const REQUESTS_PER_CONNECTION: usize = 100;
/// The longest request head read.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// When each site was first heard of: the first DNS query for one of its
/// names, or the first connection (or request, on the shared host) for it.
#[derive(Debug)]
pub(crate) struct Contacts(Mutex<Vec<Option<SystemTime>>>);

impl Contacts {
    pub(crate) fn new(sites: usize) -> Contacts {
        Contacts(Mutex::new(vec![None; sites]))
    }

    pub(crate) fn note(&self, index: usize) {
        if let Ok(mut first) = self.0.lock()
            && let Some(slot @ None) = first.get_mut(index)
        {
            *slot = Some(SystemTime::now());
        }
    }

    pub(crate) fn first(&self, index: usize) -> Option<SystemTime> {
        self.0.lock().ok()?.get(index).copied().flatten()
    }
}

/// What the servers answered that the table reports.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct ServerFigures {
    /// 429s the shared host sent.
    pub(crate) shared_host_429s: u64,
    /// Requests the shared host served (not refused).
    pub(crate) shared_host_served: u64,
    /// 503s sent by the 503 sites.
    pub(crate) answers_503: u64,
}

#[derive(Debug)]
struct State {
    mix: Arc<Mix>,
    corpus: Arc<Corpus>,
    contacts: Arc<Contacts>,
    keep_alive: Option<Duration>,
    /// Requests each site has received, for the 503 sites that recover.
    requests: Vec<AtomicU32>,
    shared_in_flight: AtomicUsize,
    shared_429s: AtomicU64,
    shared_served: AtomicU64,
    answers_503: AtomicU64,
}

/// The running servers; they stop (and the CA file goes) when dropped.
#[derive(Debug)]
pub(crate) struct InternetServer {
    mix: Arc<Mix>,
    ca_pem: tempfile::TempPath,
    state: Arc<State>,
    _listeners: JoinSet<()>,
}

impl InternetServer {
    /// Binds every listener of `mix`, moved to another loopback block if
    /// an address of its own is taken.
    pub(crate) async fn start(
        mix: Mix,
        corpus: Arc<Corpus>,
        contacts: Arc<Contacts>,
        keep_alive: Option<Duration>,
    ) -> io::Result<InternetServer> {
        let authority = Authority::new()?;
        let ca_pem = tempfile::Builder::new()
            .prefix("internet-ca-")
            .suffix(".pem")
            .tempfile()?;
        std::fs::write(ca_pem.path(), &authority.ca_pem)?;
        let ca_pem = ca_pem.into_temp_path();
        let shared_acceptor =
            authority.acceptor(vec![INTERNET_SUFFIX.into(), format!("*.{INTERNET_SUFFIX}")])?;
        let mut mix = mix;
        let mut last_error = None;
        for _ in 0..BLOCK_ATTEMPTS {
            mix = mix.moved_to(fastrand::u8(1..=254));
            match bind_all(&mix).await {
                Ok(bound) => {
                    let mix = Arc::new(mix);
                    let state = Arc::new(State {
                        mix: Arc::clone(&mix),
                        corpus,
                        contacts,
                        keep_alive,
                        requests: (0..mix.len()).map(|_| AtomicU32::new(0)).collect(),
                        shared_in_flight: AtomicUsize::new(0),
                        shared_429s: AtomicU64::new(0),
                        shared_served: AtomicU64::new(0),
                        answers_503: AtomicU64::new(0),
                    });
                    let mut listeners = JoinSet::new();
                    for (listener, role) in bound {
                        let acceptor = match role {
                            // Its own certificate: the wildcard covers one label only.
                            Listener::Site { index, www: true } => {
                                authority.acceptor(vec![format!("www.{}", Mix::name(index))])?
                            }
                            _ => shared_acceptor.clone(),
                        };
                        listeners.spawn(accept(listener, role, acceptor, Arc::clone(&state)));
                    }
                    return Ok(InternetServer {
                        mix,
                        ca_pem,
                        state,
                        _listeners: listeners,
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AddrInUse => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free loopback block")))
    }

    /// The mix as served, at the addresses it was bound to.
    pub(crate) fn mix(&self) -> &Arc<Mix> {
        &self.mix
    }

    /// The PEM file of the CA, for `extra_root_certificates`.
    pub(crate) fn ca_pem_path(&self) -> &std::path::Path {
        &self.ca_pem
    }

    pub(crate) fn figures(&self) -> ServerFigures {
        ServerFigures {
            shared_host_429s: self.state.shared_429s.load(Ordering::Relaxed),
            shared_host_served: self.state.shared_served.load(Ordering::Relaxed),
            answers_503: self.state.answers_503.load(Ordering::Relaxed),
        }
    }
}

async fn bind_all(mix: &Mix) -> io::Result<Vec<(TcpListener, Listener)>> {
    let mut bound = Vec::new();
    for (address, role) in mix.listeners() {
        let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(address), 443)).await?;
        bound.push((listener, role));
    }
    Ok(bound)
}

/// A CA made for the run, and one key for every leaf it signs.
struct Authority {
    ca: rcgen::CertifiedIssuer<'static, KeyPair>,
    ca_pem: String,
    leaf_key: KeyPair,
}

impl Authority {
    fn new() -> io::Result<Authority> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "domain-scheduler simulated internet CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let ca = rcgen::CertifiedIssuer::self_signed(params, key).map_err(io::Error::other)?;
        Ok(Authority {
            ca_pem: ca.pem(),
            ca,
            leaf_key: KeyPair::generate().map_err(io::Error::other)?,
        })
    }

    /// A TLS acceptor presenting a certificate for `names`.
    fn acceptor(&self, names: Vec<String>) -> io::Result<TlsAcceptor> {
        let leaf = CertificateParams::new(names)
            .and_then(|params| params.signed_by(&self.leaf_key, &self.ca))
            .map_err(io::Error::other)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let mut config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

async fn accept(listener: TcpListener, role: Listener, acceptor: TlsAcceptor, state: Arc<State>) {
    // Connections live in the JoinSet so that dropping the server, which
    // aborts this task, aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, role, acceptor.clone(), Arc::clone(&state)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, role: Listener, acceptor: TlsAcceptor, state: Arc<State>) {
    if let Listener::Site { index, .. } = role {
        state.contacts.note(index);
        if state.mix.site(index).kind == SiteKind::Hanging {
            // The kernel accepted; nobody reads the ClientHello.
            tokio::time::sleep(DEAD_HOST_HOLDS_FOR).await;
            drop(stream);
            return;
        }
    }
    let Ok(Ok(mut tls)) = tokio::time::timeout(REQUEST_TIMEOUT, acceptor.accept(stream)).await
    else {
        return;
    };
    let mut wait = REQUEST_TIMEOUT;
    for _ in 0..REQUESTS_PER_CONNECTION {
        let Ok(Ok(Some(request))) = tokio::time::timeout(wait, read_request(&mut tls)).await else {
            break;
        };
        let site = match role {
            Listener::Site { index, www } => Some((index, www)),
            Listener::Shared => request.host.as_deref().and_then(|host| {
                let (index, www) = state.mix.index_of(host)?;
                state.contacts.note(index);
                Some((index, www))
            }),
        };
        let reply = match site {
            Some((index, www)) => serve(&state, role, index, www, &request.path).await,
            None => Reply::status(404),
        };
        let keep_alive = state
            .keep_alive
            .filter(|_| !matches!(reply, Reply::Trickle));
        if reply
            .write(&mut tls, &state, keep_alive.is_some())
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
    let _ = tls.shutdown().await;
}

/// What one request gets.
enum Reply {
    Page(usize),
    Status { code: u16, retry_after: Option<u32> },
    Redirect(String),
    Trickle,
}

impl Reply {
    fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
        }
    }

    async fn write<S: AsyncWrite + Unpin>(
        self,
        stream: &mut S,
        state: &State,
        keep_alive: bool,
    ) -> io::Result<()> {
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let (code, extra, body): (u16, String, &[u8]) = match &self {
            Reply::Page(index) => (200, String::new(), state.corpus.page(*index)),
            Reply::Status { code, retry_after } => (
                *code,
                retry_after
                    .map_or_else(String::new, |seconds| format!("Retry-After: {seconds}\r\n")),
                b"<html><head><title>Unavailable</title></head></html>",
            ),
            Reply::Redirect(location) => (301, format!("Location: {location}\r\n"), b""),
            Reply::Trickle => {
                stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
                          Content-Length: 10000000\r\nConnection: close\r\n\r\n\
                          <html><head><title>Slow</title></head><body>",
                    )
                    .await?;
                stream.flush().await?;
                let ticks = DEAD_HOST_HOLDS_FOR.as_secs() / TRICKLE_EVERY.as_secs().max(1);
                for _ in 0..ticks {
                    tokio::time::sleep(TRICKLE_EVERY).await;
                    stream.write_all(b" ").await?;
                    stream.flush().await?;
                }
                return Ok(());
            }
        };
        let head = format!(
            "HTTP/1.1 {code} {}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Connection: {connection}\r\n{extra}\r\n",
            reason(code),
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await
    }
}

/// The answer of site `index` (its `www.` name when `www`) to `path`,
/// after the site's first-byte delay (the shared host refuses at once).
async fn serve(state: &State, role: Listener, index: usize, www: bool, path: &str) -> Reply {
    let site = state.mix.site(index);
    if role == Listener::Shared {
        let admitted = state
            .shared_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < SHARED_HOST_LIMIT).then_some(now + 1)
            })
            .is_ok();
        if !admitted {
            state.shared_429s.fetch_add(1, Ordering::Relaxed);
            return Reply::Status {
                code: 429,
                retry_after: Some(SHARED_HOST_RETRY_AFTER),
            };
        }
        state.shared_served.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(site.first_byte).await;
        // Released once the answer is decided: the write is the client's pace.
        state.shared_in_flight.fetch_sub(1, Ordering::AcqRel);
        return page_or_missing(index, path);
    }
    tokio::time::sleep(site.first_byte).await;
    let seen = state.requests[index].fetch_add(1, Ordering::Relaxed);
    match site.kind {
        SiteKind::RedirectToWww if !www => {
            Reply::Redirect(format!("https://www.{}/", Mix::name(index)))
        }
        SiteKind::UnavailableRecovers if seen < UNAVAILABLE_REQUESTS => {
            state.answers_503.fetch_add(1, Ordering::Relaxed);
            Reply::Status {
                code: 503,
                retry_after: Some(UNAVAILABLE_RETRY_AFTER),
            }
        }
        SiteKind::UnavailableDown => {
            state.answers_503.fetch_add(1, Ordering::Relaxed);
            Reply::status(503)
        }
        SiteKind::Trickling => Reply::Trickle,
        _ => page_or_missing(index, path),
    }
}

/// The site's page for any path but `/robots.txt`, which most small sites
/// do not have.
fn page_or_missing(index: usize, path: &str) -> Reply {
    if path == "/robots.txt" {
        Reply::status(404)
    } else {
        Reply::Page(index)
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The parts of a request the servers look at.
struct Request {
    path: String,
    host: Option<String>,
}

/// Reads one request head; `None` when the client closed or sent nonsense.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<Request>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 || head.len() + read > MAX_REQUEST_HEAD {
            return Ok(None);
        }
        head.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                let host = parsed
                    .headers
                    .iter()
                    .find(|header| header.name.eq_ignore_ascii_case("host"))
                    .map(|header| String::from_utf8_lossy(header.value).to_ascii_lowercase())
                    .map(|host| host.split(':').next().unwrap_or_default().to_owned());
                return Ok(Some(Request {
                    path: parsed.path.unwrap_or("/").to_owned(),
                    host,
                }));
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Ok(None),
        }
    }
}
