//! The container lifecycle against the in-process simulated cluster: `Runtime` driven directly, with what the
//! cluster shows checked through the same kube client.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::ListParams;
use kube::Api;
use podshim::error::Error;
use podshim::runtime::images::{Endpoint, Platform, RegistryConfig};
use podshim::runtime::{LogChunk, LogOptions, Runtime, RuntimeOptions, WaitCondition, WaitOutcome};
use podshim_sim::{SimCluster, SimOptions};
use podshim_translate::image_ref::ImageRef;
use podshim_translate::labels::IMAGE_PINNED_ANNOTATION;
use podshim_translate::state::Status;
use tokio_util::sync::CancellationToken;

/// Bounds every await of a test so a hang fails instead of blocking CI (not a timing assertion).
const BOUND: Duration = Duration::from_secs(60);

struct Env {
    _dir: tempfile::TempDir,
    sim: SimCluster,
    client: kube::Client,
    shutdown: CancellationToken,
    rt: Runtime,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn client_for(sim: &SimCluster) -> kube::Client {
    let loaded = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Docker Hub is the registry at `host` (the simulated cluster's, or a real node's).
fn registry(host: String) -> RegistryConfig {
    RegistryConfig { mirrors: vec![Endpoint { host, http: true }], ..Default::default() }
}

async fn runtime(client: &kube::Client, shutdown: &CancellationToken, sim: &SimCluster) -> Runtime {
    let options = RuntimeOptions {
        start_timeout: Duration::from_secs(20),
        split_log_streams: true,
        start_handshake: Default::default(),
        ports: Default::default(),
        registry: registry(sim.registry_addr().to_string()),
        volumes: Default::default(),
        helper_image: "busybox".into(),
        binds: Default::default(),
    };
    Runtime::start(client.clone(), "default".into(), options, shutdown.child_token()).await.unwrap()
}

/// What a client does before create: pull the image.
async fn pull(rt: &Runtime, image: &str) {
    let reference = ImageRef::parse(image).unwrap();
    let fetched = bounded(rt.fetch_image(&reference, None, &Platform::native())).await.unwrap();
    bounded(rt.record_pull(&reference, fetched, None)).await.unwrap();
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimCluster::start(SimOptions::new(dir.path().join("sim"))).await.unwrap();
    let client = client_for(&sim).await;
    let shutdown = CancellationToken::new();
    let rt = runtime(&client, &shutdown, &sim).await;
    pull(&rt, "alpine").await;
    Env { _dir: dir, sim, client, shutdown, rt }
}

fn body(cmd: &[&str]) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some("alpine".into()),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("bounded wait")
}

async fn collect(rt: &Runtime, id: &str, options: LogOptions) -> (Vec<u8>, Vec<u8>) {
    let mut stream = rt.logs(&rt.resolve(id).unwrap(), options).await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = bounded(stream.next()).await {
        match chunk.unwrap() {
            LogChunk::Stdout(b) => out.extend_from_slice(&b),
            LogChunk::Stderr(b) => err.extend_from_slice(&b),
        }
    }
    (out, err)
}

fn both() -> LogOptions {
    LogOptions { stdout: true, stderr: true, ..Default::default() }
}

async fn pods(client: &kube::Client) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), "default").list(&ListParams::default()).await.unwrap().items
}

#[tokio::test]
async fn a_container_runs_to_completion_with_its_exit_code_and_separate_streams() {
    let env = env().await;
    let rt = &env.rt;
    let created = rt.create(Some("job"), body(&["sh", "-c", "echo out; echo err >&2; exit 3"])).await.unwrap();
    assert_eq!(created.id.len(), 64);
    assert_eq!(rt.resolve("job").unwrap().state().status, Status::Created);
    assert_eq!(rt.resolve(&created.id[..10]).unwrap().name, "job");
    let (out, _) = collect(rt, "job", both()).await;
    assert!(out.is_empty(), "a created container has no output");
    let wait = rt.wait(&rt.resolve("job").unwrap(), WaitCondition::NextExit).unwrap();
    rt.start_container(&rt.resolve("job").unwrap()).await.unwrap();
    assert_eq!(bounded(wait).await, WaitOutcome { status_code: 3, error: None });
    let (out, err) = collect(rt, "job", both()).await;
    assert_eq!((out.as_slice(), err.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    let (out, err) = collect(rt, "job", LogOptions { stdout: false, ..both() }).await;
    assert_eq!((out.as_slice(), err.as_slice()), (&b""[..], &b"err\n"[..]));
    let state = rt.resolve("job").unwrap().state();
    assert_eq!((state.status, state.exit_code), (Status::Exited, 3));
    assert_eq!(bounded(rt.wait(&rt.resolve("job").unwrap(), WaitCondition::NotRunning).unwrap()).await.status_code, 3);
    rt.remove(&rt.resolve("job").unwrap(), false, false).await.unwrap();
    assert!(matches!(rt.resolve("job"), Err(Error::NoSuchContainer(_))));
    let records = Api::<ConfigMap>::namespaced(env.client.clone(), "default").list(&ListParams::default()).await;
    assert!(records.unwrap().items.iter().all(|r| r.metadata.name.as_deref() != Some("podshim-job")));
}

#[tokio::test]
async fn names_conflict_and_unknown_containers_are_not_found() {
    let env = env().await;
    let rt = &env.rt;
    let first = rt.create(Some("/web"), body(&["true"])).await.unwrap();
    let err = rt.create(Some("web"), body(&["true"])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Conflict. The container name \"/web\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
            first.id
        )
    );
    assert!(matches!(rt.create(Some("a b"), body(&["true"])).await, Err(Error::InvalidParameter(_))));
    assert!(matches!(rt.resolve("nope"), Err(Error::NoSuchContainer(_))));
    let generated = rt.create(None, body(&["true"])).await.unwrap();
    let name = rt.resolve(&generated.id).unwrap().name;
    assert!(name.contains('_'), "{name}");
    rt.rename(&rt.resolve("web").unwrap(), "web2").await.unwrap();
    assert_eq!(rt.resolve("web2").unwrap().id, first.id);
    assert!(matches!(rt.rename(&rt.resolve("web2").unwrap(), &name).await, Err(Error::NameInUse { .. })));
    // A bind of the Docker socket cannot be honoured: refused at create, naming the option.
    let mut bad = body(&["true"]);
    let socket = "/var/run/docker.sock:/var/run/docker.sock".to_string();
    bad.host_config = Some(HostConfig { binds: Some(vec![socket]), ..Default::default() });
    assert_eq!(rt.create(None, bad).await.unwrap_err().status(), http::StatusCode::BAD_REQUEST);
    assert_eq!(rt.containers().len(), 2);
}

#[tokio::test]
async fn stop_kill_restart_and_remove_follow_dockers_rules() {
    let env = env().await;
    let rt = &env.rt;
    rt.create(Some("sleeper"), body(&["sleep", "300"])).await.unwrap();
    rt.start_container(&rt.resolve("sleeper").unwrap()).await.unwrap();
    assert_eq!(rt.resolve("sleeper").unwrap().state().status, Status::Running);
    assert!(matches!(rt.start_container(&rt.resolve("sleeper").unwrap()).await, Err(Error::NotModified)));
    let err = rt.remove(&rt.resolve("sleeper").unwrap(), false, false).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot remove container \"/sleeper\": container is running: stop the container before removing or force remove"
    );
    assert!(rt.kill(&rt.resolve("sleeper").unwrap(), "sleeper", "SIGHUP").await.is_err());
    rt.stop(&rt.resolve("sleeper").unwrap(), Some(1), None).await.unwrap();
    let state = rt.resolve("sleeper").unwrap().state();
    assert_eq!(state.status, Status::Exited, "{state:?}");
    assert!(matches!(rt.stop(&rt.resolve("sleeper").unwrap(), None, None).await, Err(Error::NotModified)));
    let id = rt.resolve("sleeper").unwrap().id;
    assert_eq!(
        rt.kill(&rt.resolve("sleeper").unwrap(), "sleeper", "KILL").await.unwrap_err().to_string(),
        format!("Cannot kill container: sleeper: Container {id} is not running")
    );
    rt.start_container(&rt.resolve("sleeper").unwrap()).await.unwrap();
    assert_eq!(rt.resolve("sleeper").unwrap().state().status, Status::Running);
    rt.kill(&rt.resolve("sleeper").unwrap(), "sleeper", "SIGKILL").await.unwrap();
    assert_eq!(rt.resolve("sleeper").unwrap().state().status, Status::Exited);
    rt.restart(&rt.resolve("sleeper").unwrap(), Some(0), None).await.unwrap();
    assert_eq!(rt.resolve("sleeper").unwrap().state().status, Status::Running);
    rt.remove(&rt.resolve("sleeper").unwrap(), true, false).await.unwrap();
    assert!(matches!(rt.resolve("sleeper"), Err(Error::NoSuchContainer(_))));
}

#[tokio::test]
async fn an_image_never_pulled_is_404_and_one_the_node_cannot_pull_fails_the_start_naming_it() {
    let env = env().await;
    let rt = &env.rt;
    let mut b = body(&["true"]);
    b.image = Some("invalid.registry.test/nothing".into());
    let err = rt.create(Some("never"), b).await.unwrap_err();
    assert_eq!(err.to_string(), "No such image: invalid.registry.test/nothing:latest");
    assert_eq!(err.status(), http::StatusCode::NOT_FOUND);
    // An image gone from the registry after it was resolved: the record's digest names what the node pulls.
    let id = rt.create(Some("pull"), body(&["true"])).await.unwrap().id;
    let records: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let record = format!("podshim-{}", &id[..12]);
    let pin = serde_json::json!({"metadata": {"annotations": {
        IMAGE_PINNED_ANNOTATION: format!("invalid.registry.test/nothing@sha256:{}", "0".repeat(64))}}});
    records.patch(&record, &Default::default(), &kube::api::Patch::Merge(&pin)).await.unwrap();
    bounded(async {
        while rt.resolve("pull").unwrap().record.metadata.annotations.as_ref().unwrap()[IMAGE_PINNED_ANNOTATION]
            .starts_with("docker.io")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let err = rt.start_container(&rt.resolve("pull").unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::StartFailed(_)), "{err:?}");
    assert!(err.to_string().contains("invalid.registry.test/nothing"), "{err}");
    let left = pods(&env.client).await;
    assert!(left.iter().all(|p| p.metadata.deletion_timestamp.is_some()), "{left:?}");
}

#[tokio::test]
async fn a_missing_program_fails_the_start_like_docker() {
    let env = env().await;
    let rt = &env.rt;
    rt.create(Some("missing"), body(&["no-such-program-x"])).await.unwrap();
    let err = rt.start_container(&rt.resolve("missing").unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("exec: \"no-such-program-x\": executable file not found in $PATH"), "{err}");
}

#[tokio::test]
async fn attach_before_start_gets_everything_from_a_fast_exit() {
    let env = env().await;
    let rt = &env.rt;
    rt.create(Some("attached"), body(&["sh", "-c", "echo one; echo two >&2"])).await.unwrap();
    let mut output = rt.attach_output("attached", true, true, false).await.unwrap();
    let wait = rt.wait(&rt.resolve("attached").unwrap(), WaitCondition::NextExit).unwrap();
    rt.start_container(&rt.resolve("attached").unwrap()).await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = bounded(output.next()).await {
        match chunk.unwrap() {
            LogChunk::Stdout(b) => out.extend_from_slice(&b),
            LogChunk::Stderr(b) => err.extend_from_slice(&b),
        }
    }
    assert_eq!((out.as_slice(), err.as_slice()), (&b"one\n"[..], &b"two\n"[..]));
    assert_eq!(bounded(wait).await.status_code, 0);
}

#[tokio::test]
async fn a_second_runtime_sees_the_same_containers_and_starts_a_created_one() {
    let env = env().await;
    env.rt.create(Some("kept"), body(&["sh", "-c", "exit 7"])).await.unwrap();
    let other_shutdown = CancellationToken::new();
    let other = runtime(&env.client, &other_shutdown, &env.sim).await;
    assert_eq!(other.resolve("kept").unwrap().state().status, Status::Created);
    let wait = other.wait(&other.resolve("kept").unwrap(), WaitCondition::NextExit).unwrap();
    other.start_container(&other.resolve("kept").unwrap()).await.unwrap();
    assert_eq!(bounded(wait).await.status_code, 7);
    other_shutdown.cancel();
    let seen = bounded(env.rt.wait(&env.rt.resolve("kept").unwrap(), WaitCondition::NotRunning).unwrap()).await;
    assert_eq!(seen.status_code, 7);
}

#[tokio::test]
async fn events_report_create_start_and_die() {
    let env = env().await;
    let rt = &env.rt;
    let mut events = rt.subscribe_events();
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
    rt.create(Some("events"), body(&["sh", "-c", "exit 2"])).await.unwrap();
    let wait = rt.wait(&rt.resolve("events").unwrap(), WaitCondition::NextExit).unwrap();
    rt.start_container(&rt.resolve("events").unwrap()).await.unwrap();
    bounded(wait).await;
    let mut actions = Vec::new();
    while actions.last().map(String::as_str) != Some("die") {
        let event = bounded(events.recv()).await.unwrap();
        actions.push(event.action.clone().unwrap());
        if event.action.as_deref() == Some("die") {
            let attributes = event.actor.unwrap().attributes.unwrap();
            assert_eq!(attributes["exitCode"], "2");
            assert_eq!(attributes["name"], "events");
        }
    }
    assert_eq!(actions, ["create", "start", "die"]);
    let past: Vec<String> = rt
        .past_events(since)
        .into_iter()
        .map(|e| format!("{} {}", e.typ.map(|t| t.to_string()).unwrap_or_default(), e.action.unwrap_or_default()))
        .collect();
    // The pull of env() too: this replica replays its recent image events (ordered by time, which Kubernetes
    // keeps in whole seconds for the container's create).
    assert!(past.contains(&"image pull".to_string()), "{past:?}");
    let containers: Vec<&String> = past.iter().filter(|e| e.starts_with("container")).collect();
    assert_eq!(containers, ["container create", "container start", "container die"]);
}

fn auto_remove(cmd: &[&str]) -> ContainerCreateBody {
    ContainerCreateBody { host_config: Some(HostConfig { auto_remove: Some(true), ..Default::default() }), ..body(cmd) }
}

#[tokio::test]
async fn an_auto_remove_container_is_removed_after_its_exit_with_all_its_output() {
    let env = env().await;
    let rt = &env.rt;
    rt.create(Some("rm-me"), auto_remove(&["sh", "-c", "echo out; echo err >&2; exit 3"])).await.unwrap();
    let mut output = rt.attach_output("rm-me", true, true, false).await.unwrap();
    let removed = rt.wait(&rt.resolve("rm-me").unwrap(), WaitCondition::Removed).unwrap();
    rt.start_container(&rt.resolve("rm-me").unwrap()).await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = bounded(output.next()).await {
        match chunk.unwrap() {
            LogChunk::Stdout(b) => out.extend_from_slice(&b),
            LogChunk::Stderr(b) => err.extend_from_slice(&b),
        }
    }
    drop(output);
    assert_eq!((out.as_slice(), err.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    assert_eq!(bounded(removed).await.status_code, 3);
    assert!(matches!(rt.resolve("rm-me"), Err(Error::NoSuchContainer(_))));
    assert!(pods(&env.client).await.is_empty(), "the garbage collector removed the pod");
}

#[tokio::test]
async fn auto_remove_containers_that_exited_while_podshim_was_down_are_removed_at_startup() {
    let env = env().await;
    let down = CancellationToken::new();
    let first = runtime(&env.client, &down, &env.sim).await;
    let id = first.create(Some("gone-while-down"), auto_remove(&["sh", "-c", "sleep 1"])).await.unwrap().id;
    // The shared runtime of `env` would reap it too: stop it, then run this one until the container runs.
    env.shutdown.cancel();
    first.start_container(&first.resolve(&id).unwrap()).await.unwrap();
    down.cancel();
    let record = first.resolve(&id).unwrap().record.metadata.name.clone().unwrap();
    let pod = first.resolve(&id).unwrap().pod.unwrap().metadata.name.clone().unwrap();
    let pods_api = Api::<Pod>::namespaced(env.client.clone(), "default");
    let finished = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()).and_then(|s| s.phase.as_deref()).is_some_and(|ph| ph == "Succeeded")
    };
    bounded(kube::runtime::wait::await_condition(pods_api, &pod, finished)).await.unwrap();
    let records = Api::<ConfigMap>::namespaced(env.client.clone(), "default");
    assert!(records.get_opt(&record).await.unwrap().is_some(), "nobody removed it while podshim was down");
    let later = CancellationToken::new();
    let _second = runtime(&env.client, &later, &env.sim).await;
    bounded(kube::runtime::wait::await_condition(records, &record, kube::runtime::conditions::is_deleted("")))
        .await
        .unwrap();
    later.cancel();
}

/// The same lifecycle against a real API server and garbage collector (../shared/realk8s): set
/// `PODSHIM_REAL_KUBECONFIG` and run with `--ignored`. It uses (and creates) the namespace `PODSHIM_REAL_NAMESPACE`
/// (default `podshim-runtime-test`).
#[tokio::test]
#[ignore = "needs a real cluster (PODSHIM_REAL_KUBECONFIG)"]
async fn real_cluster_runs_waits_logs_stops_and_removes() {
    use k8s_openapi::api::core::v1::Namespace;
    let path = std::env::var("PODSHIM_REAL_KUBECONFIG").unwrap();
    let loaded = kube::config::Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let ns = std::env::var("PODSHIM_REAL_NAMESPACE").unwrap_or_else(|_| "podshim-runtime-test".into());
    let ns = ns.as_str();
    let namespace: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
    let _ = Api::<Namespace>::all(client.clone()).create(&Default::default(), &namespace).await;
    let shutdown = CancellationToken::new();
    let mirror = std::env::var("PODSHIM_REAL_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    let options = RuntimeOptions {
        start_timeout: Duration::from_secs(60),
        split_log_streams: false,
        start_handshake: Default::default(),
        ports: Default::default(),
        registry: registry(mirror),
        volumes: Default::default(),
        helper_image: "busybox".into(),
        binds: Default::default(),
    };
    let rt = Runtime::start(client.clone(), ns.into(), options, shutdown.child_token()).await.unwrap();
    pull(&rt, "alpine").await;
    for c in rt.containers() {
        rt.remove(&rt.resolve(&c.id).unwrap(), true, false).await.unwrap();
    }
    rt.create(Some("real-job"), body(&["sh", "-c", "echo out; echo err >&2; exit 3"])).await.unwrap();
    let wait = rt.wait(&rt.resolve("real-job").unwrap(), WaitCondition::NextExit).unwrap();
    rt.start_container(&rt.resolve("real-job").unwrap()).await.unwrap();
    assert_eq!(bounded(wait).await.status_code, 3);
    let (out, err) = collect(&rt, "real-job", both()).await;
    // No split streams on this cluster: both arrive merged, on stdout, each line once (the node decides the
    // order of lines written to two pipes at the same moment).
    let mut lines: Vec<&[u8]> = out.split_inclusive(|b| *b == b'\n').collect();
    lines.sort();
    assert_eq!((lines, err.as_slice()), (vec![&b"err\n"[..], &b"out\n"[..]], &b""[..]));
    rt.create(Some("real-sleeper"), body(&["sleep", "300"])).await.unwrap();
    rt.start_container(&rt.resolve("real-sleeper").unwrap()).await.unwrap();
    rt.stop(&rt.resolve("real-sleeper").unwrap(), Some(1), None).await.unwrap();
    assert_eq!(rt.resolve("real-sleeper").unwrap().state().status, Status::Exited);
    rt.start_container(&rt.resolve("real-sleeper").unwrap()).await.unwrap();
    let removed = rt.wait(&rt.resolve("real-sleeper").unwrap(), WaitCondition::Removed).unwrap();
    rt.remove(&rt.resolve("real-sleeper").unwrap(), true, false).await.unwrap();
    bounded(removed).await;
    rt.create(Some("real-rm"), auto_remove(&["sh", "-c", "echo bye; exit 4"])).await.unwrap();
    let mut output = rt.attach_output("real-rm", true, true, false).await.unwrap();
    let removed = rt.wait(&rt.resolve("real-rm").unwrap(), WaitCondition::Removed).unwrap();
    rt.start_container(&rt.resolve("real-rm").unwrap()).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = bounded(output.next()).await {
        if let LogChunk::Stdout(b) = chunk.unwrap() {
            out.extend_from_slice(&b)
        }
    }
    drop(output);
    assert_eq!(out, b"bye\n");
    assert_eq!(bounded(removed).await.status_code, 4);
    rt.remove(&rt.resolve("real-job").unwrap(), false, false).await.unwrap();
    // Attached, the run keeps them apart: its output comes from pods/attach after the start handshake.
    let (out, err, code) = attached_run(&rt, "real-apart", &["sh", "-c", "echo out; echo err >&2; exit 3"]).await;
    assert_eq!((out.as_slice(), err.as_slice(), code), (&b"out\n"[..], &b"err\n"[..], 3));
    rt.remove(&rt.resolve("real-apart").unwrap(), false, false).await.unwrap();
    let left = Api::<Pod>::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + BOUND;
    while !left.list(&ListParams::default()).await.unwrap().items.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the garbage collector removes the pods");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
}

async fn attached_run(rt: &Runtime, name: &str, cmd: &[&str]) -> (Vec<u8>, Vec<u8>, i64) {
    rt.create(Some(name), body(cmd)).await.unwrap();
    let mut output = rt.attach_output(name, true, true, false).await.unwrap();
    let wait = rt.wait(&rt.resolve(name).unwrap(), WaitCondition::NextExit).unwrap();
    rt.start_container(&rt.resolve(name).unwrap()).await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = bounded(output.next()).await {
        match chunk.unwrap() {
            LogChunk::Stdout(b) => out.extend_from_slice(&b),
            LogChunk::Stderr(b) => err.extend_from_slice(&b),
        }
    }
    (out, err, bounded(wait).await.status_code)
}

#[tokio::test]
async fn long_output_arrives_complete_and_in_order() {
    let env = env().await;
    let (out, err, code) = attached_run(&env.rt, "seq", &["seq", "1", "20000"]).await;
    let expected: String = (1..=20000).map(|n| format!("{n}\n")).collect();
    assert_eq!((String::from_utf8(out).unwrap(), err, code), (expected, Vec::new(), 0));
}

#[tokio::test]
async fn concurrent_runs_each_get_their_own_output_and_exit_code() {
    let env = env().await;
    let runs = (0..10).map(|i| {
        let rt = env.rt.clone();
        async move {
            let script = format!("echo run-{i}; exit {i}");
            attached_run(&rt, &format!("par-{i}"), &["sh", "-c", &script]).await
        }
    });
    let results = futures::future::join_all(runs).await;
    for (i, (out, _, code)) in results.into_iter().enumerate() {
        assert_eq!((String::from_utf8(out).unwrap(), code), (format!("run-{i}\n"), i as i64));
    }
}

#[tokio::test]
async fn logs_tail_timestamps_and_follow() {
    let env = env().await;
    let rt = &env.rt;
    let (_, _, _) = attached_run(rt, "tail", &["sh", "-c", "echo a; echo b; echo c"]).await;
    let (out, _) = collect(rt, "tail", LogOptions { tail: Some(2), ..both() }).await;
    assert_eq!(out, b"b\nc\n");
    let (out, _) = collect(rt, "tail", LogOptions { timestamps: true, ..both() }).await;
    let text = String::from_utf8(out).unwrap();
    let first = text.lines().next().unwrap();
    let (ts, rest) = first.split_once(' ').unwrap();
    assert_eq!((ts.len(), ts.as_bytes()[19], rest), (30, b'.', "a"), "{first}");
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    let (out, _) = collect(rt, "tail", LogOptions { since: Some(future), ..both() }).await;
    assert!(out.is_empty());
    rt.create(Some("follow"), body(&["sh", "-c", "echo start; sleep 1; echo end"])).await.unwrap();
    rt.start_container(&rt.resolve("follow").unwrap()).await.unwrap();
    let (out, _) = collect(rt, "follow", LogOptions { follow: true, ..both() }).await;
    assert_eq!(out, b"start\nend\n");
}

#[tokio::test]
async fn an_attached_auto_remove_run_costs_five_requests_besides_the_watches() {
    use podshim::metrics::{CountLayer, RequestCounter};
    let dir = tempfile::tempdir().unwrap();
    let sim = SimCluster::start(SimOptions::new(dir.path().join("sim"))).await.unwrap();
    let loaded = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.unwrap();
    let counter = RequestCounter::default();
    let counted =
        kube::client::ClientBuilder::try_from(config).unwrap().with_layer(&CountLayer(counter.clone())).build();
    let shutdown = CancellationToken::new();
    let rt = runtime(&counted, &shutdown, &sim).await;
    pull(&rt, "alpine").await;
    // The pull wrote the image record.
    let pulled = counter.get("create", "configmaps");
    let before = counter.render();
    let id = rt.create(None, auto_remove(&["sh", "-c", "echo hi"])).await.unwrap().id;
    let record = rt.resolve(&id).unwrap().record.metadata.name.clone().unwrap();
    let mut output = rt.attach_output(&id, true, true, false).await.unwrap();
    rt.start_container(&rt.resolve(&id).unwrap()).await.unwrap();
    while bounded(output.next()).await.is_some() {}
    drop(output);
    let records = Api::<ConfigMap>::namespaced(client_for(&sim).await, "default");
    bounded(kube::runtime::wait::await_condition(records, &record, kube::runtime::conditions::is_deleted("")))
        .await
        .unwrap();
    // The configmaps created: the record and the claim of its name. The output: one attach session (stdin for
    // the start handshake, stdout and stderr apart), no log read.
    let counts = [
        counter.get("create", "configmaps") - pulled,
        counter.get("create", "pods"),
        counter.get("get", "pods/attach"),
        counter.get("get", "pods/log"),
        counter.get("delete", "configmaps"),
        counter.get("patch", "pods") + counter.get("delete", "pods") + counter.get("get", "pods"),
    ];
    assert_eq!(counts, [2, 1, 1, 0, 1, 0], "before:\n{before}\nafter:\n{}", counter.render());
    shutdown.cancel();
}

#[tokio::test]
async fn a_container_started_by_a_runtime_that_went_away_is_waited_for_and_read_by_the_next() {
    let env = env().await;
    let gone = CancellationToken::new();
    let first = runtime(&env.client, &gone, &env.sim).await;
    first.create(Some("outlives"), body(&["sh", "-c", "echo before; sleep 1; echo after; exit 5"])).await.unwrap();
    first.start_container(&first.resolve("outlives").unwrap()).await.unwrap();
    gone.cancel();
    drop(first);
    let later = CancellationToken::new();
    let next = runtime(&env.client, &later, &env.sim).await;
    assert_eq!(next.resolve("outlives").unwrap().state().status, Status::Running);
    let outcome = bounded(next.wait(&next.resolve("outlives").unwrap(), WaitCondition::NextExit).unwrap()).await;
    assert_eq!(outcome.status_code, 5);
    let (out, _) = collect(&next, "outlives", both()).await;
    assert_eq!(out, b"before\nafter\n");
    later.cancel();
}

#[tokio::test]
async fn a_stopped_pod_whose_record_was_deleted_elsewhere_is_released() {
    let env = env().await;
    let rt = &env.rt;
    rt.create(Some("orphaned"), body(&["sleep", "300"])).await.unwrap();
    rt.start_container(&rt.resolve("orphaned").unwrap()).await.unwrap();
    rt.stop(&rt.resolve("orphaned").unwrap(), Some(0), None).await.unwrap();
    let c = rt.resolve("orphaned").unwrap();
    let pod = c.pod.unwrap().metadata.name.clone().unwrap();
    let records = Api::<ConfigMap>::namespaced(env.client.clone(), "default");
    records.delete(c.record.metadata.name.as_deref().unwrap(), &Default::default()).await.unwrap();
    let pods_api = Api::<Pod>::namespaced(env.client.clone(), "default");
    bounded(kube::runtime::wait::await_condition(pods_api, &pod, kube::runtime::conditions::is_deleted("")))
        .await
        .unwrap();
}
