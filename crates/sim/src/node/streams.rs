//! `pods/exec` and `pods/attach`: the live [`ProcessStreams`] the API server bridges to a WebSocket.
//!
//! exec starts a new process in the container's context (its environment, working directory,
//! uid/gid and mount namespace); attach joins the running attempt's output and stdin.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::attempt::Attempt;
use super::pods::{ContainerRuntime, PodRuntime};
use super::process;
use super::status::State;
use super::{ApiError, ExitOutcome, Output, ProcessStreams, StdinEvent, StreamOptions, TerminalSize};

/// The running attempt of a container, or the API error a real cluster gives: exec into a
/// completed pod names the phase; otherwise (attach too, as the reference kubelet answers)
/// `container c is not running`.
fn running_attempt(pod: &PodRuntime, c: &ContainerRuntime, exec: bool) -> Result<Arc<Attempt>, ApiError> {
    let phase = pod.phase();
    if exec && (phase == "Succeeded" || phase == "Failed") {
        return Err(ApiError::bad_request(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    let running = c.record().is_some_and(|r| matches!(r.state, State::Running { .. }));
    match c.last_attempt() {
        Some(attempt) if running && attempt.running_pid().is_some() => Ok(attempt),
        _ => Err(ApiError::bad_request(format!("container {} is not running", c.name()))),
    }
}

fn resize_task(pty: Arc<OwnedFd>) -> mpsc::Sender<TerminalSize> {
    let (tx, mut rx) = mpsc::channel::<TerminalSize>(4);
    tokio::spawn(async move {
        while let Some(size) = rx.recv().await {
            process::resize(&pty, size.width, size.height);
        }
    });
    tx
}

/// Starts `command` in the container.
pub async fn exec(
    pod: &PodRuntime,
    c: &ContainerRuntime,
    options: StreamOptions,
    command: Vec<String>,
) -> Result<ProcessStreams, ApiError> {
    let attempt = running_attempt(pod, c, true)?;
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let mut spec = attempt
        .context
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .ok_or_else(|| ApiError::bad_request(format!("container {} is not running", c.name())))?;
    spec.argv = command.clone();
    spec.tty = options.tty;
    spec.stdin = options.stdin;
    if options.tty && !spec.env.iter().any(|(k, _)| k == "TERM") {
        spec.env.push(("TERM".to_string(), "xterm".to_string()));
    }
    let (out_tx, out_rx) = mpsc::channel(64);
    let (exit_tx, exit_rx) = oneshot::channel();
    let procs = pod.ctx.procs.clone();
    let mut spawned = match procs.spawn(&spec) {
        Ok(spawned) => spawned,
        Err(error) => {
            let program = command.first().cloned().unwrap_or_default();
            let message = if error.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to \
                     start container process: exec: {program:?}: executable file not found in $PATH: unknown"
                )
            } else {
                format!("failed to exec in container: {error}")
            };
            let _ = exit_tx.send(ExitOutcome::Error(message));
            drop(out_tx);
            return Ok(ProcessStreams { stdin: None, output: out_rx, resize: None, exit: exit_rx });
        }
    };
    let pid = spawned.pid;
    let mut pumps = Vec::new();
    let (mut stdin_tx, mut resize_tx) = (None, None);
    if let Some(master) = spawned.pty.take() {
        let master = Arc::new(master);
        resize_tx = Some(resize_task(master.clone()));
        if options.stdin {
            if let Ok(writer) = master.try_clone() {
                stdin_tx = Some(stdin_task(StdinTarget::Pty(std::fs::File::from(writer))));
            }
        }
        if let Ok(reader) = master.try_clone() {
            let tx = out_tx.clone();
            pumps.push(tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut file = std::fs::File::from(reader);
                let mut buf = vec![0u8; 32 * 1024];
                while let Ok(n) = file.read(&mut buf) {
                    if n == 0 || tx.blocking_send(Output::Stdout(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                        break;
                    }
                }
            }));
        }
    } else {
        if let Some(stdin) = spawned.stdin.take() {
            stdin_tx = Some(stdin_task(StdinTarget::Pipe(stdin)));
        }
        if let Some(out) = spawned.stdout.take() {
            pumps.push(tokio::spawn(pump(out, out_tx.clone(), options.stdout, Output::Stdout)));
        }
        if let Some(err) = spawned.stderr.take() {
            pumps.push(tokio::spawn(pump(err, out_tx.clone(), options.stderr, Output::Stderr)));
        }
    }
    drop(out_tx);
    let mut child = spawned.child;
    tokio::spawn(async move {
        let mut exit_tx = exit_tx;
        let status = tokio::select! {
            status = child.wait() => status,
            _ = exit_tx.closed() => {
                // The session ended first: hang up on the process, then kill it.
                process::signal_group(pid, Signal::SIGHUP);
                tokio::time::sleep(Duration::from_millis(100)).await;
                process::signal_group(pid, Signal::SIGKILL);
                child.wait().await
            }
        };
        let all_pumps = futures::future::join_all(pumps);
        tokio::select! {
            _ = all_pumps => {}
            _ = exit_tx.closed() => {}
        }
        procs.remove(pid);
        let outcome = match status {
            Ok(status) => ExitOutcome::Exited(process::exit_code(status).0),
            Err(error) => ExitOutcome::Error(error.to_string()),
        };
        let _ = exit_tx.send(outcome);
    });
    Ok(ProcessStreams { stdin: stdin_tx, output: out_rx, resize: resize_tx, exit: exit_rx })
}

async fn pump(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    tx: mpsc::Sender<Output>,
    wanted: bool,
    wrap: fn(Bytes) -> Output,
) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if wanted && tx.send(wrap(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
            break;
        }
    }
}

enum StdinTarget {
    Pipe(tokio::process::ChildStdin),
    Pty(std::fs::File),
}

/// Forwards stdin events to an exec'd process; `Close` (or the session's end) closes its stdin pipe.
fn stdin_task(target: StdinTarget) -> mpsc::Sender<StdinEvent> {
    let (tx, mut rx) = mpsc::channel::<StdinEvent>(16);
    tokio::spawn(async move {
        let mut target = Some(target);
        while let Some(event) = rx.recv().await {
            let open = match (event, target.as_mut()) {
                (StdinEvent::Data(data), Some(StdinTarget::Pipe(pipe))) => pipe.write_all(&data).await.is_ok(),
                (StdinEvent::Data(data), Some(StdinTarget::Pty(file))) => {
                    use std::io::Write;
                    let _ = file.write_all(&data);
                    true
                }
                (StdinEvent::Close, Some(StdinTarget::Pipe(_))) => false,
                (_, other) => other.is_some(),
            };
            if !open {
                target = None;
            }
        }
    });
    tx
}

/// Joins the running container's stdio.
pub async fn attach(
    pod: &PodRuntime,
    c: &ContainerRuntime,
    options: StreamOptions,
) -> Result<ProcessStreams, ApiError> {
    let attempt = running_attempt(pod, c, false)?;
    let mut live = attempt.subscribe();
    let mut progress = attempt.watch();
    let (out_tx, out_rx) = mpsc::channel(64);
    let (exit_tx, exit_rx) = oneshot::channel();
    let tty = c.spec.tty == Some(true);
    let (want_out, want_err) = (options.stdout, options.stderr);
    tokio::spawn(async move {
        while let Some(output) = live.recv().await {
            let wanted = match &output {
                Output::Stdout(_) => want_out || tty,
                Output::Stderr(_) => want_err,
            };
            if wanted && out_tx.send(output).await.is_err() {
                return;
            }
        }
        drop(out_tx);
        let code = loop {
            if let Some(code) = progress.borrow_and_update().exit {
                break Some(code);
            }
            if progress.changed().await.is_err() {
                break None;
            }
        };
        let outcome = match code {
            Some(code) => ExitOutcome::Exited(code),
            None => ExitOutcome::Error("the container's output ended".to_string()),
        };
        let _ = exit_tx.send(outcome);
    });
    let container_has_stdin = c.spec.stdin == Some(true);
    let stdin = (options.stdin && container_has_stdin).then(|| {
        let (tx, mut rx) = mpsc::channel::<StdinEvent>(16);
        let target = attempt.clone();
        let stdin_once = c.spec.stdin_once == Some(true);
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                match event {
                    StdinEvent::Data(data) => {
                        target.write_stdin(&data).await;
                    }
                    StdinEvent::Close => break,
                }
            }
            if stdin_once {
                target.close_stdin_once().await;
            }
        });
        tx
    });
    let resize = attempt.pty.lock().ok().and_then(|p| p.clone()).map(resize_task);
    Ok(ProcessStreams { stdin, output: out_rx, resize, exit: exit_rx })
}
