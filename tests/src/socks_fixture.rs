//! A SOCKS5 proxy (RFC 1928, no authentication, `CONNECT` only) that
//! records what each client asked to reach: a name, which the client left
//! to the proxy (`socks5h://`), or an address, which the client resolved
//! itself (`socks5://`). Every tunnel goes to one upstream address, at the
//! port asked for.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How long a client may take over its greeting and request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client asked the proxy to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksTarget {
    /// A host name, resolved at the proxy.
    Name(String, u16),
    /// An address the client had resolved.
    Address(SocketAddr),
}

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub struct SocksProxy {
    port: u16,
    targets: Arc<Mutex<Vec<SocksTarget>>>,
    task: JoinHandle<()>,
}

impl SocksProxy {
    /// Listens on a free port of 127.0.0.1 and tunnels to `upstream`.
    ///
    /// # Errors
    ///
    /// When the listening socket cannot be bound.
    pub async fn start(upstream: IpAddr) -> io::Result<SocksProxy> {
        let listener = TcpListener::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).await?;
        let port = listener.local_addr()?.port();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&targets)));
        Ok(SocksProxy {
            port,
            targets,
            task,
        })
    }

    /// `<scheme>://localhost:<port>`: the proxy given by name, as operators
    /// give theirs.
    pub fn url_by_name(&self, scheme: &str) -> String {
        format!("{scheme}://localhost:{}", self.port)
    }

    /// What clients asked to connect to, in order.
    pub fn targets(&self) -> Vec<SocksTarget> {
        self.targets
            .lock()
            .map(|targets| targets.clone())
            .unwrap_or_default()
    }
}

impl Drop for SocksProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: IpAddr,
    targets: Arc<Mutex<Vec<SocksTarget>>>,
) {
    let mut tunnels = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tunnels.spawn(tunnel(stream, upstream, Arc::clone(&targets)));
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
    targets: Arc<Mutex<Vec<SocksTarget>>>,
) -> io::Result<()> {
    let Ok(target) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut client)).await else {
        return Ok(());
    };
    let target = target?;
    let port = match &target {
        SocksTarget::Name(_, port) => *port,
        SocksTarget::Address(address) => address.port(),
    };
    if let Ok(mut seen) = targets.lock() {
        seen.push(target);
    }
    let Ok(mut server) = TcpStream::connect(SocketAddr::new(upstream, port)).await else {
        // Reply 5: connection refused.
        return client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
    };
    // Reply 0: succeeded; the bound address is not used by clients.
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// The greeting (accepting "no authentication") and the `CONNECT` request.
async fn handshake(client: &mut TcpStream) -> io::Result<SocksTarget> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await?;
    if head[0] != 5 || !methods.contains(&0) {
        client.write_all(&[5, 0xff]).await?;
        return Err(io::Error::other("no acceptable SOCKS5 method"));
    }
    client.write_all(&[5, 0]).await?;

    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    if request[0] != 5 || request[1] != 1 {
        return Err(io::Error::other("only SOCKS5 CONNECT is served"));
    }
    let target = match request[3] {
        1 => {
            let mut octets = [0u8; 4];
            client.read_exact(&mut octets).await?;
            let port = client.read_u16().await?;
            SocksTarget::Address(SocketAddr::new(Ipv4Addr::from(octets).into(), port))
        }
        3 => {
            let length = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(length)];
            client.read_exact(&mut name).await?;
            let port = client.read_u16().await?;
            SocksTarget::Name(String::from_utf8_lossy(&name).into_owned(), port)
        }
        4 => {
            let mut octets = [0u8; 16];
            client.read_exact(&mut octets).await?;
            let port = client.read_u16().await?;
            SocksTarget::Address(SocketAddr::new(Ipv6Addr::from(octets).into(), port))
        }
        other => return Err(io::Error::other(format!("unknown address type {other}"))),
    };
    Ok(target)
}
