//! `pods/portforward`: a connection to a port of the pod, made as a kubelet makes it: to `localhost` inside the
//! pod's network namespace (so a server that listens on the pod's loopback only is reachable too), IPv4 first,
//! then IPv6.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

/// How long a connection to the pod's port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn connect_localhost(port: u16) -> io::Result<TcpStream> {
    let v4 = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), CONNECT_TIMEOUT);
    let stream = match v4 {
        Ok(stream) => stream,
        Err(v4_err) => TcpStream::connect_timeout(&SocketAddr::from((Ipv6Addr::LOCALHOST, port)), CONNECT_TIMEOUT)
            .map_err(|v6_err| {
                io::Error::new(
                    v4_err.kind(),
                    format!("IPv4: dial tcp4 127.0.0.1:{port}: {v4_err} IPv6 dial tcp6 [::1]:{port}: {v6_err}"),
                )
            })?,
    };
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// Connects to `port` on the pod's loopback: in its namespace (on a thread of its own that joins it: the socket
/// stays in the pod's namespace), or this machine's when pods share its network.
pub async fn connect(netns: Option<Arc<OwnedFd>>, port: u16) -> io::Result<tokio::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("sim-portforward".into()).spawn(move || {
        let result = (|| {
            if let Some(ns) = &netns {
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            }
            connect_localhost(port)
        })();
        let _ = tx.send(result);
    })?;
    let stream = rx.await.unwrap_or_else(|_| Err(io::Error::other("the connecting thread ended")))?;
    tokio::net::TcpStream::from_std(stream)
}
