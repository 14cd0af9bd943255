//! `docker exec` through the Kubernetes `pods/exec` WebSocket (container `main`).
//!
//! Exec records live in this process's memory only: they are short-lived, and a podshim restart forgets them
//! (inspect then answers 404 `No such exec instance`). No client is left hanging by a restart: its hijacked
//! connection was served by the process that died, so the client sees the connection close.
//!
//! One task per started exec owns the Kubernetes connection: it reads stdout and stderr to their end, takes the
//! final `Status`, records the exit code, and only then ends the output stream. So `GET /exec/{id}/json`
//! already shows `Running: false` and the final `ExitCode` when the client sees its stream close (the docker
//! CLI reads it right then). A client that goes away does not stop the command (as in Docker); its output is
//! drained and dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use bytes::Bytes;
use futures::channel::mpsc as fmpsc;
use kube::api::{AttachParams, TerminalSize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tracing::instrument;

use crate::error::Error;
use crate::runtime::{Container, ExecSession, LogChunk, Runtime};
use podshim_translate::detach_keys;
use podshim_translate::exec::{exec_argv, exit_code, needs_wrapper, start_failure_message, ExecCommand};
use podshim_translate::labels::MAIN_CONTAINER;
use podshim_translate::TranslateError;

/// Finished execs kept for inspect before the oldest are forgotten (Docker forgets them with the container).
const KEEP_FINISHED: usize = 1024;

/// The exec records of this process.
#[derive(Clone, Default)]
pub(crate) struct Execs(Arc<Mutex<HashMap<String, Exec>>>);

struct Exec {
    container_id: String,
    pod: String,
    config: ExecConfig,
    running: bool,
    exit_code: Option<i64>,
    /// Order of creation, for forgetting the oldest finished ones.
    serial: u64,
    resize: Option<fmpsc::Sender<TerminalSize>>,
}

impl Execs {
    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Exec) -> T) -> Result<T, Error> {
        let mut map = self.0.lock().map_err(|_| Error::NoSuchExec(id.to_string()))?;
        map.get_mut(id).map(f).ok_or_else(|| Error::NoSuchExec(id.to_string()))
    }

    fn insert(&self, id: String, exec: Exec) {
        let Ok(mut map) = self.0.lock() else { return };
        let finished = map.values().filter(|e| e.exit_code.is_some()).count();
        if finished >= KEEP_FINISHED {
            let oldest = map.iter().filter(|(_, e)| e.exit_code.is_some()).min_by_key(|(_, e)| e.serial);
            if let Some(key) = oldest.map(|(k, _)| k.clone()) {
                map.remove(&key);
            }
        }
        map.insert(id, exec);
    }

    fn finish(&self, id: &str, code: i64) {
        let _ = self.with(id, |e| {
            e.running = false;
            e.exit_code = Some(code);
            e.resize = None;
        });
    }
}

/// `POST /containers/{id}/exec`: 409 when the container is not running, 400 without a command, 403 for
/// `Privileged` (refused by policy, like privileged containers).
#[instrument(skip(rt, config), fields(container.id))]
pub(crate) fn create(rt: &Runtime, c: &Container, config: ExecConfig) -> Result<String, Error> {
    tracing::Span::current().record("container.id", c.id.as_str());
    let pod = c.pod.as_ref().and_then(|p| p.metadata.name.clone()).filter(|_| c.state().is_running());
    let Some(pod) = pod else { return Err(Error::Conflict(format!("Container {} is not running", c.id))) };
    if config.cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(Error::InvalidParameter("No exec command specified".into()));
    }
    podshim_translate::exec::check_env(config.env.as_deref().unwrap_or_default())?;
    podshim_translate::exec::check_working_dir(config.working_dir.as_deref().unwrap_or_default())?;
    if let Some(keys) = config.detach_keys.as_deref().filter(|k| !k.is_empty()) {
        detach_keys::parse(keys).map_err(|_| Error::Rejected(format!("Invalid escape keys ({keys}) provided")))?;
    }
    if config.privileged == Some(true) {
        return Err(TranslateError::forbidden("Privileged (docker exec --privileged)").into());
    }
    let id = crate::runtime::ids::random_id();
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let exec = Exec { container_id: c.id.clone(), pod, config, running: false, exit_code: None, serial, resize: None };
    rt.inner.execs.insert(id.clone(), exec);
    Ok(id)
}

static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `GET /exec/{id}/json`.
pub(crate) fn inspect(rt: &Runtime, id: &str) -> Result<ExecInspectResponse, Error> {
    rt.inner.execs.with(id, |e| {
        let cmd = e.config.cmd.clone().unwrap_or_default();
        ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(e.config.detach_keys.clone().unwrap_or_default()),
            id: Some(id.to_string()),
            running: Some(e.running),
            exit_code: e.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(false),
                user: Some(e.config.user.clone().unwrap_or_default()),
                tty: Some(e.config.tty.unwrap_or(false)),
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: Some(e.config.attach_stdin.unwrap_or(false)),
            open_stderr: Some(e.config.attach_stderr.unwrap_or(false)),
            open_stdout: Some(e.config.attach_stdout.unwrap_or(false)),
            container_id: Some(e.container_id.clone()),
            pid: Some(0),
        }
    })
}

/// `POST /exec/{id}/resize`: sets the terminal size of a running TTY exec; ignored otherwise (the CLI sends it
/// right after start, when a short command may already be done).
pub(crate) fn resize(rt: &Runtime, id: &str, height: u16, width: u16) -> Result<(), Error> {
    rt.inner.execs.with(id, |e| {
        if let Some(sender) = e.resize.as_mut() {
            let _ = sender.try_send(TerminalSize { width, height });
        }
    })
}

/// `POST /exec/{id}/start`, first part: claims the exec (409 when it is running or has run, or when the
/// container no longer runs). Nothing runs yet: [`ExecStart::attach`] runs the command, so a hijacking handler
/// can send its `101` first (as Docker, whose output only comes once the process has started: a client that
/// reads the head with a buffered reader, like docker-py, would otherwise lose output that arrived with it).
#[instrument(skip(rt), fields(container.id))]
pub(crate) fn start(rt: &Runtime, id: &str) -> Result<ExecStart, Error> {
    let claimed = rt.inner.execs.with(id, |e| match (e.running, e.exit_code) {
        (true, _) => Err(Error::Conflict(format!("Error: Exec command {id} is already running"))),
        (_, Some(_)) => Err(Error::Conflict(format!("Error: Exec command {id} has already run"))),
        _ => {
            e.running = true;
            Ok((e.container_id.clone(), e.pod.clone(), e.config.clone()))
        }
    })?;
    let (container_id, pod, config) = claimed?;
    tracing::Span::current().record("container.id", container_id.as_str());
    let start = ExecStart { rt: rt.clone(), id: id.to_string(), pod, config, armed: true };
    if !rt.resolve(&container_id).is_ok_and(|c| c.state().is_running()) {
        return Err(Error::Conflict(format!("Container {container_id} is not running")));
    }
    Ok(start)
}

/// A claimed exec, not yet running. Dropped without [`ExecStart::attach`], the exec can be started again.
pub struct ExecStart {
    rt: Runtime,
    id: String,
    pod: String,
    config: ExecConfig,
    armed: bool,
}

impl ExecStart {
    /// Whether the exec has a TTY (its output is raw).
    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    /// The sequence that detaches the client from the exec: its `DetachKeys` (checked at create), else
    /// `ctrl-p,ctrl-q`. Only with a TTY, as in moby; without one, stdin is passed on untouched.
    pub fn detach_keys(&self) -> Vec<u8> {
        match self.tty() {
            true => detach_keys::parse(self.config.detach_keys.as_deref().unwrap_or_default()).unwrap_or_default(),
            false => Vec::new(),
        }
    }

    /// Runs the command. `detach`: its output is dropped and it gets no stdin. `console_size` is
    /// `(height, width)`. A failure to run it records exit code 126.
    pub async fn attach(mut self, detach: bool, console_size: Option<(u16, u16)>) -> Result<ExecSession, Error> {
        self.armed = false;
        let result = connect(&self.rt, &self.id, &self.pod, &self.config, detach, console_size).await;
        if result.is_err() {
            self.rt.inner.execs.finish(&self.id, 126);
        }
        result
    }
}

impl Drop for ExecStart {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.rt.inner.execs.with(&self.id, |e| e.running = false);
        }
    }
}

async fn connect(
    rt: &Runtime,
    id: &str,
    pod: &str,
    config: &ExecConfig,
    detach: bool,
    console_size: Option<(u16, u16)>,
) -> Result<ExecSession, Error> {
    let tty = config.tty.unwrap_or(false);
    let want_stdout = config.attach_stdout.unwrap_or(false) && !detach;
    let want_stderr = config.attach_stderr.unwrap_or(false) && !detach;
    let stdin = config.attach_stdin.unwrap_or(false) && !detach;
    let params = session_params(tty, stdin);
    let command = ExecCommand {
        cmd: config.cmd.clone().unwrap_or_default(),
        env: config.env.clone().unwrap_or_default(),
        working_dir: config.working_dir.clone().unwrap_or_default(),
        user: config.user.clone().unwrap_or_default(),
    };
    let wrapped = needs_wrapper(&command);
    let mut process = rt
        .pods_api()
        .exec(pod, exec_argv(&command), &params)
        .await
        .map_err(|err| Error::kubernetes(format!("exec in pod {pod}"), err))?;
    // The size from start, else the one given at create (`[height, width]`).
    let console_size = console_size.or(podshim_translate::exec::console_size(config.console_size.as_deref()));
    let mut resize = process.terminal_size();
    if let (Some(sender), Some((height, width))) = (resize.as_mut(), console_size) {
        let _ = sender.try_send(TerminalSize { width, height });
    }
    rt.inner.execs.with(id, |e| e.resize = resize)?;
    let (stdin, held_stdin) = match (process.stdin(), stdin) {
        (Some(w), true) => (Some(Box::pin(w) as crate::runtime::ExecStdin), None),
        (held, _) => (None, held),
    };
    let (tx, rx) = mpsc::channel(16);
    let stdout = process.stdout().map(|r| pump(r, want_stdout || (tty && want_stderr), tx.clone(), LogChunk::Stdout));
    let stderr = process.stderr().map(|r| pump(r, want_stderr, tx.clone(), LogChunk::Stderr));
    let (execs, id) = (rt.inner.execs.clone(), id.to_string());
    tokio::spawn(async move {
        futures::join!(run(stdout), run(stderr));
        drop(held_stdin);
        let status = match process.take_status() {
            Some(status) => status.await,
            None => None,
        };
        let code = status.as_ref().map(exit_code).unwrap_or_else(|| {
            tracing::warn!(exec.id = %id, "exec: the connection ended without an exit status");
            126
        });
        if let Some(message) = status.as_ref().and_then(|s| start_failure_message(s, wrapped)) {
            let chunk = Bytes::from(message);
            let chunk = if want_stderr && !tty { LogChunk::Stderr(chunk) } else { LogChunk::Stdout(chunk) };
            let _ = tx.send(Ok(chunk)).await;
        }
        execs.finish(&id, code);
        tracing::debug!(exec.id = %id, exit_code = code, "exec finished");
    });
    let output = Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    Ok(ExecSession { output, stdin, tty })
}

/// The `pods/exec` session. Output is always read (a command must not block on a full pipe); what the client did
/// not ask for is dropped. With a TTY both streams are one. A TTY session always has stdin: a real kubelet sends
/// no output for a TTY exec without it (kubectl never asks for one). Unasked, it is held open unused until the
/// command ends, as the terminal of `docker exec -t` without `-i` is: the command reads nothing, not EOF.
fn session_params(tty: bool, stdin: bool) -> AttachParams {
    AttachParams {
        container: Some(MAIN_CONTAINER.to_string()),
        stdin: stdin || tty,
        stdout: true,
        stderr: !tty,
        tty,
        ..AttachParams::default()
    }
}

async fn run<F: std::future::Future<Output = ()>>(f: Option<F>) {
    if let Some(f) = f {
        f.await
    }
}

/// Reads `reader` to its end, sending each piece on `tx` when `forward` (and the client is still there).
async fn pump<R: AsyncRead + Unpin>(
    mut reader: R,
    forward: bool,
    tx: mpsc::Sender<Result<LogChunk, Error>>,
    wrap: fn(Bytes) -> LogChunk,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) if forward => {
                let _ = tx.send(Ok(wrap(Bytes::copy_from_slice(&buf[..n])))).await;
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tty_session_always_has_stdin_and_no_separate_stderr() {
        let tty = session_params(true, false);
        assert!(tty.stdin && tty.stdout && tty.tty && !tty.stderr);
        let plain = session_params(false, false);
        assert!(!plain.stdin && plain.stdout && plain.stderr && !plain.tty);
        assert!(session_params(false, true).stdin);
    }
}
