//! bollard 0.21 as a client of podshim: the flows of traces 40 (create, attach before start, start, wait,
//! remove) and 41 (detached: start, wait, logs with timestamps), asserting exact bytes and exit codes.
//!
//! bollard builds every URL as `/v1.53` + path and then joins the absolute path, which drops the prefix
//! (trace 40, fact 1): these requests exercise podshim's unversioned routes.
//!
//! The same flows can be pointed at any Docker endpoint to check the expectations against a real engine:
//! `COMPAT_BOLLARD_SOCKET=/path/docker.sock cargo test --test compat_bollard` uses that socket instead of
//! starting podshim (and skips the Kubernetes checks).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, WaitContainerOptionsBuilder,
};
use bollard::{container::LogOutput, Docker, API_DEFAULT_VERSION};
use common::Podshim;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

/// The endpoint under test: podshim on the simulated cluster, or the socket named by `COMPAT_BOLLARD_SOCKET`.
struct Endpoint {
    podshim: Option<Podshim>,
    docker: Docker,
}

impl Endpoint {
    fn start() -> Endpoint {
        let (podshim, socket) = match std::env::var("COMPAT_BOLLARD_SOCKET") {
            Ok(socket) => (None, socket),
            Err(_) => {
                let podshim = Podshim::start();
                let socket = podshim.socket.display().to_string();
                (Some(podshim), socket)
            }
        };
        // No negotiate_version(): bollard's default client version, unversioned paths, as in the traces.
        let docker = Docker::connect_with_unix(&socket, 120, API_DEFAULT_VERSION).expect("connect");
        Endpoint { podshim, docker }
    }

    /// With podshim: waits (at most 10 s) until no pod of the container `id` is left.
    async fn expect_no_pod_left(&self, id: &str) {
        let Some(podshim) = &self.podshim else { return };
        let kubeconfig = kube::config::Kubeconfig::read_from(podshim.kubeconfig()).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
        let pods: Api<Pod> = Api::default_namespaced(kube::Client::try_from(config).expect("client"));
        let mut left = Vec::new();
        for _ in 0..50 {
            let list = pods.list(&ListParams::default().labels("podshim.io/managed=true")).await.expect("list pods");
            left = list
                .items
                .into_iter()
                .filter(|p| {
                    p.metadata.annotations.as_ref().and_then(|a| a.get("podshim.io/id")).map(String::as_str) == Some(id)
                })
                .filter_map(|p| p.metadata.name)
                .collect();
            if left.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("pods of removed container {id} still exist: {left:?}");
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Separates a log/attach stream into (stdout, stderr) bytes, failing on any other frame kind.
fn split(frames: &[LogOutput]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for frame in frames {
        match frame {
            LogOutput::StdOut { message } => out.extend_from_slice(message),
            LogOutput::StdErr { message } => err.extend_from_slice(message),
            other => panic!("unexpected frame {other:?}"),
        }
    }
    (out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_attach_start_wait_remove() {
    let endpoint = Endpoint::start();
    let docker = &endpoint.docker;
    assert_eq!(docker.ping().await.expect("ping"), "OK");

    let name = unique("bollard-attach");
    let body = ContainerCreateBody {
        image: Some("alpine".into()),
        cmd: Some(vec!["sh".into(), "-c".into(), "echo out; echo err >&2; exit 3".into()]),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::new().name(&name).build()), body)
        .await
        .expect("create");
    let id = created.id;
    assert_eq!(id.len(), 64, "{id}");

    let attach = AttachContainerOptionsBuilder::new().logs(false).stream(true).stdin(false).stdout(true).stderr(true);
    let attached = docker.attach_container(&id, Some(attach.build())).await.expect("attach before start");
    docker.start_container(&id, None::<StartContainerOptions>).await.expect("start");
    // `not-running` rather than trace 40's `next-exit`: bollard only sends the wait when it is polled, and
    // a container this short may have exited by then (trace 40, fact 8).
    let wait = WaitContainerOptionsBuilder::new().condition("not-running").build();
    let waited = docker.wait_container(&id, Some(wait)).next().await.expect("a wait answer");
    match waited {
        Err(BollardError::DockerContainerWaitError { code, .. }) => assert_eq!(code, 3),
        other => panic!("expected a wait error with code 3, got {other:?}"),
    }
    let frames: Vec<LogOutput> = tokio::time::timeout(Duration::from_secs(30), attached.output.collect::<Vec<_>>())
        .await
        .expect("the attach stream ends after the exit")
        .into_iter()
        .map(|f| f.expect("attach frame"))
        .collect();
    let (out, err) = split(&frames);
    assert_eq!(String::from_utf8_lossy(&out), "out\n", "stdout of {frames:?}");
    assert_eq!(String::from_utf8_lossy(&err), "err\n", "stderr of {frames:?}");

    let inspect = docker.inspect_container(&name, None).await.expect("inspect by name");
    let state = inspect.state.expect("state");
    assert_eq!(state.exit_code, Some(3));
    assert_eq!(inspect.id.as_deref(), Some(id.as_str()));

    let remove = RemoveContainerOptionsBuilder::new().v(false).force(true).link(false).build();
    docker.remove_container(&id, Some(remove)).await.expect("remove");
    match docker.inspect_container(&id, None).await {
        Err(BollardError::DockerResponseServerError { status_code, message }) => {
            assert_eq!(status_code, 404);
            assert_eq!(message, format!("No such container: {id}"));
        }
        other => panic!("expected 404 after remove, got {other:?}"),
    }
    endpoint.expect_no_pod_left(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_start_wait_logs_with_timestamps() {
    let endpoint = Endpoint::start();
    let docker = &endpoint.docker;
    let labels = HashMap::from([("compat".to_string(), "bollard".to_string())]);
    let body = ContainerCreateBody {
        image: Some("alpine".into()),
        cmd: Some(vec!["sh".into(), "-c".into(), "echo a $FOO; echo b >&2; sleep 1; echo c".into()]),
        env: Some(vec!["FOO=bar".into()]),
        labels: Some(labels),
        host_config: Some(bollard::models::HostConfig { auto_remove: Some(false), ..Default::default() }),
        ..Default::default()
    };
    let id = docker.create_container(None, body).await.expect("create").id;
    docker.start_container(&id, None::<StartContainerOptions>).await.expect("start");
    let waited = docker.wait_container(&id, None).next().await.expect("a wait answer").expect("exit 0");
    assert_eq!(waited.status_code, 0);

    let logs = LogsOptionsBuilder::new()
        .follow(false)
        .stdout(true)
        .stderr(true)
        .since(0)
        .until(0)
        .timestamps(true)
        .tail("all")
        .build();
    let frames: Vec<LogOutput> = docker.logs(&id, Some(logs)).map(|f| f.expect("log frame")).collect::<Vec<_>>().await;
    // Each line comes with an RFC 3339 timestamp (Docker: RFC3339Nano) and a space.
    let stamp = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z ").expect("regex");
    let mut lines = Vec::new();
    for frame in &frames {
        let (kind, message) = match frame {
            LogOutput::StdOut { message } => ("out", message),
            LogOutput::StdErr { message } => ("err", message),
            other => panic!("unexpected frame {other:?}"),
        };
        let text = String::from_utf8_lossy(message);
        for line in text.split_inclusive('\n') {
            let found = stamp.find(line).unwrap_or_else(|| panic!("no timestamp in {line:?} ({frames:?})"));
            lines.push(format!("{kind}:{}", &line[found.end()..]));
        }
    }
    let mut first_two = lines[..lines.len().min(2)].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["err:b\n", "out:a bar\n"], "{lines:?}");
    assert_eq!(lines[2..], ["out:c\n"], "{lines:?}");

    let inspect = docker.inspect_container(&id, None).await.expect("inspect");
    let config = inspect.config.expect("config");
    assert_eq!(config.labels.unwrap_or_default().get("compat").map(String::as_str), Some("bollard"));
    assert!(config.env.unwrap_or_default().contains(&"FOO=bar".to_string()));
    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
    docker.remove_container(&id, Some(remove)).await.expect("remove");
    endpoint.expect_no_pod_left(&id).await;
}

/// bollard's image calls: a pull's progress, one image id in image and container inspect, and the 404s of an
/// image never pulled and of a repository the registry does not have. (Needs a registry with `alpine`: the
/// simulated cluster's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_inspect_and_missing_images() {
    use bollard::query_parameters::CreateImageOptionsBuilder;
    let endpoint = Endpoint::start();
    let docker = &endpoint.docker;
    let pull = CreateImageOptionsBuilder::new().from_image("alpine").tag("latest").build();
    let progress: Vec<String> = docker
        .create_image(Some(pull), None, None)
        .map(|p| p.expect("progress").status.unwrap_or_default())
        .collect()
        .await;
    assert_eq!(progress.first().map(String::as_str), Some("Pulling from library/alpine"), "{progress:?}");
    assert!(progress.iter().any(|s| s.starts_with("Digest: sha256:")), "{progress:?}");
    assert_eq!(progress.last().map(String::as_str), Some("Status: Image is up to date for alpine:latest"));

    let image = docker.inspect_image("alpine").await.expect("inspect image");
    let id = image.id.expect("image id");
    let body =
        ContainerCreateBody { image: Some("alpine".into()), cmd: Some(vec!["true".into()]), ..Default::default() };
    let created = docker.create_container(None, body).await.expect("create").id;
    let inspect = docker.inspect_container(&created, None).await.expect("inspect");
    assert_eq!(inspect.image.as_deref(), Some(id.as_str()));
    assert_eq!(inspect.config.and_then(|c| c.env), image.config.and_then(|c| c.env), "the image's Env is merged in");
    docker.remove_container(&created, None::<bollard::query_parameters::RemoveContainerOptions>).await.expect("rm");

    let missing = ContainerCreateBody { image: Some("nosuch-bollard".into()), ..Default::default() };
    match docker.create_container(None, missing).await {
        Err(BollardError::DockerResponseServerError { status_code, message }) => {
            assert_eq!((status_code, message.as_str()), (404, "No such image: nosuch-bollard:latest"));
        }
        other => panic!("create of an image never pulled: {other:?}"),
    }
    let pull = CreateImageOptionsBuilder::new().from_image("nosuch/bollard").tag("latest").build();
    let results: Vec<_> = docker.create_image(Some(pull), None, None).collect().await;
    match results.first() {
        Some(Err(BollardError::DockerResponseServerError { status_code, message })) => {
            assert_eq!(*status_code, 404);
            assert!(
                message.starts_with("pull access denied for nosuch/bollard, repository does not exist"),
                "{message}"
            );
        }
        other => panic!("pull of a missing repository: {other:?}"),
    }
}
