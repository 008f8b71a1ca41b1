//! A small authoritative DNS server on 127.0.0.1 (UDP, a random port) for
//! the resolver's tests: A and AAAA answers from a map with one TTL,
//! NXDOMAIN for unknown names, SERVFAIL for names told to fail, and a count
//! of the queries each name received.
//!
//! The wire format is written by hand (RFC 1035 §4): a question is read,
//! echoed, and answered; nothing else a resolver might send is needed.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use scheduler_http_extractor::Nameserver;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

const TYPE_A: u16 = 1;
const TYPE_SOA: u16 = 6;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_SERVFAIL: u16 = 2;
const RCODE_NXDOMAIN: u16 = 3;

/// The names to serve; [`DnsFixtureBuilder::start`] runs the server.
#[derive(Debug)]
pub struct DnsFixtureBuilder {
    records: HashMap<String, Vec<IpAddr>>,
    failing: Vec<String>,
    ttl: u32,
}

impl DnsFixtureBuilder {
    /// `name` answers `address` (A or AAAA by its family); several calls
    /// for one name give it several addresses.
    pub fn name(mut self, name: &str, address: IpAddr) -> DnsFixtureBuilder {
        self.records
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(address);
        self
    }

    /// `name` is answered with SERVFAIL, as by a broken server.
    pub fn failing(mut self, name: &str) -> DnsFixtureBuilder {
        self.failing.push(name.to_ascii_lowercase());
        self
    }

    /// The TTL of every answer, and the negative TTL (300 s unless set).
    pub fn ttl(mut self, seconds: u32) -> DnsFixtureBuilder {
        self.ttl = seconds;
        self
    }

    /// Binds 127.0.0.1 on a free port and answers until dropped.
    ///
    /// # Errors
    ///
    /// When no UDP port could be bound.
    pub async fn start(self) -> io::Result<DnsFixture> {
        self.start_at(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Binds `address` (port 53 for a server named in a resolv.conf, which
    /// takes no port) and answers until dropped.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn start_at(self, address: SocketAddr) -> io::Result<DnsFixture> {
        let socket = UdpSocket::bind(address).await?;
        let address = socket.local_addr()?;
        let state = Arc::new(State {
            records: self.records,
            failing: self.failing,
            ttl: self.ttl,
            queries: Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(serve(socket, Arc::clone(&state)));
        Ok(DnsFixture {
            address,
            state,
            task,
        })
    }
}

/// A running DNS server; it stops when dropped.
#[derive(Debug)]
pub struct DnsFixture {
    address: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    records: HashMap<String, Vec<IpAddr>>,
    failing: Vec<String>,
    ttl: u32,
    queries: Mutex<HashMap<String, usize>>,
}

impl DnsFixture {
    /// Names to serve.
    pub fn builder() -> DnsFixtureBuilder {
        DnsFixtureBuilder {
            records: HashMap::new(),
            failing: Vec::new(),
            ttl: 300,
        }
    }

    /// Where it listens, for `fetch.nameservers`.
    pub fn nameserver(&self) -> Nameserver {
        Nameserver::new(self.address)
    }

    /// How many queries were received, for all names.
    pub fn total_queries(&self) -> usize {
        let queries = self.state.queries.lock().unwrap_or_else(|e| e.into_inner());
        queries.values().sum()
    }

    /// How many queries (of any type) asked for `name`.
    pub fn queries(&self, name: &str) -> usize {
        let queries = self.state.queries.lock().unwrap_or_else(|e| e.into_inner());
        queries
            .get(&name.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for DnsFixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(socket: UdpSocket, state: Arc<State>) {
    let mut buffer = [0_u8; 1500];
    loop {
        let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        if let Some(reply) = answer(&state, &buffer[..length]) {
            // A lost reply is a resolver time-out, which the tests would
            // show; nothing to do about it here.
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// The reply to one query, or `None` for what is not a query.
fn answer(state: &State, query: &[u8]) -> Option<Vec<u8>> {
    let flags = u16::from_be_bytes([*query.get(2)?, *query.get(3)?]);
    if flags & 0x8000 != 0 {
        return None;
    }
    let (name, end) = read_name(query, 12)?;
    let question_type = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    let question = query.get(12..end + 4)?;
    *state
        .queries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name.clone())
        .or_default() += 1;

    let mut answers: Vec<Vec<u8>> = Vec::new();
    let rcode = if state.failing.contains(&name) {
        RCODE_SERVFAIL
    } else if let Some(addresses) = state.records.get(&name) {
        for address in addresses {
            let (record_type, data) = match address {
                IpAddr::V4(ip) => (TYPE_A, ip.octets().to_vec()),
                IpAddr::V6(ip) => (TYPE_AAAA, ip.octets().to_vec()),
            };
            if record_type == question_type {
                answers.push(record(record_type, state.ttl, &data));
            }
        }
        0
    } else {
        RCODE_NXDOMAIN
    };
    // A negative answer carries an SOA whose TTL and minimum are the
    // negative TTL (RFC 2308), so resolvers cache it.
    let authority = (answers.is_empty() && rcode != RCODE_SERVFAIL).then(|| {
        let mut soa = vec![0, 0]; // primary server and mailbox: the root
        for value in [1, 3600, 600, 86_400, state.ttl] {
            soa.extend_from_slice(&u32::to_be_bytes(value));
        }
        record(TYPE_SOA, state.ttl, &soa)
    });

    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(query.get(..2)?);
    // Response, the query's opcode and RD, authoritative, recursion
    // available, the code.
    let reply_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode;
    reply.extend_from_slice(&reply_flags.to_be_bytes());
    let counts = [1, answers.len(), usize::from(authority.is_some()), 0];
    for count in counts {
        reply.extend_from_slice(&u16::try_from(count).ok()?.to_be_bytes());
    }
    reply.extend_from_slice(question);
    for record in answers.iter().chain(authority.as_ref()) {
        reply.extend_from_slice(record);
    }
    Some(reply)
}

/// A record owned by the question's name (a pointer to offset 12).
fn record(record_type: u16, ttl: u32, data: &[u8]) -> Vec<u8> {
    let mut record = vec![0xC0, 12];
    record.extend_from_slice(&record_type.to_be_bytes());
    record.extend_from_slice(&CLASS_IN.to_be_bytes());
    record.extend_from_slice(&ttl.to_be_bytes());
    let length = u16::try_from(data.len()).unwrap_or(u16::MAX);
    record.extend_from_slice(&length.to_be_bytes());
    record.extend_from_slice(data);
    record
}

/// The lower-case dotted name at `start`, and the offset after it.
/// Queries never compress their one name, so pointers are refused.
fn read_name(message: &[u8], start: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut at = start;
    loop {
        let length = usize::from(*message.get(at)?);
        at += 1;
        if length == 0 {
            break;
        }
        if length & 0xC0 != 0 {
            return None;
        }
        let label = message.get(at..at + length)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += length;
    }
    Some((labels.join("."), at))
}
