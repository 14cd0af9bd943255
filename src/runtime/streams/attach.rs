//! `POST /containers/{id}/attach`: the container's output, and where the client's stdin goes.
//!
//! For a container that has not started, the stream waits on the shared watch for the pod. When that run took
//! the start handshake ([`super::start_handshake`]), the output comes from `pods/attach` (stdout and stderr apart
//! on any Kubernetes, the process waiting until the session is open); otherwise the log is read from its first
//! byte. Either way a program that exits within milliseconds loses nothing. A running container's output is
//! followed in its log. While a stream is attached, this replica's auto-remove reaper leaves the container
//! alone, so its pod (and log) is still there when the read begins. See `docs/streams.md`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::io::ReaderStream;
use tracing::instrument;

use super::logs::{pod_logs, LogRequest};
use super::next_run::next_run;
use super::start_handshake::{feed, may_claim, session_params, Claim};
use crate::error::Error;
use crate::runtime::{Attachment, LogChunk, LogStream, Runtime, StdinFuture, StdinStream};
use podshim_translate::state::Status;

/// Containers with attached output streams on this replica (id -> count), and a signal when one ends.
#[derive(Clone, Default)]
pub(crate) struct Attached {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    released: Arc<Notify>,
}

/// Holds a container attached until dropped.
pub(crate) struct AttachGuard {
    attached: Attached,
    id: String,
}

impl Attached {
    pub(crate) fn hold(&self, id: &str) -> AttachGuard {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(id.to_string()).or_default() += 1;
        }
        AttachGuard { attached: self.clone(), id: id.to_string() }
    }

    pub(crate) fn is_attached(&self, id: &str) -> bool {
        self.counts.lock().map(|c| c.contains_key(id)).unwrap_or(false)
    }

    /// Resolves when an attached stream ends.
    pub(crate) fn released(&self) -> Arc<Notify> {
        self.released.clone()
    }
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.attached.counts.lock() {
            if let Some(n) = counts.get_mut(&self.id) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&self.id);
                }
            }
        }
        self.attached.released.notify_one();
    }
}

/// Attach to a running container follows from now (`logs`: from the beginning), reading raw bytes so a
/// partial line such as a shell prompt arrives at once. Attach to one that is not
/// running waits for its next run (the pod that `start` creates) and follows it from the beginning; with
/// `logs`, an exited container's output is replayed and the stream ends.
///
/// `stdin`: the client's stdin goes to the process (the container has `OpenStdin`); the attachment then has
/// the sink for it. A created container's next run on this replica takes the start handshake
/// ([`super::start_handshake`]) when it can: the output then comes from `pods/attach`, stdout and stderr
/// apart, and the client's stdin follows the handshake's line.
#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn attach(
    rt: &Runtime,
    id_or_name: &str,
    stdout: bool,
    stderr: bool,
    logs: bool,
    stdin: bool,
) -> Result<Attachment, Error> {
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let guard = rt.inner.attached.hold(&c.id);
    // With a TTY everything is stdout (as in Docker): stderr is not read, so no merge waits for it.
    let stderr = stderr && !c.tty();
    let state = c.state();
    let current = c.pod.as_ref().and_then(|p| p.metadata.name.clone());
    let req =
        move |since| LogRequest { follow: true, timestamps: false, tail: None, since, until: None, stdout, stderr };
    let mut sink = None;
    let stream = match (state.is_running(), current) {
        (true, Some(pod)) if logs => pod_logs(rt, &pod, req(None)),
        // From now: `tailLines=0` reads untimestamped bytes, so a partial line (a prompt) is delivered at once,
        // but it reads stdout and stderr merged; with split streams and no TTY `sinceTime` keeps them apart.
        (true, Some(pod)) if c.tty() || !rt.options().split_log_streams => {
            pod_logs(rt, &pod, LogRequest { tail: Some(0), ..req(None) })
        }
        (true, Some(pod)) => pod_logs(rt, &pod, req(Some(Timestamp::now()))),
        (false, Some(pod)) if logs && matches!(state.status, Status::Exited | Status::Dead) => {
            pod_logs(rt, &pod, LogRequest { follow: false, ..req(None) })
        }
        (_, current) => {
            // An earlier run's pod is not the one to follow; a created container's pending pod is.
            let skip = current.filter(|_| state.status != Status::Created);
            // Registered now, before the client sees its answer and sends start.
            let claim = match may_claim(&c, stdin, rt.options().start_handshake) {
                true => {
                    let (claim, claim_sink) = rt.inner.handshakes.register(&c.id, stdin);
                    sink = claim_sink;
                    Some(claim)
                }
                false => None,
            };
            let rt = rt.clone();
            let id = c.id.clone();
            let opened = async move {
                match next_run(&rt, &id, skip.as_deref()).await {
                    Some(pod) => match claim.filter(|claim| claim.pod().as_deref() == Some(pod.as_str())) {
                        Some(claim) => attached_output(&rt, &pod, stdout, stderr, &claim, req(None)).await,
                        None => pod_logs(&rt, &pod, req(None)),
                    },
                    None => Box::pin(futures::stream::empty()),
                }
            };
            Box::pin(futures::stream::once(opened).flatten())
        }
    };
    let output: LogStream = Box::pin(stream.map(move |item| {
        let _held = &guard;
        item
    }));
    if stdin && sink.is_none() {
        let (rt, id) = (rt.clone(), c.id.clone());
        sink = Some(Box::new(move |input: StdinStream| {
            Box::pin(async move { super::attach_stdin::attach_stdin(&rt, &id, input).await }) as StdinFuture
        }));
    }
    Ok(Attachment { output, stdin: sink })
}

/// Bytes read per read of an attached stream, and kube-rs's buffer for each.
const ATTACHED_BUFFER: usize = 32 * 1024;

/// The output of the started pod of a claimed attach: one `pods/attach` session with stdout and stderr on
/// channels of their own, opened while the process waits for the handshake's line, which goes through the
/// session's stdin ([`feed`]). Both outputs are read to their end (the process must never block on a full
/// pipe); what the client did not ask for is dropped. When the session cannot be opened, the log is read
/// instead (from its start: nothing is lost, but the streams are merged where the cluster cannot split them).
async fn attached_output(
    rt: &Runtime,
    pod: &str,
    stdout: bool,
    stderr: bool,
    claim: &Claim,
    fallback: LogRequest,
) -> LogStream {
    let mut attached = match rt.pods_api().attach(pod, &session_params(ATTACHED_BUFFER)).await {
        Ok(attached) => attached,
        Err(err) => {
            // The release writes the line: the output is all in the log.
            claim.attached(false);
            tracing::warn!(pod, error = %err, "attaching to the output failed: reading the log instead");
            return pod_logs(rt, pod, fallback);
        }
    };
    claim.attached(true);
    tracing::debug!(pod, "output attached");
    if let Some(writer) = attached.stdin() {
        feed(rt, pod, claim, writer);
    }
    let read =
        |reader: Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>, wanted: bool, wrap: fn(Bytes) -> LogChunk| {
            let chunks = reader.map(|r| ReaderStream::with_capacity(r, ATTACHED_BUFFER));
            futures::stream::iter(chunks).flatten().filter_map(move |item| {
                std::future::ready(match item {
                    Ok(bytes) if wanted => Some(Ok(wrap(bytes))),
                    Ok(_) => None,
                    Err(err) => Some(Err(Error::Unavailable(format!("reading the container's output: {err}")))),
                })
            })
        };
    let out = read(attached.stdout(), stdout, LogChunk::Stdout);
    let err = read(attached.stderr(), stderr, LogChunk::Stderr);
    // The session lives as long as the stream (dropping it ends the session).
    Box::pin(futures::stream::select(out, err).map(move |item| {
        let _session = &attached;
        item
    }))
}
