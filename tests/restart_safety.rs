//! Restart safety: Kubernetes is podshim's only database, so a podshim killed with SIGKILL and started again
//! answers `start`, `wait`, `logs` and `ps -a` as if nothing happened, and removes `--rm` containers that
//! exited while it was down.
//!
//! The simulated cluster must outlive podshim, so this uses `podshim sim-cluster --sim-data DIR` (the cluster on
//! its own: writes DIR/kubeconfig and serves until killed).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{docker_at as docker, start_cluster, start_podshim, text};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams};

/// Pods and records (ConfigMaps) of podshim whose `podshim.io/name` annotation is `name`.
async fn objects_named(kubeconfig: &Path, name: &str) -> Vec<String> {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await.expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let managed = ListParams::default().labels("podshim.io/managed=true");
    let matches = |annotations: Option<&std::collections::BTreeMap<String, String>>| {
        annotations.and_then(|a| a.get("podshim.io/name")).is_some_and(|n| n.trim_start_matches('/') == name)
    };
    let mut found = Vec::new();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for pod in pods.list(&managed).await.expect("list pods").items {
        if matches(pod.metadata.annotations.as_ref()) {
            found.push(format!("pod/{}", pod.metadata.name.unwrap_or_default()));
        }
    }
    let records: Api<ConfigMap> = Api::default_namespaced(client);
    for record in records.list(&managed).await.expect("list configmaps").items {
        if matches(record.metadata.annotations.as_ref()) {
            found.push(format!("configmap/{}", record.metadata.name.unwrap_or_default()));
        }
    }
    found
}

/// The phase of the pod of container `name`, if there is one.
async fn pod_phase(kubeconfig: &Path, name: &str) -> Option<String> {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await.expect("config");
    let pods: Api<Pod> = Api::default_namespaced(kube::Client::try_from(config).expect("client"));
    let list = pods.list(&ListParams::default().labels("podshim.io/managed=true")).await.expect("list pods");
    list.items
        .into_iter()
        .find(|p| {
            p.metadata.annotations.as_ref().and_then(|a| a.get("podshim.io/name")).map(|n| n.trim_start_matches('/'))
                == Some(name)
        })
        .and_then(|p| p.status.and_then(|s| s.phase))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_podshim_loses_nothing() {
    let dir = tempfile::Builder::new().prefix("podshim-restart").tempdir().expect("tempdir");
    let sim: PathBuf = dir.path().join("sim");
    let kubeconfig = sim.join("kubeconfig");
    let config = dir.path().join("docker-config");
    let _cluster = start_cluster(&sim);
    let socket = |n: u32| dir.path().join(format!("d{n}.sock"));

    // 1. Created (not started) when podshim dies: the new podshim starts it.
    let first = start_podshim(&kubeconfig, &socket(1));
    let out = docker(
        &socket(1),
        &config,
        &["create", "--name", "created", "alpine", "sh", "-c", "echo out; echo err >&2; exit 3"],
    );
    assert!(out.status.success(), "docker create: {}", text(&out.stderr));
    drop(first); // SIGKILL
    let second = start_podshim(&kubeconfig, &socket(2));
    let out = docker(&socket(2), &config, &["start", "-a", "created"]);
    assert_eq!((text(&out.stdout).as_str(), text(&out.stderr).as_str()), ("out\n", "err\n"));
    assert_eq!(out.status.code(), Some(3));

    // 2. Running when podshim dies, plus a --rm container that exits while podshim is down.
    let out = docker(
        &socket(2),
        &config,
        &["run", "-d", "--name", "running", "alpine", "sh", "-c", "sleep 2; echo done; exit 4"],
    );
    assert!(out.status.success(), "docker run -d: {}", text(&out.stderr));
    let out = docker(&socket(2), &config, &["run", "-d", "--rm", "--name", "gone", "alpine", "sh", "-c", "sleep 1"]);
    assert!(out.status.success(), "docker run -d --rm: {}", text(&out.stderr));
    drop(second); // SIGKILL
    let deadline = Instant::now() + Duration::from_secs(30);
    // It sleeps 1 s, so it exits after the SIGKILL above: its pod completes with no podshim to remove it.
    loop {
        let phase = pod_phase(&kubeconfig, "gone").await;
        match phase.as_deref() {
            Some("Succeeded" | "Failed") => break,
            Some(_) => {}
            None => panic!("the --rm container's pod vanished while podshim was down"),
        }
        assert!(Instant::now() < deadline, "the --rm container's pod did not complete: {phase:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let _third = start_podshim(&kubeconfig, &socket(3));
    let out = docker(&socket(3), &config, &["wait", "running"]);
    assert_eq!(text(&out.stdout), "4\n", "docker wait: {}", text(&out.stderr));
    let out = docker(&socket(3), &config, &["logs", "running"]);
    assert_eq!(text(&out.stdout), "done\n", "docker logs: {}", text(&out.stderr));
    let out = docker(&socket(3), &config, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    let ps = text(&out.stdout);
    assert!(ps.lines().any(|l| l.starts_with("running Exited (4) ")), "docker ps -a: {ps}");
    assert!(ps.lines().any(|l| l.starts_with("created Exited (3) ")), "docker ps -a: {ps}");
    assert!(!ps.lines().any(|l| l.starts_with("gone ")), "the --rm container is still listed: {ps}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = objects_named(&kubeconfig, "gone").await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the new podshim did not remove the exited --rm container: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = docker(&socket(3), &config, &["rm", "created", "running"]);
    assert!(out.status.success(), "docker rm: {}", text(&out.stderr));
}
