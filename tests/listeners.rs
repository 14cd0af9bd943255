//! The Docker API's unix socket as dockerd makes it, with the real binary: mode 0660 whatever the umask, the
//! group `--socket-group` (default `docker` when it exists), an existing file replaced only when it is a stale
//! socket, the socket removed on exit only while it is still podshim's; and `--sim` refusing a TCP listener
//! unless `--insecure-tcp`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::http;

const BIN: &str = env!("CARGO_BIN_EXE_podshim");

/// A `podshim --sim` process; SIGKILLed on drop unless already waited for.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn podshim(dir: &Path, socket: &Path, extra: &[&str], umask: Option<u32>) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--sim")
        .arg("--sim-data")
        .arg(dir.join("sim"))
        .arg("--listen")
        .arg(format!("unix://{}", socket.display()))
        .args(extra)
        .env("RUST_LOG", "warn")
        .env_remove("PODSHIM_SOCKET_GROUP")
        .stdin(Stdio::null());
    if let Some(mask) = umask {
        // SAFETY: umask is a plain system call, safe between fork and exec.
        unsafe {
            command.pre_exec(move || {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
                Ok(())
            });
        }
    }
    command
}

/// Starts podshim and waits until `/_ping` answers on `socket`.
fn start(dir: &Path, socket: &Path, extra: &[&str], umask: Option<u32>) -> Proc {
    let child = podshim(dir, socket, extra, umask).stderr(Stdio::inherit()).spawn().expect("spawn podshim");
    let proc = Proc { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pings(socket) {
        assert!(Instant::now() < deadline, "podshim did not answer /_ping within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    proc
}

/// Runs podshim to its end (it must fail to start, within 20 s): its output.
fn run_to_failure(dir: &Path, socket: &Path, extra: &[&str]) -> Output {
    exits(podshim(dir, socket, extra, None))
}

fn exits(mut command: Command) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("podshim is still running after 20 s: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "podshim started: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn pings(socket: &Path) -> bool {
    http(socket, "GET", "/_ping").is_ok_and(|r| r.starts_with("HTTP/1.1 200"))
}

fn stop(mut proc: Proc) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(proc.child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while proc.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "podshim did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("podshim-listen").tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    (dir, socket)
}

#[test]
fn a_regular_file_at_the_socket_path_is_left_alone() {
    let (dir, socket) = setup();
    std::fs::write(&socket, "precious").unwrap();
    let output = run_to_failure(dir.path(), &socket, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is a regular file, not a socket: refusing to replace it"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
}

#[test]
fn the_socket_of_a_live_podshim_is_not_taken() {
    let (dir, socket) = setup();
    let first = start(dir.path(), &socket, &[], None);
    let second = tempfile::tempdir().unwrap();
    let output = run_to_failure(second.path(), &socket, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("another daemon is listening on {}", socket.display())), "{stderr}");
    assert!(pings(&socket), "the first podshim still answers on its socket");
    drop(first);
}

#[test]
fn a_stale_socket_is_replaced_and_removed_on_exit() {
    let (dir, socket) = setup();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists(), "a socket file nobody listens on");
    let proc = start(dir.path(), &socket, &[], None);
    stop(proc);
    assert!(!socket.exists(), "podshim removes its own socket on exit");
}

#[test]
fn on_exit_a_file_that_replaced_the_socket_is_kept() {
    let (dir, socket) = setup();
    let proc = start(dir.path(), &socket, &[], None);
    std::fs::remove_file(&socket).unwrap();
    std::fs::write(&socket, "someone else's").unwrap();
    stop(proc);
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "someone else's");
}

/// The group dockerd would choose: `docker` if it exists, else the process's own.
fn default_gid() -> u32 {
    nix::unistd::Group::from_name("docker").unwrap().map(|g| g.gid.as_raw()).unwrap_or(nix::unistd::getegid().as_raw())
}

#[test]
fn the_socket_is_0660_whatever_the_umask_with_dockerds_default_group() {
    let (dir, socket) = setup();
    let _proc = start(dir.path(), &socket, &[], Some(0o000));
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), default_gid());
}

#[test]
fn socket_group_takes_a_name_or_a_number_and_refuses_an_unknown_group() {
    let (dir, socket) = setup();
    let output = run_to_failure(dir.path(), &socket, &["--socket-group", "podshim-no-such-group"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--socket-group podshim-no-such-group: no such group"), "{stderr}");
    assert!(!socket.exists());

    // A group this process may give its files (its own, or any as root), named by number.
    let gid = if nix::unistd::geteuid().is_root() { 65534 } else { nix::unistd::getegid().as_raw() };
    let proc = start(dir.path(), &socket, &["--socket-group", &gid.to_string()], Some(0o022));
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!((meta.gid(), meta.permissions().mode() & 0o777), (gid, 0o660));
    drop(proc);
}

#[test]
fn sim_refuses_a_tcp_docker_listener_without_insecure_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command.args(["--sim", "--sim-data"]).arg(dir.path().join("sim")).args(["--listen", "tcp://127.0.0.1:0"]);
    let output = exits(command);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("every local user could connect to a TCP listener"), "{stderr}");
    assert!(stderr.contains("--insecure-tcp"), "{stderr}");
}
