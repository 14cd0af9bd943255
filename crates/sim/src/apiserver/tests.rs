//! The server over real HTTP with kube-rs as the client: what podshim and the node rely on.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;

use crate::access::Credentials;
use crate::node::{Node, NodeConfig};

struct Server {
    client: kube::Client,
    addr: std::net::SocketAddr,
    connector: TlsConnector,
    shutdown: CancellationToken,
    data_dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Server {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let node: Arc<Node> = Node::new(NodeConfig {
        name: "n".into(),
        data_dir: data_dir.path().to_path_buf(),
        registries: Default::default(),
    });
    let shutdown = CancellationToken::new();
    let credentials = Credentials::generate().unwrap();
    tokio::spawn(super::serve(listener, node, credentials.clone(), shutdown.clone()));
    let ca = CertificateDer::from_pem_slice(credentials.ca_pem.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let connector = TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ));
    let mut config = kube::Config::new(format!("https://{addr}").parse().unwrap());
    config.root_cert = Some(vec![ca.to_vec()]);
    config.auth_info.token = Some(credentials.token.as_str().to_string().into());
    Server { client: kube::Client::try_from(config).unwrap(), addr, connector, shutdown, data_dir }
}

/// One raw HTTP/1.1 request over TLS; the status line and the body.
async fn raw(server: &Server, request: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(server.addr.ip().into());
    let mut stream = server.connector.connect(name, tcp).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

mod storage;

#[tokio::test]
async fn without_the_token_every_request_is_unauthorized_as_on_a_real_server() {
    let server = start().await;
    let unauthorized = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
    let paths = ["/api/v1/namespaces", "/api/v1/namespaces/default/pods", "/version", "/healthz", "/nothing"];
    for path in paths {
        for auth in ["", "Authorization: Bearer wrong\r\n", "Authorization: Basic Zm9vOmJhcg==\r\n"] {
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
            let (status, body) = raw(&server, &request).await;
            assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 401 Unauthorized", unauthorized), "{path} {auth}");
        }
    }
    let pod = r#"{"metadata":{"name":"root"},"spec":{"containers":[{"name":"c","image":"alpine"}]}}"#;
    let request = format!(
        "POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{pod}",
        pod.len()
    );
    assert_eq!(raw(&server, &request).await.0, "HTTP/1.1 401 Unauthorized");
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    assert!(pods.get_opt("root").await.unwrap().is_none(), "nothing was created without the token");
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap()
}

#[tokio::test]
async fn pod_lifecycle_through_kube_rs() {
    let server = start().await;
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    let created = pods.create(&PostParams::default(), &pod("p1")).await.unwrap();
    assert_eq!(created.status.as_ref().unwrap().phase.as_deref(), Some("Pending"));
    pods.create(&PostParams::default(), &pod("p2")).await.unwrap();
    let listed = pods.list(&ListParams::default().labels("app=p1")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let metadata = pods.list_metadata(&ListParams::default()).await.unwrap();
    let names: Vec<_> = metadata.items.iter().filter_map(|m| m.metadata.name.as_deref()).collect();
    assert_eq!(names, ["p1", "p2"]);

    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"}, "target": {"name": "n"}});
    let _: serde_json::Value =
        pods.create_subresource("binding", "p1", &PostParams::default(), &binding).await.unwrap();
    let status = Patch::Merge(json!({"status": {"phase": "Running"}}));
    let running = pods.patch_status("p1", &PatchParams::default(), &status).await.unwrap();
    assert_eq!(running.spec.as_ref().unwrap().node_name.as_deref(), Some("n"));

    let deleted = pods.delete("p1", &DeleteParams::default()).await.unwrap();
    let terminating = deleted.left().unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    assert!(pods.get("p1").await.is_ok());

    let uid = terminating.metadata.uid.clone();
    let finish = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid, resource_version: None }),
        ..Default::default()
    };
    pods.delete("p1", &finish).await.unwrap();
    let err = pods.get("p1").await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404));
}

#[tokio::test]
async fn watcher_sees_changes_and_conflicts_are_reported() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client.clone(), "default");
    let mut events = watcher(cms.clone(), watcher::Config::default()).applied_objects().boxed();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "v"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let seen = events.try_next().await.unwrap().unwrap();
    assert_eq!(seen.metadata.name.as_deref(), Some("c"));

    let mut stale = created.clone();
    cms.patch("c", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "w"}}))).await.unwrap();
    let seen = events.try_next().await.unwrap().unwrap();
    assert_eq!(seen.data.unwrap()["k"], "w");
    stale.data = Some([("k".to_string(), "x".to_string())].into());
    let err = cms.replace("c", &PostParams::default(), &stale).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"));
}

#[tokio::test]
async fn namespaces_errors_and_discovery() {
    let server = start().await;
    let namespaces: Api<Namespace> = Api::all(server.client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(names, ["default", "kube-node-lease", "kube-public", "kube-system"]);

    let missing: Api<ConfigMap> = Api::namespaced(server.client.clone(), "nope");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    let err = missing.create(&PostParams::default(), &cm).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404 && s.message == "namespaces \"nope\" not found"));

    let version = server.client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.33.0");
    let resources = server.client.list_core_api_resources("v1").await.unwrap();
    assert!(resources.resources.iter().any(|r| r.name == "pods/exec"));

    let request = http::Request::get("/nothing").body(Vec::new()).unwrap();
    let err = server.client.request_text(request).await.unwrap_err();
    assert!(format!("{err:?}").contains("404"), "{err:?}");
}

#[tokio::test]
async fn finalizers_hold_a_deleted_pod_until_removed() {
    let server = start().await;
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    let mut p = pod("f1");
    p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    p.spec.as_mut().unwrap().node_name = Some("n".into());
    pods.create(&PostParams::default(), &p).await.unwrap();
    pods.delete("f1", &DeleteParams::default()).await.unwrap();
    pods.delete("f1", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    let held = pods.get("f1").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.metadata.deletion_grace_period_seconds, Some(0));
    pods.patch("f1", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert!(pods.get_opt("f1").await.unwrap().is_none());
}

/// A dependent, named by uid in its ownerReferences.
fn owned_config_map(name: &str, owner: &ConfigMap) -> ConfigMap {
    let uid = owner.metadata.uid.clone().unwrap();
    let owner_name = owner.metadata.name.clone().unwrap();
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name, "uid": uid}]}}))
    .unwrap()
}

async fn wait_gone(api: &Api<ConfigMap>, name: &str) -> bool {
    for _ in 0..100 {
        if api.get_opt(name).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn deleting_an_owner_collects_its_dependents_unless_orphaned() {
    let server = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client.clone(), "default");
    let named = |name: &str| -> ConfigMap { serde_json::from_value(json!({"metadata": {"name": name}})).unwrap() };
    let owner = cms.create(&PostParams::default(), &named("owner")).await.unwrap();
    cms.create(&PostParams::default(), &owned_config_map("dependent", &owner)).await.unwrap();
    cms.create(&PostParams::default(), &named("bystander")).await.unwrap();
    cms.delete("owner", &DeleteParams::background()).await.unwrap();
    assert!(wait_gone(&cms, "dependent").await, "the dependent of a deleted owner is garbage-collected");
    assert!(cms.get_opt("bystander").await.unwrap().is_some(), "objects without owners stay");

    let owner = cms.create(&PostParams::default(), &named("owner2")).await.unwrap();
    cms.create(&PostParams::default(), &owned_config_map("kept", &owner)).await.unwrap();
    cms.delete("owner2", &DeleteParams::orphan()).await.unwrap();
    assert!(wait_gone(&cms, "owner2").await);
    let kept = cms.get("kept").await.unwrap();
    assert_eq!(kept.metadata.owner_references.unwrap_or_default(), vec![], "orphaned: the reference is removed");
}
