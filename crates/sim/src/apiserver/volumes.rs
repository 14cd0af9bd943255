//! Storage, as a cluster with a default StorageClass and a dynamic provisioner has it (kube-controller-manager's
//! PersistentVolume, pvc-protection and pv-protection controllers, a hostPath provisioner, and the
//! DefaultStorageClass admission plugin), in miniature:
//!
//! - at start, the StorageClass `standard` (the default; provisioner [`PROVISIONER`], reclaim policy Delete,
//!   binding mode Immediate);
//! - a new claim without `storageClassName` gets the default class ([`admit_claim`]);
//! - a Pending claim is bound to a matching Available PersistentVolume (same class, its access modes, enough
//!   capacity; the smallest), or one pre-bound to it; else, when its class is served by [`PROVISIONER`], a volume
//!   `pvc-<claim uid>` is provisioned (a hostPath directory `<data dir>/pv/<volume name>`) and bound. Binding
//!   writes what the real controller writes: the volume's `claimRef` and phase Bound, the claim's
//!   `spec.volumeName`, phase Bound, `status.capacity` and `status.accessModes`, and its annotations. A class that
//!   does not exist, or no class and no volume, leaves the claim Pending with the real controller's Event;
//! - a volume whose claim is gone is Released; with reclaim policy Delete and provisioned here it is deleted with
//!   its directory (Retain keeps it Released);
//! - a deleted claim stays (with its deletionTimestamp) while a scheduled pod uses it
//!   (`kubernetes.io/pvc-protection`); a deleted volume stays while it is Bound (`kubernetes.io/pv-protection`).
//!
//! `WaitForFirstConsumer` classes are provisioned at once, like Immediate ones (one node: the first consumer
//! would be on it anyway). The loop follows the store's change history like [`super::gc`], and does a pass only
//! after changes to claims, volumes, classes, or pods that use claims.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use super::defaults::{PVC_PROTECTION, PV_PROTECTION};
use super::store::{now_rfc3339, EventType, Store};
use super::State;
use crate::status::ApiError;

/// The provisioner of the simulated cluster's default StorageClass.
pub const PROVISIONER: &str = "podshim.io/sim-hostpath";
/// The default StorageClass created at start.
pub const DEFAULT_CLASS: &str = "standard";
const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_DEFAULT_CLASS_ANNOTATION: &str = "storageclass.beta.kubernetes.io/is-default-class";
const COMPONENT: &str = "persistentvolume-controller";

/// Creates the default StorageClass.
pub fn create_default_class(store: &Store) {
    let mut class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": PROVISIONER});
    super::defaults::apply("storageclasses", &mut class);
    let _ = store.create("storageclasses", "", class);
}

/// Whether a StorageClass is marked as the default.
pub fn is_default_class(class: &Value) -> bool {
    let annotations = &class["metadata"]["annotations"];
    annotations[DEFAULT_CLASS_ANNOTATION] == "true" || annotations[BETA_DEFAULT_CLASS_ANNOTATION] == "true"
}

/// The DefaultStorageClass admission plugin: a new claim whose `storageClassName` is absent (not "") gets the
/// default class, the newest one if several are marked.
pub fn admit_claim(store: &Store, claim: &mut Value) {
    if claim["spec"].get("storageClassName").is_some_and(|c| !c.is_null()) {
        return;
    }
    let (classes, _) = store.list("storageclasses", None);
    let newest = classes
        .iter()
        .filter(|c| is_default_class(c))
        .max_by_key(|c| (c["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_string(), c_name(c)));
    if let Some(class) = newest {
        claim["spec"]["storageClassName"] = json!(c_name(class));
    }
}

fn c_name(object: &Value) -> String {
    object["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

fn c_ns(object: &Value) -> String {
    object["metadata"]["namespace"].as_str().unwrap_or_default().to_string()
}

fn uid(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or_default()
}

/// Runs until shutdown: a pass at start and after every batch of changes that concerns storage.
pub async fn run(state: State) {
    let data_dir = state.node.config().data_dir.clone();
    let mut controller = Controller { volumes_dir: data_dir.join("pv"), recorded: HashSet::new() };
    let mut changes = state.store.subscribe();
    let mut seen = state.store.list("persistentvolumeclaims", None).1;
    controller = pass(controller, &state.store).await;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let relevant = match state.store.changes_since(seen) {
            Ok(batch) => {
                if let Some(last) = batch.last() {
                    seen = last.rv;
                }
                batch.iter().any(|c| concerns_storage(&c.resource, c.kind, &c.object))
            }
            Err(_) => {
                seen = state.store.list("persistentvolumeclaims", None).1;
                true
            }
        };
        if relevant {
            controller = pass(controller, &state.store).await;
        }
    }
}

/// One pass of the controller on a blocking thread (it makes and removes the volumes' directories).
async fn pass(mut controller: Controller, store: &Arc<Store>) -> Controller {
    let store = Arc::clone(store);
    let volumes_dir = controller.volumes_dir.clone();
    tokio::task::spawn_blocking(move || {
        controller.pass(&store);
        controller
    })
    .await
    // A pass that panicked: start again (its claims' Events may be recorded once more).
    .unwrap_or(Controller { volumes_dir, recorded: HashSet::new() })
}

fn concerns_storage(resource: &str, kind: EventType, object: &Value) -> bool {
    match resource {
        "persistentvolumeclaims" | "persistentvolumes" | "storageclasses" => true,
        "pods" => kind == EventType::Deleted || !claims_of(object).is_empty(),
        _ => false,
    }
}

/// The claims a pod's volumes name.
pub fn claims_of(pod: &Value) -> Vec<&str> {
    pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .collect()
}

struct Controller {
    volumes_dir: PathBuf,
    /// Events already recorded, by (claim uid, reason): each once.
    recorded: HashSet<(String, String)>,
}

/// The outcome of one claim's sync.
#[derive(Debug, PartialEq)]
enum ClaimSync {
    Unchanged,
    Bound(String),
    Waiting { kind: &'static str, reason: &'static str, message: String },
}

impl Controller {
    fn pass(&mut self, store: &Store) {
        let (claims, _) = store.list("persistentvolumeclaims", None);
        for claim in &claims {
            if claim["metadata"].get("deletionTimestamp").is_some() {
                release_protection(store, claim);
                continue;
            }
            match self.sync_claim(store, claim) {
                Ok(ClaimSync::Waiting { kind, reason, message }) => self.record(store, claim, kind, reason, &message),
                Ok(ClaimSync::Bound(volume)) => {
                    tracing::info!(claim = %c_name(claim), namespace = %c_ns(claim), %volume, "claim bound")
                }
                Ok(ClaimSync::Unchanged) => {}
                Err(err) => tracing::warn!(claim = %c_name(claim), error = %err.message, "claim sync failed"),
            }
        }
        let (volumes, _) = store.list("persistentvolumes", None);
        for volume in &volumes {
            self.sync_volume(store, volume);
        }
        // Only the claims that still exist keep their recorded Events (the set stays as large as the claims).
        let live: HashSet<&str> = claims.iter().map(uid).collect();
        self.recorded.retain(|(claim_uid, _)| live.contains(claim_uid.as_str()));
    }

    fn sync_claim(&mut self, store: &Store, claim: &Value) -> Result<ClaimSync, ApiError> {
        if claim["status"]["phase"] == "Bound" && claim["spec"]["volumeName"].is_string() {
            return Ok(ClaimSync::Unchanged);
        }
        let (volumes, _) = store.list("persistentvolumes", None);
        let class = claim["spec"]["storageClassName"].as_str().unwrap_or_default();
        if let Some(volume) = matching_volume(claim, &volumes) {
            let name = c_name(volume);
            bind(store, claim, &name, false)?;
            return Ok(ClaimSync::Bound(name));
        }
        if claim["spec"]["volumeName"].as_str().is_some_and(|v| !v.is_empty()) {
            // It names a volume that does not exist (yet): it waits for that one.
            return Ok(ClaimSync::Unchanged);
        }
        if class.is_empty() {
            return Ok(ClaimSync::Waiting {
                kind: "Normal",
                reason: "FailedBinding",
                message: "no persistent volumes available for this claim and no storage class is set".into(),
            });
        }
        let Some(storage_class) = store.get("storageclasses", "", class) else {
            return Ok(ClaimSync::Waiting {
                kind: "Warning",
                reason: "ProvisioningFailed",
                message: format!("storageclass.storage.k8s.io \"{class}\" not found"),
            });
        };
        let provisioner = storage_class["provisioner"].as_str().unwrap_or_default();
        if provisioner != PROVISIONER {
            return Ok(ClaimSync::Waiting {
                kind: "Normal",
                reason: "ExternalProvisioning",
                message: format!(
                    "waiting for a volume to be created, either by external provisioner \"{provisioner}\" or \
                     manually created by system administrator"
                ),
            });
        }
        let volume = provisioned_volume(claim, &storage_class, &self.volumes_dir);
        let name = c_name(&volume);
        let path = self.volumes_dir.join(&name);
        if let Err(err) = make_dir(&path) {
            return Ok(ClaimSync::Waiting {
                kind: "Warning",
                reason: "ProvisioningFailed",
                message: format!("failed to provision volume with StorageClass \"{class}\": {err}"),
            });
        }
        match store.create("persistentvolumes", "", volume) {
            Ok(_) => {}
            Err(err) if err.reason == "AlreadyExists" => {}
            Err(err) => return Err(err),
        }
        bind(store, claim, &name, true)?;
        self.record(
            store,
            claim,
            "Normal",
            "ProvisioningSucceeded",
            &format!("Successfully provisioned volume {name} using {PROVISIONER}"),
        );
        Ok(ClaimSync::Bound(name))
    }

    fn sync_volume(&mut self, store: &Store, volume: &Value) {
        let name = c_name(volume);
        let reference = &volume["spec"]["claimRef"];
        let phase = if !reference.is_object() {
            "Available"
        } else {
            let ns = reference["namespace"].as_str().unwrap_or_default();
            let claim = store.get("persistentvolumeclaims", ns, reference["name"].as_str().unwrap_or_default());
            let wanted_uid = reference["uid"].as_str().unwrap_or_default();
            match claim {
                Some(c) if wanted_uid.is_empty() || uid(&c) == wanted_uid => {
                    if c["spec"]["volumeName"] == name.as_str() {
                        "Bound"
                    } else {
                        // Pre-bound to a claim that the claim's sync has not bound yet.
                        "Available"
                    }
                }
                _ if wanted_uid.is_empty() => "Available",
                _ => "Released",
            }
        };
        let deleting = volume["metadata"].get("deletionTimestamp").is_some();
        if phase == "Released"
            && !deleting
            && volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
            && volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == PROVISIONER
        {
            self.delete_volume(store, volume);
            return;
        }
        let _ = store.update("persistentvolumes", "", &name, |current| {
            let mut v = current.clone();
            if v["status"]["phase"] != phase {
                v["status"] = json!({"phase": phase});
            }
            if v["metadata"].get("deletionTimestamp").is_some() && phase != "Bound" {
                remove_finalizer(&mut v, PV_PROTECTION);
            }
            Ok(v)
        });
    }

    /// The Delete reclaim policy of a provisioned volume: its directory, then the object.
    fn delete_volume(&mut self, store: &Store, volume: &Value) {
        let name = c_name(volume);
        let path = self.volumes_dir.join(&name);
        if path.exists() {
            if let Err(error) = std::fs::remove_dir_all(&path) {
                tracing::warn!(%error, path = %path.display(), "cannot remove a released volume's directory");
                return;
            }
        }
        if store.remove("persistentvolumes", "", &name).is_some() {
            tracing::info!(volume = %name, "released volume deleted");
        }
    }

    /// Records an Event about `claim` (each reason once per claim).
    fn record(&mut self, store: &Store, claim: &Value, kind: &str, reason: &str, message: &str) {
        if !self.recorded.insert((uid(claim).to_string(), reason.to_string())) {
            return;
        }
        let now = now_rfc3339();
        let ns = c_ns(claim);
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..16];
        let event = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{}.{suffix}", c_name(claim)), "namespace": ns},
            "involvedObject": {"kind": "PersistentVolumeClaim", "namespace": ns, "name": c_name(claim),
                "uid": uid(claim), "apiVersion": "v1", "resourceVersion": claim["metadata"]["resourceVersion"]},
            "reason": reason, "message": message, "source": {"component": COMPONENT},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": kind,
            "eventTime": null, "reportingComponent": "", "reportingInstance": ""});
        if let Err(err) = store.create("events", &ns, event) {
            tracing::debug!(error = %err.message, "cannot record an event");
        }
    }
}

/// A deleted claim loses its protection finalizer once no scheduled pod names it.
fn release_protection(store: &Store, claim: &Value) {
    let has = claim["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f == PVC_PROTECTION));
    if !has {
        return;
    }
    let (ns, name) = (c_ns(claim), c_name(claim));
    let (pods, _) = store.list("pods", Some(&ns));
    let in_use = pods.iter().any(|p| {
        p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()) && claims_of(p).contains(&name.as_str())
    });
    if in_use {
        return;
    }
    let _ = store.update("persistentvolumeclaims", &ns, &name, |current| {
        let mut c = current.clone();
        remove_finalizer(&mut c, PVC_PROTECTION);
        Ok(c)
    });
}

fn remove_finalizer(object: &mut Value, finalizer: &str) {
    if let Some(list) = object["metadata"]["finalizers"].as_array_mut() {
        list.retain(|f| f != finalizer);
    }
}

fn make_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
}

/// A quantity in bytes (`1Gi`, `500M`, `1e3`, `2`), for comparing capacities.
pub fn quantity_bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(number * factor)
}

/// The volume a Pending claim binds to: the one its `spec.volumeName` names, or one pre-bound to it (by uid, or
/// by name without uid), or the smallest Available one of its class with its access modes and enough capacity.
fn matching_volume<'a>(claim: &Value, volumes: &'a [Value]) -> Option<&'a Value> {
    let (ns, name, claim_uid) = (c_ns(claim), c_name(claim), uid(claim));
    if let Some(wanted) = claim["spec"]["volumeName"].as_str().filter(|n| !n.is_empty()) {
        return volumes.iter().find(|v| c_name(v) == wanted);
    }
    let live = |v: &&Value| v["metadata"].get("deletionTimestamp").is_none();
    let pre_bound = volumes.iter().filter(live).find(|v| {
        let r = &v["spec"]["claimRef"];
        r["namespace"] == ns.as_str()
            && r["name"] == name.as_str()
            && r["uid"].as_str().is_none_or(|u| u.is_empty() || u == claim_uid)
    });
    if pre_bound.is_some() {
        return pre_bound;
    }
    let class = claim["spec"]["storageClassName"].as_str().unwrap_or_default();
    let wanted =
        quantity_bytes(claim["spec"]["resources"]["requests"]["storage"].as_str().unwrap_or("0")).unwrap_or(0.0);
    let modes: Vec<&Value> = claim["spec"]["accessModes"].as_array().into_iter().flatten().collect();
    let volume_mode = claim["spec"]["volumeMode"].as_str().unwrap_or("Filesystem");
    volumes
        .iter()
        .filter(live)
        .filter(|v| !v["spec"]["claimRef"].is_object())
        .filter(|v| v["spec"]["storageClassName"].as_str().unwrap_or_default() == class)
        .filter(|v| v["spec"]["volumeMode"].as_str().unwrap_or("Filesystem") == volume_mode)
        .filter(|v| {
            let have = v["spec"]["accessModes"].as_array();
            modes.iter().all(|m| have.is_some_and(|h| h.contains(m)))
        })
        .filter_map(|v| Some((quantity_bytes(v["spec"]["capacity"]["storage"].as_str()?)?, v)))
        .filter(|(size, _)| *size >= wanted)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// The volume the provisioner makes for `claim`.
fn provisioned_volume(claim: &Value, class: &Value, volumes_dir: &Path) -> Value {
    let name = format!("pvc-{}", uid(claim));
    let spec = &claim["spec"];
    let size = spec["resources"]["requests"]["storage"].clone();
    let size = if size.is_string() { size } else { json!("1Gi") };
    let modes = if spec["accessModes"].is_array() { spec["accessModes"].clone() } else { json!(["ReadWriteOnce"]) };
    let mut volume = json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {"capacity": {"storage": size}, "accessModes": modes,
            "persistentVolumeReclaimPolicy": class["reclaimPolicy"].as_str().unwrap_or("Delete"),
            "storageClassName": c_name(class), "volumeMode": spec["volumeMode"].as_str().unwrap_or("Filesystem"),
            "claimRef": claim_ref(claim),
            "hostPath": {"path": volumes_dir.join(&name).to_string_lossy(), "type": "DirectoryOrCreate"}}});
    if class["mountOptions"].is_array() {
        volume["spec"]["mountOptions"] = class["mountOptions"].clone();
    }
    super::defaults::apply("persistentvolumes", &mut volume);
    volume
}

fn claim_ref(claim: &Value) -> Value {
    json!({"kind": "PersistentVolumeClaim", "namespace": c_ns(claim), "name": c_name(claim), "uid": uid(claim),
        "apiVersion": "v1", "resourceVersion": claim["metadata"]["resourceVersion"]})
}

/// Binds `claim` and the volume `name`: the volume's claimRef and phase, then the claim's volumeName, annotations
/// and status.
fn bind(store: &Store, claim: &Value, name: &str, provisioned: bool) -> Result<(), ApiError> {
    let volume = store.update("persistentvolumes", "", name, |current| {
        let mut v = current.clone();
        if v["spec"]["claimRef"]["uid"].as_str().is_none_or(str::is_empty) {
            v["spec"]["claimRef"] = claim_ref(claim);
            v["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        }
        v["status"] = json!({"phase": "Bound"});
        Ok(v)
    })?;
    store.update("persistentvolumeclaims", &c_ns(claim), &c_name(claim), |current| {
        if uid(current) != uid(claim) {
            return Err(ApiError::conflict("persistentvolumeclaims", &c_name(claim), "the claim was replaced"));
        }
        let mut c = current.clone();
        let annotations = &mut c["metadata"]["annotations"];
        if !current["spec"]["volumeName"].is_string() {
            annotations["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        }
        annotations["pv.kubernetes.io/bind-completed"] = json!("yes");
        if provisioned {
            annotations["volume.beta.kubernetes.io/storage-provisioner"] = json!(PROVISIONER);
            annotations["volume.kubernetes.io/storage-provisioner"] = json!(PROVISIONER);
        }
        c["spec"]["volumeName"] = json!(name);
        c["status"] = json!({"phase": "Bound", "accessModes": volume["spec"]["accessModes"],
            "capacity": volume["spec"]["capacity"]});
        Ok(c)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(name: &str, class: Option<&str>, size: &str, modes: Value) -> Value {
        let mut c = json!({"metadata": {"name": name, "namespace": "d", "uid": format!("uid-{name}")},
            "spec": {"accessModes": modes, "resources": {"requests": {"storage": size}}}});
        if let Some(class) = class {
            c["spec"]["storageClassName"] = json!(class);
        }
        c
    }

    fn volume(name: &str, class: &str, size: &str, modes: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": {"storageClassName": class, "capacity": {"storage": size},
            "accessModes": modes}})
    }

    #[test]
    fn quantities_compare_in_bytes() {
        assert_eq!(quantity_bytes("1Gi"), Some(1073741824.0));
        assert_eq!(quantity_bytes("500M"), Some(5e8));
        assert_eq!(quantity_bytes("2"), Some(2.0));
        assert_eq!(quantity_bytes("1e3"), Some(1000.0));
        assert_eq!(quantity_bytes("1Qi"), None);
    }

    #[test]
    fn the_smallest_volume_that_fits_the_class_modes_and_size_is_chosen() {
        let rwo = json!(["ReadWriteOnce"]);
        let volumes = vec![
            volume("small", "", "100Mi", rwo.clone()),
            volume("big", "", "10Gi", rwo.clone()),
            volume("fits", "", "2Gi", json!(["ReadWriteOnce", "ReadWriteMany"])),
            volume("other-class", "fast", "1Gi", rwo.clone()),
        ];
        let c = claim("c", None, "1Gi", rwo.clone());
        assert_eq!(matching_volume(&c, &volumes).map(c_name).as_deref(), Some("fits"));
        let rwx = claim("c", None, "1Gi", json!(["ReadWriteMany"]));
        assert_eq!(matching_volume(&rwx, &volumes).map(c_name).as_deref(), Some("fits"));
        let fast = claim("c", Some("fast"), "2Gi", rwo.clone());
        assert_eq!(matching_volume(&fast, &volumes), None);
        let mut pre = volume("pre", "", "1Mi", rwo);
        pre["spec"]["claimRef"] = json!({"namespace": "d", "name": "c"});
        assert_eq!(matching_volume(&c, &[pre]).map(c_name).as_deref(), Some("pre"));
    }

    #[test]
    fn admission_gives_a_claim_without_class_the_default_one() {
        let store = Store::new(10);
        let mut c = claim("c", None, "1Gi", json!(["ReadWriteOnce"]));
        admit_claim(&store, &mut c);
        assert!(c["spec"].get("storageClassName").is_none(), "no default class yet");
        create_default_class(&store);
        admit_claim(&store, &mut c);
        assert_eq!(c["spec"]["storageClassName"], "standard");
        let mut empty = claim("e", Some(""), "1Gi", json!(["ReadWriteOnce"]));
        admit_claim(&store, &mut empty);
        assert_eq!(empty["spec"]["storageClassName"], "");
    }
}
