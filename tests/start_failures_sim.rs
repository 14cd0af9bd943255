//! A start that Kubernetes will not schedule or admit fails at once with Docker's kind of error naming the
//! reason, and the container stays created, as Docker leaves a container whose start failed. Driven by the
//! docker CLI against `podshim --sim`; the ResourceQuota is made with kube-rs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::Podshim;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, PostParams};

fn status_of(p: &Podshim, name: &str) -> String {
    let out = p.docker(&["inspect", "--format", "{{.State.Status}}", name]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_pod_no_node_can_take_fails_the_run_at_once_and_the_container_stays_created() {
    let p = Podshim::start();
    let started = Instant::now();
    let out = p.docker(&["run", "--name", "too-big", "--cpu-shares", "262144", "alpine", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains(
            "Error response from daemon: Kubernetes cannot schedule the container's pod (Unschedulable): 0/1 nodes are available: 1 Insufficient cpu."
        ),
        "{stderr}"
    );
    // Well within the default --start-timeout of two minutes.
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    assert_eq!(status_of(&p, "too-big"), "created");
}

/// Makes the ResourceQuota `q` (requests.cpu: 1) in the simulated cluster's namespace.
fn make_quota(p: &Podshim) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(p.kubeconfig()).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
        let namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).expect("client");
        let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "1"}}
        }))
        .unwrap();
        Api::<ResourceQuota>::namespaced(client, &namespace)
            .create(&PostParams::default(), &quota)
            .await
            .expect("quota");
    });
}

#[test]
fn a_pod_over_the_namespaces_quota_fails_the_run_with_the_quotas_words() {
    let p = Podshim::start();
    make_quota(&p);
    let out = p.docker(&["run", "--name", "over-quota", "--cpu-shares", "2048", "alpine", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains(
            "Error response from daemon: Kubernetes refused the container's pod (Forbidden): pods \"podshim-"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "is forbidden: exceeded quota: q, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1"
        ),
        "{stderr}"
    );
    assert_eq!(status_of(&p, "over-quota"), "created");
    let out = p.docker(&["run", "--name", "unstated", "alpine", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("failed quota: q: must specify requests.cpu"), "{stderr}");
}
