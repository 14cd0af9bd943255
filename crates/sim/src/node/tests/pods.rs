//! Pod lifecycle: exit codes, restarts, image pulls, config errors, init containers, logs.

use std::time::Duration;

use serde_json::json;

use super::*;

#[tokio::test]
async fn exit_code_and_separate_streams_are_recorded() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
        "command": sh("echo out; sleep 0.2; echo err >&2; sleep 0.2; printf partial; exit 3")}]});
    let (runtime, pod) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Failed")).await;
    let terminated = &status["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 3, "{status:#}");
    assert_eq!(terminated["reason"], "Error");
    assert_eq!(f.logs(&pod, query("c")).await, "out\nerr\npartial");
    let stdout = LogQuery { stream: LogStreamSelector::Stdout, ..query("c") };
    assert_eq!(f.logs(&pod, stdout).await, "out\npartial");
    let stderr = LogQuery { stream: LogStreamSelector::Stderr, ..query("c") };
    assert_eq!(f.logs(&pod, stderr).await, "err\n");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.cluster.last_status().unwrap()["phase"], "Failed");
}

#[tokio::test]
async fn on_failure_restarts_and_keeps_the_previous_log() {
    let f = fixture();
    let spec = json!({"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox",
        "command": sh("echo run; exit 1")}]});
    let (runtime, pod) = f.start("p", spec);
    let status = wait_for(&runtime, |s| s["containerStatuses"][0]["restartCount"].as_i64() >= Some(2)).await;
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 1);
    let previous = LogQuery { previous: true, ..query("c") };
    assert_eq!(f.logs(&pod, previous).await, "run\n");
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn previous_log_of_a_first_run_is_an_error() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let Err(error) = f.node.logs(&pod, LogQuery { previous: true, ..query("c") }).await else { panic!() };
    assert_eq!(error.message, "previous terminated container \"c\" in pod \"p\" not found");
    runtime.stop(Duration::ZERO).await;
    // `sleep infinity` has no TERM handler: as a container's PID 1 it ignores SIGTERM and is killed.
    let status = runtime.status();
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 137);
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["signal"], 9);
}

#[tokio::test]
async fn follow_streams_until_the_container_ends() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
        "command": sh("echo a; sleep 0.3; echo b")}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let follow = LogQuery { follow: true, ..query("c") };
    let text = tokio::time::timeout(Duration::from_secs(3), f.logs(&pod, follow)).await.unwrap();
    assert_eq!(text, "a\nb\n");
}

#[tokio::test]
async fn failing_registry_waits_with_err_image_pull() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "invalid.registry.test/x"}]});
    let (runtime, pod) = f.start("p", spec);
    let status =
        wait_for(&runtime, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull").await;
    assert_eq!(status["phase"], "Pending");
    let Err(error) = f.node.logs(&pod, query("c")).await else { panic!() };
    assert_eq!(error.message, "container \"c\" in pod \"p\" is waiting to start: trying and failing to pull image");
    wait_for(&runtime, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff").await;
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn missing_config_map_is_a_create_container_config_error() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "busybox", "env": [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]}]});
    let (runtime, _) = f.start("p", spec);
    let status =
        wait_for(&runtime, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError")
            .await;
    assert_eq!(status["containerStatuses"][0]["state"]["waiting"]["message"], "configmap \"x\" not found");
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn init_containers_run_first_and_env_is_expanded() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never",
        "initContainers": [{"name": "i", "image": "busybox", "command": sh("echo init")}],
        "containers": [{"name": "c", "image": "busybox", "command": ["echo", "$(GREETING) $(HOSTNAME) $$(HOSTNAME)"],
            "env": [{"name": "GREETING", "value": "hi"}]}]});
    let (runtime, pod) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(status["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    assert_eq!(f.logs(&pod, query("i")).await, "init\n");
    assert_eq!(f.logs(&pod, query("c")).await, "hi p $(HOSTNAME)\n");
}

#[tokio::test]
async fn invalid_image_name_waits_with_the_kubelet_message() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "Busybox"}]});
    let (runtime, _) = f.start("p", spec);
    let status =
        wait_for(&runtime, |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == "InvalidImageName").await;
    let message = status["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap().to_string();
    assert!(message.ends_with("repository name must be lowercase"), "{message}");
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn a_later_run_kills_what_an_abruptly_ended_run_left() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "600"]}]});
    let (runtime, _) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let attempt = runtime.container("c").unwrap().last_attempt().unwrap();
    let pid = attempt.running_pid().unwrap();
    mounts::remove_stale_pod_dirs(&f.node.ctx.data_dir.join("pods"));
    let status = wait_for(&runtime, |s| s["containerStatuses"][0]["state"]["terminated"].is_object()).await;
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["signal"], 9);
    assert!(process::start_time(pid).is_none(), "process {pid} still runs");
    assert!(!runtime.dir.exists());
    runtime.stop(Duration::ZERO).await;
}

/// `supplementalGroups` without a user or group are added to the process's groups, as runc adds them.
#[tokio::test]
async fn supplemental_groups_reach_a_process_without_a_user() {
    if !nix::unistd::geteuid().is_root() {
        return eprintln!("skipped: setting groups needs root");
    }
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "securityContext": {"supplementalGroups": [1000, 1001]},
        "containers": [{"name": "c", "image": "busybox", "command": ["id", "-G"]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    let groups = f.logs(&pod, query("c")).await;
    let groups: Vec<&str> = groups.split_whitespace().collect();
    assert!(groups.contains(&"1000") && groups.contains(&"1001"), "{groups:?}");
}
