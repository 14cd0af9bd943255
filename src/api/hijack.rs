//! `POST /containers/{id}/attach` (ContainerAttach): the connection is taken over ("hijacked") and carries the
//! container's output as raw bytes.
//!
//! With an `Upgrade` request header the answer is `101 UPGRADED` (`Content-Type`, `Connection: Upgrade`,
//! `Upgrade: tcp`) and the output follows on the upgraded connection. The task that awaits the upgrade is spawned
//! before the 101 is returned (hyper's upgrade pattern; connections are served with upgrades on). Without
//! `Upgrade` Docker answers `200 OK` and writes the same bytes on the connection; podshim sends them as the
//! (chunked) response body, which HTTP clients read the same way.
//!
//! With `stdin=1` on a container with `OpenStdin`, what the client writes after the 101 is its stdin: read at
//! once (bytes written before `start` wait in a bounded channel), checked for the detach keys, and handed to
//! [`Runtime::attach_stdin`]. The client half-closing its write side is stdin EOF (the runtime closes the
//! process's stdin); the output keeps flowing until the container's output ends, then the socket is shut
//! down. The detach keys end the attach (the connection is closed) and leave the container running. Without
//! stdin the client's bytes are read and discarded, as Docker does. A client that is really gone shows as a
//! failed write or a read error, which ends the stream and drops (cancels) the runtime's streams.

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

use super::containers::resolve;
use super::query::Query;
use super::response::{self, Body};
use super::stream::{self, output_content_type, RAW};
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::{LogOptions, LogStream, Runtime, StdinStream};
use podshim_translate::detach_keys::{self, Matcher};

type OutputFuture = Pin<Box<dyn Future<Output = Result<LogStream, Error>> + Send>>;
type StdinFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// Where the client's stdin goes: the detach sequence to watch for, and the consumer of the bytes.
pub(super) struct StdinTarget {
    keys: Vec<u8>,
    deliver: Box<dyn FnOnce(StdinStream) -> StdinFuture + Send>,
}

/// How many reads of stdin wait for the process before the client is slowed down (backpressure).
const STDIN_BACKLOG: usize = 64;

/// The attach query. `stream=1` is accepted while the container is only created (the CLI attaches before it
/// starts the container); `logs=1` asks for the output from the beginning. Without `stream`, `logs=1` gives the
/// output so far and ends, and neither gives an empty stream, as in moby.
///
/// `stdin=1` on a container with `OpenStdin` forwards the client's stdin (`detachKeys`, default
/// `ctrl-p,ctrl-q`, 400 when malformed as in moby; they detach only with a TTY, as in moby). For a container
/// without `OpenStdin` Docker discards stdin, and so does podshim.
pub async fn container_attach(
    rt: &Runtime,
    id: &str,
    req: Request<RequestBody>,
    version: ApiVersion,
) -> Result<Response<Body>, Error> {
    let query = Query::of(&req);
    let container = resolve(rt, id)?;
    let stdin = match query.bool("stdin") && container.open_stdin() {
        true => {
            let keys = detach_keys::parse(query.get("detachKeys").unwrap_or("")).map_err(Error::InvalidParameter)?;
            // moby watches for the detach keys only with a TTY; without one every byte is stdin.
            let keys = if container.tty() { keys } else { Vec::new() };
            let (rt, cid) = (rt.clone(), container.id.clone());
            let deliver = Box::new(move |input| Box::pin(async move { rt.attach_stdin(&cid, input).await }) as _);
            Some(StdinTarget { keys, deliver })
        }
        false => None,
    };
    let (stdout, stderr, logs) = (query.bool("stdout"), query.bool("stderr"), query.bool("logs"));
    let tty = container.tty();
    let (rt, cid) = (rt.clone(), container.id.clone());
    let mut output: OutputFuture = match (query.bool("stream"), logs) {
        (true, _) => Box::pin(async move { rt.attach_output(&cid, stdout, stderr, logs).await }),
        // `stream=0&logs=1`: the output so far, then the end (moby attach without stream).
        (false, true) if stdout || stderr => {
            let options = LogOptions { stdout, stderr, ..LogOptions::default() };
            Box::pin(async move { rt.logs(&cid, options).await })
        }
        _ => Box::pin(async { Ok(Box::pin(futures::stream::empty()) as LogStream) }),
    };
    // Poll once now, before the client sees the 101 and sends start, so the runtime takes its view of the
    // container (created: everything from the first byte) before anything can change it; an error that comes
    // at once is still an HTTP error.
    if let std::task::Poll::Ready(result) = futures::poll!(&mut output) {
        let ready = result?;
        output = Box::pin(async move { Ok(ready) });
    }
    Ok(hijack(req, output, stdin, tty, output_content_type(tty, version)))
}

/// Answers an attach whose output is `output`: `101 UPGRADED` and the output on the upgraded connection when
/// the client asked for an upgrade, else `200 OK` with the output as the body (no stdin without an upgrade).
fn hijack(
    mut req: Request<RequestBody>,
    output: OutputFuture,
    stdin: Option<StdinTarget>,
    tty: bool,
    content_type: &'static str,
) -> Response<Body> {
    if !req.headers().contains_key(UPGRADE) {
        let output = futures::stream::once(output);
        let bytes = futures::StreamExt::flat_map(output, move |result| match result {
            Ok(out) => futures::StreamExt::boxed(stream::output_bytes(out, tty)),
            Err(err) => futures::StreamExt::boxed(futures::stream::iter([Err(std::io::Error::other(err.to_string()))])),
        });
        return stream::streaming(StatusCode::OK, RAW, bytes);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), output, stdin, tty).await,
            Err(err) => tracing::debug!(error = %err, "attach upgrade did not complete"),
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

/// Writes the output on the hijacked connection until it ends, while reading what the client sends (its stdin,
/// forwarded to `stdin` or discarded); then shuts the connection down. The detach keys end it early.
async fn serve<IO>(io: IO, output: OutputFuture, stdin: Option<StdinTarget>, tty: bool)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (reader, mut writer) = tokio::io::split(io);
    let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(STDIN_BACKLOG);
    let (matcher, forwarding) = match stdin {
        Some(target) => (Some(Matcher::new(target.keys)), Some((target.deliver)(Box::pin(rx)))),
        None => (None, None),
    };
    let forward = async move {
        if let Some(Err(err)) = match forwarding {
            Some(f) => Some(f.await),
            None => None,
        } {
            tracing::warn!(error = %err, "attach: the container's stdin is not available");
        }
        std::future::pending::<()>().await
    };
    let write_all = async {
        let output = match output.await {
            Ok(output) => output,
            Err(err) => return tracing::warn!(error = %err, "attach: the container's output is not available"),
        };
        let mut bytes = std::pin::pin!(stream::output_bytes(output, tty));
        while let Some(Ok(chunk)) = futures::StreamExt::next(&mut bytes).await {
            if writer.write_all(&chunk).await.is_err() || writer.flush().await.is_err() {
                return tracing::debug!("attach: the client went away");
            }
        }
        let _ = writer.shutdown().await;
    };
    tokio::select! {
        _ = write_all => {}
        end = read_client(reader, matcher, tx) => match end {
            ClientEnd::Detached => tracing::debug!("attach: detached by the client's detach keys"),
            ClientEnd::Gone => tracing::debug!("attach: the client went away"),
        },
        _ = forward => {}
    }
}

enum ClientEnd {
    Detached,
    Gone,
}

/// Reads what the client sends: with a `matcher`, its stdin, passed to `tx` until EOF (then `tx` is dropped:
/// the process's stdin is closed) or the detach keys; without one, discarded. EOF is never the client's end
/// (the CLI half-closes right after the 101 when it has no stdin); a read error is.
async fn read_client<R>(
    mut reader: R,
    mut matcher: Option<Matcher>,
    tx: futures::channel::mpsc::Sender<Bytes>,
) -> ClientEnd
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
        let Some(matcher) = matcher.as_mut() else { continue };
        let fed = matcher.feed(&buf[..n]);
        if let Some(sender) = tx.as_mut().filter(|_| !fed.forward.is_empty()) {
            // A session that has ended takes no more input: the rest is discarded.
            let _ = sender.send(Bytes::from(fed.forward)).await;
        }
        if fed.detached {
            return ClientEnd::Detached;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::LogChunk;

    fn output(chunks: Vec<LogChunk>) -> OutputFuture {
        Box::pin(async move { Ok(Box::pin(futures::stream::iter(chunks.into_iter().map(Ok))) as LogStream) })
    }

    #[tokio::test]
    async fn output_keeps_flowing_after_the_client_half_closes() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (go, ready) = tokio::sync::oneshot::channel::<()>();
        // The output appears only after the client has half-closed.
        let gated: OutputFuture = Box::pin(async move {
            let _ = ready.await;
            let chunks = [Ok(LogChunk::Stdout(Bytes::from_static(b"late\n")))];
            Ok(Box::pin(futures::stream::iter(chunks)) as LogStream)
        });
        let task = tokio::spawn(serve(server, gated, None, false));
        client.shutdown().await.unwrap();
        tokio::task::yield_now().await;
        go.send(()).unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"\x01\0\0\0\0\0\0\x05late\n");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn tty_output_is_written_raw() {
        let (server, mut client) = tokio::io::duplex(1024);
        tokio::spawn(serve(server, output(vec![LogChunk::Stdout(Bytes::from_static(b"a\r\n"))]), None, true));
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"a\r\n");
    }

    /// Over a real HTTP/1.1 connection: the 101 head byte for byte, the frames after it, output that keeps
    /// coming after the client half-closes, and the server closing the connection at the end.
    #[tokio::test]
    async fn upgrade_answers_101_upgraded_then_frames_then_eof() {
        let (mut client, server_io) = tokio::io::duplex(64 * 1024);
        let service = hyper::service::service_fn(|req| async move {
            let out = output(vec![LogChunk::Stdout(Bytes::from_static(b"hi\n"))]);
            let req = crate::server::limit_body(req, Default::default());
            Ok::<_, std::convert::Infallible>(hijack(req, out, None, false, stream::MULTIPLEXED))
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
