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

/// The content type moby gives container output: multiplexed when not a TTY and the API version is 1.42 or
/// newer, raw otherwise. Clients choose the framing from `Config.Tty`, not from this header.
pub fn output_content_type(tty: bool, version: ApiVersion) -> &'static str {
    if !tty && version >= ApiVersion(1, 42) {
        MULTIPLEXED
    } else {
        RAW
    }
}

/// One multiplexed frame: `[stream, 0, 0, 0, size as u32 big-endian]` and the payload. A payload above 4 GiB
/// cannot occur (chunks come from a socket read), but would be split rather than mis-framed.
pub fn frame(stream: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    for part in payload.chunks(u32::MAX as usize) {
        out.put_u8(stream);
        out.put_bytes(0, 3);
        out.put_u32(part.len() as u32);
        out.put_slice(part);
    }
    out.freeze()
}

/// The bytes a client receives for one chunk: framed unless the container has a TTY (then stdout and stderr
/// are one stream already and go out raw).
pub fn encode_chunk(chunk: LogChunk, tty: bool) -> Bytes {
    match (chunk, tty) {
        (LogChunk::Stdout(b) | LogChunk::Stderr(b), true) => b,
        (LogChunk::Stdout(b), false) => frame(STDOUT, &b),
        (LogChunk::Stderr(b), false) => frame(STDERR, &b),
    }
}

/// Container output as encoded bytes. An error from the runtime ends the stream with that error (the client
/// sees a cut-off body rather than a clean end that would pass for complete output), logged at warn.
pub fn output_bytes(output: LogStream, tty: bool) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    output.map(move |item| match item {
        Ok(chunk) => Ok(encode_chunk(chunk, tty)),
        Err(err) => {
            tracing::warn!(error = %err, "container output ended with an error");
            Err(std::io::Error::other(err.to_string()))
        }
    })
}

/// A 200 response streaming container output with `content_type`.
pub fn output_response(output: LogStream, tty: bool, content_type: &'static str) -> Response<Body> {
    streaming(StatusCode::OK, content_type, output_bytes(output, tty))
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
        assert_eq!(&encode_chunk(LogChunk::Stderr(Bytes::from_static(b"e\r\n")), true)[..], b"e\r\n");
        assert_eq!(&encode_chunk(LogChunk::Stderr(Bytes::from_static(b"e\n")), false)[..], b"\x02\0\0\0\0\0\0\x02e\n");
    }

    #[test]
    fn content_type_follows_moby() {
        assert_eq!(output_content_type(false, ApiVersion(1, 50)), MULTIPLEXED);
        assert_eq!(output_content_type(false, ApiVersion(1, 42)), MULTIPLEXED);
        assert_eq!(output_content_type(false, ApiVersion(1, 41)), RAW);
        assert_eq!(output_content_type(true, ApiVersion(1, 50)), RAW);
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
        let resp = output_response(Box::pin(futures::stream::iter(chunks)), false, MULTIPLEXED);
        assert_eq!(resp.headers()[CONTENT_TYPE], MULTIPLEXED);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"\x01\0\0\0\0\0\0\x04out\n\x02\0\0\0\0\0\0\x04err\n");
    }
}
