//! The output half of `POST /containers/{id}/attach`: follows the container's log.
//!
//! For a container that has not started, the stream waits on the shared watch for the pod and then reads the
//! log from its first byte, so a program that exits within milliseconds loses nothing. While a stream is
//! attached, this replica's auto-remove reaper leaves the container alone, so its pod (and log) is still there
//! when the read begins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use jiff::Timestamp;
use tokio::sync::Notify;
use tracing::instrument;

use super::logs::{pod_logs, LogRequest};
use crate::error::Error;
use crate::runtime::{LogStream, Runtime};
use podshim_translate::state::{pod_to_state, StartFailure, Status};

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
#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn attach_output(
    rt: &Runtime,
    id_or_name: &str,
    stdout: bool,
    stderr: bool,
    logs: bool,
) -> Result<LogStream, Error> {
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let guard = rt.inner.attached.hold(&c.id);
    // With a TTY everything is stdout (as in Docker): stderr is not read, so no merge waits for it.
    let stderr = stderr && !c.tty();
    let state = c.state();
    let current = c.pod.as_ref().and_then(|p| p.metadata.name.clone());
    let req =
        move |since| LogRequest { follow: true, timestamps: false, tail: None, since, until: None, stdout, stderr };
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
            let rt = rt.clone();
            let id = c.id.clone();
            let opened = async move {
                match next_run(&rt, &id, skip.as_deref()).await {
                    Some(pod) => pod_logs(&rt, &pod, req(None)),
                    None => Box::pin(futures::stream::empty()),
                }
            };
            Box::pin(futures::stream::once(opened).flatten())
        }
    };
    Ok(Box::pin(stream.map(move |item| {
        let _held = &guard;
        item
    })))
}

/// Waits for the container's next pod (not `skip`) to have started; `None` when it cannot start or the
/// container is removed first.
pub(crate) async fn next_run(rt: &Runtime, id: &str, skip: Option<&str>) -> Option<String> {
    rt.cache()
        .wait_for(|index| {
            let Some(c) = index.get(id) else { return Some(None) };
            let pod = c.pod.as_ref().filter(|p| p.metadata.name.as_deref() != skip)?;
            let state = pod_to_state(Some(pod));
            match state.start_failure {
                Some(StartFailure::Unschedulable { .. }) => None,
                Some(_) => Some(None),
                None if state.status == Status::Created => None,
                None => Some(pod.metadata.name.clone()),
            }
        })
        .await
}
