//! One run of one container process: its CRI log file, its live output subscribers (attach), its
//! stdin and pty, and the notifications that log followers and attach sessions wait on.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::{mpsc, watch};

use super::logfile::{self, StreamKind};
use super::process::SpawnSpec;
use super::Output;

/// Progress of an attempt, for waiters: bytes written to the log so far and, once it ended, its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub written: u64,
    /// Set after the last output was written.
    pub exit: Option<i32>,
}

/// Where input for the process goes.
pub enum StdinSink {
    Pipe(ChildStdin),
    Pty(File),
}

/// One run of a container.
pub struct Attempt {
    pub path: PathBuf,
    log: Mutex<Option<File>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Output>>>,
    progress: watch::Sender<Progress>,
    /// The process (and group) id while it runs.
    pub pid: Mutex<Option<u32>>,
    stdin: tokio::sync::Mutex<Option<StdinSink>>,
    pub pty: Mutex<Option<Arc<OwnedFd>>>,
    /// How the process was started, reused by exec (env, cwd, uid/gid).
    pub context: Mutex<Option<SpawnSpec>>,
    stdin_once_done: AtomicBool,
}

impl Attempt {
    /// Creates the attempt and its (empty) log file.
    pub fn create(path: PathBuf) -> io::Result<Arc<Attempt>> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Arc::new(Attempt {
            path,
            log: Mutex::new(Some(file)),
            subscribers: Mutex::new(Vec::new()),
            progress: watch::channel(Progress::default()).0,
            pid: Mutex::new(None),
            stdin: tokio::sync::Mutex::new(None),
            pty: Mutex::new(None),
            context: Mutex::new(None),
            stdin_once_done: AtomicBool::new(false),
        }))
    }

    /// Appends output to the log and hands it to attached sessions.
    pub fn write(&self, stream: StreamKind, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let entries = logfile::format_entries(jiff::Timestamp::now(), stream, data);
        if let Ok(mut log) = self.log.lock() {
            if let Some(file) = log.as_mut() {
                if let Err(error) = file.write_all(&entries) {
                    tracing::warn!(%error, path = %self.path.display(), "cannot write container log");
                }
            }
        }
        let bytes = Bytes::copy_from_slice(data);
        let output = match stream {
            StreamKind::Stdout => Output::Stdout(bytes),
            StreamKind::Stderr => Output::Stderr(bytes),
        };
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.retain(|s| s.send(output.clone()).is_ok());
        }
        self.progress.send_modify(|p| p.written += entries.len() as u64);
    }

    /// Marks the end of the attempt (after its last output): closes the log, ends attach streams, wakes followers.
    pub fn finish(&self, exit_code: i32) {
        if let Ok(mut log) = self.log.lock() {
            log.take();
        }
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.clear();
        }
        if let Ok(mut pid) = self.pid.lock() {
            pid.take();
        }
        if let Ok(mut pty) = self.pty.lock() {
            pty.take();
        }
        self.progress.send_modify(|p| p.exit = Some(exit_code));
    }

    /// Live output from now on; the receiver ends when the attempt ends.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Output> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut subs) = self.subscribers.lock() {
            if self.progress.borrow().exit.is_none() {
                subs.push(tx);
            }
        }
        rx
    }

    /// Progress notifications (log followers, attach exit).
    pub fn watch(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    pub fn exit_code(&self) -> Option<i32> {
        self.progress.borrow().exit
    }

    pub fn running_pid(&self) -> Option<u32> {
        self.pid.lock().ok().and_then(|p| *p)
    }

    pub async fn set_stdin(&self, sink: Option<StdinSink>) {
        *self.stdin.lock().await = sink;
    }

    /// Writes to the process's stdin (pipe or pty); false when there is none.
    pub async fn write_stdin(&self, data: &[u8]) -> bool {
        let mut guard = self.stdin.lock().await;
        match guard.as_mut() {
            Some(StdinSink::Pipe(pipe)) => pipe.write_all(data).await.is_ok(),
            Some(StdinSink::Pty(file)) => file.write_all(data).is_ok(),
            None => false,
        }
    }

    /// `stdinOnce`: closes the process's stdin pipe after the first attach session that used it.
    pub async fn close_stdin_once(&self) {
        if !self.stdin_once_done.swap(true, Ordering::SeqCst) {
            let mut guard = self.stdin.lock().await;
            if matches!(guard.as_ref(), Some(StdinSink::Pipe(_))) {
                guard.take();
            }
        }
    }
}
