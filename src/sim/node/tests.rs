//! Process-level tests: real processes run by the pod runner, with an in-memory API server.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::cluster::FakeCluster;
use super::pods::PodRuntime;
use super::*;

struct Fixture {
    node: Arc<Node>,
    cluster: Arc<FakeCluster>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    fixture_with(FakeCluster::default())
}

fn fixture_with(cluster: FakeCluster) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig { name: NODE_NAME.to_string(), data_dir: dir.path().to_path_buf() };
    let node = Node::with_backoff(config, Duration::from_millis(50), Duration::from_millis(200));
    Fixture { node, cluster: Arc::new(cluster), _dir: dir }
}

impl Fixture {
    fn start(&self, name: &str, spec: Value) -> (Arc<PodRuntime>, PodRef) {
        let uid = uuid::Uuid::new_v4().to_string();
        let mut spec = spec;
        spec["nodeName"] = json!(NODE_NAME);
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": spec,
        }))
        .unwrap();
        let runtime = PodRuntime::start(pod, self.node.ctx.clone(), self.cluster.clone()).unwrap();
        self.node.insert(uid.clone(), runtime.clone());
        (runtime, PodRef { namespace: "default".into(), name: name.into(), uid })
    }

    async fn logs(&self, pod: &PodRef, query: LogQuery) -> String {
        let mut stream = self.node.logs(pod, query).await.unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(out).unwrap()
    }
}

/// Waits (up to 5 s) until the pod's status satisfies `done`.
async fn wait_for(runtime: &PodRuntime, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        let status = runtime.status();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out; last status {:#}", runtime.status());
}

fn phase_is(phase: &'static str) -> impl Fn(&Value) -> bool {
    move |s| s["phase"] == phase
}

fn query(container: &str) -> LogQuery {
    LogQuery { container: container.into(), ..Default::default() }
}

fn sh(script: &str) -> Value {
    json!(["sh", "-c", script])
}

#[tokio::test]
async fn exit_code_and_separate_streams_are_recorded() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
        "command": sh("echo out; sleep 0.2; echo err >&2; sleep 0.2; printf partial; exit 3")}]});
    let (runtime, pod) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Failed")).await;
    let terminated = &status["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 3);
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
    let spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let Err(error) = f.node.logs(&pod, LogQuery { previous: true, ..query("c") }).await else { panic!() };
    assert_eq!(error.message, "previous terminated container \"c\" in pod \"p\" not found");
    runtime.stop(Duration::ZERO).await;
    let status = runtime.status();
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 143);
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["signal"], 15);
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
async fn exec_runs_in_the_container_environment() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "busybox", "env": [{"name": "V", "value": "42"}]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: false, stdout: true, stderr: true, tty: false };
    let command = vec!["sh".into(), "-c".into(), "echo $HOSTNAME $V; echo e >&2; exit 3".into()];
    let mut streams = f.node.exec(&pod, options, command).await.unwrap();
    let mut out = String::new();
    while let Some(output) = streams.output.recv().await {
        match output {
            Output::Stdout(b) => out.push_str(&format!("1:{}", String::from_utf8_lossy(&b))),
            Output::Stderr(b) => out.push_str(&format!("2:{}", String::from_utf8_lossy(&b))),
        }
    }
    assert!(out.contains("1:p 42\n") && out.contains("2:e\n"), "{out}");
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(3));
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn attach_with_stdin_once_closes_stdin_after_the_session() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["cat"],
        "stdin": true, "stdinOnce": true}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: true, stdout: true, stderr: true, tty: false };
    let mut streams = f.node.attach(&pod, options).await.unwrap();
    let stdin = streams.stdin.take().unwrap();
    stdin.send(StdinEvent::Data(bytes::Bytes::from_static(b"hello\n"))).await.unwrap();
    stdin.send(StdinEvent::Close).await.unwrap();
    let mut out = Vec::new();
    while let Some(Output::Stdout(b)) = streams.output.recv().await {
        out.extend_from_slice(&b);
    }
    assert_eq!(out, b"hello\n");
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(0));
    wait_for(&runtime, phase_is("Succeeded")).await;
}

#[tokio::test]
async fn tty_container_writes_merged_output_to_stdout() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "tty": true,
        "command": sh("tty >/dev/null && echo tty $TERM; echo err >&2")}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    let stdout = LogQuery { stream: LogStreamSelector::Stdout, ..query("c") };
    assert_eq!(f.logs(&pod, stdout).await, "tty xterm\r\nerr\r\n");
}

#[tokio::test]
async fn run_as_user_sets_uid_and_gid() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "securityContext": {"runAsUser": 1000, "supplementalGroups": [4321]},
        "containers": [{"name": "c", "image": "busybox", "command": sh("id -u; id -g; id -G"),
            "securityContext": {"runAsUser": 1234, "runAsGroup": 5678}}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(f.logs(&pod, query("c")).await, "1234\n5678\n5678 4321\n");
}

#[tokio::test]
async fn read_only_host_path_refuses_writes_and_leaves_no_mount_point() {
    if !process::can_mount() {
        return;
    }
    let f = fixture();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from host\n").unwrap();
    let target = format!("/tmp/podshim-sim-test-{}/ro", uuid::Uuid::new_v4().simple());
    let script = format!("cat {target}/f; touch {target}/new || exit 9; echo data > /scratch/x && cat /scratch/x");
    let spec = json!({"restartPolicy": "Never",
        "volumes": [{"name": "h", "hostPath": {"path": host.path(), "type": "Directory"}},
                    {"name": "e", "emptyDir": {}}],
        "containers": [{"name": "c", "image": "busybox", "command": sh(&script),
            "volumeMounts": [{"name": "h", "mountPath": target, "readOnly": true},
                             {"name": "e", "mountPath": "/scratch"}]}]});
    let (runtime, pod) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Failed")).await;
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 9);
    let text = f.logs(&pod, query("c")).await;
    assert!(text.starts_with("from host\n") && text.contains("Read-only file system"), "{text}");
    assert!(!host.path().join("new").exists());
    runtime.forget();
    let top = std::path::Path::new(&target).parent().unwrap();
    assert!(!top.exists(), "mount point {} left behind", top.display());
}

#[tokio::test]
async fn exec_joins_the_container_mount_namespace() {
    if !process::can_mount() {
        return;
    }
    let f = fixture();
    let target = format!("/tmp/podshim-sim-test-{}", uuid::Uuid::new_v4().simple());
    let spec = json!({
        "volumes": [{"name": "m", "emptyDir": {"medium": "Memory"}}],
        "containers": [{"name": "c", "image": "busybox", "command": sh(&format!("echo inside > {target}/f; sleep infinity")),
            "volumeMounts": [{"name": "m", "mountPath": target}]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: false, stdout: true, stderr: true, tty: false };
    let wait = format!("for i in $(seq 100); do [ -s {target}/f ] && break; sleep 0.05; done");
    let command = vec!["sh".into(), "-c".into(), format!("{wait}; cat {target}/f; stat -f -c %T {target}")];
    let mut streams = f.node.exec(&pod, options, command).await.unwrap();
    let mut out = Vec::new();
    while let Some(output) = streams.output.recv().await {
        let (Output::Stdout(b) | Output::Stderr(b)) = output;
        out.extend_from_slice(&b);
    }
    assert_eq!(String::from_utf8_lossy(&out), "inside\ntmpfs\n");
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(0));
    assert!(!std::path::Path::new(&target).join("f").exists(), "the volume leaked onto the host");
    runtime.stop(Duration::ZERO).await;
    runtime.forget();
    assert!(!std::path::Path::new(&target).exists(), "mount point left behind");
}

#[tokio::test]
async fn exec_into_a_completed_pod_is_refused() {
    let f = fixture();
    let spec =
        json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    let options = StreamOptions { container: "c".into(), stdin: false, stdout: true, stderr: true, tty: false };
    let Err(error) = f.node.exec(&pod, options, vec!["true".into()]).await else { panic!() };
    assert_eq!(error.message, "cannot exec into a container in a completed pod; current phase is Succeeded");
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

/// Runs the node against the API server of `KUBECONFIG` (e.g. shared/realk8s): registration,
/// status reports, configMap env, logs and graceful deletion through a real kube-apiserver.
#[tokio::test]
#[ignore = "needs a real cluster (KUBECONFIG) with namespace sim-node"]
async fn real_cluster_runs_reports_and_deletes_pods() {
    use k8s_openapi::api::core::v1::{ConfigMap, Node as NodeObject};
    use kube::api::{Api, DeleteParams, PostParams};

    let client = kube::Client::try_default().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = "podshim-sim-node-test";
    let config = NodeConfig { name: name.into(), data_dir: dir.path().to_path_buf() };
    let node = Node::with_backoff(config, Duration::from_millis(100), Duration::from_millis(500));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(node.clone().run(client.clone(), shutdown.clone()));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "sim-node");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "sim-node");
    let _ = pods
        .delete_collection(&DeleteParams { grace_period_seconds: Some(0), ..Default::default() }, &Default::default())
        .await;
    let _ = cms.delete("cm", &DeleteParams::default()).await;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm"}, "data": {"k": "from-cm"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pod = |pod_name: &str, command: Value| -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": pod_name}, "spec": {"nodeName": name, "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": command,
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}]}}),
        )
        .unwrap()
    };
    let created = pods.create(&PostParams::default(), &pod("once", sh("echo hi $X; exit 2"))).await.unwrap();
    let wait_phase = |pod_name: &'static str, phase: &'static str| {
        let pods = pods.clone();
        async move {
            for _ in 0..100 {
                let p = pods.get(pod_name).await.unwrap();
                if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase) {
                    return p;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{pod_name} never reached {phase}");
        }
    };
    let done = wait_phase("once", "Failed").await;
    let state = done.status.unwrap().container_statuses.unwrap()[0].state.clone().unwrap();
    assert_eq!(state.terminated.unwrap().exit_code, 2);
    let pod_ref = PodRef { namespace: "sim-node".into(), name: "once".into(), uid: created.metadata.uid.unwrap() };
    let mut log = node.logs(&pod_ref, query("c")).await.unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = log.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(text, b"hi from-cm\n");
    let nodes: Api<NodeObject> = Api::all(client.clone());
    let registered = nodes.get(name).await.unwrap();
    assert_eq!(registered.status.unwrap().node_info.unwrap().kubelet_version, register::KUBELET_VERSION);

    pods.create(&PostParams::default(), &pod("sleeper", json!(["sleep", "600"]))).await.unwrap();
    wait_phase("sleeper", "Running").await;
    let started = std::time::Instant::now();
    pods.delete("sleeper", &DeleteParams { grace_period_seconds: Some(5), ..Default::default() }).await.unwrap();
    for _ in 0..100 {
        if pods.get_opt("sleeper").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pods.get_opt("sleeper").await.unwrap().is_none(), "graceful deletion never finished");
    assert!(started.elapsed() < Duration::from_secs(4), "SIGTERM should end sleep at once");
    pods.delete("once", &DeleteParams::default()).await.unwrap();
    shutdown.cancel();
    running.await.unwrap();
    let _ = nodes.delete(name, &DeleteParams::default()).await;
    let _ = cms.delete("cm", &DeleteParams::default()).await;
}

/// Runs the node against `KUBECONFIG` for `SIM_NODE_SECONDS` (default 30), for manual checks with kubectl.
#[tokio::test]
#[ignore = "needs a real cluster (KUBECONFIG); a manual harness"]
async fn real_cluster_serve() {
    let client = kube::Client::try_default().await.unwrap();
    let seconds = std::env::var("SIM_NODE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig { name: "podshim-sim-node-test".into(), data_dir: dir.path().to_path_buf() };
    let node = Node::new(config);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(node.run(client, shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn config_map_and_secret_volumes_are_read_only_files() {
    if !process::can_mount() {
        return;
    }
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let mut cluster = FakeCluster::default();
    let cm: ConfigMap = serde_json::from_value(json!({"data": {"app.conf": "x=1\n"}})).unwrap();
    let secret: Secret = serde_json::from_value(json!({"data": {"token": "c2VjcmV0"}})).unwrap();
    cluster.config_maps.insert("cm".into(), cm);
    cluster.secrets.insert("s".into(), secret);
    let f = fixture_with(cluster);
    let base = format!("/tmp/podshim-sim-test-{}", uuid::Uuid::new_v4().simple());
    let script = format!("cat {base}/cm/app.conf {base}/s/token; echo; touch {base}/cm/new 2>/dev/null || echo ro");
    let spec = json!({"restartPolicy": "Never",
        "volumes": [{"name": "cm", "configMap": {"name": "cm"}}, {"name": "s", "secret": {"secretName": "s"}}],
        "containers": [{"name": "c", "image": "busybox", "command": sh(&script),
            "volumeMounts": [{"name": "cm", "mountPath": format!("{base}/cm")}, {"name": "s", "mountPath": format!("{base}/s")}]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(f.logs(&pod, query("c")).await, "x=1\nsecret\nro\n");
    runtime.forget();
    assert!(!std::path::Path::new(&base).exists());
}

#[tokio::test]
async fn missing_claim_keeps_the_pod_waiting_with_the_reason() {
    let f = fixture();
    let spec = json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "v", "mountPath": "/data"}]}]});
    let (runtime, _) = f.start("p", spec);
    let status = wait_for(&runtime, |s| s["message"].is_string()).await;
    assert_eq!(status["phase"], "Pending");
    assert_eq!(status["message"], "persistentvolumeclaim \"data\" not found");
    assert_eq!(status["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn a_missing_executable_is_a_start_error() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["no-such-binary-x"]}]});
    let (runtime, _) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Failed")).await;
    let terminated = &status["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["reason"], "StartError");
    assert_eq!(terminated["exitCode"], 128);
    let message = terminated["message"].as_str().unwrap();
    assert!(message.contains("exec: \"no-such-binary-x\": executable file not found in $PATH"), "{message}");
}

#[tokio::test]
async fn exec_with_a_tty_resizes_its_terminal() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: true, stdout: true, stderr: false, tty: true };
    let mut streams = f.node.exec(&pod, options, vec!["sh".into()]).await.unwrap();
    streams.resize.as_ref().unwrap().send(TerminalSize { width: 100, height: 30 }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stdin = streams.stdin.take().unwrap();
    stdin.send(StdinEvent::Data(bytes::Bytes::from_static(b"stty size; exit 5\n"))).await.unwrap();
    let mut out = Vec::new();
    while let Some(output) = streams.output.recv().await {
        let (Output::Stdout(b) | Output::Stderr(b)) = output;
        out.extend_from_slice(&b);
    }
    assert!(String::from_utf8_lossy(&out).contains("30 100\r\n"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(5));
    runtime.stop(Duration::ZERO).await;
}
