//! Forwarding one published port's traffic to the pod: TCP connections straight to the pod IP or through a
//! `pods/portforward` stream (a fresh one per connection, so one broken stream ends one connection, never the
//! mapping), and UDP datagrams straight to the pod IP.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::options::ForwardMode;
use crate::runtime::cache::Cache;

/// How long the first direct connection to a pod may take before `auto` decides the pod IP is out of reach.
pub const DIRECT_PROBE: Duration = Duration::from_secs(1);
/// How long a direct connection may take once the pod IP is known to be reachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a listener waits for the pod to get its IP before it stops accepting.
const IP_WAIT: Duration = Duration::from_secs(600);
/// A UDP client that sends nothing for this long loses its relay socket (docker-proxy's UDP timeout).
const UDP_IDLE: Duration = Duration::from_secs(90);
/// At most this many UDP clients per published port; the least recently active one goes first.
const UDP_SESSIONS: usize = 1024;

/// How a pod is reached, learned once per pod in `auto` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Unknown,
    Direct,
    Portforward,
}

/// The pod behind one container's published ports.
#[derive(Clone)]
pub struct Target {
    pub cache: Cache,
    pub pods: kube::Api<Pod>,
    pub pod_name: String,
    pub mode: ForwardMode,
    pub reach: Arc<Mutex<Reach>>,
}

impl Target {
    /// The pod's IP once it has one (from the shared pod watch, which may not show the new pod yet), waiting at
    /// most [`IP_WAIT`]; a pod that goes away meanwhile has its listeners closed by the supervisor.
    async fn pod_ip(&self) -> Option<IpAddr> {
        let name = self.pod_name.clone();
        let wait = self.cache.wait_for(move |index| {
            let status = index.pod(&name)?.status.as_ref()?;
            status.pod_ip.as_deref()?.parse::<IpAddr>().ok()
        });
        tokio::time::timeout(IP_WAIT, wait).await.ok()
    }

    fn reach(&self) -> Reach {
        match self.mode {
            ForwardMode::Direct => Reach::Direct,
            ForwardMode::Portforward => Reach::Portforward,
            ForwardMode::Auto => self.reach.lock().map(|r| *r).unwrap_or(Reach::Unknown),
        }
    }

    fn learn(&self, reach: Reach) {
        if let Ok(mut slot) = self.reach.lock() {
            if *slot == Reach::Unknown {
                tracing::debug!(pod = %self.pod_name, ?reach, "how the pod is reached");
                *slot = reach;
            }
        }
    }

    /// A connection to `port` of the pod, as the mode says.
    async fn connect(&self, ip: IpAddr, port: u16) -> std::io::Result<Upstream> {
        let addr = SocketAddr::new(ip, port);
        match self.reach() {
            Reach::Direct => Ok(Upstream::Direct(connect_within(addr, CONNECT_TIMEOUT).await?)),
            Reach::Portforward => self.port_forward(port).await,
            Reach::Unknown => match connect_within(addr, DIRECT_PROBE).await {
                Ok(stream) => {
                    self.learn(Reach::Direct);
                    Ok(Upstream::Direct(stream))
                }
                // The pod answered: it is reachable, nothing listens on the port.
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    self.learn(Reach::Direct);
                    Err(err)
                }
                Err(err) => {
                    tracing::debug!(pod = %self.pod_name, error = %err, "pod IP not reachable; using pods/portforward");
                    self.learn(Reach::Portforward);
                    self.port_forward(port).await
                }
            },
        }
    }

    async fn port_forward(&self, port: u16) -> std::io::Result<Upstream> {
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.pods.portforward(&self.pod_name, &[port])).await;
        let opened =
            opened.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "pods/portforward timed out"))?;
        let mut forwarder = opened.map_err(std::io::Error::other)?;
        let stream = forwarder.take_stream(port).ok_or_else(|| std::io::Error::other("no port-forward stream"))?;
        if let Some(error) = forwarder.take_error(port) {
            let pod = self.pod_name.clone();
            tokio::spawn(async move {
                if let Some(message) = error.await {
                    tracing::debug!(%pod, port, %message, "port-forward error");
                }
            });
        }
        Ok(Upstream::Forwarded(stream, forwarder))
    }
}

async fn connect_within(addr: SocketAddr, limit: Duration) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connecting to {addr} timed out"))),
    }
}

/// The pod's end of one client connection.
enum Upstream {
    Direct(TcpStream),
    Forwarded(tokio::io::DuplexStream, kube::api::Portforwarder),
}

/// Copies both ways until either side ends (or `stop`).
async fn pipe<A, B>(mut client: A, mut upstream: B, stop: &CancellationToken)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    tokio::select! {
        _ = stop.cancelled() => {}
        result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "forwarded connection ended");
            }
        }
    }
}

/// Accepts connections on a published TCP port until `stop`, each forwarded to `port` of the pod on a task of
/// its own. Connections that arrive before the pod has its IP wait in the listen queue.
pub async fn serve_tcp(listener: TcpListener, target: Target, port: u16, stop: CancellationToken) {
    let ip = tokio::select! {
        _ = stop.cancelled() => return,
        ip = target.pod_ip() => ip,
    };
    let Some(ip) = ip else {
        tracing::debug!(pod = %target.pod_name, "the pod has no IP; not accepting");
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (client, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (target, stop) = (target.clone(), stop.clone());
        let span = tracing::debug_span!("forward", client.addr = %peer, pod = %target.pod_name, port);
        tokio::spawn(
            async move {
                match target.connect(ip, port).await {
                    Ok(Upstream::Direct(upstream)) => pipe(client, upstream, &stop).await,
                    Ok(Upstream::Forwarded(upstream, forwarder)) => {
                        pipe(client, upstream, &stop).await;
                        forwarder.abort();
                    }
                    // A refused connection is the container's business; anything else (the API server
                    // refusing pods/portforward, say) is worth a warning.
                    Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                        tracing::debug!(error = %err, "nothing listens on the container's port")
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot reach the container's port"),
                }
            }
            .instrument(span),
        );
    }
}

/// One UDP client: the socket that talks to the pod for it.
struct Session {
    upstream: Arc<UdpSocket>,
    last: Instant,
    relay: tokio::task::JoinHandle<()>,
}

/// Relays datagrams between clients of a published UDP port and `port` of the pod, one socket per client (so
/// answers go back to the client that asked), until `stop`.
pub async fn serve_udp(socket: UdpSocket, target: Target, port: u16, stop: CancellationToken) {
    let ip = tokio::select! {
        _ = stop.cancelled() => return,
        ip = target.pod_ip() => ip,
    };
    let Some(ip) = ip else { return };
    let socket = Arc::new(socket);
    let mut sessions: HashMap<SocketAddr, Session> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => break,
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((n, peer)) = received else { continue };
        sessions.retain(|_, s| !s.relay.is_finished());
        if !sessions.contains_key(&peer) {
            if sessions.len() >= UDP_SESSIONS {
                if let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last).map(|(a, _)| *a) {
                    if let Some(s) = sessions.remove(&oldest) {
                        s.relay.abort();
                    }
                }
            }
            match open_session(&socket, peer, SocketAddr::new(ip, port)).await {
                Ok(session) => {
                    sessions.insert(peer, session);
                }
                Err(err) => {
                    tracing::debug!(error = %err, "cannot open a UDP relay socket");
                    continue;
                }
            }
        }
        if let Some(session) = sessions.get_mut(&peer) {
            session.last = Instant::now();
            if let Err(err) = session.upstream.send(&buf[..n]).await {
                tracing::debug!(error = %err, "relaying a datagram to the pod failed");
            }
        }
    }
    for session in sessions.into_values() {
        session.relay.abort();
    }
}

async fn open_session(listener: &Arc<UdpSocket>, peer: SocketAddr, pod: SocketAddr) -> std::io::Result<Session> {
    let local: SocketAddr =
        if pod.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let upstream = Arc::new(UdpSocket::bind(local).await?);
    upstream.connect(pod).await?;
    let (reader, listener) = (upstream.clone(), listener.clone());
    let relay = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        // Idle, or the pod's port is closed (ICMP): the session ends; the next datagram opens another.
        while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, reader.recv(&mut buf)).await {
            let _ = listener.send_to(&buf[..n], peer).await;
        }
    });
    Ok(Session { upstream, last: Instant::now(), relay })
}

/// Whether the pod IP answers at all from here: a TCP connection to it is accepted or refused within
/// [`DIRECT_PROBE`] (a refusal is an answer). Needed before publishing UDP, which a port-forward cannot carry.
pub async fn reachable(ip: IpAddr, port: u16) -> bool {
    match connect_within(SocketAddr::new(ip, port), DIRECT_PROBE).await {
        Ok(_) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}
