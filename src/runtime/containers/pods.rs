//! A container's pods: finding them in the cache and letting the earlier ones go. Shared by start, stop,
//! remove and the auto-remove reaper.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams};

use crate::runtime::kube_error::is_not_found;
use crate::runtime::registry::is_stopped_by_podshim;
use crate::runtime::{Container, Runtime};
use podshim_translate::labels::STOPPED_FINALIZER;

/// Every pod of a container in the cache, oldest first.
pub(crate) fn pods_of(rt: &Runtime, c: &Container) -> Vec<Arc<Pod>> {
    rt.cache().read(|index| index.pods_of(&c.id))
}

/// Lets the given pods go: a pod podshim stopped loses [`STOPPED_FINALIZER`] (its deletion then completes);
/// with `delete_finished`, a pod that ended on its own is deleted. Failures are logged, not returned: the
/// caller's operation does not depend on them, and a leftover pod is owned by the record and goes with it.
pub(crate) async fn release_pods(rt: &Runtime, id: &str, pods: &[Arc<Pod>], delete_finished: bool) {
    let api = rt.pods_api();
    let requests = pods.iter().filter_map(|pod| {
        let name = pod.metadata.name.clone()?;
        let api = api.clone();
        if is_stopped_by_podshim(pod) {
            let rest: Vec<&String> =
                pod.metadata.finalizers.iter().flatten().filter(|f| *f != STOPPED_FINALIZER).collect();
            let patch = serde_json::json!({"metadata": {"finalizers": rest}});
            Some(futures::future::Either::Left(async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
            }))
        } else if delete_finished && pod.metadata.deletion_timestamp.is_none() {
            Some(futures::future::Either::Right(async move {
                api.delete(&name, &DeleteParams::default()).await.map(|_| ())
            }))
        } else {
            None
        }
    });
    for result in futures::future::join_all(requests).await {
        match result {
            Ok(()) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => tracing::warn!(error = %err, container.id = %id, "releasing an earlier pod"),
        }
    }
}
