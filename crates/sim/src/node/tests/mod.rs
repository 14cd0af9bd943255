//! Process-level tests: real processes run by the pod runner, with an in-memory API server.
//! This file holds the fixture; the tests are in the submodules.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::cluster::FakeCluster;
use super::pods::PodRuntime;
use super::*;

mod images;
mod network;
mod pods;
mod real_cluster;
mod rootfs;
mod streams;
mod volumes;

pub(super) struct Fixture {
    pub(super) node: Arc<Node>,
    pub(super) cluster: Arc<FakeCluster>,
    _dir: tempfile::TempDir,
}

pub(super) fn fixture() -> Fixture {
    fixture_with(FakeCluster::default())
}

pub(super) fn fixture_with(cluster: FakeCluster) -> Fixture {
    fixture_with_registries(cluster, crate::registry::Registries::docker_hub_catalogue())
}

pub(super) fn fixture_with_registries(cluster: FakeCluster, registries: crate::registry::Registries) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig { name: NODE_NAME.to_string(), data_dir: dir.path().to_path_buf(), registries };
    let node = Node::with_backoff(config, Duration::from_millis(50), Duration::from_millis(200));
    Fixture { node, cluster: Arc::new(cluster), _dir: dir }
}

impl Fixture {
    pub(super) fn start(&self, name: &str, spec: Value) -> (Arc<PodRuntime>, PodRef) {
        let uid = uuid::Uuid::new_v4().to_string();
        let mut spec = spec;
        spec["nodeName"] = json!(NODE_NAME);
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": spec,
        }))
        .unwrap();
        let runtime = PodRuntime::start(pod, self.node.ctx.clone(), self.cluster.clone()).unwrap();
        self.node.insert(uid.clone(), runtime.clone());
        (runtime, PodRef { namespace: "default".into(), name: name.into(), uid })
    }

    pub(super) async fn logs(&self, pod: &PodRef, query: LogQuery) -> String {
        let mut stream = self.node.logs(pod, query).await.unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(out).unwrap()
    }
}

/// Waits (up to 5 s) until the pod's status satisfies `done`.
pub(super) async fn wait_for(runtime: &PodRuntime, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        let status = runtime.status();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out; last status {:#}", runtime.status());
}

pub(super) fn phase_is(phase: &'static str) -> impl Fn(&Value) -> bool {
    move |s| s["phase"] == phase
}

pub(super) fn query(container: &str) -> LogQuery {
    LogQuery { container: container.into(), ..Default::default() }
}

pub(super) fn sh(script: &str) -> Value {
    json!(["sh", "-c", script])
}
