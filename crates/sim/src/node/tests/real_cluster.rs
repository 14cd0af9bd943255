//! Checks against a real API server (ignored unless asked for).

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use super::*;

/// Runs the node against the API server of `KUBECONFIG` (e.g. shared/realk8s): registration,
/// status reports, configMap env, logs and graceful deletion through a real kube-apiserver.
#[tokio::test]
#[ignore = "needs a real cluster (KUBECONFIG) with namespace sim-node"]
async fn real_cluster_runs_reports_and_deletes_pods() {
    use k8s_openapi::api::core::v1::{ConfigMap, Node as NodeObject};
    use kube::api::{Api, DeleteParams, PostParams};

    let client = kube::Client::try_default().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "podshim-sim-node-test";
    let config = NodeConfig {
        name: name.into(),
        data_dir: dir.path().to_path_buf(),
        registries: crate::registry::Registries::docker_hub_catalogue(),
    };
    let node = Node::with_backoff(config, Duration::from_millis(100), Duration::from_millis(500));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(node.clone().run(client.clone(), shutdown.clone()));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "sim-node");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "sim-node");
    let _ = pods
        .delete_collection(&DeleteParams { grace_period_seconds: Some(0), ..Default::default() }, &Default::default())
        .await;
    let _ = cms.delete("cm", &DeleteParams::default()).await;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm"}, "data": {"k": "from-cm"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pod = |pod_name: &str, command: Value| -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": pod_name}, "spec": {"nodeName": name, "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": command,
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}]}}),
        )
        .unwrap()
    };
    let created = pods.create(&PostParams::default(), &pod("once", sh("echo hi $X; exit 2"))).await.unwrap();
    let wait_phase = |pod_name: &'static str, phase: &'static str| {
        let pods = pods.clone();
        async move {
            for _ in 0..100 {
                let p = pods.get(pod_name).await.unwrap();
                if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase) {
                    return p;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{pod_name} never reached {phase}");
        }
    };
    let done = wait_phase("once", "Failed").await;
    let state = done.status.unwrap().container_statuses.unwrap()[0].state.clone().unwrap();
    assert_eq!(state.terminated.unwrap().exit_code, 2);
    let pod_ref = PodRef { namespace: "sim-node".into(), name: "once".into(), uid: created.metadata.uid.unwrap() };
    let mut log = node.logs(&pod_ref, query("c")).await.unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = log.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(text, b"hi from-cm\n");
    let nodes: Api<NodeObject> = Api::all(client.clone());
    let registered = nodes.get(name).await.unwrap();
    assert_eq!(registered.status.unwrap().node_info.unwrap().kubelet_version, register::KUBELET_VERSION);

    // A main process that catches SIGTERM gets it at once (one that does not, like `sleep`, is killed when the
    // grace period ends, as PID 1 of a real container).
    let trapping = sh("trap 'exit 0' TERM; while :; do sleep 0.1; done");
    pods.create(&PostParams::default(), &pod("sleeper", trapping)).await.unwrap();
    wait_phase("sleeper", "Running").await;
    let started = std::time::Instant::now();
    pods.delete("sleeper", &DeleteParams { grace_period_seconds: Some(5), ..Default::default() }).await.unwrap();
    for _ in 0..100 {
        if pods.get_opt("sleeper").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pods.get_opt("sleeper").await.unwrap().is_none(), "graceful deletion never finished");
    assert!(started.elapsed() < Duration::from_secs(4), "SIGTERM should end a process that traps it at once");
    pods.delete("once", &DeleteParams::default()).await.unwrap();
    shutdown.cancel();
    running.await.unwrap();
    let _ = nodes.delete(name, &DeleteParams::default()).await;
    let _ = cms.delete("cm", &DeleteParams::default()).await;
}
