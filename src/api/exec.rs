//! The Exec tag: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like attach),
//! `GET /exec/{id}/json`, `POST /exec/{id}/resize`.
//!
//! Start with an `Upgrade` header answers `101 UPGRADED` (the head of [`super::hijack`]) and then carries the
//! exec's stdin from the client and its output to the client (multiplexed frames, or raw with a TTY) on the
//! connection; without `Upgrade`, `200` with the output as the body and no stdin. `Detach: true` answers `200`
//! with an empty body at once and runs the command in the background. The connection is closed once the exit
//! code is recorded and all output is written, so the exec inspect the client sends next shows it.

use crate::server::RequestBody;
use bollard_stubs::models::{ExecConfig, ExecStartConfig};
use bytes::Bytes;
use http::header::UPGRADE;
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::containers::resolve;
use super::hijack::upgraded_response;
use super::query::{decode_json, read_body, Query, JSON_BODY_LIMIT};
use super::response::{self, Body};
use super::stream::{self, output_content_type};
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::{ExecSession, ExecStdin, LogChunk, Runtime};
use podshim_translate::detach_keys::Matcher;

/// `POST /containers/{id}/exec` (ContainerExec): 201 `{"Id"}` (bollard's `IdResponse` would write `id`).
pub async fn exec_create(rt: &Runtime, id: &str, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let bytes = read_body(req.into_body(), JSON_BODY_LIMIT).await?;
    let config: ExecConfig = decode_json(&bytes)?;
    let container = resolve(rt, id)?;
    let exec_id = rt.create_exec(&container.id, config)?;
    Ok(response::json(StatusCode::CREATED, &serde_json::json!({ "Id": exec_id })))
}

/// `POST /exec/{id}/start` (ExecStart). The exec's own `Tty` decides the framing (the body's `Tty` only tells
/// the client's choice, which matches it). An empty body means `{}`.
pub async fn exec_start(
    rt: &Runtime,
    id: &str,
    mut req: Request<RequestBody>,
    version: ApiVersion,
) -> Result<Response<Body>, Error> {
    let bytes = read_body(req.body_mut(), JSON_BODY_LIMIT).await?;
    let start: ExecStartConfig =
        if bytes.iter().all(u8::is_ascii_whitespace) { ExecStartConfig::default() } else { decode_json(&bytes)? };
    let console_size = podshim_translate::exec::console_size(start.console_size.as_deref());
    let exec = rt.start_exec(id)?;
    if start.detach.unwrap_or(false) {
        exec.attach(true, console_size).await?;
        return Ok(response::empty(StatusCode::OK));
    }
    let tty = exec.tty();
    let detach_keys = exec.detach_keys();
    let content_type = output_content_type(tty, version);
    if !req.headers().contains_key(UPGRADE) {
        let session = exec.attach(false, console_size).await?;
        return Ok(stream::output_response(session.output, tty, content_type));
    }
    // The command runs once the client has the 101 (see `ExecStart`); a failure then is told on the stream.
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let mut io = match on_upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(err) => return tracing::debug!(error = %err, "exec upgrade did not complete"),
        };
        match exec.attach(false, console_size).await {
            Ok(session) => serve(io, session, Matcher::new(detach_keys)).await,
            Err(err) => {
                let chunk = LogChunk::Stderr(Bytes::from(format!("{err}\n")));
                let _ = io.write_all(&stream::encode_chunk(chunk, tty)).await;
                let _ = io.shutdown().await;
            }
        }
    });
    Ok(upgraded_response(content_type))
}

/// `GET /exec/{id}/json` (ExecInspect).
/// Docker sends `"ExitCode": null` until the exec has run; bollard's model leaves the key out, so it is put
/// back (docker-py reads `inspect["ExitCode"]`).
pub fn exec_inspect(rt: &Runtime, id: &str) -> Result<Response<Body>, Error> {
    let inspect = rt.inspect_exec(id)?;
    let mut value = serde_json::to_value(&inspect).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.entry("ExitCode").or_insert(serde_json::Value::Null);
    }
    Ok(response::json(StatusCode::OK, &value))
}

/// `POST /exec/{id}/resize` (ExecResize): `h` and `w`; a size that does not fit a terminal is 400.
pub fn exec_resize(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = Query::of(req);
    let size = |key: &str| -> Result<u16, Error> {
        let value = query.int(key)?.unwrap_or(0);
        u16::try_from(value).map_err(|_| Error::InvalidParameter(format!("invalid value for {key}: {value}")))
    };
    rt.resize_exec(id, size("h")?, size("w")?)?;
    Ok(response::empty(StatusCode::OK))
}

/// Serves a started exec on the hijacked connection: client bytes go to the process's stdin (the client
/// half-closing its write side closes that stdin, nothing more), output goes to the client until it ends,
/// then the connection is shut down. A client that is really gone (read error, failed write) ends it early;
/// the command keeps running, as in Docker, with its stdin closed. The detach keys (with a TTY) end it too,
/// leaving the command running with its stdin open, as moby does.
async fn serve<IO>(io: IO, session: ExecSession, detach: Matcher)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin,
{
    let ExecSession { output, stdin, tty } = session;
    let (mut reader, mut writer) = tokio::io::split(io);
    let input = async move {
        match forward_stdin(&mut reader, stdin, detach).await {
            ClientInput::Ended => {
                // Drain (and drop) anything else the client sends; EOF and errors alike end only the input.
                let mut buf = [0u8; 4096];
                while let Ok(n) = reader.read(&mut buf).await {
                    if n == 0 {
                        std::future::pending::<()>().await;
                    }
                }
                tracing::debug!("exec: the client went away")
            }
            ClientInput::Gone => tracing::debug!("exec: the client went away"),
            ClientInput::Detached => tracing::debug!("exec: detached by the client's detach keys"),
        }
    };
    let write_all = async {
        let mut bytes = std::pin::pin!(stream::output_bytes(output, tty));
        while let Some(Ok(chunk)) = futures::StreamExt::next(&mut bytes).await {
            if writer.write_all(&chunk).await.is_err() || writer.flush().await.is_err() {
                return tracing::debug!("exec: the client went away");
            }
        }
        let _ = writer.shutdown().await;
    };
    tokio::select! {
        _ = write_all => {}
        _ = input => {}
    }
}

/// How the client's input ended.
enum ClientInput {
    /// Its EOF (or it had no stdin to give): the process's stdin is closed, output still flows.
    Ended,
    /// A read error: the client is gone.
    Gone,
    /// The detach keys: the session ends, the process's stdin stays open.
    Detached,
}

/// Copies the client's bytes to the process's stdin until the client's EOF, then closes that stdin; a stdin the
/// process no longer reads just drops the bytes. The detach sequence is not passed on.
async fn forward_stdin<R: AsyncRead + Unpin>(
    reader: &mut R,
    stdin: Option<ExecStdin>,
    mut detach: Matcher,
) -> ClientInput {
    let Some(mut stdin) = stdin else { return ClientInput::Ended };
    let mut buf = [0u8; 16 * 1024];
    let mut open = true;
    let end = loop {
        match reader.read(&mut buf).await {
            Ok(0) => break ClientInput::Ended,
            Ok(n) => {
                let fed = detach.feed(&buf[..n]);
                if open && !fed.forward.is_empty() {
                    open = stdin.write_all(&fed.forward).await.is_ok();
                }
                if fed.detached {
                    return ClientInput::Detached;
                }
            }
            Err(_) => break ClientInput::Gone,
        }
    };
    // Shut down, not only dropped: the reader half of kube's pipe sees EOF only then, and sends the v5 close.
    let _ = stdin.shutdown().await;
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::LogStream;

    /// An exec's output fed by the test, open while the sender lives.
    fn channel_output() -> (tokio::sync::mpsc::Sender<Result<LogChunk, Error>>, LogStream) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        (tx, Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })))
    }

    /// stdin reaches the process, the client's half-close closes it, and the output that follows still
    /// arrives, framed, before the server closes.
    #[tokio::test]
    async fn stdin_is_forwarded_and_closed_and_output_follows() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (mut stdin_r, stdin_w) = tokio::io::simplex(1024);
        let (tx, output) = channel_output();
        let session = ExecSession { output, stdin: Some(Box::pin(stdin_w)), tty: false };
        let task = tokio::spawn(serve(server, session, Matcher::new(Vec::new())));
        client.write_all(b"hi\n").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        stdin_r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hi\n");
        tx.send(Ok(LogChunk::Stdout(Bytes::from_static(b"hi\n")))).await.unwrap();
        drop(tx);
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"\x01\0\0\0\0\0\0\x03hi\n");
        task.await.unwrap();
    }

    /// With a TTY the detach keys end the session: what came before them reaches the process, the connection
    /// closes while the command still runs (its output is still open), and its stdin is not closed.
    #[tokio::test]
    async fn detach_keys_end_the_session_and_leave_stdin_open() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (mut stdin_r, stdin_w) = tokio::io::simplex(1024);
        let (_tx, output) = channel_output();
        let session = ExecSession { output, stdin: Some(Box::pin(stdin_w)), tty: true };
        let task = tokio::spawn(serve(server, session, Matcher::new(vec![0x10, 0x11])));
        client.write_all(b"ls\n\x10\x11after").await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"", "the connection closed without output");
        task.await.unwrap();
        let mut got = [0u8; 16];
        let n = stdin_r.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"ls\n");
        let more = tokio::time::timeout(std::time::Duration::from_millis(200), stdin_r.read(&mut got)).await;
        assert!(more.is_err(), "stdin is neither closed nor fed after the detach: {more:?}");
    }
}
