//! Pushes through the upload API, and the private registry's basic authentication.

use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::registry::image::{OCI_CONFIG, OCI_MANIFEST};

async fn upload_chunked(addr: SocketAddr, repo: &str, data: &[u8]) -> Answer {
    let start = send(addr, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"").await;
    assert_eq!((start.status, start.header("range")), (202, "0-0"));
    let location = start.header("location").to_string();
    assert!(location.starts_with(&format!("http://{addr}/v2/{repo}/blobs/uploads/")), "{location}");
    let path = location.trim_start_matches(&format!("http://{addr}")).to_string();
    let (first, rest) = data.split_at(data.len() / 2);
    let patched = send(addr, "PATCH", &path, &[("content-range", &format!("0-{}", first.len() - 1))], first).await;
    assert_eq!((patched.status, patched.header("range")), (202, format!("0-{}", first.len() - 1).as_str()));
    let wrong_offset = send(addr, "PATCH", &path, &[("content-range", "0-1")], rest).await;
    assert_eq!(wrong_offset.status, 416);
    let status = send(addr, "GET", &path, &[], b"").await;
    assert_eq!(status.status, 204);
    send(addr, "PUT", &format!("{path}?digest={}", sha256(data)), &[], rest).await
}

#[tokio::test]
async fn an_image_pushed_by_the_upload_api_is_served_and_resolved() {
    let r = serve_registry(Registry::new(Access::Open)).await;
    let layer = b"not really a layer, but bytes all the same".to_vec();
    let done = upload_chunked(r.addr, "team/app", &layer).await;
    assert_eq!((done.status, done.header("docker-content-digest")), (201, sha256(&layer).as_str()));
    let config =
        serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]}})).unwrap();
    let config_digest = sha256(&config);
    let monolithic =
        send(r.addr, "POST", &format!("/v2/team/app/blobs/uploads/?digest={config_digest}"), &[], &config).await;
    assert_eq!(monolithic.status, 201);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let put = send(r.addr, "PUT", "/v2/team/app/manifests/v1", &[("content-type", OCI_MANIFEST)], &manifest).await;
    assert_eq!((put.status, put.header("docker-content-digest")), (201, sha256(&manifest).as_str()));
    let got = get(r.addr, "/v2/team/app/manifests/v1", OCI_MANIFEST).await;
    assert_eq!(got.body, manifest);
    let resolved = r.registry.resolve("team/app", "v1", &Platform::linux("amd64", None)).unwrap();
    assert_eq!(
        (resolved.config_digest, resolved.config["config"]["Cmd"].clone()),
        (config_digest.clone(), json!(["true"]))
    );
    // Mounted into another repository, the blob is readable there.
    let mounted =
        send(r.addr, "POST", &format!("/v2/other/blobs/uploads/?mount={config_digest}&from=team/app"), &[], b"").await;
    assert_eq!(mounted.status, 201);
    assert_eq!(get(r.addr, &format!("/v2/other/blobs/{config_digest}"), "").await.body, config);
}

#[tokio::test]
async fn bad_pushes_get_distribution_errors() {
    let r = serve_registry(Registry::new(Access::Open)).await;
    let wrong =
        send(r.addr, "POST", &format!("/v2/x/blobs/uploads/?digest=sha256:{}", "1".repeat(64)), &[], b"abc").await;
    assert_eq!((wrong.status, wrong.json()["errors"][0]["code"].as_str()), (400, Some("DIGEST_INVALID")));
    let missing = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": format!("sha256:{}", "2".repeat(64)), "size": 1}, "layers": [],
    }))
    .unwrap();
    let put = send(r.addr, "PUT", "/v2/x/manifests/1", &[("content-type", OCI_MANIFEST)], &missing).await;
    assert_eq!((put.status, put.json()["errors"][0]["code"].as_str()), (400, Some("MANIFEST_BLOB_UNKNOWN")));
    let garbage = send(r.addr, "PUT", "/v2/x/manifests/1", &[("content-type", OCI_MANIFEST)], b"xx").await;
    assert_eq!(garbage.json()["errors"][0]["code"], "MANIFEST_INVALID");
    let unknown = send(r.addr, "PATCH", "/v2/x/blobs/uploads/nope", &[], b"abc").await;
    assert_eq!((unknown.status, unknown.json()["errors"][0]["code"].as_str()), (404, Some("BLOB_UPLOAD_UNKNOWN")));
    let bad_name = send(r.addr, "POST", "/v2/Bad/blobs/uploads/", &[], b"").await;
    assert_eq!((bad_name.status, bad_name.json()["errors"][0]["code"].as_str()), (400, Some("NAME_INVALID")));
    assert!(get(r.addr, "/v2/_catalog", "").await.json()["repositories"].as_array().unwrap().is_empty());
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn the_private_registry_challenges_every_request_as_htpasswd_does() {
    let r = serve_registry(Registry::private().unwrap()).await;
    let anonymous = get(r.addr, "/v2/", "").await;
    assert_eq!((anonymous.status, anonymous.header("www-authenticate")), (401, "Basic realm=\"podshim-sim-registry\""));
    assert_eq!(
        anonymous.body,
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\",\"detail\":null}]}\n"
    );
    let wrong = send(r.addr, "GET", "/v2/", &[("authorization", &basic(PRIVATE_USER, "wrong"))], b"").await;
    assert_eq!(wrong.status, 401);
    let right = send(r.addr, "GET", "/v2/", &[("authorization", &basic(PRIVATE_USER, PRIVATE_PASSWORD))], b"").await;
    assert_eq!(right.status, 200);
    let manifest = get(r.addr, "/v2/alpine/manifests/latest", ALL_TYPES).await;
    assert_eq!(manifest.status, 401);
    assert_eq!(
        manifest.json()["errors"][0]["detail"],
        json!([{"Type": "repository", "Class": "", "Name": "alpine", "Action": "pull"}])
    );
    let auth = basic(PRIVATE_USER, PRIVATE_PASSWORD);
    let allowed =
        send(r.addr, "GET", "/v2/alpine/manifests/latest", &[("authorization", &auth), ("accept", ALL_TYPES)], b"")
            .await;
    assert_eq!(allowed.status, 200);
    let public = Registry::with_catalogue(Access::Open).unwrap();
    assert_eq!(allowed.header("docker-content-digest"), public.digest_of("library/alpine", "latest").unwrap());
}
