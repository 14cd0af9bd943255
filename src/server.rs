//! Unix and TCP listeners, the accept loop, and graceful shutdown.
//!
//! Connections are served over HTTP/1.1 with upgrades enabled (attach and exec hijack the connection).

use std::convert::Infallible;
use std::io;
use std::path::PathBuf;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::response::Body;
use crate::config::ListenAddr;

/// A bound listener.
pub enum Listener {
    Unix { listener: UnixListener, path: PathBuf },
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

/// Binds every address. A stale unix socket file left by an earlier run is replaced.
pub async fn bind_all(addrs: &[ListenAddr]) -> io::Result<Vec<Listener>> {
    let mut out = Vec::with_capacity(addrs.len());
    for addr in addrs {
        out.push(bind(addr).await?);
    }
    Ok(out)
}

async fn bind(addr: &ListenAddr) -> io::Result<Listener> {
    let with_context = |err: io::Error| io::Error::new(err.kind(), format!("listening on {addr:?}: {err}"));
    match addr {
        ListenAddr::Unix(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(with_context)?;
            }
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(with_context(err)),
            }
            let listener = UnixListener::bind(path).map_err(with_context)?;
            Ok(Listener::Unix { listener, path: path.clone() })
        }
        ListenAddr::Tcp(sock) => Ok(Listener::Tcp(TcpListener::bind(sock).await.map_err(with_context)?)),
    }
}

/// Answers one request; the Docker API router and the admin endpoint are handlers.
pub trait Handler: Clone + Send + Sync + 'static {
    fn handle(&self, req: Request<Incoming>) -> impl std::future::Future<Output = Response<Body>> + Send;
}

/// Serves every listener with `handler` until `shutdown` is cancelled, then removes the unix socket files.
pub async fn serve<H: Handler>(what: &'static str, listeners: Vec<Listener>, handler: H, shutdown: CancellationToken) {
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tracing::info!(address = %listener.docker_host(), "serving the {what}");
        tasks.spawn(accept_loop(listener, handler.clone(), shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop<H: Handler>(listener: Listener, handler: H, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = accept(&listener) => accepted,
        };
        match accepted {
            Ok((io, peer)) => {
                let span = tracing::debug_span!("connection", client.addr = %peer);
                tokio::spawn(serve_connection(io, handler.clone(), shutdown.clone()).instrument(span));
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    if let Listener::Unix { path, .. } = &listener {
        let _ = std::fs::remove_file(path);
    }
}

type BoxedIo = Box<dyn Io>;
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn accept(listener: &Listener) -> io::Result<(BoxedIo, String)> {
    match listener {
        Listener::Unix { listener, path } => {
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

async fn serve_connection<H: Handler>(io: BoxedIo, handler: H, shutdown: CancellationToken) {
    let service = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(io), service).with_upgrades();
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
