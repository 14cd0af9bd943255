//! The helper pod of a copy out of (or into) a container that is not running: created for one request, mounting
//! the container's claims ([`podshim_translate::archive_helper`] builds it), deleted when the request is done.
//!
//! - The [`Helper`] deletes its pod when it is dropped: when the copy ends, fails, or the client goes away in
//!   the middle of a `GET` (the tar stream holds the helper).
//! - Every wait is bounded: the helper must run within `--start-timeout`, and it lives at most
//!   [`podshim_translate::archive_helper::HELPER_LIFETIME_SECONDS`] (its command is a `sleep`).
//! - Leftovers (a podshim that crashed mid-copy) are removed by [`sweep`] at startup: the helpers this replica
//!   made (`--replica-name`), and finished helpers of any replica. The garbage collector removes the rest with the
//!   container's record.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::wait::await_condition;

use crate::error::Error;
use crate::runtime::{Container, Runtime};
use podshim_translate::archive_helper::{helper_pod, HelperSpec};
use podshim_translate::labels::{short_id, HELPER_REPLICA_ANNOTATION, HELPER_SELECTOR};
use podshim_translate::mounts::ContainerMount;
use podshim_translate::state::{pod_to_state, PullVerdict, StartFailure, Status};

/// A running helper pod; its pod is deleted when this is dropped.
pub(super) struct Helper {
    rt: Runtime,
    pub(super) name: String,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let (rt, name) = (self.rt.clone(), std::mem::take(&mut self.name));
        // Drop cannot wait: the deletion runs on its own (one request, no retry loop).
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { delete(&rt, &name).await });
        }
    }
}

async fn delete(rt: &Runtime, name: &str) {
    match rt.pods_api().delete(name, &DeleteParams::default().grace_period(0)).await {
        Ok(_) => tracing::debug!(pod = name, "helper pod deleted"),
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(err) => tracing::warn!(pod = name, error = %err, "deleting the helper pod"),
    }
}

/// Why `--helper-image` is named in an error.
fn helper_image_error(image: &str, detail: &str) -> Error {
    Error::CopyFailed(format!(
        "podshim: the helper pod that reads the volumes of a container that is not running cannot pull its image \
         {image} (set with --helper-image): {detail}"
    ))
}

/// Starts a helper for `c` mounting `needed` (read-only unless `read_write`), on the node of the container's last
/// pod, and waits until it runs.
pub(super) async fn start(
    rt: &Runtime,
    c: &Container,
    needed: &[ContainerMount],
    read_write: bool,
    user: &str,
) -> Result<Helper, Error> {
    let image = rt.options().helper_image.clone();
    let node_name = c.pod.as_ref().and_then(|p| p.spec.as_ref()).and_then(|s| s.node_name.clone());
    let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
    let spec = HelperSpec {
        name: format!("podshim-cp-{}-{suffix}", short_id(&c.id)),
        namespace: rt.namespace().to_string(),
        container_id: c.id.clone(),
        image: image.clone(),
        node_name,
        owner: c.owned_by_record(false),
        replica: rt.options().ports.replica.clone(),
        read_only: !read_write,
        user: user.to_string(),
        pull_secrets: rt.registry().pull_secrets.clone(),
    };
    let pod = helper_pod(&spec, needed)?;
    let api = rt.pods_api();
    api.create(&PostParams::default(), &pod).await.map_err(|err| match err {
        kube::Error::Api(status) if matches!(status.code, 403 | 422) => Error::CopyFailed(format!(
            "podshim: Kubernetes refused the helper pod that reads the container's volumes ({}): {}",
            status.reason, status.message
        )),
        err => Error::kubernetes("creating the helper pod that reads the container's volumes", err),
    })?;
    let helper = Helper { rt: rt.clone(), name: spec.name.clone() };
    tracing::debug!(pod = %helper.name, container.id = %c.id, "helper pod created");
    let pulls = PullVerdict::default();
    let settled = |pod: Option<&Pod>| {
        pod.is_none_or(|p| pod_to_state(Some(p)).status != Status::Created || failure(p, &pulls).is_some())
    };
    let waited = tokio::time::timeout(rt.options().start_timeout, await_condition(api, &helper.name, settled)).await;
    let pod = match waited {
        Ok(Ok(Some(pod))) => pod,
        Ok(Ok(None)) => return Err(Error::CopyFailed("podshim: the helper pod was deleted before it ran".into())),
        Ok(Err(err)) => return Err(Error::Internal(format!("watching the helper pod: {err}"))),
        Err(_) => {
            return Err(Error::Timeout(format!(
                "podshim: the helper pod {} that reads the container's volumes did not run within {:?} (image \
                 {image}, set with --helper-image; `kubectl describe pod` tells why)",
                helper.name,
                rt.options().start_timeout
            )))
        }
    };
    if let Some(err) = failure(&pod, &pulls) {
        return Err(err);
    }
    let state = pod_to_state(Some(&pod));
    if state.status != Status::Running {
        return Err(Error::CopyFailed(format!(
            "podshim: the helper pod that reads the container's volumes ended before the copy ({image}, set with \
             --helper-image, must have sleep and tar): {}",
            state.error
        )));
    }
    Ok(helper)
}

/// Why a helper cannot run, once Kubernetes says so (`pulls`: a pull the kubelet throttled is no verdict).
fn failure(pod: &Pod, pulls: &PullVerdict) -> Option<Error> {
    let image = pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default();
    let state = pod_to_state(Some(pod));
    match pulls.failure(&state)?.clone() {
        StartFailure::ImagePull { reason, message, .. } => {
            Some(helper_image_error(&image, &format!("{reason}: {message}")))
        }
        StartFailure::Container { reason, message } => Some(Error::CopyFailed(format!(
            "podshim: the helper pod ({image}, set with --helper-image) cannot run: {reason}: {message}"
        ))),
        StartFailure::Unschedulable { message } => Some(Error::CopyFailed(format!(
            "podshim: Kubernetes cannot schedule the helper pod that reads the container's volumes: {message}"
        ))),
    }
}

/// Removes helper pods left behind: those of this replica (it has no copy in flight at startup) and finished
/// ones of any replica. One list and a delete each; errors are logged.
pub(crate) async fn sweep(rt: &Runtime) {
    let api = rt.pods_api();
    let list = match api.list(&ListParams::default().labels(HELPER_SELECTOR)).await {
        Ok(list) => list,
        Err(err) => {
            tracing::warn!(error = %err, "listing leftover helper pods");
            return;
        }
    };
    let replica = rt.options().ports.replica.as_str();
    for pod in list.items {
        let ours = pod.metadata.annotations.as_ref().and_then(|a| a.get(HELPER_REPLICA_ANNOTATION)).map(String::as_str)
            == Some(replica);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if ours || matches!(phase, Some("Succeeded" | "Failed")) {
            if let Some(name) = pod.metadata.name.as_deref() {
                tracing::info!(pod = name, "removing a leftover helper pod");
                delete(rt, name).await;
            }
        }
    }
}
