//! The whole simulated cluster with kube-rs: a pod waits, unscheduled, for its claim to exist and be bound (with
//! kube-scheduler's condition); once the default class's provisioner has bound it, the pod's data lands in the
//! volume's directory and a second pod reads it back; deleting the claim deletes the volume and its directory.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use podshim_sim::{SimCluster, SimOptions};
use serde_json::json;

async fn client(cluster: &SimCluster) -> kube::Client {
    let loaded = kube::config::Kubeconfig::read_from(cluster.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

fn pod(name: &str, claim: &str, script: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
            "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
        "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}}))
    .unwrap()
}

fn claim(name: &str, class: Option<&str>) -> PersistentVolumeClaim {
    let mut c = json!({"metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    serde_json::from_value(c).unwrap()
}

/// Polls the pod (10 s at most) until `done` holds.
async fn wait_pod(pods: &Api<Pod>, name: &str, done: impl Fn(&Pod) -> bool) -> Pod {
    for _ in 0..200 {
        let p = pods.get(name).await.unwrap();
        if done(&p) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pod {name}: {:?}", pods.get(name).await.unwrap().status);
}

fn unschedulable_message(p: &Pod) -> Option<String> {
    let conditions = p.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    (c.reason.as_deref() == Some("Unschedulable")).then(|| c.message.clone().unwrap_or_default())
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

#[tokio::test]
async fn pods_wait_for_bound_claims_and_their_data_follows_the_volume() {
    if !nix::unistd::geteuid().is_root() {
        return; // without root the node cannot mount volumes into containers
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = SimCluster::start(SimOptions::new(dir.path().join("sim"))).await.unwrap();
    let client = client(&cluster).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());

    // No claim: kube-scheduler's basic check.
    pods.create(&PostParams::default(), &pod("writer", "data", "echo kept > /data/f")).await.unwrap();
    let waiting = wait_pod(&pods, "writer", |p| unschedulable_message(p).is_some()).await;
    assert_eq!(
        unschedulable_message(&waiting).unwrap(),
        "0/1 nodes are available: 1 persistentvolumeclaim \"data\" not found."
    );
    assert_eq!(phase(&waiting), "Pending");

    // A claim whose class does not exist stays Pending: its pod is unschedulable with VolumeBinding's reason.
    claims.create(&PostParams::default(), &claim("nowhere", Some("nosuch"))).await.unwrap();
    pods.create(&PostParams::default(), &pod("stuck", "nowhere", "true")).await.unwrap();
    let stuck = wait_pod(&pods, "stuck", |p| unschedulable_message(p).is_some()).await;
    assert_eq!(
        unschedulable_message(&stuck).unwrap(),
        "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
    );

    // The claim appears: the default class provisions and binds it, the pod is scheduled and writes.
    let created = claims.create(&PostParams::default(), &claim("data", None)).await.unwrap();
    let volume_dir = dir.path().join("sim/pv").join(format!("pvc-{}", created.metadata.uid.unwrap()));
    let done = wait_pod(&pods, "writer", |p| matches!(phase(p), "Succeeded" | "Failed")).await;
    assert_eq!(phase(&done), "Succeeded", "{:?}", done.status);
    assert_eq!(std::fs::read_to_string(volume_dir.join("f")).unwrap(), "kept\n");
    let bound = claims.get("data").await.unwrap();
    assert_eq!(bound.status.unwrap().phase.as_deref(), Some("Bound"));

    pods.create(&PostParams::default(), &pod("reader", "data", "cat /data/f")).await.unwrap();
    let read = wait_pod(&pods, "reader", |p| matches!(phase(p), "Succeeded" | "Failed")).await;
    assert_eq!(phase(&read), "Succeeded");
    assert_eq!(pods.logs("reader", &LogParams::default()).await.unwrap(), "kept\n");
    assert!(unschedulable_message(&pods.get("stuck").await.unwrap()).is_some());

    // Deleting the claim (then its pods) deletes the volume and its directory.
    claims.delete("data", &DeleteParams::default()).await.unwrap();
    let now = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    pods.delete("writer", &now).await.unwrap();
    pods.delete("reader", &now).await.unwrap();
    let volume_name = bound.spec.unwrap().volume_name.unwrap();
    let mut gone = false;
    for _ in 0..200 {
        if claims.get_opt("data").await.unwrap().is_none() && volumes.get_opt(&volume_name).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "claim or volume left after the claim's deletion");
    assert!(!volume_dir.exists(), "the volume's directory is left");
    cluster.stop().await;
}
