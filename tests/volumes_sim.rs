//! Docker volumes (PersistentVolumeClaims) on the simulated cluster: the `Runtime` surface container create uses
//! (ensure, anonymous volumes, remove), and the `/volumes` API through the docker CLI, with what the cluster shows
//! checked with kubectl.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use bollard::models::ContainerCreateBody;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use podshim::runtime::images::{Endpoint, Platform, RegistryConfig};
use podshim::runtime::{Runtime, RuntimeOptions};
use podshim_sim::{SimCluster, SimOptions};
use podshim_translate::image_ref::ImageRef;
use podshim_translate::labels::{volume_claim_name, VOLUMES_ANNOTATION, VOLUME_ANONYMOUS_ANNOTATION};
use podshim_translate::volume::PruneFilters;
use tokio_util::sync::CancellationToken;

/// Bounds every await of a test so a hang fails instead of blocking CI (not a timing assertion).
const BOUND: Duration = Duration::from_secs(60);

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("bounded wait")
}

struct Env {
    _dir: tempfile::TempDir,
    _sim: SimCluster,
    client: kube::Client,
    shutdown: CancellationToken,
    rt: Runtime,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimCluster::start(SimOptions::new(dir.path().join("sim"))).await.unwrap();
    let loaded = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let shutdown = CancellationToken::new();
    let options = RuntimeOptions {
        start_timeout: Duration::from_secs(20),
        split_log_streams: true,
        start_handshake: Default::default(),
        ports: Default::default(),
        registry: RegistryConfig {
            mirrors: vec![Endpoint { host: sim.registry_addr().to_string(), http: true }],
            ..Default::default()
        },
        volumes: Default::default(),
        helper_image: "busybox".into(),
        binds: Default::default(),
    };
    let rt = Runtime::start(client.clone(), "default".into(), options, shutdown.child_token()).await.unwrap();
    let reference = ImageRef::parse("alpine").unwrap();
    let fetched = bounded(rt.fetch_image(&reference, None, &Platform::native())).await.unwrap();
    bounded(rt.record_pull(&reference, fetched, None)).await.unwrap();
    Env { _dir: dir, _sim: sim, client, shutdown, rt }
}

fn claims(client: &kube::Client) -> Api<PersistentVolumeClaim> {
    Api::namespaced(client.clone(), "default")
}

/// The volume events sent so far, as `(action, name)`.
fn drain_volume_events(
    rx: &mut tokio::sync::broadcast::Receiver<bollard::models::EventMessage>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if e.typ == Some(bollard::models::EventMessageTypeEnum::VOLUME) {
            let id = e.actor.and_then(|a| a.id).unwrap_or_default();
            out.push((e.action.unwrap_or_default(), id));
        }
    }
    out
}

#[tokio::test]
async fn ensure_creates_once_anonymous_volumes_are_marked_and_remove_refuses_a_volume_in_use() {
    let env = env().await;
    let rt = &env.rt;
    let mut events = rt.subscribe_events();

    // ensure: created the first time, the same volume the second time; a create event each time, as Docker sends
    // one each time a container names the volume.
    let first = bounded(rt.volume_ensure("data_1")).await.unwrap();
    assert_eq!((first.name.as_str(), first.driver.as_str()), ("data_1", "local"));
    let again = bounded(rt.volume_ensure("data_1")).await.unwrap();
    assert_eq!(again, first);
    let claim = claims(&env.client).get(&volume_claim_name("data_1")).await.unwrap();
    let spec = claim.spec.unwrap();
    assert_eq!(spec.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    assert_eq!(spec.resources.unwrap().requests.unwrap()["storage"].0, "1Gi");
    let err = bounded(rt.volume_ensure("a/b")).await.unwrap_err();
    assert_eq!(err.status(), 400);

    // An anonymous volume: 64 hex characters, the claim marked.
    let anon = bounded(rt.volume_create_anonymous(&Default::default())).await.unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(anon.name.chars().all(|c| c.is_ascii_hexdigit()));
    let claim = claims(&env.client).get(&volume_claim_name(&anon.name)).await.unwrap();
    assert_eq!(claim.metadata.annotations.unwrap()[VOLUME_ANONYMOUS_ANNOTATION], "true");
    assert_eq!(
        drain_volume_events(&mut events),
        vec![
            ("create".to_string(), "data_1".to_string()),
            ("create".to_string(), "data_1".to_string()),
            ("create".to_string(), anon.name.clone())
        ]
    );

    // A container whose record names data_1 (as container create writes it) keeps it from removal.
    let body = ContainerCreateBody { image: Some("alpine".into()), ..Default::default() };
    let id = bounded(rt.create(Some("user"), body)).await.unwrap().id;
    let record = rt.resolve(&id).unwrap().record.metadata.name.clone().unwrap();
    let annotation = r#"[{"Name":"data_1","Anonymous":false}]"#;
    let patch = serde_json::json!({"metadata": {"annotations": {VOLUMES_ANNOTATION: annotation}}});
    Api::<ConfigMap>::namespaced(env.client.clone(), "default")
        .patch(&record, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let mut changes = futures::stream::iter(0..200);
    while changes.next().await.is_some() {
        let seen = rt.resolve(&id).unwrap();
        if seen.record.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(VOLUMES_ANNOTATION)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for force in [false, true] {
        let err = bounded(rt.volume_remove("data_1", force)).await.unwrap_err();
        assert_eq!(err.status(), 409);
        assert_eq!(err.to_string(), format!("remove data_1: volume is in use - [{id}]"));
    }

    // Unused volumes go; a missing one is 404 in Docker's words, or nothing with force.
    bounded(rt.volume_remove(&anon.name, false)).await.unwrap();
    assert!(claims(&env.client).get_opt(&volume_claim_name(&anon.name)).await.unwrap().is_none());
    let err = bounded(rt.volume_remove("nope", false)).await.unwrap_err();
    assert_eq!((err.status().as_u16(), err.to_string()), (404, "get nope: no such volume".to_string()));
    bounded(rt.volume_remove("nope", true)).await.unwrap();
    assert_eq!(drain_volume_events(&mut events), vec![("destroy".to_string(), anon.name.clone())]);
    let left = claims(&env.client).list(&ListParams::default().labels("podshim.io/volume=true")).await.unwrap();
    assert_eq!(left.items.len(), 1);

    // Prune (API 1.42+): anonymous volumes only, then with `all` the unused named ones; never one in use.
    let anon = bounded(rt.volume_create_anonymous(&Default::default())).await.unwrap();
    bounded(rt.volume_ensure("spare")).await.unwrap();
    let only_anonymous = PruneFilters::parse("", true).unwrap();
    let pruned = bounded(rt.volume_prune(&only_anonymous)).await.unwrap();
    assert_eq!(pruned.volumes_deleted, Some(vec![anon.name.clone()]));
    let all = PruneFilters::parse(r#"{"all":["true"]}"#, true).unwrap();
    let pruned = bounded(rt.volume_prune(&all)).await.unwrap();
    assert_eq!(pruned.volumes_deleted, Some(vec!["spare".to_string()]));
    let names: Vec<String> =
        bounded(rt.volume_list(&Default::default())).await.unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["data_1"]);
}

/// The docker CLI's exit code, stdout and stderr.
fn run(podshim: &common::Podshim, args: &[&str]) -> (i32, String, String) {
    let out = podshim.docker(args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The docker CLI with `DOCKER_API_VERSION` set.
fn run_at(podshim: &common::Podshim, version: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", podshim.docker_host())
        .env("DOCKER_CONFIG", podshim.dir.path().join("docker-config"))
        .env("DOCKER_API_VERSION", version)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn kubectl(podshim: &common::Podshim, args: &[&str]) -> String {
    let out =
        std::process::Command::new("kubectl").args(args).env("KUBECONFIG", podshim.kubeconfig()).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn ok(answer: (i32, String, String)) -> String {
    assert_eq!(answer.0, 0, "{answer:?}");
    answer.1
}

fn lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    lines.sort();
    lines
}

#[test]
fn the_cli_creates_inspects_lists_and_removes_volumes_and_kubectl_shows_the_claims() {
    let podshim = common::Podshim::start();
    let p = &podshim;

    // create: the name back; labels and options kept; the claim carries them.
    let args = [
        "volume",
        "create",
        "--label",
        "team=db",
        "--label",
        "tier",
        "-o",
        "size=2g",
        "-o",
        "accessMode=ReadWriteMany",
        "pgdata",
    ];
    assert_eq!(ok(run(p, &args)), "pgdata");
    assert_eq!(ok(run(p, &["volume", "create", "pgdata"])), "pgdata", "creating it again answers the same volume");
    let anon = ok(run(p, &["volume", "create"]));
    assert!(anon.len() == 64 && anon.chars().all(|c| c.is_ascii_hexdigit()), "{anon}");

    let inspect: serde_json::Value = serde_json::from_str(&ok(run(p, &["volume", "inspect", "pgdata"]))).unwrap();
    let volume = &inspect[0];
    let keys: Vec<&str> = volume.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"], "{volume}");
    assert_eq!(volume["Name"], "pgdata");
    assert_eq!(volume["Driver"], "local");
    assert_eq!(volume["Scope"], "local");
    assert_eq!(volume["Labels"], serde_json::json!({"team": "db", "tier": ""}));
    assert_eq!(volume["Options"], serde_json::json!({"size": "2g", "accessMode": "ReadWriteMany"}));
    let claim = volume_claim_name("pgdata");
    assert_eq!(volume["Mountpoint"], format!("k8s://default/persistentvolumeclaims/{claim}"));
    let created = volume["CreatedAt"].as_str().unwrap();
    assert!(regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap().is_match(created), "{created}");

    // Without labels and options both are null, as Docker writes them.
    let plain: serde_json::Value = serde_json::from_str(&ok(run(p, &["volume", "inspect", &anon]))).unwrap();
    assert_eq!((&plain[0]["Labels"], &plain[0]["Options"]), (&serde_json::Value::Null, &serde_json::Value::Null));

    let pvc: serde_json::Value = serde_json::from_str(&kubectl(p, &["get", "pvc", &claim, "-o", "json"])).unwrap();
    assert_eq!(pvc["metadata"]["labels"]["team"], "db");
    assert_eq!(pvc["metadata"]["labels"]["podshim.io/volume"], "true");
    assert_eq!(pvc["metadata"]["annotations"]["podshim.io/volume-name"], "pgdata");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "2Gi");
    assert_eq!(pvc["spec"]["accessModes"], serde_json::json!(["ReadWriteMany"]));
    let by_label = kubectl(p, &["get", "pvc", "-l", "team=db", "-o", "name"]);
    assert_eq!(by_label.trim(), format!("persistentvolumeclaim/{claim}"));

    // Bad input: exit 1 and Docker's message.
    let (code, _, err) = run(p, &["volume", "create", "-o", "type=tmpfs", "x1"]);
    assert_eq!((code, err.as_str()), (1, "Error response from daemon: create x1: invalid option: \"type\""));
    let (code, _, err) = run(p, &["volume", "create", "-o", "size=lots", "x1"]);
    assert_eq!((code, err.as_str()), (1, "Error response from daemon: create x1: invalid size: 'lots'"));
    let (code, _, err) = run(p, &["volume", "create", "-d", "nfs", "x1"]);
    assert_eq!(
        (code, err.as_str()),
        (1, "Error response from daemon: create x1: error looking up volume plugin nfs: plugin \"nfs\" not found")
    );
    let (code, _, err) = run(p, &["volume", "inspect", "nope"]);
    assert_eq!((code, err.as_str()), (1, "Error response from daemon: get nope: no such volume"));
    let (code, _, err) = run(p, &["volume", "ls", "-f", "colour=red"]);
    assert_eq!((code, err.as_str()), (1, "Error response from daemon: Invalid filter 'colour'"));

    // ls with filters.
    assert_eq!(lines(&ok(run(p, &["volume", "ls", "-q"]))), lines(&format!("{anon}\npgdata")));
    assert_eq!(ok(run(p, &["volume", "ls", "-q", "-f", "label=team=db"])), "pgdata");
    assert_eq!(ok(run(p, &["volume", "ls", "-q", "-f", "label=tier"])), "pgdata");
    assert_eq!(ok(run(p, &["volume", "ls", "-q", "-f", "label=team=web"])), "");
    assert_eq!(ok(run(p, &["volume", "ls", "-q", "-f", "name=gda"])), "pgdata");
    assert_eq!(lines(&ok(run(p, &["volume", "ls", "-q", "-f", "dangling=true"]))), lines(&format!("{anon}\npgdata")));
    assert_eq!(ok(run(p, &["volume", "ls", "-q", "-f", "dangling=false"])), "");
    assert_eq!(ok(run(p, &["volume", "ls", "-q", "-f", "driver=local", "-f", "name=pg"])), "pgdata");

    // rm: gone from Docker and from the cluster; a missing one says so.
    assert_eq!(ok(run(p, &["volume", "rm", "pgdata"])), "pgdata");
    let (code, _, err) = run(p, &["volume", "rm", "pgdata"]);
    assert_eq!((code, err.as_str()), (1, "Error response from daemon: get pgdata: no such volume"));
    assert_eq!(ok(run(p, &["volume", "rm", "-f", "pgdata"])), "pgdata");
    assert_eq!(kubectl(p, &["get", "pvc", "-l", "team=db", "-o", "name"]).trim(), "");
    assert_eq!(ok(run(p, &["volume", "ls", "-q"])), anon);

    // Events: create (each create, as Docker) and destroy, actor = the name, driver=local. (`--until 0s` is now
    // in whole seconds: wait for the next second so the last events are before it.)
    std::thread::sleep(Duration::from_millis(1100));
    let events = ok(run(
        p,
        &[
            "events",
            "--since",
            "5m",
            "--until",
            "0s",
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}",
        ],
    ));
    let expected = format!("create pgdata local\ncreate pgdata local\ncreate {anon} local\ndestroy pgdata local");
    assert_eq!(events, expected);
}

#[test]
fn prune_follows_the_api_version_and_a_volume_in_use_stays() {
    let podshim = common::Podshim::start();
    let p = &podshim;
    for name in ["keep", "old", "used"] {
        ok(run(p, &["volume", "create", "--label", &format!("name={name}"), name]));
    }
    ok(run(p, &["volume", "create", "--label", "keep=yes", "labelled"]));
    // A container that mounts `used`, as container create records it (the volumes annotation on its record).
    let id = ok(run(p, &["create", "--name", "user", "alpine", "true"]));
    let record = podshim_translate::labels::pod_name_for(&id);
    let annotation = format!(r#"{VOLUMES_ANNOTATION}=[{{"Name":"used","Anonymous":false}}]"#);
    kubectl(p, &["annotate", "configmap", &record, &annotation]);
    common::wait_until("the record's volumes reach the cache", 10, || {
        run(p, &["volume", "ls", "-q", "-f", "dangling=false"]).1 == "used"
    });

    let (code, _, err) = run(p, &["volume", "rm", "used"]);
    assert_eq!(
        (code, err.as_str()),
        (1, format!("Error response from daemon: remove used: volume is in use - [{id}]").as_str())
    );
    let (code, _, err) = run(p, &["volume", "rm", "-f", "used"]);
    assert_eq!(code, 1, "{err}");

    // CLI 28 (API 1.50): only anonymous volumes unless --all; there are none.
    let out = ok(run(p, &["volume", "prune", "-f"]));
    assert_eq!(out, "Total reclaimed space: 0B");
    // --filter label!=...: not this one.
    let out = ok(run(p, &["volume", "prune", "-af", "--filter", "label!=keep"]));
    assert_eq!(lines(&out), lines("Deleted Volumes:\nkeep\nold\nTotal reclaimed space: 0B"));
    // API 1.41: every unused volume (`all` is no filter there).
    // The CLI refuses --all below 1.42 itself; the API answers Docker's 400.
    let all = "/v1.41/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D";
    let (status, body) = common::http_json(&p.socket, "POST", all, "").unwrap();
    assert_eq!((status, body.trim()), (400, r#"{"message":"Invalid filter 'all'"}"#));
    let out = ok(run_at(p, "1.41", &["volume", "prune", "-f"]));
    assert_eq!(lines(&out), lines("Deleted Volumes:\nlabelled\nTotal reclaimed space: 0B"));
    assert_eq!(ok(run(p, &["volume", "ls", "-q"])), "used");

    // Without the container, `used` goes too.
    ok(run(p, &["rm", "user"]));
    common::wait_until("the container is gone from the cache", 10, || {
        run(p, &["volume", "ls", "-q", "-f", "dangling=true"]).1 == "used"
    });
    assert_eq!(ok(run(p, &["volume", "rm", "used"])), "used");
}

/// Puts a finalizer on the claim of `name`, as Kubernetes' `pvc-protection` holds a claim a pod uses.
async fn hold(client: &kube::Client, name: &str) {
    let patch = serde_json::json!({"metadata": {"finalizers": ["example.com/hold"]}});
    claims(client).patch(&volume_claim_name(name), &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

/// Takes the finalizer off after `after`, in the background.
fn release_later(client: &kube::Client, name: &str, after: Duration) -> tokio::task::JoinHandle<()> {
    let (client, claim) = (client.clone(), volume_claim_name(name));
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let patch = serde_json::json!({"metadata": {"finalizers": null}});
        claims(&client).patch(&claim, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    })
}

#[tokio::test]
async fn remove_is_over_when_the_claim_is_gone_and_create_waits_for_a_claim_being_deleted() {
    let env = env().await;
    let (rt, client) = (&env.rt, &env.client);

    // remove answers once the finalizer let the claim go; meanwhile the volume is already no volume.
    bounded(rt.volume_ensure("held")).await.unwrap();
    hold(client, "held").await;
    let release = release_later(client, "held", Duration::from_millis(300));
    bounded(rt.volume_remove("held", false)).await.unwrap();
    assert!(claims(client).get_opt(&volume_claim_name("held")).await.unwrap().is_none());
    release.await.unwrap();

    // A claim deleted behind podshim's back and still held: not a volume, and a create waits for it to go.
    let first = claims(client).get(&volume_claim_name(&bounded(rt.volume_ensure("held")).await.unwrap().name)).await;
    let first_uid = first.unwrap().metadata.uid;
    hold(client, "held").await;
    claims(client).delete(&volume_claim_name("held"), &Default::default()).await.unwrap();
    let err = bounded(rt.volume_inspect("held")).await.unwrap_err();
    assert_eq!(err.to_string(), "get held: no such volume");
    let listed = bounded(rt.volume_list(&Default::default())).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    let release = release_later(client, "held", Duration::from_millis(300));
    let created = bounded(rt.volume_ensure("held")).await.unwrap();
    assert_eq!(created.name, "held");
    let second = claims(client).get(&volume_claim_name("held")).await.unwrap();
    assert_ne!(second.metadata.uid, first_uid, "a new claim");
    assert!(second.metadata.deletion_timestamp.is_none());
    release.await.unwrap();
}

#[tokio::test]
async fn bollard_creates_inspects_lists_removes_and_prunes_volumes() {
    use bollard::errors::Error as BollardError;
    use bollard::models::VolumeCreateRequest;
    use bollard::query_parameters::{
        ListVolumesOptionsBuilder, PruneVolumesOptionsBuilder, RemoveVolumeOptionsBuilder,
    };
    use std::collections::HashMap;

    let podshim = tokio::task::spawn_blocking(common::Podshim::start).await.unwrap();
    let docker =
        bollard::Docker::connect_with_unix(&podshim.socket.display().to_string(), 120, bollard::API_DEFAULT_VERSION)
            .unwrap();
    let request = VolumeCreateRequest {
        name: Some("cache".into()),
        labels: Some(HashMap::from([("app".to_string(), "web".to_string())])),
        driver_opts: Some(HashMap::from([("size".to_string(), "512m".to_string())])),
        ..Default::default()
    };
    let created = bounded(docker.create_volume(request)).await.unwrap();
    assert_eq!((created.name.as_str(), created.driver.as_str()), ("cache", "local"));
    let unnamed = bounded(docker.create_volume(VolumeCreateRequest::default())).await.unwrap();
    assert_eq!(unnamed.name.len(), 64);
    assert!(unnamed.labels.is_empty() && unnamed.options.is_empty(), "null Labels and Options read as empty");

    let inspected = bounded(docker.inspect_volume("cache")).await.unwrap();
    assert_eq!(inspected.labels, HashMap::from([("app".to_string(), "web".to_string())]));
    assert_eq!(inspected.options, HashMap::from([("size".to_string(), "512m".to_string())]));
    assert!(inspected.created_at.is_some());

    let filters = HashMap::from([("label", vec!["app=web"])]);
    let listed = bounded(docker.list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build())))
        .await
        .unwrap();
    let names: Vec<String> = listed.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["cache"]);

    match bounded(docker.inspect_volume("nope")).await {
        Err(BollardError::DockerResponseServerError { status_code, message }) => {
            assert_eq!((status_code, message.as_str()), (404, "get nope: no such volume"));
        }
        other => panic!("{other:?}"),
    }
    bounded(docker.remove_volume("nope", Some(RemoveVolumeOptionsBuilder::default().force(true).build())))
        .await
        .unwrap();
    bounded(docker.remove_volume("cache", None::<bollard::query_parameters::RemoveVolumeOptions>)).await.unwrap();

    // bollard speaks the newest API: prune takes named volumes only with `all`.
    let none = bounded(docker.prune_volumes(None::<bollard::query_parameters::PruneVolumesOptions>)).await.unwrap();
    assert_eq!(none.volumes_deleted, Some(vec![]));
    let all = HashMap::from([("all", vec!["true"])]);
    let pruned =
        bounded(docker.prune_volumes(Some(PruneVolumesOptionsBuilder::default().filters(&all).build()))).await.unwrap();
    assert_eq!(pruned.volumes_deleted, Some(vec![unnamed.name.clone()]));
    assert_eq!(pruned.space_reclaimed, Some(0));
    tokio::task::spawn_blocking(move || drop(podshim)).await.unwrap();
}
