//! The stdin half of `POST /containers/{id}/attach?stdin=1`, and terminal resizes through it.
//!
//! The client's bytes come in as a stream; they wait (in the stream's channel) until the container's pod runs,
//! then go to the process through `pods/attach` (WebSocket, `stdin=true`, no stdout/stderr: the output keeps
//! coming from the log stream of the output half, which reads from the first byte, so nothing is lost). The
//! stream's end is the client's stdin EOF: the attach's stdin writer is shut down, which sends the v5 close
//! signal for stdin, so `cat` sees EOF. With `StdinOnce` the kubelet closes the process's stdin when this
//! first attach session ends, as Docker does.
//!
//! With a TTY the session is opened with `tty=true`, which gives it a resize channel: the live session's
//! resize sender is kept per container on this replica, so `POST /containers/{id}/resize` reaches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{AttachParams, AttachedProcess, TerminalSize};
use tokio::io::AsyncWriteExt;
use tracing::instrument;

use crate::error::Error;
use crate::runtime::kube_error::is_bad_request;
use crate::runtime::{Runtime, StdinStream};
use podshim_translate::labels::MAIN_CONTAINER;

type ResizeSender = futures::channel::mpsc::Sender<TerminalSize>;

/// Terminal sizes by container: the live stdin session's resize sender (once its attach is open) and the
/// last size asked for (sent when the session opens, so a resize that comes between `start` and the open
/// attach is not lost).
#[derive(Clone, Default)]
pub(crate) struct Terminals(Arc<Mutex<HashMap<String, Terminal>>>);

#[derive(Default)]
struct Terminal {
    sessions: usize,
    resize: Option<ResizeSender>,
    /// (height, width)
    size: Option<(u16, u16)>,
}

/// Keeps a container's terminal entry while its stdin session lives.
struct TerminalGuard {
    terminals: Terminals,
    id: String,
}

impl Terminals {
    fn hold(&self, id: &str) -> TerminalGuard {
        if let Ok(mut map) = self.0.lock() {
            map.entry(id.to_string()).or_default().sessions += 1;
        }
        TerminalGuard { terminals: self.clone(), id: id.to_string() }
    }

    /// The session is open: remembers its sender, and sends it the size asked for so far.
    fn opened(&self, id: &str, mut resize: ResizeSender) {
        let Ok(mut map) = self.0.lock() else { return };
        let Some(terminal) = map.get_mut(id) else { return };
        if let Some((height, width)) = terminal.size {
            let _ = resize.try_send(TerminalSize { height, width });
        }
        terminal.resize = Some(resize);
    }

    /// Resizes the live session's terminal; true when this replica has a stdin session for the container.
    pub(crate) fn resize(&self, id: &str, height: u16, width: u16) -> bool {
        let Ok(mut map) = self.0.lock() else { return false };
        let Some(terminal) = map.get_mut(id) else { return false };
        if let Some(resize) = terminal.resize.as_mut() {
            let _ = resize.try_send(TerminalSize { height, width });
        }
        terminal.size = Some((height, width));
        true
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.terminals.0.lock() {
            if let Some(terminal) = map.get_mut(&self.id) {
                terminal.sessions -= 1;
                if terminal.sessions == 0 {
                    map.remove(&self.id);
                }
            }
        }
    }
}

/// Forwards `stdin` to the container's process: waits for the pod to run (a created container: its next
/// run), opens the attach, writes every byte, and at the stream's end closes stdin and waits for the session
/// to end (the process exits). Cancelled by dropping the future (a detach or a client that went away).
#[instrument(skip(rt, stdin), fields(container.id))]
pub(crate) async fn attach_stdin(rt: &Runtime, id_or_name: &str, stdin: StdinStream) -> Result<(), Error> {
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let tty = c.tty();
    let _terminal = rt.inner.terminals.hold(&c.id);
    let state = c.state();
    let current = c.pod.as_ref().and_then(|p| p.metadata.name.clone());
    let pod = match (state.is_running(), current) {
        (true, Some(pod)) => pod,
        (_, current) => {
            let skip = current.filter(|_| state.status != podshim_translate::state::Status::Created);
            match super::next_run::next_run(rt, &c.id, skip.as_deref()).await {
                Some(pod) => pod,
                None => return Ok(()),
            }
        }
    };
    let Some(mut session) = open_stdin_session(rt, &pod, tty).await? else { return Ok(()) };
    if let Some(resize) = session.resize.take() {
        rt.inner.terminals.opened(&c.id, resize);
    }
    tracing::debug!(pod, tty, "stdin attached");
    session.feed(&[], Some(stdin)).await;
    Ok(())
}

/// An open `pods/attach` session with stdin only.
pub(crate) struct StdinSession {
    attached: AttachedProcess,
    resize: Option<ResizeSender>,
}

/// Opens a session to `pod`'s process with stdin only (the output comes from elsewhere); `None` when the
/// process has already ended (a completed pod): there is nobody to read the input.
pub(crate) async fn open_stdin_session(rt: &Runtime, pod: &str, tty: bool) -> Result<Option<StdinSession>, Error> {
    let params = AttachParams::default().container(MAIN_CONTAINER).stdin(true).stdout(false).stderr(false).tty(tty);
    let attached = rt
        .pods_api()
        .attach(pod, &params)
        .await
        .map_err(|err| Error::kubernetes("attaching to the container's stdin", err));
    match attached {
        Ok(mut attached) => {
            let resize = attached.terminal_size();
            Ok(Some(StdinSession { attached, resize }))
        }
        Err(Error::Kubernetes { source, .. }) if is_bad_request(&source) => {
            tracing::debug!(error = %source, "the process ended before its stdin was attached");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

impl StdinSession {
    /// Writes `first`, then every byte of `stdin` (none: just `first`), closes the process's stdin and waits for
    /// the session to end.
    pub(crate) async fn feed(mut self, first: &[u8], stdin: Option<StdinStream>) {
        let ended = self.attached.take_status();
        let Some(mut writer) = self.attached.stdin() else { return };
        let mut open = first.is_empty() || writer.write_all(first).await.is_ok();
        let mut forwarded = 0;
        if let Some(mut stdin) = stdin {
            while open {
                match stdin.next().await {
                    Some(bytes) => {
                        forwarded += bytes.len();
                        open = writer.write_all(&bytes).await.is_ok();
                    }
                    None => break,
                }
            }
        }
        tracing::debug!(forwarded, open, "the client's stdin ended");
        // EOF: shutting the writer down (dropping it is not enough: the pipe is shared with kube-rs's reader)
        // makes kube-rs send the stdin close signal (v5.channel.k8s.io) or close the session (v4, where the
        // kubelet then closes a `stdinOnce` process's stdin); the session is kept until it ends.
        tracing::debug!("stdin ended: closing the process's stdin");
        let _ = writer.shutdown().await;
        drop(writer);
        if let Some(ended) = ended {
            ended.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resize_reaches_the_live_session_and_one_before_it_opens_is_kept() {
        let terminals = Terminals::default();
        assert!(!terminals.resize("c1", 30, 100), "no session: nothing to resize");
        let guard = terminals.hold("c1");
        assert!(terminals.resize("c1", 30, 100));
        let (tx, mut rx) = futures::channel::mpsc::channel(4);
        terminals.opened("c1", tx);
        let first = rx.try_recv().unwrap();
        assert_eq!((first.height, first.width), (30, 100));
        assert!(terminals.resize("c1", 25, 90));
        let next = rx.try_recv().unwrap();
        assert_eq!((next.height, next.width), (25, 90));
        drop(guard);
        assert!(!terminals.resize("c1", 1, 1), "the session ended");
    }
}
