//! The simulated cluster as kube-rs sees it: pod lifecycle and exit codes, split log streams, exec over
//! WebSocket, and hostPath mounts. Each test starts its own cluster in a temporary directory and talks to
//! it only through a `kube::Client` built from the kubeconfig it writes, as podshim does.
//!
//! The expected answers are those of a real API server and kubelet (compat-tests/cluster/conformance.sh
//! checks the same behaviour with kubectl).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, LogParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::Client;
use podshim_sim::{SimCluster, SimOptions};
use serde_json::json;
use tokio::io::AsyncReadExt;

/// Upper bound for any single step (a pod starting or finishing, one request, one exec).
const STEP: Duration = Duration::from_secs(30);

/// A running simulated cluster and a client for its `default` namespace.
struct Sim {
    cluster: SimCluster,
    client: Client,
    pods: Api<Pod>,
    _dir: tempfile::TempDir,
}

impl Sim {
    async fn start() -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let cluster =
            within("starting the simulated cluster", SimCluster::start(SimOptions::new(dir.path().join("sim"))))
                .await
                .unwrap_or_else(|e| panic!("starting the simulated cluster: {e}"));
        let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig_path())
            .unwrap_or_else(|e| panic!("reading {}: {e}", cluster.kubeconfig_path().display()));
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("loading the kubeconfig: {e}"));
        let client = Client::try_from(config).unwrap_or_else(|e| panic!("building the client: {e}"));
        let pods = Api::default_namespaced(client.clone());
        Sim { cluster, client, pods, _dir: dir }
    }

    /// Creates a pod with one container named `c` running `sh -c script`, restartPolicy Never.
    async fn run(&self, name: &str, script: &str) -> Pod {
        self.create(pod(name, script, json!([]), json!([]))).await
    }

    async fn create(&self, pod: Pod) -> Pod {
        let name = pod.metadata.name.clone().unwrap_or_default();
        within(&format!("creating pod {name}"), self.pods.create(&PostParams::default(), &pod))
            .await
            .unwrap_or_else(|e| panic!("creating pod {name}: {e}"))
    }

    /// Waits (watching the pod) until its phase is Succeeded or Failed.
    async fn wait_finished(&self, name: &str) -> Pod {
        let finished = await_condition(self.pods.clone(), name, is_pod_finished);
        within(&format!("waiting for pod {name} to finish"), finished)
            .await
            .unwrap_or_else(|e| panic!("watching pod {name}: {e}"))
            .unwrap_or_else(|| panic!("pod {name} was deleted while waiting for it to finish"))
    }

    async fn wait_running(&self, name: &str) {
        let running = await_condition(self.pods.clone(), name, conditions::is_pod_running());
        within(&format!("waiting for pod {name} to run"), running)
            .await
            .unwrap_or_else(|e| panic!("watching pod {name}: {e}"));
    }

    /// GETs an API path and returns the body.
    async fn get_text(&self, path: &str) -> String {
        let request = http::Request::get(path).body(Vec::new()).unwrap();
        within(&format!("GET {path}"), self.client.request_text(request))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn stop(self) {
        within("stopping the simulated cluster", self.cluster.stop()).await;
    }
}

/// Runs `future`, failing the test with `what` if it takes longer than [`STEP`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future).await.unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

fn pod(name: &str, script: &str, volume_mounts: serde_json::Value, volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "c",
                "image": "alpine",
                "command": ["sh", "-c", script],
                "volumeMounts": volume_mounts,
            }],
            "volumes": volumes,
        },
    }))
    .unwrap()
}

fn is_pod_finished(pod: Option<&Pod>) -> bool {
    matches!(phase(pod), Some("Succeeded" | "Failed"))
}

fn phase(pod: Option<&Pod>) -> Option<&str> {
    pod?.status.as_ref()?.phase.as_deref()
}

/// `(exitCode, reason)` of the first container's terminated state.
fn terminated(pod: &Pod) -> Option<(i32, Option<String>)> {
    let state = pod.status.as_ref()?.container_statuses.as_ref()?.first()?.state.as_ref()?;
    let terminated = state.terminated.as_ref()?;
    Some((terminated.exit_code, terminated.reason.clone()))
}

#[tokio::test]
async fn exit_code_and_split_logs() {
    let sim = Sim::start().await;
    // The pause: stdout and stderr travel through separate pipes, so back-to-back writes to the two may
    // be logged in either order, by a real kubelet too.
    sim.run("t1", "echo out; sleep 0.2; echo err >&2; exit 3").await;
    let pod = sim.wait_finished("t1").await;
    assert_eq!(phase(Some(&pod)), Some("Failed"), "status: {:?}", pod.status);
    assert_eq!(terminated(&pod), Some((3, Some("Error".to_string()))), "status: {:?}", pod.status);

    let merged = within("reading the logs of t1", sim.pods.logs("t1", &LogParams::default())).await.unwrap();
    assert_eq!(merged, "out\nerr\n");
    // kube 5's LogParams has no `stream` field (Kubernetes 1.32's split streams): ask for it on the raw path.
    let stdout = sim.get_text("/api/v1/namespaces/default/pods/t1/log?stream=Stdout").await;
    let stderr = sim.get_text("/api/v1/namespaces/default/pods/t1/log?stream=Stderr").await;
    assert_eq!(stdout, "out\n", "stream=Stdout");
    assert_eq!(stderr, "err\n", "stream=Stderr");
    sim.stop().await;
}

#[tokio::test]
async fn exec_exit_code_and_stdout() {
    let sim = Sim::start().await;
    sim.run("s1", "sleep 3600").await;
    sim.wait_running("s1").await;

    let mut failing =
        within("exec sh -c 'exit 5'", sim.pods.exec("s1", ["sh", "-c", "exit 5"], &AttachParams::default()))
            .await
            .unwrap_or_else(|e| panic!("exec sh -c 'exit 5': {e}"));
    let status = within("the status of exec 'exit 5'", failing.take_status().unwrap())
        .await
        .unwrap_or_else(|| panic!("exec 'exit 5' ended without a status"));
    assert_eq!(status.status.as_deref(), Some("Failure"), "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"), "{status:?}");
    let causes = status.details.as_ref().and_then(|details| details.causes.clone()).unwrap_or_default();
    assert_eq!(causes.len(), 1, "{status:?}");
    assert_eq!(causes[0].reason.as_deref(), Some("ExitCode"), "{status:?}");
    assert_eq!(causes[0].message.as_deref(), Some("5"), "{status:?}");
    within("joining exec 'exit 5'", failing.join()).await.unwrap();

    let params = AttachParams::default().stderr(false);
    let mut echo = within("exec echo hi", sim.pods.exec("s1", ["echo", "hi"], &params))
        .await
        .unwrap_or_else(|e| panic!("exec echo hi: {e}"));
    let mut stdout = echo.stdout().unwrap();
    let status = echo.take_status().unwrap();
    let mut bytes = Vec::new();
    within("reading the stdout of exec echo hi", stdout.read_to_end(&mut bytes)).await.unwrap();
    assert_eq!(bytes, b"hi\n");
    let status = within("the status of exec echo hi", status).await;
    assert_eq!(status.and_then(|s| s.status), Some("Success".to_string()));
    within("joining exec echo hi", echo.join()).await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn host_path_mounts_honour_read_only() {
    let sim = Sim::start().await;
    let host = tempfile::tempdir().unwrap();
    let (ro_dir, rw_dir) = (host.path().join("ro"), host.path().join("rw"));
    std::fs::create_dir(&ro_dir).unwrap();
    std::fs::create_dir(&rw_dir).unwrap();
    std::fs::write(ro_dir.join("seen"), "from the host\n").unwrap();
    let volumes = |dir: &Path| json!([{"name": "v", "hostPath": {"path": dir, "type": "Directory"}}]);

    sim.create(pod(
        "ro1",
        // 10: the mount is missing; 20: the write failed, as it must.
        "cat /mnt/ro/seen || exit 10; echo x > /mnt/ro/f || exit 20",
        json!([{"name": "v", "mountPath": "/mnt/ro", "readOnly": true}]),
        volumes(&ro_dir),
    ))
    .await;
    sim.create(pod(
        "rw1",
        "echo x > /mnt/rw/f",
        json!([{"name": "v", "mountPath": "/mnt/rw", "readOnly": false}]),
        volumes(&rw_dir),
    ))
    .await;

    let ro = sim.wait_finished("ro1").await;
    assert_eq!(phase(Some(&ro)), Some("Failed"), "writing to a read-only mount: {:?}", ro.status);
    let (code, _) = terminated(&ro).unwrap_or_else(|| panic!("ro1 has no terminated state: {:?}", ro.status));
    assert_eq!(code, 20, "exit code of ro1 (10: /mnt/ro/seen not readable, 0: the write succeeded)");
    let logs = within("reading the logs of ro1", sim.pods.logs("ro1", &LogParams::default())).await.unwrap();
    assert!(logs.starts_with("from the host\n"), "logs of ro1: {logs:?}");
    assert!(!ro_dir.join("f").exists(), "the write through the read-only mount reached the host");

    let rw = sim.wait_finished("rw1").await;
    assert_eq!(phase(Some(&rw)), Some("Succeeded"), "writing to a read-write mount: {:?}", rw.status);
    assert_eq!(std::fs::read_to_string(rw_dir.join("f")).ok().as_deref(), Some("x\n"));
    sim.stop().await;
}

#[tokio::test]
async fn only_the_kubeconfigs_holder_may_use_the_cluster() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Sim::start().await;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let kubeconfig = sim.cluster.kubeconfig_path();
    assert_eq!(mode(kubeconfig), 0o600, "the kubeconfig holds the token");
    assert_eq!(mode(kubeconfig.parent().unwrap()), 0o700, "the data directory is private");

    let loaded = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.unwrap();
    assert_eq!(config.cluster_url.scheme_str(), Some("https"), "kubectl sends no credentials over http");
    config.auth_info.token = None;
    let anonymous: Api<Pod> = Api::default_namespaced(Client::try_from(config).unwrap());
    let err = within("listing without the token", anonymous.list(&Default::default())).await.unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 401 && s.reason == "Unauthorized"), "{err:?}");
    assert!(within("listing with it", sim.pods.list(&Default::default())).await.is_ok());
    sim.stop().await;
}
