//! The pod watch: binds unscheduled pods to this node, starts the pods bound to it, finishes
//! their graceful deletion, and forgets pods that are gone. Beside it the claim watch, for the scheduler's
//! volume check: a pod whose claims are missing or not bound waits, unscheduled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::cluster::Cluster;
use super::pods::PodRuntime;
use super::Node;
use crate::resources::unschedulable_message;

/// How long a deleted pod's directory (its logs) is kept.
pub const KEEP_LOGS: Duration = Duration::from_secs(60);

/// Watches all pods until `shutdown`.
pub async fn watch_pods(node: Arc<Node>, client: kube::Client, cluster: Arc<dyn Cluster>, shutdown: CancellationToken) {
    let api: Api<Pod> = Api::all(client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
    let claims_api: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let mut claim_events = watcher::watcher(claims_api, watcher::Config::default()).default_backoff().boxed();
    let mut listed: HashSet<String> = HashSet::new();
    let mut listed_claims = HashMap::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.next() => event,
            claim = claim_events.next() => {
                if on_claim(&node, &mut listed_claims, claim) {
                    retry_unschedulable(&node, &client, &cluster);
                }
                continue;
            }
        };
        match event {
            None => return,
            Some(Err(error)) => tracing::warn!(%error, "pod watch failed; retrying"),
            Some(Ok(Event::Init)) => listed.clear(),
            Some(Ok(Event::InitApply(pod))) => {
                listed.insert(pod.metadata.uid.clone().unwrap_or_default());
                on_pod(&node, &client, &cluster, pod);
            }
            Some(Ok(Event::InitDone)) => {
                for uid in node.pod_uids() {
                    if !listed.contains(&uid) {
                        node.forget(&uid);
                    }
                }
            }
            Some(Ok(Event::Apply(pod))) => on_pod(&node, &client, &cluster, pod),
            Some(Ok(Event::Delete(pod))) => {
                let uid = pod.metadata.uid.as_deref().unwrap_or_default();
                node.forget(uid);
                if let Ok(mut waiting) = node.unschedulable.lock() {
                    waiting.remove(uid);
                }
                retry_unschedulable(&node, &client, &cluster);
            }
        }
    }
}

type ClaimKey = (String, String);

fn claim_key(claim: &PersistentVolumeClaim) -> ClaimKey {
    (claim.metadata.namespace.clone().unwrap_or_default(), claim.metadata.name.clone().unwrap_or_default())
}

/// Follows the claim watch; true when the scheduler's view of the claims changed.
fn on_claim(
    node: &Node,
    listing: &mut HashMap<ClaimKey, PersistentVolumeClaim>,
    event: Option<Result<Event<PersistentVolumeClaim>, watcher::Error>>,
) -> bool {
    let Ok(mut claims) = node.claims.lock() else { return false };
    match event {
        None => false,
        Some(Err(error)) => {
            tracing::warn!(%error, "claim watch failed; retrying");
            false
        }
        Some(Ok(Event::Init)) => {
            listing.clear();
            false
        }
        Some(Ok(Event::InitApply(claim))) => {
            listing.insert(claim_key(&claim), claim);
            false
        }
        Some(Ok(Event::InitDone)) => {
            *claims = Some(std::mem::take(listing));
            true
        }
        Some(Ok(Event::Apply(claim))) => {
            claims.get_or_insert_with(HashMap::new).insert(claim_key(&claim), claim);
            true
        }
        Some(Ok(Event::Delete(claim))) => {
            claims.get_or_insert_with(HashMap::new).remove(&claim_key(&claim));
            true
        }
    }
}

/// The scheduler's volume check (kube-scheduler's basic checks and its VolumeBinding plugin): None when every
/// claim the pod names exists and is bound, else the reason it waits (`Some(None)` while the claims are not
/// listed yet).
fn claims_unready(node: &Node, pod: &Pod) -> Option<Option<String>> {
    let names: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()))
        .collect();
    if names.is_empty() {
        return None;
    }
    let claims = node.claims.lock().ok()?;
    let Some(claims) = claims.as_ref() else { return Some(None) };
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut unbound = false;
    for name in names {
        let Some(claim) = claims.get(&(namespace.clone(), name.to_string())) else {
            return Some(Some(format!("0/1 nodes are available: 1 persistentvolumeclaim \"{name}\" not found.")));
        };
        if claim.metadata.deletion_timestamp.is_some() {
            return Some(Some(format!(
                "0/1 nodes are available: 1 persistentvolumeclaim \"{name}\" is being deleted."
            )));
        }
        let bound = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_some_and(|v| !v.is_empty());
        unbound |= !bound;
    }
    unbound.then(|| Some("0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.".to_string()))
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn on_pod(node: &Arc<Node>, client: &kube::Client, cluster: &Arc<dyn Cluster>, pod: Pod) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let deleting = pod.metadata.deletion_timestamp.is_some();
    if node_name.is_empty() {
        if !deleting && !is_terminal(&pod) && !fits(node, client, &pod) {
            return;
        }
        if !deleting && !is_terminal(&pod) && node.begin(&node.binding, &uid) {
            let span = tracing::info_span!("bind", pod.name = pod.metadata.name.as_deref().unwrap_or_default());
            tokio::spawn(bind(node.clone(), client.clone(), pod).instrument(span));
        }
        return;
    }
    if node_name != node.config.name {
        return;
    }
    if is_terminal(&pod) && node.pod_runtime(&uid).is_some_and(|r| !is_terminal(&r.pod())) {
        // A pod that ends frees what it asked for.
        if let Some(runtime) = node.pod_runtime(&uid) {
            runtime.set_pod(pod.clone());
        }
        retry_unschedulable(node, client, cluster);
    }
    let runtime = node.pod_runtime(&uid);
    if let Some(runtime) = &runtime {
        runtime.set_pod(pod.clone());
    }
    if deleting {
        if node.begin(&node.deleting, &uid) {
            let span = tracing::info_span!("delete", pod.name = pod.metadata.name.as_deref().unwrap_or_default());
            tokio::spawn(finalize_delete(client.clone(), runtime, pod).instrument(span));
        }
        return;
    }
    if runtime.is_none() && !is_terminal(&pod) {
        match PodRuntime::start(pod, node.ctx.clone(), cluster.clone()) {
            Ok(runtime) => {
                tracing::info!(pod.namespace = %runtime.namespace, pod.name = %runtime.name, "starting pod");
                node.insert(uid, runtime);
            }
            Err(error) => tracing::error!(%error, "cannot create the pod's directory"),
        }
    }
}

/// The scheduler's fit check: whether the pod's claims are bound, and its requests fit next to those of the pods
/// this node runs. A pod that does not gets the PodScheduled condition a scheduler gives it (False, Unschedulable,
/// "0/1 nodes are available: 1 Insufficient cpu.", "0/1 nodes are available: 1 pod has unbound immediate
/// PersistentVolumeClaims.") and waits until a pod ends or a claim changes.
fn fits(node: &Arc<Node>, client: &kube::Client, pod: &Pod) -> bool {
    let others: Vec<serde_json::Value> = node
        .pods
        .lock()
        .map(|p| p.values().filter_map(|r| serde_json::to_value(r.pod()).ok()).collect())
        .unwrap_or_default();
    let wanted = serde_json::to_value(pod).unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let message = match claims_unready(node, pod) {
        Some(None) => {
            // The claims are not listed yet: the pod waits without a condition, and is tried once they are.
            if let Ok(mut waiting) = node.unschedulable.lock() {
                waiting.insert(uid, pod.clone());
            }
            return false;
        }
        Some(Some(message)) => Some(message),
        None => unschedulable_message(&wanted, &super::register::allocatable(), &others),
    };
    let Some(message) = message else {
        if let Ok(mut waiting) = node.unschedulable.lock() {
            waiting.remove(&uid);
        }
        return true;
    };
    if let Ok(mut waiting) = node.unschedulable.lock() {
        waiting.insert(uid, pod.clone());
    }
    let already = pod.status.as_ref().and_then(|s| s.conditions.as_ref()).into_iter().flatten().any(|c| {
        c.type_ == "PodScheduled"
            && c.reason.as_deref() == Some("Unschedulable")
            && c.message.as_deref() == Some(&message)
    });
    if !already {
        let api: Api<Pod> = Api::namespaced(client.clone(), pod.metadata.namespace.as_deref().unwrap_or_default());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let condition = json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": null, "lastTransitionTime": jiff::Timestamp::now().to_string()});
        let patch = json!({"status": {"phase": "Pending", "conditions": [condition]}});
        tokio::spawn(async move {
            if let Err(error) = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                tracing::debug!(%error, "marking a pod unschedulable");
            }
        });
    }
    false
}

/// Tries the pods that did not fit again.
fn retry_unschedulable(node: &Arc<Node>, client: &kube::Client, cluster: &Arc<dyn Cluster>) {
    let waiting: Vec<Pod> = node.unschedulable.lock().map(|w| w.values().cloned().collect()).unwrap_or_default();
    for pod in waiting {
        on_pod(node, client, cluster, pod);
    }
}

/// POST `pods/{name}/binding` to this node, retried while the API server fails.
async fn bind(node: Arc<Node>, client: kube::Client, pod: Pod) {
    let (namespace, name) =
        (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client, &namespace);
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node.config.name},
    });
    for attempt in 0..5u32 {
        match api.create_subresource::<_, serde_json::Value>("binding", &name, &PostParams::default(), &binding).await {
            Ok(_) => {
                tracing::info!("bound to this node");
                break;
            }
            Err(kube::Error::Api(status)) if status.code < 500 => {
                tracing::debug!(message = %status.message, "binding refused");
                break;
            }
            Err(error) => {
                tracing::warn!(%error, "binding failed; retrying");
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
        }
    }
    node.end(&node.binding, &uid);
}

/// Graceful deletion: stop the containers (SIGTERM, SIGKILL after the grace period), report the
/// final status, then remove the pod with `gracePeriodSeconds=0` and a uid precondition.
/// The grace period is `deletionGracePeriodSeconds` (30 when absent), capped at 300 s.
async fn finalize_delete(client: kube::Client, runtime: Option<Arc<PodRuntime>>, pod: Pod) {
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30).clamp(0, 300);
    if let Some(runtime) = &runtime {
        runtime.stop(Duration::from_secs(grace.unsigned_abs())).await;
        if !runtime.is_gone() {
            runtime.push(runtime.status()).await;
        }
    }
    let api: Api<Pod> = Api::namespaced(client, pod.metadata.namespace.as_deref().unwrap_or_default());
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    for attempt in 0..5u64 {
        match api.delete(&name, &params).await {
            Ok(_) => {
                tracing::info!("deletion finished");
                return;
            }
            Err(kube::Error::Api(status)) if status.code < 500 => {
                tracing::debug!(message = %status.message, "final delete refused");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "final delete failed; retrying");
                tokio::time::sleep(Duration::from_millis(500 * (attempt + 1))).await;
            }
        }
    }
}
