//! The simulated registry with a real OCI client (`oci-client`, which podshim resolves images with):
//! index -> the platform's manifest -> config, layers, a push, and basic authentication.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{ImageIndexEntry, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use podshim_sim::registry::{self, Access, Platform, Registry};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct Served {
    addr: std::net::SocketAddr,
    registry: Registry,
    _stop: tokio_util::sync::DropGuard,
}

async fn serve(registry: Registry) -> Served {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(registry::serve(listener, registry.clone(), stop.clone()));
    Served { addr, registry, _stop: stop.drop_guard() }
}

/// Picks an index entry's digest, as `oci-client`'s platform resolvers do.
type Resolver = fn(&[ImageIndexEntry]) -> Option<String>;

fn client(resolver: Option<Resolver>) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = ClientConfig { protocol: ClientProtocol::Http, ..Default::default() };
    if let Some(resolver) = resolver {
        config.platform_resolver = Some(Box::new(resolver));
    }
    Client::new(config)
}

fn arm64(entries: &[ImageIndexEntry]) -> Option<String> {
    entries
        .iter()
        .find(|e| e.platform.as_ref().is_some_and(|p| p.architecture.to_string() == "arm64"))
        .map(|e| e.digest.clone())
}

fn reference(addr: std::net::SocketAddr, image: &str) -> Reference {
    format!("{addr}/{image}").parse().unwrap()
}

#[tokio::test]
async fn an_index_resolves_to_the_platform_manifest_and_its_config() {
    let r = serve(Registry::with_catalogue(Access::Open).unwrap()).await;
    let image = reference(r.addr, "library/python:3.12");
    let (manifest, digest, config, list) =
        client(None).pull_manifest_and_config_and_list_digest(&image, &RegistryAuth::Anonymous).await.unwrap();
    assert_eq!(list, r.registry.digest_of("library/python", "3.12"));
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["architecture"], Platform::host().architecture);
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["python3"]));
    let host = r.registry.resolve("library/python", "3.12", &Platform::host()).unwrap();
    assert_eq!((digest, manifest.config.digest), (host.manifest_digest, host.config_digest));

    // Another platform's pick gets that platform's config; the Docker manifest list of alpine:3.10 too.
    let arm = client(Some(arm64));
    let (_, _, config, _) =
        arm.pull_manifest_and_config_and_list_digest(&image, &RegistryAuth::Anonymous).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&config).unwrap()["architecture"], "arm64");
    let old = reference(r.addr, "library/alpine:3.10");
    let (manifest, _, config, _) =
        arm.pull_manifest_and_config_and_list_digest(&old, &RegistryAuth::Anonymous).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&config).unwrap()["variant"], "v8");

    // The layer is a blob the client can fetch (and whose digest it can check).
    let mut layer = Vec::new();
    arm.pull_blob(&old, &manifest.layers[0], &mut layer).await.unwrap();
    assert_eq!(registry::sha256(&layer), manifest.layers[0].digest);

    let missing = reference(r.addr, "library/alpine:nosuch");
    let err = client(None).pull_manifest_and_config(&missing, &RegistryAuth::Anonymous).await.unwrap_err();
    assert!(err.to_string().contains("manifest unknown") || err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");
}

#[tokio::test]
async fn an_image_pushed_with_the_client_is_served() {
    let r = serve(Registry::new(Access::Open)).await;
    let image = reference(r.addr, "team/tool:1");
    let layer = ImageLayer::oci_v1_gzip(b"layer bytes".to_vec(), None);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["tool"]},
        "rootfs": {"type": "layers", "diff_ids": []}});
    let config = Config::oci_v1(serde_json::to_vec(&config).unwrap(), None);
    let manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
    client(None).push(&image, &[layer], config, &RegistryAuth::Anonymous, Some(manifest)).await.unwrap();
    let resolved = r.registry.resolve("team/tool", "1", &Platform::linux("amd64", None)).unwrap();
    assert_eq!(resolved.config["config"]["Cmd"], serde_json::json!(["tool"]));
}

#[tokio::test]
async fn the_private_registry_needs_basic_credentials() {
    let r = serve(Registry::private().unwrap()).await;
    let image = reference(r.addr, "alpine:latest");
    let anonymous = client(None).pull_manifest_and_config(&image, &RegistryAuth::Anonymous).await;
    assert!(anonymous.is_err());
    let wrong = RegistryAuth::Basic(registry::PRIVATE_USER.into(), "wrong".into());
    assert!(client(None).pull_manifest_and_config(&image, &wrong).await.is_err());
    let right = RegistryAuth::Basic(registry::PRIVATE_USER.into(), registry::PRIVATE_PASSWORD.into());
    let (_, _, _, list) = client(None).pull_manifest_and_config_and_list_digest(&image, &right).await.unwrap();
    assert_eq!(list, r.registry.digest_of("alpine", "latest"));
}
