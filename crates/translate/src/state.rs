//! The Docker container state derived from a pod, in one function ([`pod_to_state`]), and the predicates that
//! decide 304 and 409 for start and stop in one place.
//!
//! Serves the `State` of `GET /containers/{id}/json`, the `State`/`Status` of `GET /containers/json`, and the
//! checks of start, stop, kill, wait and remove.

use bollard_stubs::models::{ContainerState, ContainerStateStatusEnum};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

use super::labels::MAIN_CONTAINER;

/// Docker's container status. `Paused` is never derived (Kubernetes cannot pause a pod); it exists so the
/// predicates follow Docker's table in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// The word Docker uses (`State.Status`, `ps --filter status=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// Why a started container is not running yet. The lifecycle layer turns it into the start error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFailure {
    /// Waiting reason ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull or RegistryUnavailable:
    /// Docker would have answered "No such image" / a pull error naming the image.
    ImagePull { image: String, reason: String, message: String },
    /// The scheduler found no node (condition PodScheduled=False, reason Unschedulable).
    Unschedulable { message: String },
    /// Waiting reason CreateContainerConfigError, CreateContainerError or RunContainerError.
    Container { reason: String, message: String },
}

/// Whether the scheduler's Unschedulable message only says the pod's claims are not bound yet: the scheduler tries
/// again when they bind (a provisioner may still be making their volumes), so it is no verdict on its own.
/// Only then: a message that also gives another reason (`1 Insufficient cpu, 1 pod has unbound ...`) is one.
pub fn waits_for_claims(unschedulable_message: &str) -> bool {
    const UNBOUND: &str = "unbound immediate PersistentVolumeClaims";
    // "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
    let reasons = unschedulable_message.split_once(": ").map_or(unschedulable_message, |(_, r)| r);
    let reasons = reasons.trim_end().trim_end_matches('.');
    !reasons.is_empty() && reasons.split(", ").all(|reason| reason.contains(UNBOUND))
}

/// The kubelet's answer to a pull its own rate limit (`registryPullQPS`, 5 a second by default) did not let it try:
/// `ErrImagePull` with this message, then `ImagePullBackOff` until it tries again. Many containers of an image the
/// node does not have yet, started at once, meet it; it says nothing about the image.
const KUBELET_PULL_THROTTLE: &str = "pull QPS exceeded";

/// Tells a pull failure that is a verdict on the image from one the kubelet retries by itself, across the states
/// one pod goes through: a throttled pull, and the back-off that follows it, are no verdict; the next real pull
/// error is. (`ImagePullBackOff` carries no cause: after a throttled pull it is waited out, otherwise it follows a
/// real pull error.)
#[derive(Debug, Default)]
pub struct PullVerdict {
    throttled: std::sync::atomic::AtomicBool,
}

impl PullVerdict {
    /// The start failure in `state` to act on; `None` while the kubelet retries a throttled pull.
    pub fn failure<'a>(&self, state: &'a DockerState) -> Option<&'a StartFailure> {
        use std::sync::atomic::Ordering;
        let failure = state.start_failure.as_ref()?;
        if let StartFailure::ImagePull { reason, message, .. } = failure {
            if reason == "ErrImagePull" && message.contains(KUBELET_PULL_THROTTLE) {
                self.throttled.store(true, Ordering::Relaxed);
                return None;
            }
            if reason == "ImagePullBackOff" && self.throttled.load(Ordering::Relaxed) {
                return None;
            }
        }
        Some(failure)
    }
}

const IMAGE_PULL_REASONS: [&str; 5] =
    ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"];
const CONTAINER_FAILURE_REASONS: [&str; 3] =
    ["CreateContainerConfigError", "CreateContainerError", "RunContainerError"];
/// Terminated reasons that mean the program never ran; their message becomes Docker's `State.Error`.
const START_ERROR_REASONS: [&str; 2] = ["StartError", "ContainerCannotRun"];

/// A container's Docker state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerState {
    pub status: Status,
    pub exit_code: i64,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Docker's `State.Error`: why the program could not run, or why the pod failed; empty otherwise.
    pub error: String,
    /// The last termination was an OOM kill (reason `OOMKilled`).
    pub oom_killed: bool,
    pub restart_count: i64,
    pub start_failure: Option<StartFailure>,
}

impl DockerState {
    /// A container that was created and not started.
    pub fn created() -> Self {
        DockerState {
            status: Status::Created,
            exit_code: 0,
            started_at: None,
            finished_at: None,
            error: String::new(),
            oom_killed: false,
            restart_count: 0,
            start_failure: None,
        }
    }

    /// Docker's `State.Running`: true while running, paused or restarting (moby State.IsRunning).
    pub fn is_running(&self) -> bool {
        matches!(self.status, Status::Running | Status::Paused | Status::Restarting)
    }

    /// Start may proceed. Otherwise: running -> 304 "container already started", paused/removing/dead -> 409.
    pub fn can_start(&self) -> bool {
        matches!(self.status, Status::Created | Status::Exited)
    }

    /// Stop may proceed; otherwise 304 (moby: stopping a container that is not running is "not modified").
    pub fn can_stop(&self) -> bool {
        self.is_running()
    }

    /// The bollard model for inspect. `Pid` is always 0: the process lives on a node podshim does not see.
    /// Unset times are Go's zero time, as Docker prints them.
    pub fn to_model(&self) -> ContainerState {
        let time = |t: Option<Timestamp>| t.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.to_string());
        ContainerState {
            status: Some(match self.status {
                Status::Created => ContainerStateStatusEnum::CREATED,
                Status::Running => ContainerStateStatusEnum::RUNNING,
                Status::Paused => ContainerStateStatusEnum::PAUSED,
                Status::Restarting => ContainerStateStatusEnum::RESTARTING,
                Status::Removing => ContainerStateStatusEnum::REMOVING,
                Status::Exited => ContainerStateStatusEnum::EXITED,
                Status::Dead => ContainerStateStatusEnum::DEAD,
            }),
            running: Some(self.is_running()),
            paused: Some(self.status == Status::Paused),
            restarting: Some(self.status == Status::Restarting),
            oom_killed: Some(self.oom_killed),
            dead: Some(self.status == Status::Dead),
            pid: Some(0),
            exit_code: Some(self.exit_code),
            error: Some(self.error.clone()),
            started_at: Some(time(self.started_at)),
            finished_at: Some(time(self.finished_at)),
            health: None,
        }
    }
}

/// The Docker state of a container from its pod; `None` means the container was created and has no pod yet
/// (the record keeps a created container; see `docs/lifecycle.md`).
///
/// - deletion requested -> removing;
/// - main container running -> running;
/// - terminated -> exited (exit code, times, OOMKilled), or restarting if the pod's restart policy will run it
///   again (Always; OnFailure after a non-zero exit) and the pod is not finished;
/// - waiting after an earlier run (`lastState.terminated`, e.g. CrashLoopBackOff) -> restarting, with the last
///   exit code and finish time, as Docker shows "Restarting (1) 2 seconds ago";
/// - waiting for the first run -> created, with a [`StartFailure`] for image pull and container create errors;
/// - pod Succeeded/Failed while the container never terminated (evicted while waiting) -> dead;
/// - no container status: pod Failed or Unknown (eviction, lost node) -> dead with the pod's message;
///   unschedulable -> created with [`StartFailure::Unschedulable`]; else created.
pub fn pod_to_state(pod: Option<&Pod>) -> DockerState {
    let Some(pod) = pod else { return DockerState::created() };
    let mut state = from_pod_status(pod);
    if pod.metadata.deletion_timestamp.is_some() {
        state.status = Status::Removing;
    }
    state
}

fn from_pod_status(pod: &Pod) -> DockerState {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let pod_message = || {
        let s = status.and_then(|s| s.message.clone().or_else(|| s.reason.clone()));
        s.unwrap_or_else(|| format!("pod phase {phase}"))
    };
    let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let main = statuses.iter().find(|c| c.name == MAIN_CONTAINER).or(statuses.first());
    let Some(cs) = main else {
        if matches!(phase, "Failed" | "Unknown") {
            return DockerState { status: Status::Dead, error: pod_message(), ..DockerState::created() };
        }
        let unschedulable =
            status.and_then(|s| s.conditions.as_ref()).into_iter().flatten().find(|c| {
                c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
            });
        let start_failure =
            unschedulable.map(|c| StartFailure::Unschedulable { message: c.message.clone().unwrap_or_default() });
        return DockerState { start_failure, ..DockerState::created() };
    };
    let finished = matches!(phase, "Succeeded" | "Failed");
    let mut state = from_container_status(cs, pod, finished);
    if state.status == Status::Exited && copying_back(statuses) {
        // The container's files are on their way back to the caller's bind directories (see `binds`): its exit
        // shows once they are there, so `wait` and auto-remove come after the copy, as they do after Docker's.
        return DockerState { status: Status::Running, exit_code: 0, finished_at: None, ..state };
    }
    if finished && !matches!(state.status, Status::Exited) {
        // The pod ended without its container reaching `terminated` (evicted while pulling, deadline exceeded):
        // nothing can run it again.
        return DockerState { status: Status::Dead, error: pod_message(), start_failure: None, ..state };
    }
    if phase == "Failed" && status.and_then(|s| s.reason.as_ref()).is_some() && state.error.is_empty() {
        state.error = pod_message();
    }
    state
}

/// The keeper of copied binds still runs: podshim has not copied them back yet.
fn copying_back(statuses: &[ContainerStatus]) -> bool {
    statuses
        .iter()
        .any(|c| c.name == super::binds::COPY_OUT_CONTAINER && c.state.as_ref().is_some_and(|s| s.terminated.is_none()))
}

fn from_container_status(cs: &ContainerStatus, pod: &Pod, pod_finished: bool) -> DockerState {
    let base = DockerState { restart_count: i64::from(cs.restart_count), ..DockerState::created() };
    let current = cs.state.as_ref();
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    if let Some(running) = current.and_then(|s| s.running.as_ref()) {
        return DockerState { status: Status::Running, started_at: running.started_at.as_ref().map(|t| t.0), ..base };
    }
    if let Some(t) = current.and_then(|s| s.terminated.as_ref()) {
        let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
        let restarts = policy == "Always" || (policy == "OnFailure" && t.exit_code != 0);
        let status = if restarts && !pod_finished { Status::Restarting } else { Status::Exited };
        return terminated(status, t, base);
    }
    let waiting = current.and_then(|s| s.waiting.as_ref());
    let reason = waiting.and_then(|w| w.reason.clone()).unwrap_or_default();
    let message = waiting.and_then(|w| w.message.clone()).unwrap_or_default();
    let start_failure = if IMAGE_PULL_REASONS.contains(&reason.as_str()) {
        let image = pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone());
        Some(StartFailure::ImagePull { image: image.unwrap_or_else(|| cs.image.clone()), reason, message })
    } else if CONTAINER_FAILURE_REASONS.contains(&reason.as_str()) {
        Some(StartFailure::Container { reason, message })
    } else {
        None
    };
    match last {
        Some(t) => terminated(Status::Restarting, t, DockerState { start_failure, ..base }),
        None => DockerState { start_failure, ..base },
    }
}

fn terminated(status: Status, t: &ContainerStateTerminated, base: DockerState) -> DockerState {
    let reason = t.reason.as_deref().unwrap_or("");
    let error = if START_ERROR_REASONS.contains(&reason) { t.message.clone().unwrap_or_default() } else { base.error };
    DockerState {
        status,
        exit_code: i64::from(t.exit_code),
        started_at: t.started_at.as_ref().map(|s| s.0),
        finished_at: t.finished_at.as_ref().map(|s| s.0),
        error,
        oom_killed: is_oom(t),
        ..base
    }
}

fn is_oom(t: &ContainerStateTerminated) -> bool {
    t.reason.as_deref() == Some("OOMKilled")
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
