//! The socket shell: UDP receive loops and TCP connections around [`respond`].

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::wire::{respond, Transport};
use crate::{DnsConfig, Error, ServiceCatalog, Zone};

/// How long a TCP connection may sit idle between queries (RFC 7766 suggests seconds).
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a started TCP query may take to arrive whole.
const TCP_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Open TCP connections beyond this are closed as they arrive.
const MAX_TCP_CONNECTIONS: usize = 1024;
/// UDP receive loops at most; each answers inline, so they bound parallelism.
const MAX_UDP_LOOPS: usize = 8;

/// The DNS interface on sockets the caller binds: UDP and TCP on the same port, as Consul
/// serves them.
pub struct DnsServer {
    shared: Arc<Shared>,
}

struct Shared {
    zone: Zone,
    catalog: Arc<dyn ServiceCatalog>,
}

impl DnsServer {
    /// Validates `config` (see [`Zone::new`]) and prepares to answer from `catalog`.
    /// `config.listen` is for whoever binds the sockets; `serve` takes them bound.
    pub fn build(config: DnsConfig, catalog: Arc<dyn ServiceCatalog>) -> Result<Self, Error> {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        let zone = Zone::new(&config)?.with_soa_serial(started);
        Ok(Self {
            shared: Arc::new(Shared { zone, catalog }),
        })
    }

    /// Answers queries on `udp` and `tcp` until `shutdown` completes, then stops receiving,
    /// closes open TCP connections and returns `Ok`.
    ///
    /// Several UDP loops (one per CPU, at most 8) share the socket and answer inline: an
    /// answer is computed without awaiting, so one slow query holds up only its own loop.
    /// Socket errors (such as ICMP port unreachable reported on a later receive) are logged
    /// and serving goes on. `Err` only if a serving task stops unexpectedly (a panic, e.g. in
    /// the catalog).
    pub async fn serve<F>(self, udp: UdpSocket, tcp: TcpListener, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()> + Send,
    {
        if let (Ok(udp_addr), Ok(tcp_addr)) = (udp.local_addr(), tcp.local_addr()) {
            tracing::info!(udp = %udp_addr, tcp = %tcp_addr, "DNS listening");
        }
        let udp = Arc::new(udp);
        let loops = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_UDP_LOOPS);
        let mut tasks = JoinSet::new();
        for _ in 0..loops {
            tasks.spawn(udp_loop(Arc::clone(&udp), Arc::clone(&self.shared)));
        }
        tasks.spawn(tcp_loop(tcp, Arc::clone(&self.shared)));

        let result = tokio::select! {
            () = shutdown => Ok(()),
            Some(ended) = tasks.join_next() => Err(Error::TaskFailed {
                what: "serving",
                reason: match ended {
                    Ok(kind) => format!("the {kind} loop returned"),
                    Err(e) => e.to_string(),
                },
            }),
        };
        tasks.shutdown().await;
        tracing::info!("DNS stopped");
        result
    }
}

/// Receives, answers inline and replies, forever.
async fn udp_loop(socket: Arc<UdpSocket>, shared: Arc<Shared>) -> &'static str {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    let mut out = Vec::with_capacity(4096);
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                transient(error, "UDP receive").await;
                continue;
            }
        };
        let query = buf.get(..len).unwrap_or_default();
        let catalog = &*shared.catalog;
        if respond(
            query,
            Transport::Udp,
            catalog,
            &shared.zone,
            &mut rng,
            &mut out,
        ) {
            if let Err(error) = socket.send_to(&out, peer).await {
                transient(error, "UDP send").await;
            }
        }
    }
}

/// Accepts connections, each served by its own task, forever.
async fn tcp_loop(listener: TcpListener, shared: Arc<Shared>) -> &'static str {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_TCP_CONNECTIONS => {
                    connections.spawn(tcp_connection(stream, Arc::clone(&shared)));
                }
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "too many DNS TCP connections: closing a new one");
                    drop(stream);
                }
                // Out of file descriptors and the like: wait rather than spin.
                Err(error) => {
                    tracing::warn!(%error, "DNS TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves length-prefixed queries (RFC 1035 4.2.2) on one connection until the peer closes
/// it, idles past the timeout or sends something unreadable.
async fn tcp_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    // The answer goes out in one write; don't let Nagle hold it.
    let _ = stream.set_nodelay(true);
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut query = Vec::new();
    let mut out = Vec::new();
    let mut frame = Vec::new();
    loop {
        let len = match tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            _ => return,
        };
        query.resize(len, 0);
        match tokio::time::timeout(TCP_READ_TIMEOUT, stream.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let catalog = &*shared.catalog;
        if !respond(
            &query,
            Transport::Tcp,
            catalog,
            &shared.zone,
            &mut rng,
            &mut out,
        ) {
            continue;
        }
        let Ok(out_len) = u16::try_from(out.len()) else {
            return;
        };
        frame.clear();
        frame.extend_from_slice(&out_len.to_be_bytes());
        frame.extend_from_slice(&out);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// Logs a socket error that does not stop serving; pauses briefly unless it is one that
/// only concerns a single peer, so a persistent error cannot spin the loop.
async fn transient(error: io::Error, what: &str) {
    match error.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {
            tracing::debug!(%error, "DNS {what} failed");
        }
        _ => {
            tracing::warn!(%error, "DNS {what} failed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
