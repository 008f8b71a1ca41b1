//! A tiny authoritative DNS server on a loopback UDP port for the
//! simulated internet: `A` answers with each name's `127.x` address,
//! NODATA for other types of a name that exists, NXDOMAIN (with an SOA, so
//! that resolvers cache the denial) for the rest. It counts the queries
//! for each name, so that a resolver's caching shows in the table.
//!
//! The wire format (RFC 1035) is written by hand: one question per query,
//! no compression in the question, answers pointing back at it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::internet::Contacts;
use crate::mix::{INTERNET_SUFFIX, Mix};

/// The TTL of every answer, and of a denial (the SOA's minimum).
const TTL_SECONDS: u32 = 300;
pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_AAAA: u16 = 28;
const TYPE_SOA: u16 = 6;
const CLASS_IN: u16 = 1;
const RCODE_FORMAT_ERROR: u16 = 1;
const RCODE_NO_SUCH_NAME: u16 = 3;
const HEADER_LEN: usize = 12;
/// Ports drawn before giving up on one free for both UDP and TCP.
const PORT_ATTEMPTS: usize = 16;
/// How long a TCP connection may wait between queries, and how many it
/// may ask.
const TCP_IDLE: Duration = Duration::from_secs(10);
const TCP_QUERIES_PER_CONNECTION: usize = 1000;
/// Where the question's name starts, for answers that point at it.
const QUESTION_NAME_POINTER: u16 = 0xC000 | HEADER_LEN as u16;

/// One question, as read from a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) id: u16,
    /// Opcode and RD, copied into the answer.
    flags: u16,
    /// Lower case, without the trailing dot.
    pub(crate) name: String,
    pub(crate) record_type: u16,
    class: u16,
    /// The question's bytes (name, type, class), echoed in the answer.
    question: Vec<u8>,
}

/// What the server says about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Address(Ipv4Addr),
    NoSuchName,
}

/// Reads the one question of a query; `None` for anything else.
pub(crate) fn parse_query(packet: &[u8]) -> Option<Query> {
    let header = packet.get(..HEADER_LEN)?;
    let word = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let is_response = word(2) & 0x8000 != 0;
    if is_response || word(4) != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = HEADER_LEN;
    loop {
        let length = usize::from(*packet.get(at)?);
        at += 1;
        if length == 0 {
            break;
        }
        // A compression pointer (0b11......) has no place in a question.
        if length > 63 {
            return None;
        }
        let label = packet.get(at..at + length)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += length;
    }
    let tail = packet.get(at..at + 4)?;
    Some(Query {
        id: word(0),
        flags: word(2) & 0x7900,
        name: labels.join("."),
        record_type: u16::from_be_bytes([tail[0], tail[1]]),
        class: u16::from_be_bytes([tail[2], tail[3]]),
        question: packet[HEADER_LEN..at + 4].to_vec(),
    })
}

/// The answer to `query`: authoritative, one `A` record when the name has
/// an address and `A` was asked, an SOA in the authority section when it
/// has none of the type asked (NODATA) or no such name (NXDOMAIN).
pub(crate) fn answer(query: &Query, verdict: Verdict) -> Vec<u8> {
    let address = match verdict {
        Verdict::Address(address) if query.class == CLASS_IN => Some(address),
        _ => None,
    };
    let rcode = if query.class != CLASS_IN {
        RCODE_FORMAT_ERROR
    } else if address.is_none() {
        RCODE_NO_SUCH_NAME
    } else {
        0
    };
    let answers = u16::from(address.is_some() && query.record_type == TYPE_A);
    let authorities = u16::from(answers == 0 && query.class == CLASS_IN);
    // QR and AA set; the opcode and RD as asked.
    let flags = 0x8400 | query.flags | rcode;
    let mut packet = Vec::with_capacity(128);
    for word in [query.id, flags, 1, answers, authorities, 0] {
        packet.extend_from_slice(&word.to_be_bytes());
    }
    packet.extend_from_slice(&query.question);
    if let Some(address) = address.filter(|_| answers == 1) {
        record_head(&mut packet, TYPE_A, 4);
        packet.extend_from_slice(&address.octets());
    }
    if authorities == 1 {
        let zone = encode_name(INTERNET_SUFFIX);
        let mut soa = encode_name(&format!("ns.{INTERNET_SUFFIX}"));
        soa.extend(encode_name(&format!("hostmaster.{INTERNET_SUFFIX}")));
        // Serial, refresh, retry, expire, minimum (the denial's TTL).
        for value in [1, 3600, 600, 86_400, TTL_SECONDS] {
            soa.extend_from_slice(&u32::to_be_bytes(value));
        }
        packet.extend_from_slice(&zone);
        packet.extend_from_slice(&TYPE_SOA.to_be_bytes());
        packet.extend_from_slice(&CLASS_IN.to_be_bytes());
        packet.extend_from_slice(&TTL_SECONDS.to_be_bytes());
        // Both fit: names of at most a few dozen bytes.
        packet.extend_from_slice(&(soa.len() as u16).to_be_bytes());
        packet.extend_from_slice(&soa);
    }
    packet
}

/// An answer record's name (a pointer to the question's), type, class,
/// TTL and data length.
fn record_head(packet: &mut Vec<u8>, record_type: u16, data_len: u16) {
    for word in [QUESTION_NAME_POINTER, record_type, CLASS_IN] {
        packet.extend_from_slice(&word.to_be_bytes());
    }
    packet.extend_from_slice(&TTL_SECONDS.to_be_bytes());
    packet.extend_from_slice(&data_len.to_be_bytes());
}

/// `name` as length-prefixed labels ending in the root's zero.
fn encode_name(name: &str) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|label| !label.is_empty()) {
        // Our own names: labels of a few bytes.
        encoded.push(label.len() as u8);
        encoded.extend_from_slice(label.as_bytes());
    }
    encoded.push(0);
    encoded
}

/// What the DNS server saw in a run.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DnsFigures {
    pub(crate) queries: u64,
    pub(crate) a_queries: u64,
    pub(crate) aaaa_queries: u64,
    /// Distinct names asked about.
    pub(crate) names: usize,
    /// Names whose `A` record was asked for more than once.
    pub(crate) names_asked_again: usize,
    /// The most `A` queries for one name.
    pub(crate) most_a_queries_per_name: u64,
}

#[derive(Debug, Default)]
struct Counts {
    a: HashMap<String, u64>,
    aaaa: u64,
    other: u64,
    names: HashSet<String>,
}

/// What both transports answer from.
#[derive(Debug)]
struct Zone {
    mix: Arc<Mix>,
    contacts: Arc<Contacts>,
    counts: Mutex<Counts>,
}

impl Zone {
    /// The answer to a query packet, counted; `None` for anything else.
    fn respond(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let query = parse_query(packet)?;
        if let Ok(mut counts) = self.counts.lock() {
            counts.names.insert(query.name.clone());
            match query.record_type {
                TYPE_A => *counts.a.entry(query.name.clone()).or_default() += 1,
                TYPE_AAAA => counts.aaaa += 1,
                _ => counts.other += 1,
            }
        }
        if let Some((index, _)) = self.mix.index_of(&query.name) {
            self.contacts.note(index);
        }
        let verdict = self
            .mix
            .resolve(&query.name)
            .map_or(Verdict::NoSuchName, Verdict::Address);
        Some(answer(&query, verdict))
    }
}

/// The running server, on one port of 127.0.0.1 over UDP and TCP (for a
/// resolver that asks over TCP); it stops when dropped.
#[derive(Debug)]
pub(crate) struct DnsServer {
    address: SocketAddr,
    zone: Arc<Zone>,
    tasks: JoinSet<()>,
}

impl DnsServer {
    /// Listens on a free port of 127.0.0.1 and answers for `mix`, noting
    /// in `contacts` when each site was first asked about.
    pub(crate) async fn start(mix: Arc<Mix>, contacts: Arc<Contacts>) -> io::Result<DnsServer> {
        let zone = Arc::new(Zone {
            mix,
            contacts,
            counts: Mutex::new(Counts::default()),
        });
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let udp = UdpSocket::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).await?;
            let address = udp.local_addr()?;
            match TcpListener::bind(address).await {
                Ok(tcp) => {
                    let mut tasks = JoinSet::new();
                    tasks.spawn(serve_udp(udp, Arc::clone(&zone)));
                    tasks.spawn(serve_tcp(tcp, Arc::clone(&zone)));
                    return Ok(DnsServer {
                        address,
                        zone,
                        tasks,
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AddrInUse => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free DNS port")))
    }

    /// `ip:port`, as the worker's `nameservers` takes it.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    pub(crate) fn figures(&self) -> DnsFigures {
        let Ok(counts) = self.zone.counts.lock() else {
            return DnsFigures::default();
        };
        let a_queries: u64 = counts.a.values().sum();
        DnsFigures {
            queries: a_queries + counts.aaaa + counts.other,
            a_queries,
            aaaa_queries: counts.aaaa,
            names: counts.names.len(),
            names_asked_again: counts.a.values().filter(|count| **count > 1).count(),
            most_a_queries_per_name: counts.a.values().copied().max().unwrap_or(0),
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn serve_udp(socket: UdpSocket, zone: Arc<Zone>) {
    let mut buffer = [0u8; 1500];
    loop {
        let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        if let Some(reply) = zone.respond(&buffer[..length]) {
            // A lost answer is what UDP does; the resolver asks again.
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, zone: Arc<Zone>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_tcp_connection(stream, Arc::clone(&zone)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Queries framed by a two-byte length, a bounded number per connection,
/// each within [`TCP_IDLE`].
async fn serve_tcp_connection(mut stream: TcpStream, zone: Arc<Zone>) {
    for _ in 0..TCP_QUERIES_PER_CONNECTION {
        let read = async {
            let length = usize::from(stream.read_u16().await?);
            let mut packet = vec![0u8; length];
            stream.read_exact(&mut packet).await?;
            io::Result::Ok(packet)
        };
        let Ok(Ok(packet)) = tokio::time::timeout(TCP_IDLE, read).await else {
            return;
        };
        let Some(reply) = zone.respond(&packet) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        // Our answers are a few dozen bytes.
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as a stub resolver sends it: RD set, one question.
    fn query_packet(id: u16, name: &str, record_type: u16) -> Vec<u8> {
        let mut packet = Vec::new();
        for word in [id, 0x0100, 1, 0, 0, 0] {
            packet.extend_from_slice(&word.to_be_bytes());
        }
        packet.extend(encode_name(name));
        packet.extend_from_slice(&record_type.to_be_bytes());
        packet.extend_from_slice(&CLASS_IN.to_be_bytes());
        packet
    }

    fn word(packet: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([packet[at], packet[at + 1]])
    }

    #[test]
    fn a_query_round_trips_to_its_address() {
        let packet = query_packet(0xBEEF, "D000001.inet.test", TYPE_A);
        let query = parse_query(&packet).unwrap();
        assert_eq!(query.name, "d000001.inet.test");
        assert_eq!((query.id, query.record_type), (0xBEEF, TYPE_A));
        let address = Ipv4Addr::new(127, 9, 0, 2);
        let reply = answer(&query, Verdict::Address(address));
        assert_eq!(word(&reply, 0), 0xBEEF);
        assert_eq!(
            word(&reply, 2),
            0x8500,
            "response, authoritative, RD, NOERROR"
        );
        assert_eq!((word(&reply, 4), word(&reply, 6)), (1, 1));
        assert_eq!(&reply[HEADER_LEN..packet.len()], &packet[HEADER_LEN..]);
        let record = &reply[packet.len()..];
        assert_eq!(word(record, 0), QUESTION_NAME_POINTER);
        assert_eq!((word(record, 2), word(record, 4)), (TYPE_A, CLASS_IN));
        assert_eq!(word(record, 10), 4);
        assert_eq!(&record[12..], &address.octets());
    }

    #[test]
    fn missing_names_and_types_carry_a_soa_for_negative_caching() {
        let packet = query_packet(7, "gone.inet.test", TYPE_A);
        let reply = answer(&parse_query(&packet).unwrap(), Verdict::NoSuchName);
        assert_eq!(word(&reply, 2) & 0x000F, RCODE_NO_SUCH_NAME);
        assert_eq!((word(&reply, 6), word(&reply, 8)), (0, 1));
        let packet = query_packet(8, "d000001.inet.test", TYPE_AAAA);
        let address = Verdict::Address(Ipv4Addr::LOCALHOST);
        let reply = answer(&parse_query(&packet).unwrap(), address);
        assert_eq!(word(&reply, 2) & 0x000F, 0, "NODATA is NOERROR");
        assert_eq!((word(&reply, 6), word(&reply, 8)), (0, 1));
        assert!(parse_query(&reply).is_none(), "a response is not a query");
        assert!(parse_query(&packet[..HEADER_LEN + 3]).is_none());
    }

    #[tokio::test]
    async fn the_server_answers_over_udp_and_tcp_and_counts_the_queries() {
        let mix = Arc::new(Mix::new(1, 20, 9));
        let live = (0..20)
            .find(|index| mix.site(*index).kind == crate::mix::SiteKind::Plain)
            .unwrap();
        let name = Mix::name(live);
        let server = DnsServer::start(Arc::clone(&mix), Arc::new(Contacts::new(20)))
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(&query_packet(1, &name, TYPE_A), server.address())
            .await
            .unwrap();
        let mut buffer = [0u8; 512];
        let (length, _) = client.recv_from(&mut buffer).await.unwrap();
        let expected = mix.resolve(&name).unwrap().octets();
        assert_eq!(&buffer[length - 4..length], &expected);

        let mut stream = TcpStream::connect(server.address()).await.unwrap();
        let query = query_packet(2, "gone.inet.test", TYPE_A);
        stream.write_u16(query.len() as u16).await.unwrap();
        stream.write_all(&query).await.unwrap();
        let mut reply = vec![0u8; usize::from(stream.read_u16().await.unwrap())];
        stream.read_exact(&mut reply).await.unwrap();
        assert_eq!(word(&reply, 0), 2);
        assert_eq!(word(&reply, 2) & 0x000F, RCODE_NO_SUCH_NAME);

        let figures = server.figures();
        assert_eq!((figures.a_queries, figures.names), (2, 2));
    }
}
