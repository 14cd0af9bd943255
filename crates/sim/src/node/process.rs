//! Spawning a container's (or an exec's) process: argv, env, working directory, its own session,
//! a controlling pty or pipes, uid/gid/groups, the pod's network namespace (see [`super::network`]),
//! and a private mount namespace with a root of its own and the pod's volumes bound in (see
//! [`super::rootfs`]), or the mount namespace of a running container, for exec.
//!
//! Everything the child does between fork and exec runs in a `pre_exec` closure, which may only do
//! async-signal-safe work: every path is turned into a `CString` before the fork, and the closure
//! only makes system calls.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::rootfs::{self, BindMount, RootFs};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{chdir, setgid, setgroups, setsid, setuid, Gid, Pid, Uid};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// How to start a process.
#[derive(Debug, Clone, Default)]
pub struct SpawnSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Vec<u32>,
    pub tty: bool,
    /// A stdin pipe (else `/dev/null`; with `tty` the pty is stdin).
    pub stdin: bool,
    /// A new private mount namespace with this root (None: this machine's, unprotected).
    pub root: Option<RootFs>,
    /// Binds into that root (applied in order); only with `root`.
    pub mounts: Vec<BindMount>,
    /// Join the mount namespace of this process instead (exec into a container).
    pub join_mounts_of: Option<u32>,
    /// The pod's network namespace to join (None: this machine's network).
    pub netns: Option<Arc<OwnedFd>>,
}

/// A started process and its ends.
pub struct Spawned {
    pub child: Child,
    pub pid: u32,
    /// The pty master (tty mode): output is read from it, input written to it.
    pub pty: Option<OwnedFd>,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

/// Every process group the node started, so that shutdown can kill them all; once closed, nothing new starts.
#[derive(Debug, Default)]
pub struct ProcessTable {
    inner: Mutex<(bool, HashSet<u32>)>,
}

impl ProcessTable {
    /// Spawns under the table's lock (so shutdown cannot miss a process) and records the group.
    pub fn spawn(&self, spec: &SpawnSpec) -> io::Result<Spawned> {
        let mut guard = self.inner.lock().map_err(|_| io::Error::other("process table poisoned"))?;
        if guard.0 {
            return Err(io::Error::other("the node is shutting down"));
        }
        let spawned = spawn(spec)?;
        guard.1.insert(spawned.pid);
        Ok(spawned)
    }

    /// Forgets a process group whose leader has been waited for.
    pub fn remove(&self, pid: u32) {
        if let Ok(mut guard) = self.inner.lock() {
            guard.1.remove(&pid);
        }
    }

    /// Refuses new processes and SIGKILLs every recorded group; returns how many there were.
    pub fn close_and_kill(&self) -> usize {
        let Ok(mut guard) = self.inner.lock() else { return 0 };
        guard.0 = true;
        for pid in &guard.1 {
            signal_group(*pid, Signal::SIGKILL);
        }
        guard.1.len()
    }

    pub fn live(&self) -> usize {
        self.inner.lock().map(|g| g.1.len()).unwrap_or(0)
    }
}

/// A safety net for an abrupt end (the tokio runtime dropped without `Node::run` finishing its
/// shutdown): no process the node started outlives it.
impl Drop for ProcessTable {
    fn drop(&mut self) {
        let killed = self.close_and_kill();
        if killed > 0 {
            tracing::warn!(processes = killed, "node dropped while processes ran; killed them");
        }
    }
}

/// Sends `signal` to the process group led by `pid` (each process leads its own session).
pub fn signal_group(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

/// Sends `signal` to the process `pid` alone.
pub fn signal_process(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }
}

/// Whether process `pid` has a handler for `signal` (the `SigCgt` mask of `/proc/<pid>/status`).
pub fn catches_signal(pid: u32, signal: Signal) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return false };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << (signal as i32 - 1)) != 0)
}

/// The exit code Kubernetes reports: the code, or 128+signal.
pub fn exit_code(status: ExitStatus) -> (i32, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(sig)) => (128 + sig, Some(sig)),
        (None, None) => (255, None),
    }
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains a NUL byte"))
}

fn cloexec(fd: &OwnedFd) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    Ok(())
}

fn spawn(spec: &SpawnSpec) -> io::Result<Spawned> {
    let (program, args) = spec.argv.split_first().ok_or_else(|| io::Error::other("empty command"))?;
    let mut command = Command::new(program);
    command.args(args).env_clear().envs(spec.env.iter().map(|(k, v)| (k, v))).kill_on_drop(false);
    let mut pty_master = None;
    if spec.tty {
        let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        cloexec(&pty.master)?;
        cloexec(&pty.slave)?;
        command
            .stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave));
        pty_master = Some(pty.master);
    } else {
        command
            .stdin(if spec.stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    let prepared = Prepared::new(spec)?;
    // SAFETY: the closure only makes system calls on data prepared before the fork (no allocation, no locks).
    unsafe {
        command.pre_exec(move || prepared.apply());
    }
    let mut child = command.spawn()?;
    let pid = child.id().ok_or_else(|| io::Error::other("the process exited at once"))?;
    Ok(Spawned {
        pid,
        pty: pty_master,
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
        child,
    })
}

/// The child's setup, prepared before the fork.
struct Prepared {
    tty: bool,
    netns: Option<Arc<OwnedFd>>,
    join: Option<File>,
    root: Option<rootfs::Prepared>,
    cwd: CString,
    uid: Option<Uid>,
    gid: Option<Gid>,
    groups: Vec<Gid>,
}

impl Prepared {
    fn new(spec: &SpawnSpec) -> io::Result<Prepared> {
        let join = match spec.join_mounts_of {
            Some(pid) => Some(File::open(format!("/proc/{pid}/ns/mnt"))?),
            None => None,
        };
        let root = match &spec.root {
            Some(root) => Some(rootfs::Prepared::new(root, &spec.mounts, &spec.cwd)?),
            None if spec.mounts.is_empty() => None,
            None => return Err(io::Error::other("volume mounts need a root of the container's own")),
        };
        let uid = spec.uid.map(Uid::from_raw);
        let gid = spec.gid.map(Gid::from_raw).or(uid.map(|_| Gid::from_raw(0)));
        Ok(Prepared {
            tty: spec.tty,
            netns: spec.netns.clone(),
            join,
            root,
            cwd: cstring(&spec.cwd)?,
            uid,
            gid,
            groups: spec.groups.iter().map(|g| Gid::from_raw(*g)).collect(),
        })
    }

    /// Runs in the child between fork and exec.
    fn apply(&self) -> io::Result<()> {
        setsid().map_err(io::Error::from)?;
        if self.tty {
            // SAFETY: TIOCSCTTY on fd 0 (the pty slave) with argument 0; a plain system call.
            if unsafe { nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(net) = &self.netns {
            setns(net, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        }
        if let Some(ns) = &self.join {
            setns(ns, CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
        }
        if let Some(root) = &self.root {
            unshare(CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
            let none: Option<&std::ffi::CStr> = None;
            mount(none, c"/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none).map_err(io::Error::from)?;
            root.enter()?;
        }
        chdir(self.cwd.as_c_str()).map_err(io::Error::from)?;
        match self.gid {
            Some(gid) => {
                setgroups(&self.groups).map_err(io::Error::from)?;
                setgid(gid).map_err(io::Error::from)?;
            }
            // Supplemental groups without a user or group: added to the node's own, as runc does.
            None if !self.groups.is_empty() => setgroups(&self.groups).map_err(io::Error::from)?,
            None => {}
        }
        if let Some(uid) = self.uid {
            setuid(uid).map_err(io::Error::from)?;
        }
        Ok(())
    }
}

/// The start time of a process (field 22 of `/proc/<pid>/stat`, in clock ticks since boot):
/// with the pid it names one process for good, even after pids wrap around.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Records a started process in `path` as `<pid> <start time>`, for [`kill_recorded`].
pub fn record(path: &Path, pid: u32) {
    if let Some(start) = start_time(pid) {
        if let Err(error) = std::fs::write(path, format!("{pid} {start}")) {
            tracing::debug!(%error, path = %path.display(), "cannot record a process");
        }
    }
}

/// SIGKILLs the process group recorded in `path` if that very process still runs (a run of the
/// node that ended without its shutdown, e.g. SIGKILLed, leaves such processes behind).
pub fn kill_recorded(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else { return };
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    let (Some(Some(pid)), Some(Some(start))) = (fields.next(), fields.next()) else { return };
    let Ok(pid) = u32::try_from(pid) else { return };
    if start_time(pid) == Some(start) {
        tracing::info!(pid, "killing a container process left by an earlier run");
        signal_group(pid, Signal::SIGKILL);
    }
}

/// Sets the pty's window size.
pub fn resize(pty: &OwnedFd, width: u16, height: u16) {
    let size = nix::libc::winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the call.
    unsafe {
        nix::libc::ioctl(pty.as_raw_fd(), nix::libc::TIOCSWINSZ, &size);
    }
}

/// Whether this process may create mount namespaces and mount filesystems (root with CAP_SYS_ADMIN).
pub fn can_mount() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    const CAP_SYS_ADMIN: u32 = 21;
    effective & (1 << CAP_SYS_ADMIN) != 0
}

#[cfg(test)]
mod signal_tests {
    use super::*;

    #[test]
    fn a_shell_that_traps_term_catches_it_and_sleep_does_not() {
        let mut trapping = std::process::Command::new("sh")
            .args(["-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(trapping.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        let mut sleeping = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        assert!(catches_signal(trapping.id(), Signal::SIGTERM));
        assert!(!catches_signal(sleeping.id(), Signal::SIGTERM));
        for child in [&mut trapping, &mut sleeping] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
