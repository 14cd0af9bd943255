//! StorageClasses, PersistentVolumes and the binding of claims, through kube-rs.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use super::start;

fn claim(name: &str, class: Option<&str>) -> PersistentVolumeClaim {
    let mut c = json!({"metadata": {"name": name, "labels": {"podshim.io/volume": "true"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}});
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    serde_json::from_value(c).unwrap()
}

/// Polls `check` on the claim until it holds (5 s at most).
async fn wait_claim(
    api: &Api<PersistentVolumeClaim>,
    name: &str,
    check: impl Fn(&PersistentVolumeClaim) -> bool,
) -> PersistentVolumeClaim {
    for _ in 0..100 {
        if let Some(c) = api.get_opt(name).await.unwrap() {
            if check(&c) {
                return c;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("claim {name} never reached the state: {:?}", api.get_opt(name).await.unwrap());
}

async fn wait_gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for _ in 0..100 {
        if api.get_opt(name).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn phase(c: &PersistentVolumeClaim) -> &str {
    c.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

#[tokio::test]
async fn the_default_class_provisions_and_binds_a_claim_and_deleting_the_claim_deletes_the_volume() {
    let server = start().await;
    let classes: Api<StorageClass> = Api::all(server.client.clone());
    let standard = classes.get("standard").await.unwrap();
    assert_eq!(standard.provisioner, "podshim.io/sim-hostpath");
    assert_eq!(standard.reclaim_policy.as_deref(), Some("Delete"));
    assert_eq!(standard.volume_binding_mode.as_deref(), Some("Immediate"));
    assert_eq!(standard.metadata.annotations.unwrap()["storageclass.kubernetes.io/is-default-class"], "true");

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(server.client.clone(), "default");
    let created = claims.create(&PostParams::default(), &claim("data", None)).await.unwrap();
    assert_eq!(created.spec.as_ref().unwrap().storage_class_name.as_deref(), Some("standard"));
    assert_eq!(created.metadata.finalizers.as_deref(), Some(&["kubernetes.io/pvc-protection".to_string()][..]));
    let uid = created.metadata.uid.clone().unwrap();

    let bound = wait_claim(&claims, "data", |c| phase(c) == "Bound").await;
    let volume_name = format!("pvc-{uid}");
    assert_eq!(bound.spec.as_ref().unwrap().volume_name.as_deref(), Some(volume_name.as_str()));
    let status = bound.status.unwrap();
    assert_eq!(status.capacity.unwrap()["storage"].0, "2Gi");
    assert_eq!(status.access_modes.unwrap(), vec!["ReadWriteOnce".to_string()]);
    let annotations = bound.metadata.annotations.unwrap();
    assert_eq!(annotations["pv.kubernetes.io/bind-completed"], "yes");
    assert_eq!(annotations["volume.beta.kubernetes.io/storage-provisioner"], "podshim.io/sim-hostpath");

    let volumes: Api<PersistentVolume> = Api::all(server.client.clone());
    let volume = volumes.get(&volume_name).await.unwrap();
    let spec = volume.spec.unwrap();
    assert_eq!(spec.capacity.unwrap()["storage"].0, "2Gi");
    assert_eq!(spec.storage_class_name.as_deref(), Some("standard"));
    assert_eq!(spec.persistent_volume_reclaim_policy.as_deref(), Some("Delete"));
    let reference = spec.claim_ref.unwrap();
    assert_eq!((reference.namespace.as_deref(), reference.name.as_deref()), (Some("default"), Some("data")));
    assert_eq!(reference.uid.as_deref(), Some(uid.as_str()));
    let dir = server.data_dir.path().join("pv").join(&volume_name);
    assert_eq!(spec.host_path.unwrap().path, dir.to_str().unwrap());
    assert!(dir.is_dir());
    assert_eq!(volume.status.unwrap().phase.as_deref(), Some("Bound"));
    std::fs::write(dir.join("f"), "data").unwrap();

    // A scheduled pod that uses the claim keeps it (pvc-protection) until the pod is gone.
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "user"}, "spec": {"nodeName": "n",
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    claims.delete("data", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = claims.get("data").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(volumes.get_opt(&volume_name).await.unwrap().is_some());
    pods.delete("user", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    assert!(wait_gone(&claims, "data").await, "the claim stayed after its pod went");
    assert!(wait_gone(&volumes, &volume_name).await, "the released volume stayed (reclaim policy Delete)");
    assert!(!dir.exists(), "the released volume's directory stayed");
}

#[tokio::test]
async fn a_claim_of_a_missing_class_stays_pending_with_the_controllers_event() {
    let server = start().await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(server.client.clone(), "default");
    claims.create(&PostParams::default(), &claim("nowhere", Some("fast"))).await.unwrap();
    let events: Api<Event> = Api::namespaced(server.client.clone(), "default");
    let mut found = None;
    for _ in 0..100 {
        let list = events.list(&ListParams::default().fields("involvedObject.name=nowhere")).await.unwrap();
        if let Some(event) = list.items.into_iter().next() {
            found = Some(event);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let event = found.expect("no event for the claim");
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.reason.as_deref(), Some("ProvisioningFailed"));
    assert_eq!(event.message.as_deref(), Some("storageclass.storage.k8s.io \"fast\" not found"));
    let pending = claims.get("nowhere").await.unwrap();
    assert_eq!(phase(&pending), "Pending");
    assert!(pending.spec.unwrap().volume_name.is_none());
    let volumes: Api<PersistentVolume> = Api::all(server.client.clone());
    assert!(volumes.list(&ListParams::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_premade_volume_binds_a_claim_without_class_and_is_kept_when_released() {
    let server = start().await;
    let volumes: Api<PersistentVolume> = Api::all(server.client.clone());
    let dir = server.data_dir.path().join("premade");
    let premade: PersistentVolume = serde_json::from_value(json!({"metadata": {"name": "premade"},
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
            "hostPath": {"path": dir}}}))
    .unwrap();
    let created = volumes.create(&PostParams::default(), &premade).await.unwrap();
    assert_eq!(created.spec.as_ref().unwrap().persistent_volume_reclaim_policy.as_deref(), Some("Retain"));
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(server.client.clone(), "default");
    claims.create(&PostParams::default(), &claim("static", Some(""))).await.unwrap();
    let bound = wait_claim(&claims, "static", |c| phase(c) == "Bound").await;
    assert_eq!(bound.spec.unwrap().volume_name.as_deref(), Some("premade"));
    assert_eq!(bound.status.unwrap().capacity.unwrap()["storage"].0, "5Gi");
    claims.delete("static", &DeleteParams::default()).await.unwrap();
    assert!(wait_gone(&claims, "static").await);
    for _ in 0..100 {
        let phase = volumes.get("premade").await.unwrap().status.and_then(|s| s.phase);
        if phase.as_deref() == Some("Released") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the pre-made volume was not Released");
}
