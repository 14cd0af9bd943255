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
        let dir = tempfile::Builder::new().prefix("podshim-test").tempdir().expect("tempdir");
        let socket = dir.path().join("docker.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_podshim"))
            .arg("--sim")
            .arg("--sim-data")
            .arg(dir.path().join("sim"))
            .arg("--listen")
            .arg(format!("unix://{}", socket.display()))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn podshim");
        let podshim = Podshim { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(resp) = http(&podshim.socket, "GET", "/_ping") {
                if resp.starts_with("HTTP/1.1 200") {
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
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
