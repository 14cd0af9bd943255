//! The one pump between a hijacked connection and a container's streams, used by attach
//! ([`super::attach`]) and exec start ([`super::exec`]).
//!
//! With an `Upgrade` request header the answer is `101 UPGRADED` (`Content-Type`, `Connection: Upgrade`,
//! `Upgrade: tcp`) and the session runs on the upgraded connection. The task that awaits the upgrade is spawned
//! before the 101 is returned (hyper's upgrade pattern; connections are served with upgrades on). Without
//! `Upgrade` Docker answers `200 OK` and writes the same bytes on the connection; podshim sends them as the
//! (chunked) response body, which HTTP clients read the same way (no stdin then).
//!
//! On the upgraded connection, at the same time:
//! - **output**: the session's streams are opened (only now, so a client that reads the head with a buffered
//!   reader loses nothing that came with it) and written with the session's [`Framing`] until they end; then
//!   the connection is shut down. Failing to open them is told on the stream, as stderr.
//! - **the client's bytes**: read at once. With a stdin target they are checked for the detach keys and queued
//!   (a bounded channel: bytes written before the target is ready wait, then the client is slowed down) for the
//!   target; without one they are discarded, as Docker does. The client half-closing its write side is stdin
//!   EOF (the target closes the process's stdin), never the end of the session: the docker CLI half-closes
//!   right after the 101 when it has no stdin. A read error (the client is gone) and the detach keys end the
//!   session: the connection is closed and the streams are dropped (the target is dropped without closing the
//!   process's stdin, so the process keeps running, as in Docker).

use std::future::Future;
use std::pin::Pin;

use crate::server::RequestBody;
use bytes::Bytes;
use futures::SinkExt;
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use http::{Request, Response, StatusCode};
use hyper::ext::ReasonPhrase;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::response::{self, Body};
use super::stream::{self, Framing};
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::{LogChunk, LogStream, StdinStream};
use podshim_translate::detach_keys::Matcher;

/// The future that opens a session's streams.
pub(super) type OpenFuture = Pin<Box<dyn Future<Output = Result<Streams, Error>> + Send>>;
/// A stdin target at work: resolves when it is done with the client's input.
pub(super) type StdinFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;
/// Takes the client's stdin (the stream's end is the client's EOF) and delivers it to the process.
pub(super) type StdinTarget = Box<dyn FnOnce(StdinStream) -> StdinFuture + Send>;

/// A session's open streams: the output to write, and where the client's stdin goes (`None`: discarded).
pub(super) struct Streams {
    pub output: LogStream,
    pub stdin: Option<StdinTarget>,
}

/// One hijacked session, as attach and exec start describe it.
pub(super) struct Session {
    pub open: OpenFuture,
    pub framing: Framing,
    /// The detach sequence watched for in the client's stdin; empty for none.
    pub detach_keys: Vec<u8>,
}

/// How many reads of stdin wait for the process before the client is slowed down (backpressure).
const STDIN_BACKLOG: usize = 64;

/// Answers a hijacking request: `101 UPGRADED` and the session on the upgraded connection when the client
/// asked for an upgrade, else `200 OK` with the output as the body.
pub(super) fn respond(mut req: Request<RequestBody>, session: Session, version: ApiVersion) -> Response<Body> {
    let content_type = session.framing.content_type(version);
    if !req.headers().contains_key(UPGRADE) {
        let framing = session.framing;
        let output = futures::stream::once(session.open);
        let bytes = futures::StreamExt::flat_map(output, move |result| match result {
            Ok(streams) => futures::StreamExt::boxed(stream::output_bytes(streams.output, framing)),
            Err(err) => futures::StreamExt::boxed(futures::stream::iter([Ok(failure(&err, framing))])),
        });
        return stream::streaming(StatusCode::OK, content_type, bytes);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), session).await,
            Err(err) => tracing::debug!(error = %err, "upgrade did not complete"),
        }
    });
    upgraded_response(content_type)
}

/// The `101 UPGRADED` head Docker sends (attach and exec start).
pub(super) fn upgraded_response(content_type: &'static str) -> Response<Body> {
    let mut resp = response::empty(StatusCode::SWITCHING_PROTOCOLS);
    resp.extensions_mut().insert(ReasonPhrase::from_static(b"UPGRADED"));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

/// A failure to open the streams, as the client reads it: on stderr.
fn failure(err: &Error, framing: Framing) -> Bytes {
    framing.encode(LogChunk::Stderr(Bytes::from(format!("{err}\n"))))
}

/// Runs a session on a hijacked connection (see the module documentation).
pub(super) async fn serve<IO>(io: IO, session: Session)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin,
{
    let Session { open, framing, detach_keys } = session;
    let (reader, mut writer) = tokio::io::split(io);
    let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(STDIN_BACKLOG);
    let output = async move {
        let streams = match open.await {
            Ok(streams) => streams,
            Err(err) => {
                tracing::warn!(error = %err, "the session's streams are not available");
                let _ = writer.write_all(&failure(&err, framing)).await;
                let _ = writer.shutdown().await;
                return;
            }
        };
        // Without a target, the receiver is dropped here and the client's bytes are discarded as they come.
        let stdin = streams.stdin.map(|target| target(Box::pin(rx)));
        let forward = async move {
            if let Some(Err(err)) = match stdin {
                Some(stdin) => Some(stdin.await),
                None => None,
            } {
                tracing::warn!(error = %err, "the process's stdin is not available");
            }
            std::future::pending::<()>().await
        };
        let write_all = async {
            let mut bytes = std::pin::pin!(stream::output_bytes(streams.output, framing));
            while let Some(Ok(chunk)) = futures::StreamExt::next(&mut bytes).await {
                if writer.write_all(&chunk).await.is_err() || writer.flush().await.is_err() {
                    return tracing::debug!("the client went away");
                }
            }
            let _ = writer.shutdown().await;
        };
        tokio::select! {
            _ = write_all => {}
            _ = forward => {}
        }
    };
    tokio::select! {
        _ = output => {}
        end = read_client(reader, Matcher::new(detach_keys), tx) => match end {
            ClientEnd::Detached => tracing::debug!("detached by the client's detach keys"),
            ClientEnd::Gone => tracing::debug!("the client went away"),
        },
    }
}

enum ClientEnd {
    Detached,
    Gone,
}

/// Reads what the client sends, passes it (without the detach keys) to `tx` until EOF (then `tx` is dropped:
/// stdin EOF) or the detach keys. Bytes nobody takes (no stdin target, or one that has ended) are dropped.
async fn read_client<R>(mut reader: R, mut matcher: Matcher, tx: futures::channel::mpsc::Sender<Bytes>) -> ClientEnd
where
    R: AsyncRead + Unpin,
{
    let mut tx = Some(tx);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => {
                drop(tx.take());
                return std::future::pending().await;
            }
            Ok(n) => n,
            Err(_) => return ClientEnd::Gone,
        };
        let fed = matcher.feed(&buf[..n]);
        if let Some(sender) = tx.as_mut().filter(|_| !fed.forward.is_empty()) {
            if sender.send(Bytes::from(fed.forward)).await.is_err() {
                // Nobody takes stdin (any more): the rest is discarded.
                tx = None;
            }
        }
        if fed.detached {
            return ClientEnd::Detached;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn output(chunks: Vec<LogChunk>) -> LogStream {
        Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)))
    }

    fn session(output: LogStream, stdin: Option<StdinTarget>, framing: Framing, keys: Vec<u8>) -> Session {
        Session { open: Box::pin(async move { Ok(Streams { output, stdin }) }), framing, detach_keys: keys }
    }

    /// An output fed by the test, open while the sender lives.
    fn channel_output() -> (tokio::sync::mpsc::Sender<Result<LogChunk, Error>>, LogStream) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        (tx, Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })))
    }

    /// A stdin target that hands what it receives to the test.
    fn collecting_stdin() -> (StdinTarget, tokio::sync::mpsc::UnboundedReceiver<Option<Bytes>>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let target: StdinTarget = Box::new(move |mut input: StdinStream| {
            Box::pin(async move {
                while let Some(bytes) = input.next().await {
                    let _ = tx.send(Some(bytes));
                }
                let _ = tx.send(None);
                Ok(())
            })
        });
        (target, rx)
    }

    #[tokio::test]
    async fn output_keeps_flowing_after_the_client_half_closes() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (go, ready) = tokio::sync::oneshot::channel::<()>();
        // The output appears only after the client has half-closed.
        let open: OpenFuture = Box::pin(async move {
            let _ = ready.await;
            Ok(Streams { output: output(vec![LogChunk::Stdout(Bytes::from_static(b"late\n"))]), stdin: None })
        });
        let task = tokio::spawn(serve(server, Session { open, framing: Framing::Multiplexed, detach_keys: vec![] }));
        client.shutdown().await.unwrap();
        tokio::task::yield_now().await;
        go.send(()).unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"\x01\0\0\0\0\0\0\x05late\n");
        task.await.unwrap();
    }

    /// A TTY session's output is written raw from its first byte: nothing is taken for a frame header.
    #[tokio::test]
    async fn raw_output_is_written_from_the_first_byte() {
        let (server, mut client) = tokio::io::duplex(1024);
        let out = output(vec![LogChunk::Stdout(Bytes::from_static(b"hello out\r\n"))]);
        tokio::spawn(serve(server, session(out, None, Framing::Raw, vec![])));
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello out\r\n");
    }

    /// stdin reaches the target, the client's half-close ends it, and the output that follows still arrives,
    /// framed, before the server closes.
    #[tokio::test]
    async fn stdin_is_forwarded_and_closed_and_output_follows() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (target, mut received) = collecting_stdin();
        let (tx, out) = channel_output();
        let task = tokio::spawn(serve(server, session(out, Some(target), Framing::Multiplexed, vec![])));
        client.write_all(b"hi\n").await.unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(received.recv().await.unwrap(), Some(Bytes::from_static(b"hi\n")));
        assert_eq!(received.recv().await.unwrap(), None, "the client's EOF closes stdin");
        tx.send(Ok(LogChunk::Stdout(Bytes::from_static(b"hi\n")))).await.unwrap();
        drop(tx);
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"\x01\0\0\0\0\0\0\x03hi\n");
        task.await.unwrap();
    }

    /// The detach keys end the session: what came before them reaches the target, the connection closes while
    /// the output is still open, and stdin is neither closed nor fed afterwards.
    #[tokio::test]
    async fn detach_keys_end_the_session_and_leave_stdin_open() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (target, mut received) = collecting_stdin();
        let (_tx, out) = channel_output();
        let task = tokio::spawn(serve(server, session(out, Some(target), Framing::Raw, vec![0x10, 0x11])));
        client.write_all(b"ls\n\x10").await.unwrap();
        assert_eq!(received.recv().await.unwrap(), Some(Bytes::from_static(b"ls\n")));
        // The second key comes later, as docker-py sends them (half a second apart).
        tokio::task::yield_now().await;
        client.write_all(b"\x11after").await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"", "the connection closed without output");
        task.await.unwrap();
        assert!(received.recv().await.is_none(), "the target was dropped, not told EOF, and got nothing more");
    }

    /// Without a stdin target the client's bytes are discarded and never hold the output up.
    #[tokio::test]
    async fn without_stdin_the_clients_bytes_are_discarded() {
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let (tx, out) = channel_output();
        let task = tokio::spawn(serve(server, session(out, None, Framing::Multiplexed, vec![])));
        for _ in 0..200 {
            client.write_all(&[b'x'; 1024]).await.unwrap();
        }
        tx.send(Ok(LogChunk::Stderr(Bytes::from_static(b"e\n")))).await.unwrap();
        drop(tx);
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"\x02\0\0\0\0\0\0\x02e\n");
        task.await.unwrap();
    }

    /// Streams that cannot be opened are told on the stream, as stderr, and the connection closes.
    #[tokio::test]
    async fn a_failure_to_open_is_told_on_stderr() {
        let (server, mut client) = tokio::io::duplex(1024);
        let open: OpenFuture = Box::pin(async { Err(Error::Conflict("Container c is not running".into())) });
        tokio::spawn(serve(server, Session { open, framing: Framing::Multiplexed, detach_keys: vec![] }));
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"\x02\0\0\0\0\0\0\x1bContainer c is not running\n");
    }

    /// Over a real HTTP/1.1 connection: the 101 head byte for byte, the frames after it, output that keeps
    /// coming after the client half-closes, and the server closing the connection at the end.
    #[tokio::test]
    async fn upgrade_answers_101_upgraded_then_frames_then_eof() {
        let (mut client, server_io) = tokio::io::duplex(64 * 1024);
        let service = hyper::service::service_fn(|req| async move {
            let req = crate::server::limit_body(req, Default::default());
            let out = output(vec![LogChunk::Stdout(Bytes::from_static(b"hi\n"))]);
            let session = session(out, None, Framing::Multiplexed, vec![]);
            Ok::<_, std::convert::Infallible>(respond(req, session, ApiVersion(1, 50)))
        });
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server_io), service);
        tokio::spawn(conn.with_upgrades());
        let request = "POST /containers/x/attach?stderr=1&stdout=1&stream=1 HTTP/1.1\r\nHost: d\r\n\
                       Content-Length: 0\r\nConnection: Upgrade\r\nContent-Type: text/plain\r\nUpgrade: tcp\r\n\r\n";
        client.write_all(request.as_bytes()).await.unwrap();
        // As the CLI: wait for the response head, then half-close (no stdin), then read to the end.
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut buf = [0u8; 1024];
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the response head");
            got.extend_from_slice(&buf[..n]);
        }
        client.shutdown().await.unwrap();
        client.read_to_end(&mut got).await.unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{text}");
        assert!(text.contains("content-type: application/vnd.docker.multiplexed-stream\r\n"), "{text}");
        assert!(text.contains("upgrade: tcp\r\n"), "{text}");
        assert!(got.ends_with(b"\r\n\r\n\x01\0\0\0\0\0\0\x03hi\n"), "{text}");
    }

    #[test]
    fn the_101_has_dockers_head() {
        let resp = upgraded_response(stream::MULTIPLEXED);
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(resp.extensions().get::<ReasonPhrase>().unwrap().as_bytes(), b"UPGRADED");
        assert_eq!(resp.headers()[UPGRADE], "tcp");
        assert_eq!(resp.headers()[CONNECTION], "Upgrade");
        assert_eq!(resp.headers()[CONTENT_TYPE], stream::MULTIPLEXED);
    }
}
