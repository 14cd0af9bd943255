//! Tests for [`super::pod_to_state`]: pods built from the JSON a kubelet reports.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::*;

fn pod(restart_policy: &str, status: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "podshim-f308875b87a7"},
        "spec": {"restartPolicy": restart_policy, "containers": [{"name": "main", "image": "busybox"}]},
        "status": status,
    }))
    .unwrap()
}

fn ts(s: &str) -> Option<Timestamp> {
    Some(s.parse().unwrap())
}

#[test]
fn no_pod_is_created_and_can_start() {
    let state = pod_to_state(None);
    assert_eq!(state.status, Status::Created);
    assert!(state.can_start());
    assert!(!state.can_stop());
    assert_eq!(state.to_model().started_at.as_deref(), Some("0001-01-01T00:00:00Z"));
}

#[test]
fn running_container_is_running_and_can_stop() {
    let p = pod(
        "Never",
        json!({"phase": "Running", "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "",
            "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-24T08:27:16Z"}}}]}),
    );
    let state = pod_to_state(Some(&p));
    assert_eq!(state.status, Status::Running);
    assert!(state.is_running() && state.can_stop() && !state.can_start());
    assert_eq!(state.started_at, ts("2026-11-24T08:27:16Z"));
    let model = state.to_model();
    assert_eq!(model.running, Some(true));
    assert_eq!(model.pid, Some(0));
    assert_eq!(model.started_at.as_deref(), Some("2026-11-24T08:27:16Z"));
}

#[test]
fn terminated_container_is_exited_with_code_times_and_oom() {
    let p = pod(
        "Never",
        json!({"phase": "Failed", "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
            "startedAt": "2026-11-24T08:27:16Z", "finishedAt": "2026-11-24T08:27:18.5Z"}}}]}),
    );
    let state = pod_to_state(Some(&p));
    assert_eq!(state.status, Status::Exited);
    assert_eq!(state.exit_code, 137);
    assert!(state.oom_killed);
    assert!(state.can_start() && !state.can_stop());
    assert_eq!(state.to_model().finished_at.as_deref(), Some("2026-11-24T08:27:18.5Z"));
}

#[test]
fn crash_loop_is_restarting_with_the_last_exit_code() {
    let p = pod(
        "Always",
        json!({"phase": "Running", "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "",
            "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-11-24T08:27:18Z"}}}]}),
    );
    let state = pod_to_state(Some(&p));
    assert_eq!(state.status, Status::Restarting);
    assert_eq!((state.exit_code, state.restart_count), (1, 2));
    assert!(state.is_running() && !state.can_start());
}

#[test]
fn terminated_with_always_policy_is_restarting_until_the_pod_is_finished() {
    let status = |phase: &str| {
        json!({"phase": phase, "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]})
    };
    assert_eq!(pod_to_state(Some(&pod("Always", status("Running")))).status, Status::Restarting);
    assert_eq!(pod_to_state(Some(&pod("OnFailure", status("Running")))).status, Status::Exited);
    assert_eq!(pod_to_state(Some(&pod("Always", status("Succeeded")))).status, Status::Exited);
}

#[test]
fn image_pull_failure_is_exposed_with_the_image() {
    let p = pod(
        "Never",
        json!({"phase": "Pending", "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff",
            "message": "Back-off pulling image \"busybox\""}}}]}),
    );
    let state = pod_to_state(Some(&p));
    assert_eq!(state.status, Status::Created);
    assert_eq!(
        state.start_failure,
        Some(StartFailure::ImagePull {
            image: "busybox".into(),
            reason: "ImagePullBackOff".into(),
            message: "Back-off pulling image \"busybox\"".into()
        })
    );
}

/// The states one pod goes through (as the real node showed with 50 containers of an image it did not have).
fn waiting_state(reason: &str, message: &str) -> DockerState {
    pod_to_state(Some(&pod(
        "Never",
        json!({"phase": "Pending", "containerStatuses": [{"name": "main", "image": "alpine", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}]}),
    )))
}

#[test]
fn a_throttled_pull_and_its_back_off_are_no_verdict_the_next_pull_error_is() {
    let verdict = PullVerdict::default();
    let backoff = waiting_state("ImagePullBackOff", "Back-off pulling image \"alpine\"");
    assert!(verdict.failure(&waiting_state("ContainerCreating", "")).is_none());
    assert!(verdict.failure(&waiting_state("ErrImagePull", "pull QPS exceeded")).is_none());
    assert!(verdict.failure(&backoff).is_none());
    let not_found = waiting_state("ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image");
    assert!(
        matches!(verdict.failure(&not_found), Some(StartFailure::ImagePull { reason, .. }) if reason == "ErrImagePull")
    );
}

#[test]
fn without_a_throttled_pull_every_pull_failure_is_a_verdict() {
    let verdict = PullVerdict::default();
    let backoff = waiting_state("ImagePullBackOff", "Back-off pulling image \"alpine\"");
    assert!(verdict.failure(&backoff).is_some());
    assert!(verdict.failure(&waiting_state("ErrImagePull", "unauthorized")).is_some());
    assert!(verdict.failure(&waiting_state("CreateContainerError", "no such file")).is_some());
}

#[test]
fn start_error_message_becomes_state_error() {
    let p = pod(
        "Never",
        json!({"phase": "Failed", "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 128, "reason": "StartError",
            "message": "exec: \"nope\": executable file not found in $PATH"}}}]}),
    );
    assert_eq!(pod_to_state(Some(&p)).error, "exec: \"nope\": executable file not found in $PATH");
}

#[test]
fn unschedulable_and_evicted_pods() {
    let p = pod(
        "Never",
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/1 nodes are available"}]}),
    );
    assert_eq!(
        pod_to_state(Some(&p)).start_failure,
        Some(StartFailure::Unschedulable { message: "0/1 nodes are available".into() })
    );
    let p = pod("Never", json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}));
    let state = pod_to_state(Some(&p));
    assert_eq!((state.status, state.error.as_str()), (Status::Dead, "The node was low on memory."));
    assert!(!state.can_start());
}

#[test]
fn deleting_pod_is_removing() {
    let mut p = pod("Never", json!({"phase": "Running"}));
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH));
    let state = pod_to_state(Some(&p));
    assert_eq!(state.status, Status::Removing);
    assert!(!state.can_start() && !state.can_stop());
}

#[test]
fn pod_failed_while_container_waits_is_dead() {
    let p = pod(
        "Never",
        json!({"phase": "Failed", "reason": "Evicted", "message": "evicted", "containerStatuses": [{"name": "main",
            "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
    );
    let state = pod_to_state(Some(&p));
    assert_eq!((state.status, state.error.as_str()), (Status::Dead, "evicted"));
}

#[test]
fn only_unbound_claims_are_a_wait_for_claims() {
    assert!(waits_for_claims("0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."));
    assert!(waits_for_claims("0/2 nodes are available: 2 pod has unbound immediate PersistentVolumeClaims."));
    assert!(!waits_for_claims(
        "0/2 nodes are available: 1 Insufficient cpu, 1 pod has unbound immediate PersistentVolumeClaims."
    ));
    assert!(!waits_for_claims("0/1 nodes are available: 1 Insufficient cpu."));
    assert!(!waits_for_claims("0/1 nodes are available: 1 persistentvolumeclaim \"x\" not found."));
    assert!(!waits_for_claims(""));
}

#[test]
fn an_exit_shows_once_the_copied_binds_are_back() {
    let status = |keeper: serde_json::Value| {
        json!({"phase": "Running", "containerStatuses": [
            {"name": "main", "image": "alpine", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 3, "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}}},
            {"name": "podshim-binds-out", "image": "busybox", "imageID": "", "ready": true, "restartCount": 0, "state": keeper}]})
    };
    let copying = pod_to_state(Some(&pod("Never", status(json!({"running": {}})))));
    assert_eq!((copying.status, copying.finished_at), (Status::Running, None));
    let done = pod_to_state(Some(&pod("Never", status(json!({"terminated": {"exitCode": 0}})))));
    assert_eq!((done.status, done.exit_code), (Status::Exited, 3));
}
