//! The start handshake of an attached run, on this replica (the pod side is
//! [`podshim_translate::start_handshake`]; the whole design is in `docs/streams.md`).
//!
//! 1. An attach to a container that is not running (the docker CLI attaches before it starts) registers a
//!    [`Claim`] here: "an attach is waiting for the next start of this container".
//! 2. `start` on this replica takes the first live claim ([`prepare`]) and wraps the pod's command: it waits for
//!    one line on stdin. Without a waiting attach (`docker run -d`, docker-py's `containers.run`, a start on
//!    another replica) nothing is wrapped and nothing waits.
//! 3. The attach sees the pod run and opens one `pods/attach` session with stdin, stdout and stderr (channels of
//!    their own), then writes the line ([`feed`]) and, with `-i`, the client's stdin after it. One session
//!    carries all three: on containerd, an attach without stdin closes a `stdinOnce` container's stdin at once.
//! 4. Should the attach go away before it opened its session, the task `start` spawned once the pod ran
//!    ([`spawn_release`]) writes the line itself, so the process never waits for good.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::AttachParams;
use tokio::io::{AsyncWriteExt, SimplexStream, WriteHalf};
use tokio::sync::{oneshot, watch};

use super::attach_stdin::open_stdin_session;
use crate::runtime::{Container, Runtime, StdinFuture, StdinSink, StdinStream};
use podshim_translate::image_merge::merge;
use podshim_translate::labels::MAIN_CONTAINER;
use podshim_translate::start_handshake::{argv, has_shell, wrap, Policy, LINE};

/// How long the line waits for the attach to open its session (it does so as soon as its watch shows the pod
/// running); after that it is written anyway, so the process never waits for good.
const OUTPUT_WAIT: Duration = Duration::from_secs(30);

/// The attaches waiting for a start, by container id (weak: a claim lives as long as its attach).
#[derive(Clone, Default)]
pub(crate) struct Handshakes(Arc<Mutex<HashMap<String, Vec<Weak<Claim>>>>>);

/// One attach waiting for the next start of its container.
pub(crate) struct Claim {
    id: String,
    handshakes: Handshakes,
    /// The pod started for this attach (set by `start` before it creates the pod).
    pod: Mutex<Option<String>>,
    /// Whether the attach opened its session (`Some(true)`) or could not (`Some(false)`).
    attached: watch::Sender<Option<bool>>,
    /// Set by whoever writes the line (the attach, or the release when the attach is gone): it is written once.
    line: Arc<AtomicBool>,
    /// The client's stdin, when the attach forwards it: handed over by the attach's [`StdinSink`].
    stdin: Mutex<Option<oneshot::Receiver<StdinStream>>>,
}

impl Handshakes {
    /// Registers an attach of container `id`; with `stdin`, the sink that hands the client's stdin to the
    /// handshake (the process reads it after the line).
    pub(crate) fn register(&self, id: &str, stdin: bool) -> (Arc<Claim>, Option<StdinSink>) {
        let (tx, rx) = match stdin {
            true => {
                let (tx, rx) = oneshot::channel::<StdinStream>();
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        let claim = Arc::new(Claim {
            id: id.to_string(),
            handshakes: self.clone(),
            pod: Mutex::new(None),
            attached: watch::Sender::new(None),
            line: Arc::new(AtomicBool::new(false)),
            stdin: Mutex::new(rx),
        });
        if let Ok(mut map) = self.0.lock() {
            map.entry(id.to_string()).or_default().push(Arc::downgrade(&claim));
        }
        // A sink dropped without being called (no upgraded connection) drops the sender: the process's stdin is
        // closed after the line.
        let sink = tx.map(|tx| {
            Box::new(move |input: StdinStream| {
                let _ = tx.send(input);
                Box::pin(async { Ok(()) }) as StdinFuture
            }) as StdinSink
        });
        (claim, sink)
    }

    /// The first live attach waiting for a start of `id`, taken (no other start can take it).
    fn take(&self, id: &str) -> Option<Arc<Claim>> {
        let mut map = self.0.lock().ok()?;
        let waiting = map.get_mut(id)?;
        let mut taken = None;
        while taken.is_none() && !waiting.is_empty() {
            taken = waiting.remove(0).upgrade();
        }
        if waiting.is_empty() {
            map.remove(id);
        }
        taken
    }
}

impl Claim {
    /// The pod `start` created for this attach, if it took it.
    pub(crate) fn pod(&self) -> Option<String> {
        self.pod.lock().ok().and_then(|p| p.clone())
    }

    /// The attach opened its session (or could not): the release stands down (or writes the line at once).
    pub(crate) fn attached(&self, opened: bool) {
        self.attached.send_replace(Some(opened));
    }

    /// True once: for whoever writes the line.
    fn take_line(&self) -> bool {
        !self.line.swap(true, Ordering::SeqCst)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut map) = self.handshakes.0.lock() {
            if let Some(waiting) = map.get_mut(&self.id) {
                waiting.retain(|w| w.strong_count() > 0);
                if waiting.is_empty() {
                    map.remove(&self.id);
                }
            }
        }
    }
}

/// Whether an attach may take the handshake: not with a TTY (one stream, read as today), and, for a container
/// with `OpenStdin`, only when the attach forwards the client's stdin (otherwise Docker would keep the
/// process's stdin open for a later attach, which the handshake's session would close).
pub(crate) fn may_claim(c: &Container, stdin: bool, policy: Policy) -> bool {
    policy != Policy::Never && !c.tty() && (!c.open_stdin() || stdin)
}

/// For `start`: when an attach on this replica waits for this start and the image has (or the policy assumes)
/// `/bin/sh`, wraps `pod`'s command in the handshake and returns the attach's claim.
pub(crate) fn prepare(rt: &Runtime, c: &Container, pod: &mut Pod) -> Option<Arc<Claim>> {
    let policy = rt.options().start_handshake;
    // A container the kubelet restarts would wait again, with nobody to write the line.
    let restarts = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) != Some("Never");
    if policy == Policy::Never || c.tty() || restarts {
        return None;
    }
    // The pod's command is spelled out in full: it needs the image's Entrypoint and Cmd.
    let image = c.image_config()?;
    let body = c.create_body().ok()?;
    let argv = argv(&merge(&body, image));
    if argv.is_empty() {
        return None;
    }
    if policy == Policy::Auto {
        let history = rt.image(&c.image_id()).map(|entry| entry.image.config.history.clone()).unwrap_or_default();
        if !has_shell(&argv, Some(image), &history) {
            tracing::debug!(container.id = %c.id, "no evidence of /bin/sh in the image: the attach reads pods/log");
            return None;
        }
    }
    let claim = rt.inner.handshakes.take(&c.id)?;
    wrap(pod, &argv, c.open_stdin(), body.stdin_once.unwrap_or(false));
    Some(claim)
}

/// For `start`, before each attempt to create the pod: the claim's pod is `name`.
pub(crate) fn taken_for(claim: &Claim, name: &str) {
    if let Ok(mut slot) = claim.pod.lock() {
        *slot = Some(name.to_string());
    }
}

/// For `start`, once the wrapped pod runs: a task that writes the line itself unless the attach opens its
/// session within [`OUTPUT_WAIT`] (an attach that goes away first releases it at once).
pub(crate) fn spawn_release(rt: &Runtime, claim: Arc<Claim>, pod: String) {
    let mut attached = claim.attached.subscribe();
    let line = claim.line.clone();
    drop(claim);
    let rt = rt.clone();
    tokio::spawn(async move {
        let opened = match tokio::time::timeout(OUTPUT_WAIT, attached.wait_for(Option::is_some)).await {
            Ok(Ok(state)) => *state == Some(true),
            // The attach went away, or is too slow.
            _ => false,
        };
        if opened {
            return;
        }
        if line.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::debug!(pod, "start handshake: no attach session, the line is written without it");
        match open_stdin_session(&rt, &pod, false).await {
            Ok(Some(session)) => session.feed(LINE, None).await,
            Ok(None) => {}
            Err(err) => tracing::warn!(pod, error = %err, "the start handshake cannot reach the process's stdin"),
        }
    });
}

/// The attach's session parameters: stdin, stdout and stderr in one session, kube-rs's buffers `buffer` each.
pub(crate) fn session_params(buffer: usize) -> AttachParams {
    AttachParams {
        container: Some(MAIN_CONTAINER.to_string()),
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
        max_stdin_buf_size: Some(buffer),
        max_stdout_buf_size: Some(buffer),
        max_stderr_buf_size: Some(buffer),
    }
}

/// For the attach, once its session is open: writes the line (unless the release already did), then the
/// client's stdin when the attach has one, and closes the process's stdin at its end ([`close_stdin`]).
/// Without client stdin the writer is left open: the process's stdin is empty anyway (see the wrapper), and
/// the session ends with the container.
pub(crate) fn feed(rt: &Runtime, pod: &str, claim: &Claim, mut writer: WriteHalf<SimplexStream>) {
    if !claim.take_line() {
        return;
    }
    let stdin = claim.stdin.lock().ok().and_then(|mut s| s.take());
    let (rt, pod) = (rt.clone(), pod.to_string());
    tokio::spawn(async move {
        let mut open = writer.write_all(LINE).await.is_ok();
        tracing::debug!(pod, stdin = stdin.is_some(), "start handshake: line written");
        let Some(stdin) = stdin else { return };
        // A dropped sender: the client has no stdin after all (no upgraded connection).
        if let Ok(mut input) = stdin.await {
            while open {
                match futures::StreamExt::next(&mut input).await {
                    Some(bytes) => open = writer.write_all(&bytes).await.is_ok(),
                    None => break,
                }
            }
        }
        if open {
            close_stdin(&rt, &pod, writer).await;
        }
    });
}

/// Closes the process's stdin and keeps the session's output: `v5.channel.k8s.io` (Kubernetes 1.30+) has a
/// close signal for stdin. Older servers speak `v4.channel.k8s.io`, where closing stdin would close the
/// whole session; there an attach without stdin does it: the kubelet (containerd) closes a `stdinOnce`
/// container's stdin when an attach session's stdin ends, and that session's has none.
async fn close_stdin(rt: &Runtime, pod: &str, mut writer: WriteHalf<SimplexStream>) {
    if rt.stream_close().await {
        let _ = writer.shutdown().await;
        return;
    }
    let params = AttachParams::default().container(MAIN_CONTAINER).stdin(false).stdout(true).stderr(false);
    match rt.pods_api().attach(pod, &params).await {
        // Its output is the other session's too: it is closed at once.
        Ok(closer) => drop(closer),
        Err(err) => tracing::warn!(pod, error = %err, "closing the process's stdin"),
    }
    drop(writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_takes_the_first_live_claim_and_a_dropped_attach_leaves_none() {
        let handshakes = Handshakes::default();
        let (first, _) = handshakes.register("c1", false);
        let (second, _) = handshakes.register("c1", false);
        drop(first);
        let taken = handshakes.take("c1").unwrap();
        assert!(Arc::ptr_eq(&taken, &second));
        assert!(handshakes.take("c1").is_none(), "taken once");
        drop((taken, second));
        let (gone, _) = handshakes.register("c2", false);
        drop(gone);
        assert!(handshakes.take("c2").is_none());
        assert!(handshakes.0.lock().unwrap().is_empty(), "no entry is left behind");
    }

    #[tokio::test]
    async fn the_line_is_written_once_and_the_clients_stdin_is_handed_over() {
        let handshakes = Handshakes::default();
        let (claim, sink) = handshakes.register("c1", true);
        assert!(claim.take_line());
        assert!(!claim.take_line(), "once");
        let input: StdinStream = Box::pin(futures::stream::iter([bytes::Bytes::from_static(b"a\n")]));
        sink.unwrap()(input).await.unwrap();
        let rx = claim.stdin.lock().unwrap().take().unwrap();
        let mut got = rx.await.unwrap();
        assert_eq!(futures::StreamExt::next(&mut got).await.unwrap(), bytes::Bytes::from_static(b"a\n"));
    }

    #[tokio::test]
    async fn an_attach_that_goes_away_is_seen_at_once() {
        let handshakes = Handshakes::default();
        let (claim, sink) = handshakes.register("c1", true);
        let mut attached = claim.attached.subscribe();
        let rx = claim.stdin.lock().unwrap().take().unwrap();
        drop((claim, sink));
        assert!(attached.wait_for(Option::is_some).await.is_err(), "no attach: no wait");
        assert!(rx.await.is_err(), "no client stdin");
    }
}
