//! `GET /containers/{id}/logs` (and the reading half of attach): `pods/log` of the container `main`.
//!
//! With `--split-log-streams`, stdout and stderr are two requests (`stream=Stdout`, `stream=Stderr`), read with
//! timestamps and merged back in the order their lines were logged ([`super::log_merge`]). Without it there is
//! one merged stream: a cluster without split streams cannot tell stdout from stderr, so everything is
//! attributed to stdout: a read of both streams or of stdout gets all of it, a read of stderr alone gets nothing
//! (a client that reads the two separately, as testcontainers does, then sees every line once). Nothing is lost
//! or duplicated, but stderr bytes arrive as stdout.
//! `tailLines` cannot be combined with a single stream (the API server refuses it), so a `tail` is read merged.

use std::collections::VecDeque;
use std::pin::Pin;

use bytes::Bytes;
use futures::io::{AsyncBufRead, AsyncReadExt};
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use tracing::instrument;

use super::log_lines::Lines;
use super::log_merge::{merge, Batch, BatchStream};
use crate::error::Error;
use crate::runtime::kube_error::{is_bad_request, is_not_found};
use crate::runtime::{Container, LogChunk, LogOptions, LogStream, Runtime};
use podshim_translate::labels::MAIN_CONTAINER;

/// What to read from one pod.
#[derive(Debug, Clone)]
pub(crate) struct LogRequest {
    pub follow: bool,
    pub timestamps: bool,
    pub tail: Option<u64>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub stdout: bool,
    pub stderr: bool,
}

impl LogRequest {
    pub(crate) fn from_options(options: &LogOptions) -> Self {
        LogRequest {
            follow: options.follow,
            timestamps: options.timestamps,
            tail: options.tail,
            since: options.since.filter(|t| *t > Timestamp::UNIX_EPOCH),
            until: options.until.filter(|t| *t > Timestamp::UNIX_EPOCH),
            stdout: options.stdout,
            stderr: options.stderr,
        }
    }

    /// Lines are parsed (the server adds timestamps) when the client wants timestamps or a precise bound.
    fn line_mode(&self) -> bool {
        self.timestamps || self.since.is_some() || self.until.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stdout,
    Stderr,
}

/// The requests for one read: `(stream parameter, where its bytes go)`.
fn plan(req: &LogRequest, split: bool) -> Vec<(Option<&'static str>, Kind)> {
    if split && req.tail.is_none() {
        let mut plan = Vec::new();
        if req.stdout {
            plan.push((Some("Stdout"), Kind::Stdout));
        }
        if req.stderr {
            plan.push((Some("Stderr"), Kind::Stderr));
        }
        plan
    } else if req.stdout {
        vec![(None, Kind::Stdout)]
    } else if req.stderr && split {
        vec![(None, Kind::Stderr)]
    } else {
        Vec::new()
    }
}

/// The `pods/log` path; `stamped` asks for timestamps.
fn path(namespace: &str, pod: &str, req: &LogRequest, stream: Option<&str>, stamped: bool) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("container", MAIN_CONTAINER);
    if req.follow {
        query.append_pair("follow", "true");
    }
    if stamped {
        query.append_pair("timestamps", "true");
    }
    if let Some(tail) = req.tail {
        query.append_pair("tailLines", &tail.to_string());
    }
    if let Some(since) = req.since {
        // sinceTime has whole seconds: ask from the second before, then filter precisely here.
        query.append_pair("sinceTime", &since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    if let Some(stream) = stream {
        query.append_pair("stream", stream);
    }
    format!("/api/v1/namespaces/{namespace}/pods/{pod}/log?{}", query.finish())
}

type Reader = Pin<Box<dyn AsyncBufRead + Send>>;

async fn open(rt: &Runtime, path: String) -> Result<Option<Reader>, Error> {
    let request =
        http::Request::get(&path).body(Vec::new()).map_err(|err| Error::Internal(format!("log request: {err}")))?;
    match rt.client().request_stream(request).await {
        Ok(reader) => Ok(Some(Box::pin(reader))),
        // Not started yet (ContainerCreating) or gone: there is no output, as for a created Docker container.
        Err(err) if is_bad_request(&err) || is_not_found(&err) => {
            tracing::debug!(error = %err, "no log to read");
            Ok(None)
        }
        Err(err) => Err(Error::kubernetes("reading the container's log", err)),
    }
}

/// The output of one log request, a batch per read, with the end and timestamp of each line when the text is
/// stamped (`stamped`: the request asked for timestamps; a line without one takes the previous line's).
fn batches(reader: Reader, req: LogRequest, stamped: bool) -> impl Stream<Item = Result<Batch, Error>> + Send {
    let lines = stamped.then(|| Lines::new(req.since, req.until, req.timestamps));
    futures::stream::unfold(Some((reader, lines, Timestamp::MIN)), move |state| async move {
        let (mut reader, mut lines, mut last_at) = state?;
        loop {
            let mut buf = vec![0; 32 * 1024];
            let n = match reader.read(&mut buf).await {
                Ok(0) => return None,
                Ok(n) => n,
                Err(err) => {
                    return Some((Err(Error::Unavailable(format!("reading the container's log: {err}"))), None))
                }
            };
            buf.truncate(n);
            let Some(filter) = lines.as_mut() else {
                let batch = Batch { bytes: Bytes::from(buf), lines: VecDeque::new() };
                return Some((Ok(batch), Some((reader, lines, last_at))));
            };
            let fed = filter.feed(&buf);
            let stamps = fed.lines.into_iter().map(|(end, at)| {
                last_at = at.unwrap_or(last_at);
                (end, last_at)
            });
            let batch = Batch { lines: stamps.collect(), bytes: Bytes::from(fed.out) };
            match (batch.bytes.is_empty(), fed.ended) {
                (true, true) => return None,
                (true, false) => continue,
                // Past `until`: what came before it in this piece, then the end.
                (false, true) => return Some((Ok(batch), None)),
                (false, false) => return Some((Ok(batch), Some((reader, lines, last_at)))),
            }
        }
    })
}

/// The output of one pod, read lazily: the requests are sent when the stream is first polled. With both
/// streams read apart, the text is stamped so they can be merged in logging order ([`merge`]).
pub(crate) fn pod_logs(rt: &Runtime, pod: &str, mut req: LogRequest) -> LogStream {
    if req.until.is_some_and(|until| until <= Timestamp::now()) {
        // Nothing after `until` can come: read what there is.
        req.follow = false;
    }
    let rt = rt.clone();
    let pod = pod.to_string();
    let req_until = req.until.filter(|_| req.follow);
    let opened = async move {
        let plan = plan(&req, rt.options().split_log_streams);
        let stamped = req.line_mode() || plan.len() == 2;
        let mut streams: Vec<(BatchStream, Kind)> = Vec::new();
        for (stream, kind) in plan {
            let batches: BatchStream = match open(&rt, path(rt.namespace(), &pod, &req, stream, stamped)).await {
                Ok(Some(reader)) => Box::pin(batches(reader, req.clone(), stamped)),
                Ok(None) => Box::pin(futures::stream::empty()),
                Err(err) => Box::pin(futures::stream::once(async move { Err(err) })),
            };
            streams.push((batches, kind));
        }
        match <[(BatchStream, Kind); 2]>::try_from(streams) {
            Ok([(stdout, _), (stderr, _)]) => merge(stdout, stderr, req.follow),
            Err(mut streams) => match streams.pop() {
                Some((batches, kind)) => {
                    let wrap = match kind {
                        Kind::Stdout => LogChunk::Stdout,
                        Kind::Stderr => LogChunk::Stderr,
                    };
                    Box::pin(batches.map(move |b| b.map(|b| wrap(b.bytes)))) as LogStream
                }
                None => Box::pin(futures::stream::empty()),
            },
        }
    };
    let stream = futures::stream::once(opened).flatten();
    match req_until {
        // Following ends at `until` even when no line comes after it.
        Some(until) => {
            let left = until.duration_since(Timestamp::now()).unsigned_abs();
            Box::pin(stream.take_until(tokio::time::sleep(left)))
        }
        None => Box::pin(stream),
    }
}

/// Docker returns nothing for a container that never started, and so does podshim (no pod: empty stream).
#[instrument(skip(rt, options), fields(container.id))]
pub(crate) async fn logs(rt: &Runtime, c: &Container, options: LogOptions) -> Result<LogStream, Error> {
    tracing::Span::current().record("container.id", c.id.as_str());
    // With a TTY everything is stdout (as in Docker): stderr is not read, so no merge waits for it.
    let options = LogOptions { stderr: options.stderr && !c.tty(), ..options };
    match c.pod.as_ref().and_then(|p| p.metadata.name.clone()) {
        Some(pod) => Ok(pod_logs(rt, &pod, LogRequest::from_options(&options))),
        None => Ok(Box::pin(futures::stream::empty())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> LogRequest {
        LogRequest {
            follow: false,
            timestamps: false,
            tail: None,
            since: None,
            until: None,
            stdout: true,
            stderr: true,
        }
    }

    #[test]
    fn split_streams_are_two_requests_unless_a_tail_is_asked() {
        assert_eq!(plan(&req(), true), vec![(Some("Stdout"), Kind::Stdout), (Some("Stderr"), Kind::Stderr)]);
        assert_eq!(plan(&req(), false), vec![(None, Kind::Stdout)]);
        assert_eq!(plan(&LogRequest { tail: Some(3), ..req() }, true), vec![(None, Kind::Stdout)]);
        assert_eq!(plan(&LogRequest { stdout: false, ..req() }, false), vec![]);
        assert_eq!(plan(&LogRequest { stdout: false, ..req() }, true), vec![(Some("Stderr"), Kind::Stderr)]);
    }

    #[test]
    fn the_log_path_names_the_main_container() {
        let r = LogRequest { follow: true, tail: Some(5), ..req() };
        assert_eq!(
            path("ns", "p-1", &r, Some("Stderr"), false),
            "/api/v1/namespaces/ns/pods/p-1/log?container=main&follow=true&tailLines=5&stream=Stderr"
        );
    }
}
