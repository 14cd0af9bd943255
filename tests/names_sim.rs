//! Container names under load, through the Docker API of real podshim processes on the simulated cluster: a
//! name is claimed atomically across replicas, and generated names never run out, repeat or stall the daemon.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{http, http_json, start_cluster, start_podshim, wait_until};

const BODY: &str = r#"{"Image":"alpine","Cmd":["true"]}"#;

#[test]
fn fifty_parallel_creates_of_one_name_on_two_podshims_give_one_201_and_49_409() {
    let dir = tempfile::Builder::new().prefix("podshim-names").tempdir().expect("tempdir");
    let sim = dir.path().join("sim");
    let _cluster = start_cluster(&sim);
    let sockets = [dir.path().join("a.sock"), dir.path().join("b.sock")];
    let _a = start_podshim(&sim.join("kubeconfig"), &sockets[0]);
    let _b = start_podshim(&sim.join("kubeconfig"), &sockets[1]);
    let start = Arc::new(std::sync::Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|n| {
            let socket = sockets[n % 2].clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                http_json(&socket, "POST", "/v1.50/containers/create?name=samename", BODY).expect("create")
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (status, _) in &answers {
        *statuses.entry(*status).or_default() += 1;
    }
    assert_eq!(statuses, BTreeMap::from([(201, 1), (409, 49)]), "{answers:?}");
    let winner = answers.iter().find(|(s, _)| *s == 201).map(|(_, b)| b.clone()).unwrap_or_default();
    let winner: serde_json::Value = serde_json::from_str(&winner).expect("create answer");
    let id = winner["Id"].as_str().expect("Id").to_string();
    for (_, body) in answers.iter().filter(|(s, _)| *s == 409) {
        assert!(body.contains(&format!("is already in use by container \\\"{id}\\\"")), "{body}");
    }
    // Both replicas list exactly one `samename`, and losing creates left nothing behind.
    for socket in &sockets {
        wait_until("both replicas show one samename", 10, || {
            let list = http(socket, "GET", "/containers/json?all=1").unwrap_or_default();
            list.matches("\"/samename\"").count() == 1 && list.matches("\"Id\"").count() == 1
        });
    }
}

/// The daemon answers `_ping` within `bound` throughout: a watchdog thread pings every 50 ms.
struct PingWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Duration>>,
}

impl PingWatch {
    fn start(socket: std::path::PathBuf) -> PingWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = http(&socket, "GET", "/_ping").is_ok_and(|r| r.starts_with("HTTP/1.1 200"));
                assert!(ok, "_ping failed");
                worst = worst.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(50));
            }
            worst
        });
        PingWatch { stop, thread: Some(thread) }
    }

    /// The slowest `_ping`.
    fn finish(mut self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join().expect("ping watchdog")).unwrap_or_default()
    }
}

#[test]
fn ten_thousand_unnamed_creates_get_unique_names_while_ping_answers() {
    const CONTAINERS: usize = 10_000;
    const CLIENTS: usize = 8;
    let dir = tempfile::Builder::new().prefix("podshim-names").tempdir().expect("tempdir");
    let sim = dir.path().join("sim");
    let _cluster = start_cluster(&sim);
    let socket = dir.path().join("d.sock");
    let _podshim = start_podshim(&sim.join("kubeconfig"), &socket);
    let ping = PingWatch::start(socket.clone());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                for n in (c..CONTAINERS).step_by(CLIENTS) {
                    let (status, body) = http_json(&socket, "POST", "/containers/create", BODY).expect("create");
                    assert_eq!(status, 201, "create {n}: {body}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    let worst = ping.finish();
    assert!(worst < Duration::from_secs(5), "the slowest _ping took {worst:?}");
    let list = http(&socket, "GET", "/containers/json?all=1").expect("list");
    let entries: Vec<serde_json::Value> = serde_json::from_str(common::body(&list)).expect("list json");
    assert_eq!(entries.len(), CONTAINERS);
    let names: HashSet<&str> = entries.iter().filter_map(|e| e["Names"][0].as_str()).collect();
    assert_eq!(names.len(), CONTAINERS, "every generated name is unique");
}
