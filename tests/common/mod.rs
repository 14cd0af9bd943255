//! Shared by the integration tests: start the real `podshim` binary on the simulated cluster, talk raw HTTP.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `podshim --sim` process listening on a unix socket in a temporary directory; killed on drop.
pub struct Podshim {
    child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

impl Podshim {
    /// Starts podshim and waits (at most 20 s) until `/_ping` answers.
    pub fn start() -> Podshim {
        Podshim::start_with(&[])
    }

    /// [`Podshim::start`] with more podshim flags.
    pub fn start_with(flags: &[&str]) -> Podshim {
        let dir = tempfile::Builder::new().prefix("podshim-test").tempdir().expect("tempdir");
        let socket = dir.path().join("docker.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_podshim"))
            .arg("--sim")
            .arg("--sim-data")
            .arg(dir.path().join("sim"))
            .arg("--listen")
            .arg(format!("unix://{}", socket.display()))
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn podshim");
        let podshim = Podshim { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(resp) = http(&podshim.socket, "GET", "/_ping") {
                if resp.starts_with("HTTP/1.1 200") {
                    pull(&podshim.socket, "alpine");
                    return podshim;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("podshim did not answer /_ping within 20 s");
    }

    /// `unix:///...` for `docker -H` / `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The simulated cluster's kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("sim").join("kubeconfig")
    }

    /// Runs the real docker CLI against this podshim with `input` as its stdin.
    pub fn docker_with_input(&self, args: &[&str], input: &[u8]) -> std::process::Output {
        let mut child = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.docker_host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker CLI");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input).expect("write the CLI's stdin");
        }
        child.wait_with_output().expect("run docker CLI")
    }

    /// Runs the real docker CLI against this podshim.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.docker_host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .expect("run docker CLI")
    }
}

impl Drop for Podshim {
    /// SIGTERM, so the simulated cluster removes what it made (its pod network), then SIGKILL after 10 s.
    fn drop(&mut self) {
        stop_gracefully(&mut self.child);
    }
}

/// SIGTERM, waits at most 10 s, then SIGKILL.
pub fn stop_gracefully(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One HTTP/1.1 request (`Connection: close`) over a unix socket; returns the whole response (head and body) as text.
pub fn http(socket: &Path, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: podshim\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

/// The body of an HTTP response text.
pub fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// One HTTP/1.1 request with a JSON body (`Connection: close`) over a unix socket; returns the status code and
/// the body.
pub fn http_json(socket: &Path, method: &str, path: &str, json: &str) -> std::io::Result<(u16, String)> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: podshim\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body(&out).to_string()))
}

pub const BIN: &str = env!("CARGO_BIN_EXE_podshim");

/// A child process killed (SIGKILL) on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `podshim sim-cluster` process, stopped on drop with SIGTERM so it removes what it made.
pub struct Cluster(pub Child);

impl Drop for Cluster {
    fn drop(&mut self) {
        stop_gracefully(&mut self.0);
    }
}

pub fn wait_until(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {seconds} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `podshim sim-cluster`; returns once its kubeconfig is written.
pub fn start_cluster(dir: &Path) -> Cluster {
    let child = Command::new(BIN)
        .args(["sim-cluster", "--sim-data"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn podshim sim-cluster");
    let kubeconfig = dir.join("kubeconfig");
    wait_until("sim-cluster writes its kubeconfig", 20, || kubeconfig.exists());
    Cluster(child)
}

/// What a client does before create: `POST /images/create` (the pull), which must succeed.
pub fn pull(socket: &Path, image: &str) {
    let (status, body) =
        http_json(socket, "POST", &format!("/images/create?fromImage={image}&tag=latest"), "").expect("pull");
    assert!(
        status == 200 && body.contains("Digest: sha256:") && !body.contains("error"),
        "pull {image}: {status} {body}"
    );
}

/// The registry of a standalone simulated cluster (`<sim-data>/registry`, one line `127.0.0.1:PORT`), as a
/// `--registry-mirror` URL.
pub fn sim_registry(sim_data: &Path) -> String {
    let written = std::fs::read_to_string(sim_data.join("registry")).ok();
    let stub = || std::env::var("PODSHIM_SIM_REGISTRY_STUB").unwrap_or_else(|_| "127.0.0.1:5000".into());
    format!("http://{}", written.map(|a| a.trim().to_string()).unwrap_or_else(stub))
}

/// A podshim on the standalone cluster, listening on `socket`; returns once `/_ping` answers, with `alpine`
/// pulled.
pub fn start_podshim(kubeconfig: &Path, socket: &Path) -> Proc {
    start_podshim_with(kubeconfig, socket, &[])
}

/// [`start_podshim`] with more flags.
pub fn start_podshim_with(kubeconfig: &Path, socket: &Path, flags: &[&str]) -> Proc {
    let sim_data = kubeconfig.parent().unwrap_or(Path::new("."));
    let child = Command::new(BIN)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--registry-mirror")
        .arg(sim_registry(sim_data))
        .arg("--listen")
        .arg(format!("unix://{}", socket.display()))
        .args(["--split-log-streams", "true"])
        .args(flags)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn podshim");
    let proc = Proc(child);
    wait_until("podshim answers /_ping", 20, || {
        http(socket, "GET", "/_ping").is_ok_and(|r| r.starts_with("HTTP/1.1 200"))
    });
    pull(socket, "alpine");
    proc
}

pub fn docker_at(socket: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::null())
        .output()
        .expect("run docker CLI")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
