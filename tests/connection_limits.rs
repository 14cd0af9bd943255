//! Connections that send nothing are not kept: the Docker API served by `server::serve` (with short limits, so
//! the test need not wait 30 s) over its unix socket, on the simulated cluster, driven with raw sockets.
//! Half-sent request heads and bodies and idle keep-alive connections are closed after the limit while `/_ping`
//! keeps answering; a `logs -f` with nothing to say for longer than the limit stays open.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use podshim::runtime::{Runtime, RuntimeOptions};
use podshim::server::{self, Limits, SocketGroup};
use podshim_sim::{SimCluster, SimOptions};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(2);

struct Served {
    _dir: tempfile::TempDir,
    _sim: SimCluster,
    socket: PathBuf,
    shutdown: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimCluster::start(SimOptions::new(dir.path().join("sim"))).await.unwrap();
    let loaded = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let shutdown = CancellationToken::new();
    let registry = podshim::runtime::images::RegistryConfig {
        mirrors: vec![podshim::runtime::images::Endpoint { host: sim.registry_addr().to_string(), http: true }],
        ..Default::default()
    };
    let options = RuntimeOptions {
        start_timeout: Duration::from_secs(20),
        split_log_streams: true,
        start_handshake: Default::default(),
        ports: Default::default(),
        registry,
        volumes: Default::default(),
        helper_image: "busybox".into(),
        binds: Default::default(),
    };
    let runtime = Runtime::start(client, "default".into(), options, shutdown.child_token()).await.unwrap();
    let socket = dir.path().join("docker.sock");
    let addr = podshim::config::ListenAddr::Unix(socket.clone());
    let listeners = server::bind_all(&[addr], &SocketGroup::own()).await.unwrap();
    let limits = Limits { header_read: LIMIT, body_idle: LIMIT };
    let state = podshim::api::AppState::new(runtime);
    tokio::spawn(server::serve("Docker API", listeners, state, limits, shutdown.clone()));
    let pulled = socket.clone();
    tokio::task::spawn_blocking(move || common::pull(&pulled, "alpine")).await.unwrap();
    Served { _dir: dir, _sim: sim, socket, shutdown }
}

/// A connection whose reads do not block.
fn connect(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket).unwrap();
    stream.set_nonblocking(true).unwrap();
    stream
}

/// Whether the server has closed `stream` (end of stream or reset); any bytes it sent are appended to `seen`.
fn closed(stream: &mut UnixStream, seen: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Pings on a fresh connection (blocking; run off the async runtime).
fn pings(socket: &Path) -> bool {
    common::http(socket, "GET", "/_ping").is_ok_and(|r| r.starts_with("HTTP/1.1 200") && r.ends_with("OK"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_limit_while_ping_answers() {
    let served = serve().await;
    let socket = served.socket.clone();
    blocking(move || {
        let started = Instant::now();
        let mut heads: Vec<UnixStream> = (0..1100)
            .map(|_| {
                let mut s = connect(&socket);
                s.write_all(b"GET /_ping HTTP/1.1\r\nHost: podshim\r\n").unwrap();
                s
            })
            .collect();
        let mut body = connect(&socket);
        body.write_all(b"POST /containers/create HTTP/1.1\r\nHost: podshim\r\nContent-Type: application/json\r\n\
                         Content-Length: 100\r\n\r\n{\"Image\":")
            .unwrap();
        let mut idle = connect(&socket);
        idle.write_all(b"GET /_ping HTTP/1.1\r\nHost: podshim\r\n\r\n").unwrap();
        assert!(pings(&socket), "/_ping answers while 1,100 heads are half-sent");
        let mut answered = Vec::new();
        while !answered.ends_with(b"OK") {
            assert!(!closed(&mut idle, &mut answered), "the keep-alive connection closed before its answer");
            std::thread::sleep(Duration::from_millis(10));
        }

        let deadline = started + LIMIT + Duration::from_secs(15);
        let (mut open_heads, mut body_done, mut idle_done) = (heads.len(), false, false);
        let mut body_answer = Vec::new();
        while open_heads > 0 || !body_done || !idle_done {
            assert!(
                Instant::now() < deadline,
                "after {:?}: {open_heads} half-sent heads still open, body closed: {body_done}, idle closed: {idle_done}",
                started.elapsed()
            );
            heads.retain_mut(|s| !closed(s, &mut Vec::new()));
            open_heads = heads.len();
            body_done = body_done || closed(&mut body, &mut body_answer);
            idle_done = idle_done || closed(&mut idle, &mut Vec::new());
            assert!(pings(&socket), "/_ping answers throughout");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(started.elapsed() >= LIMIT, "nothing is closed before the limit");
        let text = String::from_utf8_lossy(&body_answer);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_logs_follow_outlives_the_limit() {
    let served = serve().await;
    let socket = served.socket.clone();
    blocking(move || {
        let create = r#"{"Image":"alpine","Cmd":["sh","-c","echo early; sleep 5; echo late"]}"#;
        let mut s = UnixStream::connect(&socket).unwrap();
        write!(
            s,
            "POST /containers/create HTTP/1.1\r\nHost: podshim\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{create}",
            create.len()
        )
        .unwrap();
        let mut created = String::new();
        s.read_to_string(&mut created).unwrap();
        assert!(created.starts_with("HTTP/1.1 201"), "{created}");
        let id = common::body(&created).split('"').nth(3).unwrap().to_string();
        let started = common::http(&socket, "POST", &format!("/containers/{id}/start")).unwrap();
        assert!(started.starts_with("HTTP/1.1 204"), "{started}");

        let mut logs = UnixStream::connect(&socket).unwrap();
        logs.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(logs, "GET /containers/{id}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: podshim\r\n\r\n").unwrap();
        let opened = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("late") {
            let n = logs.read(&mut buf).expect("the follow stays open");
            assert!(n > 0, "the follow was closed after {:?}: {}", opened.elapsed(), String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(opened.elapsed() > LIMIT, "the quiet stretch lasted longer than the limit");
        let _ = common::http(&socket, "DELETE", &format!("/containers/{id}?force=1"));
    })
    .await;
}
