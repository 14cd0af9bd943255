//! A start whose pod waits for its volumes' claims to bind. The scheduler marks such a pod Unschedulable ("pod has
//! unbound immediate PersistentVolumeClaims") and tries again when a claim binds, so that mark alone is no verdict:
//! a provisioner may be making the volume. The claims themselves say when it will not come: a claim that is gone,
//! or the PersistentVolume controller's `ProvisioningFailed` (a StorageClass that does not exist, a provisioner
//! that failed) or `FailedBinding` (no PersistentVolume matches and no class provisions one) Event on it. Then the
//! start fails at once naming the volume and that reason; otherwise `--start-timeout` bounds the wait, and its
//! message names the claims still pending.
//!
//! Nothing is read while the pod is not waiting for claims, so an ordinary start sends no request from here.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::api::ListParams;
use kube::Api;

use crate::runtime::Runtime;
use podshim_translate::labels::VOLUME_NAME_ANNOTATION;
use podshim_translate::state::{pod_to_state, waits_for_claims, StartFailure};

/// How often the claims of a waiting pod are read.
const POLL: Duration = Duration::from_secs(1);
/// Event reasons of the PersistentVolume controller that mean the claim will not bind by itself.
const FAILING_REASONS: [&str; 2] = ["ProvisioningFailed", "FailedBinding"];

/// Resolves with the start error once a claim of `pod_name` is known not to bind; pending otherwise (the caller
/// bounds it with `--start-timeout`).
pub(crate) async fn unbindable(rt: &Runtime, pod_name: &str) -> String {
    loop {
        tokio::time::sleep(POLL).await;
        let pod = rt.cache().read(|index| index.pod(pod_name).cloned());
        let Some(pod) = pod.filter(|p| waiting_for_claims(p)) else { continue };
        for claim in claim_names(&pod) {
            if let Some(message) = verdict(rt, &claim).await {
                return message;
            }
        }
    }
}

/// The pod is Unschedulable only because its claims are not bound.
fn waiting_for_claims(pod: &Pod) -> bool {
    matches!(pod_to_state(Some(pod)).start_failure, Some(StartFailure::Unschedulable { message }) if waits_for_claims(&message))
}

/// The claims the pod mounts.
fn claim_names(pod: &Pod) -> Vec<String> {
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    volumes.filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone())).collect()
}

/// Why the claim will not bind, when it says so; `None` while it is bound or may still bind (or cannot be read:
/// the start timeout then decides).
async fn verdict(rt: &Runtime, claim: &str) -> Option<String> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(rt.client().clone(), rt.namespace());
    let found = match claims.get_opt(claim).await {
        Ok(found) => found,
        Err(err) => {
            tracing::debug!(error = %err, claim, "reading a claim the start waits for");
            return None;
        }
    };
    let Some(found) = found else {
        return Some(format!("volume claim {claim} does not exist (its volume was removed)"));
    };
    let phase = found.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    if phase == "Bound" {
        return None;
    }
    let volume = found.metadata.annotations.as_ref().and_then(|a| a.get(VOLUME_NAME_ANNOTATION)).cloned();
    let events: Api<Event> = Api::namespaced(rt.client().clone(), rt.namespace());
    let selector = format!("involvedObject.kind=PersistentVolumeClaim,involvedObject.name={claim}");
    let listed = match events.list(&ListParams::default().fields(&selector)).await {
        Ok(listed) => listed.items,
        Err(err) => {
            tracing::debug!(error = %err, claim, "reading the events of a claim the start waits for");
            return None;
        }
    };
    let reason = failing_reason(&listed, found.metadata.uid.as_deref())?;
    Some(unbindable_message(volume.as_deref(), claim, phase, &reason))
}

/// The newest Event of the PersistentVolume controller on this claim (by its uid, so an earlier claim of the same
/// name does not count), when its reason means the claim will not bind by itself.
fn failing_reason(events: &[Event], uid: Option<&str>) -> Option<String> {
    let newest = events
        .iter()
        .filter(|e| uid.is_none() || e.involved_object.uid.as_deref() == uid)
        .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0).or(e.event_time.as_ref().map(|t| t.0)))?;
    let reason = newest.reason.as_deref().unwrap_or_default();
    FAILING_REASONS.contains(&reason).then(|| format!("{reason}: {}", newest.message.clone().unwrap_or_default()))
}

/// The start error for a volume whose claim will not bind.
fn unbindable_message(volume: Option<&str>, claim: &str, phase: &str, reason: &str) -> String {
    let what = match volume {
        Some(volume) => format!("volume {volume} (claim {claim})"),
        None => format!("claim {claim}"),
    };
    format!(
        "Kubernetes cannot bind the container's {what}: it is {phase}: {reason} (see docs/volumes-cluster.md for what the cluster needs)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(reason: &str, message: &str, uid: &str, at: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "PersistentVolumeClaim", "name": "c", "uid": uid},
            "reason": reason, "message": message, "lastTimestamp": at,
        }))
        .unwrap()
    }

    #[test]
    fn a_missing_storage_class_is_a_verdict_and_external_provisioning_is_not() {
        let failed =
            event("ProvisioningFailed", "storageclass.storage.k8s.io \"gold\" not found", "u1", "2026-01-01T00:00:02Z");
        let waiting = event("ExternalProvisioning", "waiting for a volume to be created", "u1", "2026-01-01T00:00:01Z");
        assert_eq!(
            failing_reason(&[waiting.clone(), failed.clone()], Some("u1")).as_deref(),
            Some("ProvisioningFailed: storageclass.storage.k8s.io \"gold\" not found")
        );
        assert_eq!(failing_reason(&[waiting], Some("u1")), None);
        assert_eq!(failing_reason(&[failed], Some("another claim of that name")), None);
    }

    #[test]
    fn the_message_names_the_docker_volume() {
        assert_eq!(
            unbindable_message(Some("data"), "podshim-vol-data-0123", "Pending", "FailedBinding: no persistent volumes available for this claim and no storage class is set"),
            "Kubernetes cannot bind the container's volume data (claim podshim-vol-data-0123): it is Pending: FailedBinding: no persistent volumes available for this claim and no storage class is set (see docs/volumes-cluster.md for what the cluster needs)"
        );
    }
}
