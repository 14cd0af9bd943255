//! Unix and TCP listeners, the accept loop, connection time limits, and graceful shutdown.
//!
//! Connections are served over HTTP/1.1 with upgrades enabled (attach and exec hijack the connection).
//!
//! Unix sockets are made as dockerd makes them: mode 0660 whatever the umask, group `--socket-group`
//! (default `docker` when that group exists, else podshim's own). An existing file at the path is
//! replaced only when it is a stale socket (nothing answers on it); a live socket or any other file
//! is refused. On exit the socket is removed only if it is still the one podshim created.
//!
//! A client that sends nothing is not held forever ([`Limits`]): the request head (and, between
//! requests, the next one) must arrive within `header_read`, and a request body that stops arriving
//! fails after `body_idle` without a byte. Responses are not limited: `logs -f`, `events` and hijacked
//! attach and exec streams stay open as long as they are live. There is no cap on the number of
//! connections (dockerd has none either): each idle one ends after `header_read`.

use std::convert::Infallible;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutBody;
use tracing::Instrument;

use crate::config::ListenAddr;

/// The body of a request as handlers see it: hyper's, failing once it has not sent a byte for
/// [`Limits::body_idle`] (pinned on the heap, so handlers can read it through `&mut`).
/// The body of every response the server sends.
pub type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, io::Error>;
type Body = ResponseBody;

pub type RequestBody = Pin<Box<TimeoutBody<Incoming>>>;

/// Gives `req` the body handlers take.
pub fn limit_body(req: Request<Incoming>, limits: Limits) -> Request<RequestBody> {
    req.map(|body| Box::pin(TimeoutBody::new(limits.body_idle, body)))
}

/// How long a client may keep a connection without sending what the server waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// For a whole request head; also how long an idle keep-alive connection waits for the next one.
    pub header_read: Duration,
    /// For each piece of a request body the handler is reading.
    pub body_idle: Duration,
}

impl Default for Limits {
    /// 30 s each: hyper's own default for the head, well under what stalls a client that is alive.
    fn default() -> Limits {
        Limits { header_read: Duration::from_secs(30), body_idle: Duration::from_secs(30) }
    }
}

/// The group that dockerd gives its socket unless told otherwise.
const DEFAULT_SOCKET_GROUP: &str = "docker";

/// The group of the unix sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketGroup {
    name: String,
    /// None: the default group does not exist here; the socket keeps podshim's own group.
    gid: Option<u32>,
    /// Named with `--socket-group`: failing to apply it is an error, not a warning.
    asked: bool,
}

impl SocketGroup {
    /// Resolves `--socket-group` (a name or a number); without it, `docker` if that group exists. A group that
    /// was asked for and does not exist is an error.
    pub fn resolve(asked: Option<&str>) -> io::Result<SocketGroup> {
        let name = asked.unwrap_or(DEFAULT_SOCKET_GROUP).to_string();
        let by_name = nix::unistd::Group::from_name(&name).map_err(io::Error::from)?.map(|g| g.gid.as_raw());
        let gid = by_name.or_else(|| asked.and_then(|n| n.parse().ok()));
        if asked.is_some() && gid.is_none() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("--socket-group {name}: no such group")));
        }
        if gid.is_none() {
            tracing::warn!(
                "could not change the group of the unix sockets to {name}: no such group; they keep podshim's own"
            );
        }
        Ok(SocketGroup { name, gid, asked: asked.is_some() })
    }

    /// No group change (tests).
    pub fn own() -> SocketGroup {
        SocketGroup { name: String::new(), gid: None, asked: false }
    }

    fn apply(&self, path: &Path) -> io::Result<()> {
        let Some(gid) = self.gid else { return Ok(()) };
        match std::os::unix::fs::lchown(path, None, Some(gid)) {
            Ok(()) => Ok(()),
            Err(err) if !self.asked => {
                tracing::warn!(error = %err, path = %path.display(), "could not change the group of the socket to {}", self.name);
                Ok(())
            }
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!("changing the group of {} to {}: {err}", path.display(), self.name),
            )),
        }
    }
}

/// A bound listener.
pub enum Listener {
    /// `identity` is the socket file's (device, inode), to remove only that file on exit.
    Unix {
        listener: UnixListener,
        path: PathBuf,
        identity: (u64, u64),
    },
    Tcp(TcpListener),
}

impl Listener {
    /// The address as a `DOCKER_HOST` value.
    pub fn docker_host(&self) -> String {
        match self {
            Listener::Unix { path, .. } => format!("unix://{}", path.display()),
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => format!("tcp://{addr}"),
                Err(_) => "tcp://?".to_string(),
            },
        }
    }
}

/// Binds every address; unix sockets get mode 0660 and `group`.
pub async fn bind_all(addrs: &[ListenAddr], group: &SocketGroup) -> io::Result<Vec<Listener>> {
    let mut out = Vec::with_capacity(addrs.len());
    for addr in addrs {
        out.push(bind(addr, group).await?);
    }
    Ok(out)
}

async fn bind(addr: &ListenAddr, group: &SocketGroup) -> io::Result<Listener> {
    let with_context = |err: io::Error| io::Error::new(err.kind(), format!("listening on {addr:?}: {err}"));
    match addr {
        ListenAddr::Unix(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(with_context)?;
            }
            remove_stale_socket(path).await?;
            bind_unix(path, group).map_err(with_context)
        }
        ListenAddr::Tcp(sock) => Ok(Listener::Tcp(TcpListener::bind(sock).await.map_err(with_context)?)),
    }
}

/// Removes what is at `path` if it is a socket nobody listens on; refuses anything else.
async fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let kind = meta.file_type();
    if !kind.is_socket() {
        let what = if kind.is_symlink() {
            "a symbolic link"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_file() {
            "a regular file"
        } else {
            "a special file"
        };
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is {what}, not a socket: refusing to replace it", path.display()),
        ));
    }
    let connect = tokio::net::UnixStream::connect(path);
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Err(err)) if err.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing a stale socket");
            std::fs::remove_file(path)
        }
        Ok(Err(err)) => Err(io::Error::new(
            err.kind(),
            format!("{} exists and cannot be checked for a listener ({err}): refusing to replace it", path.display()),
        )),
        Ok(Ok(_)) | Err(_) => {
            Err(io::Error::new(io::ErrorKind::AddrInUse, format!("another daemon is listening on {}", path.display())))
        }
    }
}

/// Binds, sets the mode and group, and only then listens, so no client connects before they are set.
fn bind_unix(path: &Path, group: &SocketGroup) -> io::Result<Listener> {
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let socket = nix::sys::socket::socket(AddressFamily::Unix, SockType::Stream, flags, None)?;
    nix::sys::socket::bind(socket.as_raw_fd(), &UnixAddr::new(path)?)?;
    let meta = std::fs::symlink_metadata(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    group.apply(path)?;
    nix::sys::socket::listen(&socket, Backlog::MAXCONN)?;
    let listener = UnixListener::from_std(std::os::unix::net::UnixListener::from(socket))?;
    Ok(Listener::Unix { listener, path: path.to_path_buf(), identity: (meta.dev(), meta.ino()) })
}

/// Answers one request; the Docker API router and the admin endpoint are handlers.
pub trait Handler: Clone + Send + Sync + 'static {
    fn handle(&self, req: Request<RequestBody>) -> impl std::future::Future<Output = Response<Body>> + Send;
}

/// Serves every listener with `handler` until `shutdown` is cancelled, then removes the unix socket files.
pub async fn serve<H: Handler>(
    what: &'static str,
    listeners: Vec<Listener>,
    handler: H,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tracing::info!(address = %listener.docker_host(), "serving the {what}");
        tasks.spawn(accept_loop(listener, handler.clone(), limits, shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop<H: Handler>(listener: Listener, handler: H, limits: Limits, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = accept(&listener) => accepted,
        };
        match accepted {
            Ok((io, peer)) => {
                let span = tracing::debug_span!("connection", client.addr = %peer);
                tokio::spawn(serve_connection(io, handler.clone(), limits, shutdown.clone()).instrument(span));
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    if let Listener::Unix { path, identity, .. } = &listener {
        let still_ours = std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == *identity);
        if still_ours {
            let _ = std::fs::remove_file(path);
        }
    }
}

type BoxedIo = Box<dyn Io>;
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn accept(listener: &Listener) -> io::Result<(BoxedIo, String)> {
    match listener {
        Listener::Unix { listener, path, .. } => {
            let (stream, _) = listener.accept().await?;
            Ok((Box::new(stream), path.display().to_string()))
        }
        Listener::Tcp(listener) => {
            let (stream, peer) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Box::new(stream), peer.to_string()))
        }
    }
}

async fn serve_connection<H: Handler>(io: BoxedIo, handler: H, limits: Limits, shutdown: CancellationToken) {
    let service = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        let req = limit_body(req, limits);
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    token.cancel();
}
