//! Streamed response bodies: container output (8-byte multiplexed frames, or raw for a TTY) and JSON lines.
//!
//! A client that goes away drops the response body, which drops the runtime's stream with it (that is how a
//! log follow or a wait is cancelled); nothing is logged for it, it is a normal end.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde::Serialize;

use super::response::Body;
use super::ApiVersion;
use crate::runtime::{LogChunk, LogStream};

/// Stream type bytes of Docker's multiplexed framing (moby `stdcopy`).
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// Content type of multiplexed output (moby, API >= 1.42).
pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
/// Content type of raw output (TTY, or API < 1.42).
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// How container output goes to the client: raw bytes, or multiplexed frames that say which stream each
/// piece came from. Decided here alone, as moby decides it:
/// - attach and logs: by the container's `Config.Tty` ([`Framing::for_container`]);
/// - exec start: by the start body's `Tty` ([`Framing::for_exec_start`]), not by the exec's own `Tty` (a client
///   may start a TTY exec with `Tty: false` and then reads frames, as docker-py's `exec_start` does by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Raw,
    Multiplexed,
}

impl Framing {
    /// Attach and logs: raw when the container has a TTY.
    pub fn for_container(tty: bool) -> Framing {
        if tty {
            Framing::Raw
        } else {
            Framing::Multiplexed
        }
    }

    /// Exec start: raw when the start body says `Tty: true`.
    pub fn for_exec_start(body_tty: bool) -> Framing {
        Framing::for_container(body_tty)
    }

    /// The content type moby gives the output: multiplexed from API 1.42 on, raw otherwise. Clients choose
    /// how to read from what they asked for, not from this header.
    pub fn content_type(self, version: ApiVersion) -> &'static str {
        if self == Framing::Multiplexed && version >= ApiVersion(1, 42) {
            MULTIPLEXED
        } else {
            RAW
        }
    }

    /// The bytes a client receives for one chunk: raw, or one frame per line (a trailing partial line is a
    /// frame of its own), as Docker's log driver keeps one message per line and clients such as docker-py
    /// yield one item per frame.
    pub fn encode(self, chunk: LogChunk) -> Bytes {
        let (stream, payload) = match chunk {
            LogChunk::Stdout(b) => (STDOUT, b),
            LogChunk::Stderr(b) => (STDERR, b),
        };
        match self {
            Framing::Raw => payload,
            Framing::Multiplexed => frame_lines(stream, &payload),
        }
    }
}

/// One multiplexed frame: `[stream, 0, 0, 0, size as u32 big-endian]` and the payload. A payload above 4 GiB
/// cannot occur (chunks come from a socket read), but would be split rather than mis-framed.
pub fn frame(stream: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    put_frames(&mut out, stream, payload);
    out.freeze()
}

fn put_frames(out: &mut BytesMut, stream: u8, payload: &[u8]) {
    for part in payload.chunks(u32::MAX as usize) {
        out.put_u8(stream);
        out.put_bytes(0, 3);
        out.put_u32(part.len() as u32);
        out.put_slice(part);
    }
}

/// A frame per line of `payload`, all in one buffer.
fn frame_lines(stream: u8, payload: &[u8]) -> Bytes {
    let lines = payload.split_inclusive(|b| *b == b'\n');
    let mut out = BytesMut::with_capacity(payload.len() + 8 * (1 + payload.len() / 32));
    for line in lines {
        put_frames(&mut out, stream, line);
    }
    out.freeze()
}

/// Container output as encoded bytes. An error from the runtime ends the stream with that error (the client
/// sees a cut-off body rather than a clean end that would pass for complete output), logged at warn.
pub fn output_bytes(output: LogStream, framing: Framing) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    output.map(move |item| match item {
        Ok(chunk) => Ok(framing.encode(chunk)),
        Err(err) => {
            tracing::warn!(error = %err, "container output ended with an error");
            Err(std::io::Error::other(err.to_string()))
        }
    })
}

/// A 200 response streaming container output.
pub fn output_response(output: LogStream, framing: Framing, version: ApiVersion) -> Response<Body> {
    streaming(StatusCode::OK, framing.content_type(version), output_bytes(output, framing))
}

/// A response whose body is `chunks`; hyper sends the headers at once and each chunk as it comes.
pub fn streaming<S>(status: StatusCode, content_type: &'static str, chunks: S) -> Response<Body>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let chunks = SyncStream(Mutex::new(chunks.map(|r| r.map(Frame::data)).boxed()));
    let body = BodyExt::boxed(StreamBody::new(chunks));
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// One JSON line: the value's compact JSON and `\n`, as Go's `json.Encoder` writes it.
pub fn json_line<T: Serialize>(value: &T) -> Bytes {
    let mut line = serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "encoding a JSON line");
        b"{}".to_vec()
    });
    line.push(b'\n');
    line.into()
}

/// A 200 `application/json` response of JSON lines, one per item, each sent as it comes.
pub fn json_lines<T, S>(items: S) -> Response<Body>
where
    T: Serialize,
    S: Stream<Item = T> + Send + 'static,
{
    streaming(StatusCode::OK, "application/json", items.map(|item| Ok(json_line(&item))))
}

/// A `Send` stream made `Sync` for hyper's boxed body: it is only ever polled through `&mut`, so the mutex is
/// never locked (`get_mut`), as in the `sync_wrapper` crate.
struct SyncStream<S>(Mutex<S>);

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let inner = match self.get_mut().0.get_mut() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.poll_next_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_big_endian_size() {
        assert_eq!(&frame(STDOUT, b"hi\n")[..], b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n");
        let long = vec![b'x'; 300];
        let f = frame(STDERR, &long);
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(f.len(), 308);
    }

    #[test]
    fn tty_output_is_raw_and_merged() {
        let raw = Framing::for_container(true);
        assert_eq!(&raw.encode(LogChunk::Stderr(Bytes::from_static(b"e\r\n")))[..], b"e\r\n");
        let framed = Framing::for_container(false);
        assert_eq!(&framed.encode(LogChunk::Stderr(Bytes::from_static(b"e\n")))[..], b"\x02\0\0\0\0\0\0\x02e\n");
    }

    #[test]
    fn each_line_is_a_frame_of_its_own() {
        let framed = Framing::Multiplexed.encode(LogChunk::Stdout(Bytes::from_static(b"hello\nworld\npart")));
        assert_eq!(&framed[..], b"\x01\0\0\0\0\0\0\x06hello\n\x01\0\0\0\0\0\0\x06world\n\x01\0\0\0\0\0\0\x04part");
        assert_eq!(&Framing::Multiplexed.encode(LogChunk::Stdout(Bytes::new()))[..], b"");
    }

    #[test]
    fn an_exec_is_framed_by_its_start_body_not_by_its_own_tty() {
        assert_eq!(Framing::for_exec_start(false), Framing::Multiplexed);
        assert_eq!(Framing::for_exec_start(true), Framing::Raw);
    }

    #[test]
    fn content_type_follows_moby() {
        assert_eq!(Framing::Multiplexed.content_type(ApiVersion(1, 50)), MULTIPLEXED);
        assert_eq!(Framing::Multiplexed.content_type(ApiVersion(1, 42)), MULTIPLEXED);
        assert_eq!(Framing::Multiplexed.content_type(ApiVersion(1, 41)), RAW);
        assert_eq!(Framing::Raw.content_type(ApiVersion(1, 50)), RAW);
    }

    #[test]
    fn json_lines_end_with_a_newline() {
        assert_eq!(&json_line(&serde_json::json!({"StatusCode": 0}))[..], b"{\"StatusCode\":0}\n");
    }

    #[tokio::test]
    async fn output_body_frames_each_chunk() {
        let chunks = vec![
            Ok(LogChunk::Stdout(Bytes::from_static(b"out\n"))),
            Ok(LogChunk::Stderr(Bytes::from_static(b"err\n"))),
        ];
        let resp = output_response(Box::pin(futures::stream::iter(chunks)), Framing::Multiplexed, ApiVersion(1, 50));
        assert_eq!(resp.headers()[CONTENT_TYPE], MULTIPLEXED);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"\x01\0\0\0\0\0\0\x04out\n\x02\0\0\0\0\0\0\x04err\n");
    }
}
