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

    // ensure: created the first time (one create event), the same volume the second time (none).
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
    let anon = bounded(rt.volume_create_anonymous()).await.unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(anon.name.chars().all(|c| c.is_ascii_hexdigit()));
    let claim = claims(&env.client).get(&volume_claim_name(&anon.name)).await.unwrap();
    assert_eq!(claim.metadata.annotations.unwrap()[VOLUME_ANONYMOUS_ANNOTATION], "true");
    assert_eq!(
        drain_volume_events(&mut events),
        vec![("create".to_string(), "data_1".to_string()), ("create".to_string(), anon.name.clone())]
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
}
