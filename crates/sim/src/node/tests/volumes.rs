//! Volume mounts, runAsUser and what is left on the host.

use std::time::Duration;

use serde_json::json;

use super::*;

#[tokio::test]
async fn run_as_user_sets_uid_and_gid() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "securityContext": {"runAsUser": 1000, "supplementalGroups": [4321]},
        "containers": [{"name": "c", "image": "busybox", "command": sh("id -u; id -g; id -G"),
            "securityContext": {"runAsUser": 1234, "runAsGroup": 5678}}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(f.logs(&pod, query("c")).await, "1234\n5678\n5678 4321\n");
}

#[tokio::test]
async fn read_only_host_path_refuses_writes_and_leaves_no_mount_point() {
    if !process::can_mount() {
        return;
    }
    let f = fixture();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from host\n").unwrap();
    let target = format!("/tmp/podshim-sim-test-{}/ro", uuid::Uuid::new_v4().simple());
    let script = format!("cat {target}/f; touch {target}/new || exit 9; echo data > /scratch/x && cat /scratch/x");
    let spec = json!({"restartPolicy": "Never",
        "volumes": [{"name": "h", "hostPath": {"path": host.path(), "type": "Directory"}},
                    {"name": "e", "emptyDir": {}}],
        "containers": [{"name": "c", "image": "busybox", "command": sh(&script),
            "volumeMounts": [{"name": "h", "mountPath": target, "readOnly": true},
                             {"name": "e", "mountPath": "/scratch"}]}]});
    let (runtime, pod) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Failed")).await;
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 9);
    let text = f.logs(&pod, query("c")).await;
    assert!(text.starts_with("from host\n") && text.contains("Read-only file system"), "{text}");
    assert!(!host.path().join("new").exists());
    runtime.forget();
    let top = std::path::Path::new(&target).parent().unwrap();
    assert!(!top.exists(), "mount point {} left behind", top.display());
}

#[tokio::test]
async fn config_map_and_secret_volumes_are_read_only_files() {
    if !process::can_mount() {
        return;
    }
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let mut cluster = FakeCluster::default();
    let cm: ConfigMap = serde_json::from_value(json!({"data": {"app.conf": "x=1\n"}})).unwrap();
    let secret: Secret = serde_json::from_value(json!({"data": {"token": "c2VjcmV0"}})).unwrap();
    cluster.config_maps.insert("cm".into(), cm);
    cluster.secrets.insert("s".into(), secret);
    let f = fixture_with(cluster);
    let base = format!("/tmp/podshim-sim-test-{}", uuid::Uuid::new_v4().simple());
    let script = format!("cat {base}/cm/app.conf {base}/s/token; echo; touch {base}/cm/new 2>/dev/null || echo ro");
    let spec = json!({"restartPolicy": "Never",
        "volumes": [{"name": "cm", "configMap": {"name": "cm"}}, {"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": "c", "image": "busybox", "command": sh(&script),
            "volumeMounts": [{"name": "cm", "mountPath": format!("{base}/cm")}, {"name": "s", "mountPath": format!("{base}/s")}]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(f.logs(&pod, query("c")).await, "x=1\nsecret\nro\n");
    runtime.forget();
    assert!(!std::path::Path::new(&base).exists());
}

#[tokio::test]
async fn missing_claim_keeps_the_pod_waiting_with_the_reason() {
    let f = fixture();
    let spec = json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "v", "mountPath": "/data"}]}]});
    let (runtime, _) = f.start("p", spec);
    let status = wait_for(&runtime, |s| s["message"].is_string()).await;
    assert_eq!(status["phase"], "Pending");
    assert_eq!(status["message"], "persistentvolumeclaim \"data\" not found");
    assert_eq!(status["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
    runtime.stop(Duration::ZERO).await;
}

/// A bound claim mounts its volume's directory: what the container writes is in the volume, whatever the claim
/// is called.
#[tokio::test]
async fn bound_claim_mounts_the_volumes_directory() {
    if !process::can_mount() {
        return;
    }
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let volume_dir = tempfile::tempdir().unwrap();
    let mut cluster = FakeCluster::default();
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "data"},
        "spec": {"volumeName": "pv1"}, "status": {"phase": "Bound"}}))
    .unwrap();
    let volume: PersistentVolume = serde_json::from_value(json!({"metadata": {"name": "pv1"},
        "spec": {"hostPath": {"path": volume_dir.path(), "type": "DirectoryOrCreate"}}}))
    .unwrap();
    cluster.claims.insert("data".into(), claim);
    cluster.volumes.insert("pv1".into(), volume);
    let f = fixture_with(cluster);
    let target = format!("/tmp/podshim-sim-test-{}/data", uuid::Uuid::new_v4().simple());
    let spec = json!({"restartPolicy": "Never",
        "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}],
        "containers": [{"name": "c", "image": "busybox", "command": sh(&format!("echo kept > {target}/f")),
            "volumeMounts": [{"name": "v", "mountPath": target}]}]});
    let (runtime, _) = f.start("bound", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(std::fs::read_to_string(volume_dir.path().join("f")).unwrap(), "kept\n");
    runtime.forget();
}
