//! Real registry clients against the simulated registry: `skopeo` (containers/image, the library
//! podman and CRI-O pull with) resolves, inspects and copies images; `curl` sees the raw headers.
//! Each test says so and passes without running when its tool is not installed
//! (`compat-tests/install-deps.sh` installs both).

use serde_json::Value;
use tokio::process::Command;

use super::*;

fn installed(tool: &str) -> bool {
    let found = std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("{tool} is not installed: this test did not run");
    }
    found
}

async fn skopeo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("skopeo").args(args).output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn skopeo_inspects_the_catalogue_for_its_platform() {
    if !installed("skopeo") {
        return;
    }
    let r = catalogue().await;
    let image = format!("docker://{}/library/python:3.12-slim", r.addr);
    let (ok, out, err) = skopeo(&["inspect", "--tls-verify=false", "--override-arch", "arm64", &image]).await;
    assert!(ok, "{err}");
    let inspect: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(inspect["Digest"].as_str(), r.registry.digest_of("library/python", "3.12-slim").as_deref());
    assert_eq!((inspect["Architecture"].as_str(), inspect["Os"].as_str()), (Some("arm64"), Some("linux")));
    assert!(inspect["Env"].as_array().unwrap().iter().any(|e| e == "PYTHON_VERSION=3.12.7"), "{inspect}");
    assert!(inspect["RepoTags"].as_array().unwrap().iter().any(|t| t == "3.12-slim"));

    let config = format!("docker://{}/library/alpine:3.10", r.addr);
    let (ok, out, err) = skopeo(&["inspect", "--tls-verify=false", "--config", &config]).await;
    assert!(ok, "{err}");
    let config: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh"]));

    let missing = format!("docker://{}/library/alpine:nosuch", r.addr);
    let (ok, _, err) = skopeo(&["inspect", "--tls-verify=false", &missing]).await;
    assert!(!ok && err.contains("manifest unknown"), "{err}");
}

#[tokio::test]
async fn skopeo_copies_an_image_in_with_every_platform_and_the_same_digest() {
    if !installed("skopeo") {
        return;
    }
    let r = catalogue().await;
    let from = format!("docker://{}/library/busybox:latest", r.addr);
    let to = format!("docker://{}/copied/busybox:v1", r.addr);
    let (ok, _, err) =
        skopeo(&["copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", &from, &to]).await;
    assert!(ok, "{err}");
    assert_eq!(r.registry.digest_of("copied/busybox", "v1"), r.registry.digest_of("library/busybox", "latest"));
    let arm = r.registry.resolve("copied/busybox", "v1", &Platform::linux("arm64", None)).unwrap();
    assert_eq!(arm.config["architecture"], "arm64");
}

#[tokio::test]
async fn skopeo_needs_the_private_registrys_credentials() {
    if !installed("skopeo") {
        return;
    }
    let r = serve_registry(Registry::private().unwrap()).await;
    let image = format!("docker://{}/alpine:latest", r.addr);
    let (ok, _, err) = skopeo(&["inspect", "--tls-verify=false", &image]).await;
    assert!(!ok && err.contains("authentication required"), "{err}");
    let creds = format!("{PRIVATE_USER}:{PRIVATE_PASSWORD}");
    let (ok, out, err) = skopeo(&["inspect", "--tls-verify=false", "--creds", &creds, &image]).await;
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["Digest"].as_str(),
        r.registry.digest_of("alpine", "latest").as_deref()
    );
}

#[tokio::test]
async fn curl_sees_the_headers_a_registry_sends() {
    if !installed("curl") {
        return;
    }
    let r = catalogue().await;
    let url = format!("http://{}/v2/library/alpine/manifests/latest", r.addr);
    let out = Command::new("curl")
        .args(["-sI", &url, "-H", "Accept: application/vnd.oci.image.index.v1+json"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let digest = r.registry.digest_of("library/alpine", "latest").unwrap();
    assert!(text.starts_with("http/1.1 200 ok"), "{text}");
    for line in [
        "content-type: application/vnd.oci.image.index.v1+json".to_string(),
        format!("docker-content-digest: {digest}"),
        "docker-distribution-api-version: registry/2.0".to_string(),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }
}
