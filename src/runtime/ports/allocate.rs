//! Choosing host ports and binding them: each request of the create body becomes one bound socket per host
//! address, all on the same port, before the pod is created, so a port that is taken fails the start with
//! Docker's error and no container runs.
//!
//! Binding is a system call that does not wait (no connection is made), so it runs on the async runtime.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::options::PortOptions;
use crate::error::Error;
use podshim_translate::ports::{PortKey, PortRequest, Proto, Published};

/// How many connections wait in a listener's queue (before the pod runs, and between accepts).
const BACKLOG: i32 = 1024;

/// A bound socket: a listening TCP socket or a UDP socket.
#[derive(Debug)]
pub enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// One binding: what is stored on the pod, and its socket (none for a binding read back from the pod until it is
/// opened again).
#[derive(Debug)]
pub struct Binding {
    pub key: PortKey,
    pub published: Published,
    pub socket: Bound,
}

/// What the allocator must not hand out: bindings of this replica's other containers.
pub trait Taken {
    fn is_taken(&self, proto: Proto, ip: IpAddr, port: u16) -> bool;
}

/// Why a binding failed, in Docker's words (moby's port allocator and docker-proxy).
#[derive(Debug, PartialEq, Eq)]
pub enum BindError {
    /// Another container of this replica holds it: `Bind for 0.0.0.0:8080 failed: port is already allocated`.
    Allocated(SocketAddr),
    /// The system refused it: `Error starting userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use`.
    Os { proto: Proto, addr: SocketAddr, reason: String },
    /// No free port in the range.
    Exhausted,
}

impl BindError {
    fn detail(&self) -> String {
        match self {
            BindError::Allocated(addr) => format!("Bind for {addr} failed: port is already allocated"),
            BindError::Os { proto, addr, reason } => {
                let family = if addr.is_ipv4() { "4" } else { "6" };
                format!("Error starting userland proxy: listen {}{family} {addr}: bind: {reason}", proto.as_str())
            }
            BindError::Exhausted => "all ports are allocated".to_string(),
        }
    }

    /// Docker's start error: `driver failed programming external connectivity on endpoint <name> (<id>): ...`.
    pub fn into_error(self, name: &str, id: &str) -> Error {
        Error::StartFailed(format!(
            "driver failed programming external connectivity on endpoint {name} ({id}): {}",
            self.detail()
        ))
    }
}

/// Binds one socket: TCP listening (address reusable right after a close), UDP plain; an IPv6 socket takes
/// IPv6 only, so `0.0.0.0` and `::` can share a port as they do with Docker.
pub fn bind(proto: Proto, addr: SocketAddr) -> io::Result<Bound> {
    let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let (kind, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let socket = Socket::new(domain, kind, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    match proto {
        Proto::Tcp => {
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(addr))?;
            socket.listen(BACKLOG)?;
            Ok(Bound::Tcp(socket.into()))
        }
        Proto::Udp => {
            socket.bind(&SockAddr::from(addr))?;
            Ok(Bound::Udp(socket.into()))
        }
    }
}

/// The system's reason, as Go prints it (`address already in use`).
fn reason(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_ascii_lowercase(),
        None => err.to_string(),
    }
}

/// An address the host does not have (no IPv6 on this machine), which a default address may lack.
fn unavailable(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == nix::libc::EADDRNOTAVAIL || code == nix::libc::EAFNOSUPPORT)
}

/// The allocator of one replica: where the next free-port search starts, per protocol (as moby's allocator goes
/// on from the last port it gave).
#[derive(Debug, Default)]
pub struct Cursor {
    next: [Option<u16>; 2],
}

impl Cursor {
    fn slot(&mut self, proto: Proto) -> &mut Option<u16> {
        &mut self.next[usize::from(proto == Proto::Udp)]
    }
}

/// Binds every request: on the request's `HostIp`, else on each of `options.addresses` (one that the host does
/// not have, such as `::1` without IPv6, is left out), all on one port: the given one, the first free one of a
/// given range, or the next free one of `options.range`. All or nothing: on an error the sockets bound so far
/// are closed.
pub fn allocate(
    requests: &[PortRequest],
    options: &PortOptions,
    taken: &dyn Taken,
    cursor: &mut Cursor,
) -> Result<Vec<Binding>, BindError> {
    let mut out: Vec<Binding> = Vec::new();
    for request in requests {
        let explicit = request.host_ip.map(|ip| vec![ip]);
        let addresses = explicit.clone().unwrap_or_else(|| options.addresses.clone());
        let optional_missing = explicit.is_none();
        let held = |proto, ip, port| {
            taken.is_taken(proto, ip, port)
                || out.iter().any(|b| {
                    b.key.proto == proto && b.published.host_port == port && overlaps(&b.published.host_ip, ip)
                })
        };
        let bound = match &request.host_ports {
            Some(range) if range.start() == range.end() => {
                bind_all(request.key, &addresses, *range.start(), optional_missing, &held)?
            }
            Some(range) => search(request.key, &addresses, range.clone(), None, optional_missing, &held)?,
            None => {
                let start = cursor.slot(request.key.proto).unwrap_or(*options.range.start());
                let found =
                    search(request.key, &addresses, options.range.clone(), Some(start), optional_missing, &held)?;
                if let Some(port) = found.first().map(|b| b.published.host_port) {
                    *cursor.slot(request.key.proto) =
                        Some(if port >= *options.range.end() { *options.range.start() } else { port + 1 });
                }
                found
            }
        };
        out.extend(bound);
    }
    Ok(out)
}

/// Whether a stored address and `ip` would clash (the same address, or either is unspecified of that family).
fn overlaps(stored: &str, ip: IpAddr) -> bool {
    let Ok(stored) = stored.parse::<IpAddr>() else { return false };
    stored == ip || (stored.is_ipv4() == ip.is_ipv4() && (stored.is_unspecified() || ip.is_unspecified()))
}

/// The first port of `range` (from `start`, wrapping) that binds on every address.
fn search(
    key: PortKey,
    addresses: &[IpAddr],
    range: RangeInclusive<u16>,
    start: Option<u16>,
    optional_missing: bool,
    held: &dyn Fn(Proto, IpAddr, u16) -> bool,
) -> Result<Vec<Binding>, BindError> {
    let (low, high) = (*range.start(), *range.end());
    let start = start.filter(|s| range.contains(s)).unwrap_or(low);
    let candidates = (start..=high).chain(low..start);
    for port in candidates {
        match bind_all(key, addresses, port, optional_missing, held) {
            Ok(bound) if !bound.is_empty() => return Ok(bound),
            Ok(_) | Err(BindError::Allocated(_)) | Err(BindError::Os { .. }) => continue,
            Err(BindError::Exhausted) => break,
        }
    }
    Err(BindError::Exhausted)
}

/// `port` on every address, or the first error.
fn bind_all(
    key: PortKey,
    addresses: &[IpAddr],
    port: u16,
    optional_missing: bool,
    held: &dyn Fn(Proto, IpAddr, u16) -> bool,
) -> Result<Vec<Binding>, BindError> {
    let mut bound = Vec::new();
    for ip in addresses {
        let addr = SocketAddr::new(*ip, port);
        if held(key.proto, *ip, port) {
            return Err(BindError::Allocated(addr));
        }
        match bind(key.proto, addr) {
            Ok(socket) => bound.push(Binding {
                key,
                published: Published { port: key.to_string(), host_ip: ip.to_string(), host_port: port },
                socket,
            }),
            Err(err) if optional_missing && unavailable(&err) => continue,
            Err(err) => return Err(BindError::Os { proto: key.proto, addr, reason: reason(&err) }),
        }
    }
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Taken for Nothing {
        fn is_taken(&self, _: Proto, _: IpAddr, _: u16) -> bool {
            false
        }
    }

    fn options(range: RangeInclusive<u16>) -> PortOptions {
        PortOptions { addresses: vec!["127.0.0.1".parse().unwrap()], range, ..Default::default() }
    }

    fn any(port: u16, proto: Proto) -> PortRequest {
        PortRequest { key: PortKey { port, proto }, host_ip: None, host_ports: None }
    }

    /// A free loopback TCP port range of `n` ports (as far as a quick bind shows).
    /// A range of `n` free ports; each call starts past the previous one's, so tests running at once in this
    /// process never share a range.
    fn free_range(n: u16) -> RangeInclusive<u16> {
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(41000);
        for _ in 0..200 {
            let low = NEXT.fetch_add(97, std::sync::atomic::Ordering::Relaxed);
            if low > 59000 {
                break;
            }
            let all_free = (low..low + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
            if all_free {
                return low..=low + n - 1;
            }
        }
        panic!("no free port range");
    }

    #[test]
    fn ports_come_from_the_range_in_order_and_a_held_port_is_skipped() {
        let range = free_range(4);
        let low = *range.start();
        let _busy = std::net::TcpListener::bind(("127.0.0.1", low + 1)).unwrap();
        let mut cursor = Cursor::default();
        let requests = [any(80, Proto::Tcp), any(81, Proto::Tcp), any(53, Proto::Udp)];
        let got = allocate(&requests, &options(range), &Nothing, &mut cursor).unwrap();
        let ports: Vec<(String, u16)> = got.iter().map(|b| (b.published.port.clone(), b.published.host_port)).collect();
        assert_eq!(ports, [("80/tcp".into(), low), ("81/tcp".into(), low + 2), ("53/udp".into(), low)]);
        assert!(std::net::TcpListener::bind(("127.0.0.1", low)).is_err(), "the port is held by the binding");
    }

    #[test]
    fn a_taken_fixed_port_fails_with_dockers_words() {
        let range = free_range(1);
        let port = *range.start();
        let busy = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let fixed =
            PortRequest { key: PortKey { port: 80, proto: Proto::Tcp }, host_ip: None, host_ports: Some(port..=port) };
        let err = allocate(std::slice::from_ref(&fixed), &options(range.clone()), &Nothing, &mut Cursor::default())
            .unwrap_err();
        let text = err.into_error("web", "abc").to_string();
        assert_eq!(
            text,
            format!(
                "driver failed programming external connectivity on endpoint web (abc): Error starting userland \
                 proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"
            )
        );
        drop(busy);
        struct Mine(u16);
        impl Taken for Mine {
            fn is_taken(&self, _: Proto, _: IpAddr, port: u16) -> bool {
                port == self.0
            }
        }
        let err = allocate(&[fixed], &options(range), &Mine(port), &mut Cursor::default()).unwrap_err();
        assert_eq!(err.detail(), format!("Bind for 127.0.0.1:{port} failed: port is already allocated"));
    }

    #[test]
    fn unspecified_and_specific_addresses_of_a_family_clash() {
        assert!(overlaps("0.0.0.0", "127.0.0.1".parse().unwrap()));
        assert!(overlaps("127.0.0.1", "127.0.0.1".parse().unwrap()));
        assert!(!overlaps("127.0.0.1", "::1".parse().unwrap()));
        assert!(!overlaps("0.0.0.0", "::".parse().unwrap()));
    }
}
