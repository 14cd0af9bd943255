//! Keeps this replica's listeners in step with the containers, driven by the container index's change log (no
//! polling): the first pass looks at every container and opens again the ports of this replica's running
//! containers (a restarted podshim); later passes look at the containers that changed and close the listeners of
//! a container that stopped, was removed or was started again elsewhere.
//!
//! Which replica listens: the one that started the container (its `--replica-name` is on the pod). Ports a start
//! reserved but whose pod is not created yet belong to that start, which closes them itself if it fails.

use k8s_openapi::api::core::v1::Pod;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Ports;
use crate::runtime::registry::{annotation, Index};
use crate::runtime::{Container, Runtime};
use podshim_translate::labels::PORTS_REPLICA_ANNOTATION;
use podshim_translate::ports::{published_from_pod, Published};
use podshim_translate::state::Status;

/// What a container's listeners should be.
#[derive(Debug, PartialEq)]
enum Wanted {
    /// Listening, forwarding to this pod.
    Open { pod: String, published: Vec<Published> },
    /// Its pod is being started: leave a mapping for this pod as it is, open none.
    Starting { pod: String },
    /// None (stopped, removed, not this replica's, or nothing published).
    Closed,
}

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn wanted(c: Option<&Container>, replica: &str) -> Wanted {
    let Some((c, pod)) = c.and_then(|c| Some((c, c.pod.as_deref()?))) else { return Wanted::Closed };
    if annotation(&pod.metadata, PORTS_REPLICA_ANNOTATION) != Some(replica) {
        return Wanted::Closed;
    }
    match c.state().status {
        Status::Running | Status::Restarting | Status::Paused => {
            let published = published_from_pod(pod);
            if published.is_empty() {
                Wanted::Closed
            } else {
                Wanted::Open { pod: pod_name(pod), published }
            }
        }
        Status::Created => Wanted::Starting { pod: pod_name(pod) },
        Status::Exited | Status::Dead | Status::Removing => Wanted::Closed,
    }
}

/// The wanted state of the containers in `ids` (all of them, and every mapped one, when `None`).
fn observe(index: &Index, ids: Option<Vec<String>>, ports: &Ports, replica: &str) -> Vec<(String, Wanted)> {
    let ids = ids.unwrap_or_else(|| {
        let mut all: Vec<String> = index.containers().map(|c| c.id.clone()).collect();
        if let Ok(state) = ports.inner.state.lock() {
            all.extend(state.mappings.keys().cloned());
        }
        all.sort();
        all.dedup();
        all
    });
    ids.into_iter().map(|id| (id.clone(), wanted(index.get(&id), replica))).collect()
}

async fn apply(rt: &Runtime, ports: &Ports, id: &str, wanted: Wanted) {
    let mapped = ports.mapped_pod(id);
    match (wanted, mapped) {
        // A start in progress owns its reservation.
        (_, Some(None)) => {}
        (Wanted::Open { pod, .. }, Some(Some(current))) if current == pod => {}
        (Wanted::Starting { pod }, Some(Some(current))) if current == pod => {}
        (Wanted::Open { pod, published }, mapped) => {
            if mapped.is_some() {
                ports.close(id).await;
            }
            ports.reopen(rt, id, &pod, &published);
        }
        (_, Some(Some(_))) => ports.close(id).await,
        (_, None) => {}
    }
}

pub(crate) fn spawn(rt: Runtime, shutdown: CancellationToken) {
    let span = tracing::info_span!("published_ports", namespace = %rt.namespace());
    tokio::spawn(
        async move {
            let ports = rt.ports().clone();
            let replica = ports.options().replica.clone();
            let mut changes = rt.cache().changes();
            let mut seen: Option<u64> = None;
            loop {
                changes.mark_unchanged();
                let (version, work) = rt.cache().read(|index| {
                    let ids = seen.and_then(|v| index.changed_since(v));
                    (index.version(), observe(index, ids, &ports, &replica))
                });
                seen = Some(version);
                for (id, wanted) in work {
                    apply(&rt, &ports, &id, wanted).await;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    changed = changes.changed() => if changed.is_err() { break },
                }
            }
        }
        .instrument(span),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabca";

    fn pod(phase: &str, replica: &str) -> Pod {
        let state = match phase {
            "Running" => serde_json::json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
            "Pending" => serde_json::json!({"waiting": {"reason": "ContainerCreating"}}),
            _ => serde_json::json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "podshim-abcabcabcabc-1", "annotations": {
                "podshim.io/id": ID,
                "podshim.io/ports": r#"[{"port":"80/tcp","hostIp":"127.0.0.1","hostPort":32768}]"#,
                "podshim.io/ports-replica": replica}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            "status": {"phase": phase, "podIP": "10.0.0.2", "containerStatuses": [{"name": "main",
                "image": "busybox", "imageID": "", "ready": phase == "Running", "restartCount": 0, "state": state}]},
        }))
        .unwrap()
    }

    fn wanted_for(phase: &str, pod_replica: &str, replica: &str) -> Wanted {
        let record: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "podshim-abcabcabcabc", "annotations": {"podshim.io/id": ID, "podshim.io/name": "web"}},
        }))
        .unwrap();
        let mut index = Index::default();
        index.apply_config_map(record);
        index.apply_pod(pod(phase, pod_replica));
        wanted(index.get(ID), replica)
    }

    #[test]
    fn only_this_replicas_running_containers_listen() {
        let name = "podshim-abcabcabcabc-1".to_string();
        assert!(matches!(wanted_for("Running", "a", "a"), Wanted::Open { ref pod, .. } if *pod == name));
        assert_eq!(wanted_for("Running", "b", "a"), Wanted::Closed);
        assert_eq!(wanted_for("Pending", "a", "a"), Wanted::Starting { pod: name });
        assert_eq!(wanted_for("Succeeded", "a", "a"), Wanted::Closed);
        assert_eq!(wanted(None, "a"), Wanted::Closed);
    }
}
