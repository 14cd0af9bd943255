//! `POST /containers/{id}/start`: a new pod from the record, owned by it, then a wait on the shared watch until
//! the program runs, has already exited, or cannot start (image pull, bad command, no node for it) within
//! `--start-timeout`. A pod Kubernetes does not admit (a ResourceQuota) or cannot schedule (not enough CPU or
//! memory on any node) fails the start as soon as that is known, naming Kubernetes' reason; the container
//! stays created, as Docker leaves a container whose start failed.
//! Published ports are bound before the pod is created and written on it (see `runtime/ports`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use tracing::instrument;

use super::claim_wait;
use super::pods::{pods_of, release_pods};
use crate::error::Error;
use crate::runtime::binds;
use crate::runtime::kube_error::{container_error, is_already_exists, is_not_found};
use crate::runtime::registry::{self, is_stopped_by_podshim, pod_index};
use crate::runtime::streams::start_handshake;
use crate::runtime::{Container, Runtime};
use bollard_stubs::models::ContainerCreateBody;
use podshim_translate::files;
use podshim_translate::labels::{
    self, AUTO_REMOVE_ANNOTATION, IMAGE_ID_ANNOTATION, IMAGE_PINNED_ANNOTATION, PULL_SECRETS_ANNOTATION,
};
use podshim_translate::pod::{create_to_pod, PodIdentity};
use podshim_translate::state::{pod_to_state, waits_for_claims, DockerState, PullVerdict, StartFailure, Status};

/// How many pod names a start tries when the next one is taken (a cache that lags another replica's start).
const NAME_ATTEMPTS: u64 = 5;

/// What the shared watch says about a started pod.
#[derive(Debug, PartialEq)]
pub(crate) enum StartOutcome {
    /// The program runs, or ran and exited already.
    Started,
    /// It cannot start: the message for the client, and whether the pod must be cleaned up (it would retry
    /// forever, e.g. an image pull) or stays to show the failed state (a bad command exits at once).
    Failed { message: String, clean_up: bool },
}

/// The decision for one observation of the started pod; `None` while it is still on its way. `pulls` follows the
/// pod's pulls across observations (a pull the kubelet throttled is no verdict).
pub(crate) fn start_outcome(pod: &Pod, pulls: &PullVerdict) -> Option<StartOutcome> {
    state_outcome(pod_to_state(Some(pod)), pulls)
}

/// The decision for one observed state of the started pod.
fn state_outcome(state: DockerState, pulls: &PullVerdict) -> Option<StartOutcome> {
    if let Some(failure) = pulls.failure(&state) {
        let message = match failure {
            StartFailure::ImagePull { image, reason, message } => pull_message(image, reason, message),
            StartFailure::Container { reason, message } => format!("{reason}: {message}"),
            // Claims not bound yet: the scheduler tries again once they are; `claim_wait` decides whether they
            // will be.
            StartFailure::Unschedulable { message } if waits_for_claims(message) => return None,
            // The scheduler's verdict is known: Docker would have failed the start at once too (a cluster
            // autoscaler that might add a node later is not waited for).
            StartFailure::Unschedulable { message } => unschedulable_message(message),
        };
        return Some(StartOutcome::Failed { message, clean_up: true });
    }
    match state.status {
        Status::Running | Status::Restarting | Status::Exited if !state.error.is_empty() => {
            Some(StartOutcome::Failed { message: state.error, clean_up: false })
        }
        Status::Running | Status::Restarting | Status::Exited => Some(StartOutcome::Started),
        Status::Dead => Some(StartOutcome::Failed { message: state.error, clean_up: true }),
        Status::Created | Status::Paused | Status::Removing => None,
    }
}

/// The start error for a pod the scheduler cannot place, naming its reason.
fn unschedulable_message(message: &str) -> String {
    format!("Kubernetes cannot schedule the container's pod (Unschedulable): {message}")
}

/// The start error for a pod Kubernetes refused to create: an admission plugin (a ResourceQuota, a
/// LimitRange, a policy) or validation, with the API server's reason and message.
fn refused_message(status: &kube::core::Status) -> String {
    format!("Kubernetes refused the container's pod ({}): {}", status.reason, status.message)
}

/// Docker's pull error for a repository that does not exist, with the kubelet's reason and message.
fn pull_message(image: &str, reason: &str, message: &str) -> String {
    let detail = if message.is_empty() { reason.to_string() } else { format!("{reason}: {message}") };
    format!("pull access denied for {image}, repository does not exist or may require 'docker login': {detail}")
}

/// The pod for the next start: `podshim-<short id>-<n>` with n above every earlier pod's, owned by the record.
fn next_pod(
    rt: &Runtime,
    c: &Container,
    body: &ContainerCreateBody,
    earlier: &[Arc<Pod>],
) -> Result<(Pod, u64), Error> {
    let ids = PodIdentity {
        id: c.id.clone(),
        name: c.name.clone(),
        namespace: rt.namespace().to_string(),
        host_gateway: rt.ports().host_gateway_for(rt, body),
    };
    let mut pod = create_to_pod(body, &ids)?;
    files::add_files_to_pod(&mut pod, &c.record)?;
    super::mounts::add_to_pod(rt, c, &mut pod)?;
    pin_image(rt, c, &mut pod);
    pod.metadata.owner_references = Some(vec![c.owned_by_record(true)]);
    let n = earlier.iter().map(|p| pod_index(p)).max().unwrap_or(0) + 1;
    Ok((pod, n))
}

/// The pod runs the image digest resolved at create, with the pull Secrets of that image and the configured ones.
/// (A record written before images were resolved keeps its reference and the configured Secrets.)
fn pin_image(rt: &Runtime, c: &Container, pod: &mut Pod) {
    let meta = &c.record.metadata;
    let pinned = registry::annotation(meta, IMAGE_PINNED_ANNOTATION).map(str::to_string);
    let mut secrets: Vec<String> = registry::annotation(meta, PULL_SECRETS_ANNOTATION)
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for s in &rt.registry().pull_secrets {
        if !secrets.contains(s) {
            secrets.push(s.clone());
        }
    }
    if let Some(id) = registry::annotation(meta, IMAGE_ID_ANNOTATION) {
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(IMAGE_ID_ANNOTATION.to_string(), id.to_string());
    }
    let Some(spec) = pod.spec.as_mut() else { return };
    if let (Some(pinned), Some(main)) = (pinned, spec.containers.first_mut()) {
        main.image = Some(pinned);
    }
    if !secrets.is_empty() {
        spec.image_pull_secrets =
            Some(secrets.into_iter().map(|name| k8s_openapi::api::core::v1::LocalObjectReference { name }).collect());
    }
}

#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn start(rt: &Runtime, c: &Container) -> Result<(), Error> {
    tracing::Span::current().record("container.id", c.id.as_str());
    let state = c.state();
    if state.is_running() {
        return Err(Error::NotModified);
    }
    if state.status == Status::Removing {
        return Err(Error::Conflict(format!("container {} is marked for removal and cannot be started", c.id)));
    }
    let body = c.create_body()?;
    let requests = rt.ports().requests(&body, c.image_config())?;
    let earlier = pods_of(rt, c);
    let (mut pod, first) = next_pod(rt, c, &body, &earlier)?;
    let mounts = super::mounts::of(c);
    // Over the copy limit: a 400 before anything runs.
    let upload_plan = failed_before_the_pod(rt, c, binds::upload_plan(rt, &mounts).await).await?;
    binds::pin(rt, &mut pod, &mounts).await;
    // Bound before the pod exists: a port that is taken fails the start and nothing runs, as with Docker.
    let reservation = failed_before_the_pod(rt, c, rt.ports().reserve(&c.id, &c.name, &requests).await).await?;
    if let Some(reservation) = &reservation {
        reservation.annotate(&mut pod);
    }
    // An attach on this replica waits for this start: the pod's command waits for it (docs/streams.md).
    let handshake = start_handshake::prepare(rt, c, &mut pod);
    let mut n = first;
    let api = rt.pods_api();
    let created = loop {
        let name = format!("{}-{n}", labels::pod_name_for(&c.id));
        if let Some(claim) = &handshake {
            start_handshake::taken_for(claim, &name);
        }
        pod.metadata.name = Some(name);
        match api.create(&PostParams::default(), &pod).await {
            Ok(created) => break created,
            Err(err) if is_already_exists(&err) && n < first + NAME_ATTEMPTS => n += 1,
            // Not admitted (403: quota, policy) or not valid (422): the start fails, the container stays created.
            Err(kube::Error::Api(status)) if matches!(status.code, 403 | 422) => {
                return Err(Error::StartFailed(refused_message(&status)))
            }
            Err(err) => return Err(container_error(&c.id, "creating the container's pod", err)),
        }
    };
    let pod_name = created.metadata.name.clone().unwrap_or_default();
    if let Some(reservation) = reservation {
        reservation.activate(rt, &pod_name);
    }
    // The previous run's pods go: stopped ones lose their finalizer, finished ones are deleted.
    release_pods(rt, &c.id, &earlier, true).await;
    // The copied binds go in while the pod waits for them; a failed copy fails the start.
    let copied_in = async {
        match upload_plan {
            Some(plan) => match binds::upload(rt, &pod_name, plan).await {
                Ok(()) => std::future::pending().await,
                Err(message) => message,
            },
            None => std::future::pending().await,
        }
    };
    let started = async {
        tokio::select! {
            outcome = wait_started(rt, c, &pod_name) => outcome,
            message = claim_wait::unbindable(rt, &pod_name) => StartOutcome::Failed { message, clean_up: true },
            message = copied_in => StartOutcome::Failed { message, clean_up: true },
        }
    };
    let outcome = tokio::time::timeout(rt.options().start_timeout, started).await;
    let (message, clean_up) = match outcome {
        Ok(StartOutcome::Started) => match rt.ports().check_udp_reach(rt, &requests, &pod_name).await {
            Ok(()) => {
                if let Some(claim) = handshake {
                    start_handshake::spawn_release(rt, claim, pod_name);
                }
                return Ok(());
            }
            Err(err) => {
                clean_up_failed_start(rt, c, &pod_name).await;
                rt.ports().close(&c.id).await;
                return Err(err);
            }
        },
        Ok(StartOutcome::Failed { message, clean_up }) if handshake.is_some() => {
            (handshake_failure_message(message), clean_up)
        }
        Ok(StartOutcome::Failed { message, clean_up }) => (message, clean_up),
        Err(_) => (timeout_message(rt, c, &pod_name), true),
    };
    if clean_up {
        clean_up_failed_start(rt, c, &pod_name).await;
        rt.ports().close(&c.id).await;
    }
    Err(Error::StartFailed(message))
}

/// A start error of a pod wrapped in the start handshake: when the image has no `/bin/sh` after all, says so.
fn handshake_failure_message(message: String) -> String {
    if message.contains(podshim_translate::start_handshake::SHELL) {
        format!(
            "{message} (podshim's start handshake runs {} before the container's command: start podshim with \
             --start-handshake never for images without it)",
            podshim_translate::start_handshake::SHELL
        )
    } else {
        message
    }
}

/// Waits on the cache for the started pod's outcome. A pod that is already gone ran and was removed (an
/// auto-remove container that exited at once): its final state is among the index's exits.
async fn wait_started(rt: &Runtime, c: &Container, pod_name: &str) -> StartOutcome {
    let id = c.id.clone();
    let pulls = PullVerdict::default();
    rt.cache()
        .wait_for(|index| {
            if let Some(pod) = index.pod(pod_name) {
                if pod.metadata.deletion_timestamp.is_some() && !is_stopped_by_podshim(pod) {
                    // Deleted by someone else (rm -f, garbage collection) before it ran.
                    return Some(start_outcome(pod, &pulls).unwrap_or(StartOutcome::Started));
                }
                return start_outcome(pod, &pulls);
            }
            if let Some(exit) = index.exits().last(&id).filter(|e| e.pod_name == pod_name) {
                return Some(state_outcome(exit.state.clone(), &pulls).unwrap_or(StartOutcome::Started));
            }
            index.get(&id).is_none().then_some(StartOutcome::Started)
        })
        .await
}

/// Why the start timed out, from the pod's last state: still pulling, or no node for it.
fn timeout_message(rt: &Runtime, c: &Container, pod_name: &str) -> String {
    let timeout = rt.options().start_timeout;
    let pod = rt.cache().read(|index| index.pod(pod_name).cloned());
    match pod.as_deref().and_then(|p| pod_to_state(Some(p)).start_failure) {
        Some(StartFailure::Unschedulable { message }) if waits_for_claims(&message) => {
            format!(
                "the container did not start within {timeout:?}: its volumes' claims are still not bound: {message}"
            )
        }
        Some(StartFailure::Unschedulable { message }) => {
            format!("the container did not start within {timeout:?}: no node can run it: {message}")
        }
        _ => {
            // What holds the pod, when Kubernetes says (a volume it waits for, say).
            let waiting = pod.as_deref().and_then(waiting_message);
            match waiting {
                Some(message) => format!("the container did not start within {timeout:?}: {message}"),
                None => {
                    let image = c.image().unwrap_or_default();
                    format!("the container did not start within {timeout:?}: image {image} is still being pulled or the pod is still being scheduled")
                }
            }
        }
    }
}

/// The message of a pod still waiting to start (`status.message`, else its container's `ContainerCreating` message),
/// e.g. a volume the node cannot mount yet.
fn waiting_message(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let creating = status.container_statuses.iter().flatten().find_map(|cs| {
        let waiting = cs.state.as_ref()?.waiting.as_ref()?;
        (waiting.reason.as_deref() == Some("ContainerCreating")).then(|| waiting.message.clone()).flatten()
    });
    status.message.clone().or(creating).filter(|m| !m.is_empty())
}

/// A pod that cannot start would retry forever: delete it (for an auto-remove container, the whole container,
/// as Docker removes an auto-remove container whose start failed).
async fn clean_up_failed_start(rt: &Runtime, c: &Container, pod_name: &str) {
    if is_auto_remove(c) {
        remove_auto_removed(rt, c).await;
        return;
    }
    match rt.pods_api().delete(pod_name, &DeleteParams::default().grace_period(0)).await {
        Ok(_) => {}
        Err(err) if is_not_found(&err) => {}
        Err(err) => tracing::warn!(error = %err, container.id = %c.id, "cleaning up after a failed start"),
    }
}

fn is_auto_remove(c: &Container) -> bool {
    registry::annotation(&c.record.metadata, AUTO_REMOVE_ANNOTATION) == Some("true")
}

/// Removes an auto-remove container whose start failed (with its anonymous volumes), as Docker does; an attach
/// waiting for its run then ends.
async fn remove_auto_removed(rt: &Runtime, c: &Container) {
    let name = c.record.metadata.name.clone().unwrap_or_default();
    match rt.records_api().delete(&name, &DeleteParams::background()).await {
        Ok(_) => super::mounts::remove_anonymous(rt, c).await,
        Err(err) if is_not_found(&err) => {}
        Err(err) => {
            tracing::warn!(error = %err, container.id = %c.id, "removing an auto-remove container after a failed start")
        }
    }
}

/// A start that fails before its pod exists: an auto-remove container goes, as after any failed start.
async fn failed_before_the_pod<T>(rt: &Runtime, c: &Container, result: Result<T, Error>) -> Result<T, Error> {
    if result.is_err() && is_auto_remove(c) {
        remove_auto_removed(rt, c).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "podshim-aaaaaaaaaaaa-1"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "invalid.registry.test/x"}]},
            "status": status,
        }))
        .unwrap()
    }

    fn main_state(state: serde_json::Value) -> Pod {
        pod(serde_json::json!({"phase": "Pending", "containerStatuses": [
            {"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": state}]}))
    }

    #[test]
    fn a_pending_pod_is_still_on_its_way() {
        assert_eq!(start_outcome(&pod(serde_json::json!({"phase": "Pending"})), &PullVerdict::default()), None);
        assert_eq!(
            start_outcome(
                &main_state(serde_json::json!({"waiting": {"reason": "ContainerCreating"}})),
                &PullVerdict::default()
            ),
            None
        );
    }

    #[test]
    fn an_image_pull_failure_names_the_image_and_cleans_up() {
        let p = main_state(serde_json::json!({"waiting": {"reason": "ErrImagePull", "message": "not found"}}));
        let Some(StartOutcome::Failed { message, clean_up }) = start_outcome(&p, &PullVerdict::default()) else {
            panic!()
        };
        assert!(clean_up);
        assert_eq!(
            message,
            "pull access denied for invalid.registry.test/x, repository does not exist or may require 'docker login': ErrImagePull: not found"
        );
    }

    #[test]
    fn a_pull_the_kubelet_throttled_is_waited_out() {
        let pulls = PullVerdict::default();
        let throttled =
            main_state(serde_json::json!({"waiting": {"reason": "ErrImagePull", "message": "pull QPS exceeded"}}));
        let backoff = main_state(serde_json::json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}));
        assert_eq!(start_outcome(&throttled, &pulls), None);
        assert_eq!(start_outcome(&backoff, &pulls), None);
        let running = main_state(serde_json::json!({"running": {}}));
        assert_eq!(start_outcome(&running, &pulls), Some(StartOutcome::Started));
    }

    #[test]
    fn an_unschedulable_pod_fails_the_start_at_once_naming_the_reason() {
        let p = pod(serde_json::json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient cpu."}]}));
        let Some(StartOutcome::Failed { message, clean_up }) = start_outcome(&p, &PullVerdict::default()) else {
            panic!()
        };
        assert!(clean_up, "the pod goes; the container stays created");
        assert_eq!(
            message,
            "Kubernetes cannot schedule the container's pod (Unschedulable): 0/1 nodes are available: 1 Insufficient cpu."
        );
    }

    #[test]
    fn a_pod_whose_claims_are_not_bound_yet_is_still_on_its_way() {
        let p = pod(serde_json::json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."}]}));
        assert_eq!(start_outcome(&p, &PullVerdict::default()), None, "claim_wait decides whether they will bind");
    }

    #[test]
    fn a_pod_waiting_for_a_volume_says_so() {
        let p = main_state(serde_json::json!({"waiting": {"reason": "ContainerCreating",
            "message": "persistentvolumeclaim \"x\" not found"}}));
        assert_eq!(waiting_message(&p).as_deref(), Some("persistentvolumeclaim \"x\" not found"));
        assert_eq!(waiting_message(&pod(serde_json::json!({"phase": "Pending"}))), None);
    }

    #[test]
    fn a_fast_exit_is_a_start_and_a_start_error_is_not() {
        let exited = main_state(serde_json::json!({"terminated": {"exitCode": 3, "reason": "Error"}}));
        assert_eq!(start_outcome(&exited, &PullVerdict::default()), Some(StartOutcome::Started));
        let running = main_state(serde_json::json!({"running": {"startedAt": "2024-01-01T00:00:00Z"}}));
        assert_eq!(start_outcome(&running, &PullVerdict::default()), Some(StartOutcome::Started));
        let bad = main_state(serde_json::json!({"terminated": {"exitCode": 128, "reason": "StartError",
            "message": "exec: \"nope\": executable file not found in $PATH: unknown"}}));
        let Some(StartOutcome::Failed { message, clean_up }) = start_outcome(&bad, &PullVerdict::default()) else {
            panic!()
        };
        assert!(!clean_up, "the pod stays to show the failed state");
        assert!(message.contains("executable file not found"));
    }
}
