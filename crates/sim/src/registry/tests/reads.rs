//! Reads: `/v2/`, manifests with content negotiation, blobs, tags, the catalog, errors, the catalogue's
//! content and the platform pick.

use std::io::Read;

use serde_json::json;

use super::*;
use crate::registry::image::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

#[tokio::test]
async fn base_answers_as_a_v2_registry() {
    let r = catalogue().await;
    let a = get(r.addr, "/v2/", "").await;
    assert_eq!((a.status, a.header("docker-distribution-api-version"), &a.body[..]), (200, "registry/2.0", &b"{}"[..]));
    let unknown = get(r.addr, "/v2/nope", "").await;
    assert_eq!((unknown.status, &unknown.body[..]), (404, &b"404 page not found\n"[..]));
}

#[tokio::test]
async fn a_tag_resolves_to_an_index_then_a_manifest_then_config_and_layer() {
    let r = catalogue().await;
    let index = get(r.addr, "/v2/library/alpine/manifests/latest", ALL_TYPES).await;
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), OCI_INDEX);
    let digest = sha256(&index.body);
    assert_eq!(index.header("docker-content-digest"), digest);
    assert_eq!(index.header("etag"), format!("\"{digest}\""));
    assert_eq!(Some(digest.clone()), r.registry.digest_of("library/alpine", "3.20"));
    let platforms: Vec<Value> =
        index.json()["manifests"].as_array().unwrap().iter().map(|m| m["platform"].clone()).collect();
    assert_eq!(
        platforms,
        [
            json!({"architecture": "amd64", "os": "linux"}),
            json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
        ]
    );

    let head = send(r.addr, "HEAD", "/v2/library/alpine/manifests/latest", &[("accept", ALL_TYPES)], b"").await;
    assert_eq!((head.status, head.header("docker-content-digest"), head.body.len()), (200, digest.as_str(), 0));
    assert_eq!(head.header("content-length"), index.body.len().to_string());

    let arm = index.json()["manifests"][1]["digest"].as_str().unwrap().to_string();
    let manifest = get(r.addr, &format!("/v2/library/alpine/manifests/{arm}"), OCI_MANIFEST).await;
    assert_eq!((manifest.status, manifest.header("content-type")), (200, OCI_MANIFEST));
    let config_digest = manifest.json()["config"]["digest"].as_str().unwrap().to_string();
    let config = get(r.addr, &format!("/v2/library/alpine/blobs/{config_digest}"), "").await;
    assert_eq!((config.status, config.header("content-type")), (200, "application/octet-stream"));
    assert_eq!(sha256(&config.body), config_digest);
    let config = config.json();
    assert_eq!((config["architecture"].as_str(), config["variant"].as_str()), (Some("arm64"), Some("v8")));
    assert_eq!(config["config"], json!({"Env": [catalogue::PATH], "Cmd": ["/bin/sh"]}));

    let layer_digest = manifest.json()["layers"][0]["digest"].as_str().unwrap().to_string();
    let layer = get(r.addr, &format!("/v2/library/alpine/blobs/{layer_digest}"), "").await;
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer.body[..]).read_to_end(&mut tar).unwrap();
    assert_eq!(sha256(&tar), config["rootfs"]["diff_ids"][0].as_str().unwrap());
    let mut archive = tar::Archive::new(&tar[..]);
    let mut release = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("etc/alpine-release") {
            entry.read_to_string(&mut release).unwrap();
        }
    }
    assert_eq!(release, "3.20.3\n");
}

#[tokio::test]
async fn accept_headers_are_negotiated_as_distribution_does() {
    let r = catalogue().await;
    let refused = get(r.addr, "/v2/library/alpine/manifests/latest", "").await;
    assert_eq!(refused.status, 404);
    assert_eq!(
        refused.json()["errors"][0]["message"],
        "OCI index found, but accept header does not support OCI indexes"
    );
    // alpine:3.10 is a Docker manifest list: a Docker-only client gets the linux/amd64 manifest.
    let list = get(r.addr, "/v2/library/alpine/manifests/3.10", DOCKER_LIST).await;
    assert_eq!(list.header("content-type"), DOCKER_LIST);
    let amd64 = get(r.addr, "/v2/library/alpine/manifests/3.10", DOCKER_MANIFEST).await;
    assert_eq!((amd64.status, amd64.header("content-type")), (200, DOCKER_MANIFEST));
    assert_eq!(amd64.header("docker-content-digest"), list.json()["manifests"][0]["digest"].as_str().unwrap());
    let schema1 = get(r.addr, "/v2/library/alpine/manifests/3.10", "application/json").await;
    assert_eq!((schema1.status, schema1.json()["errors"][0]["code"].as_str()), (400, Some("MANIFEST_INVALID")));
}

#[tokio::test]
async fn unknown_names_tags_digests_and_blobs_are_distribution_errors() {
    let r = catalogue().await;
    let tag = get(r.addr, "/v2/library/alpine/manifests/nosuch", ALL_TYPES).await;
    assert_eq!((tag.status, tag.header("content-type")), (404, "application/json; charset=utf-8"));
    assert_eq!(
        tag.body,
        "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{\"Tag\":\"nosuch\"}}]}\n"
    );
    let zero = format!("sha256:{}", "0".repeat(64));
    let digest = get(r.addr, &format!("/v2/library/alpine/manifests/{zero}"), ALL_TYPES).await;
    assert_eq!(digest.json()["errors"][0]["detail"], json!({"Name": "library/alpine", "Revision": zero}));
    let repo = get(r.addr, "/v2/nosuch/tags/list", "").await;
    assert_eq!((repo.status, repo.json()["errors"][0]["code"].as_str()), (404, Some("NAME_UNKNOWN")));
    let blob = get(r.addr, &format!("/v2/library/alpine/blobs/{zero}"), "").await;
    assert_eq!((blob.status, blob.json()["errors"][0]["code"].as_str()), (404, Some("BLOB_UNKNOWN")));
    // A blob of one repository is not readable through another.
    let busybox_index = get(r.addr, "/v2/library/busybox/manifests/latest", ALL_TYPES).await.json();
    let m = get(
        r.addr,
        &format!("/v2/library/busybox/manifests/{}", busybox_index["manifests"][0]["digest"].as_str().unwrap()),
        OCI_MANIFEST,
    )
    .await;
    let config = m.json()["config"]["digest"].as_str().unwrap().to_string();
    assert_eq!(get(r.addr, &format!("/v2/library/alpine/blobs/{config}"), "").await.status, 404);
    assert_eq!(get(r.addr, "/v2/library/alpine/blobs/sha256:zz", "").await.status, 400);
    assert_eq!(send(r.addr, "DELETE", "/v2/library/alpine/manifests/latest", &[], b"").await.status, 405);
}

#[tokio::test]
async fn tags_and_catalog_are_sorted_and_paginated() {
    let r = catalogue().await;
    let tags = get(r.addr, "/v2/library/alpine/tags/list", "").await.json();
    assert_eq!(tags, json!({"name": "library/alpine", "tags": ["3", "3.10", "3.10.9", "3.20", "3.20.3", "latest"]}));
    let page = get(r.addr, "/v2/library/alpine/tags/list?n=2&last=3", "").await;
    assert_eq!(page.json()["tags"], json!(["3.10", "3.10.9"]));
    assert_eq!(page.header("link"), "</v2/library/alpine/tags/list?last=3.10.9&n=2>; rel=\"next\"");
    let all = get(r.addr, "/v2/_catalog", "").await.json();
    let names: Vec<&str> = all["repositories"].as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    for name in ["library/alpine", "library/busybox", "library/hello-world", "library/python", "testcontainers/ryuk"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let first = get(r.addr, "/v2/_catalog?n=1", "").await;
    assert_eq!(first.json()["repositories"], json!(["library/alpine"]));
    assert_eq!(first.header("link"), "</v2/_catalog?last=library%2Falpine&n=1>; rel=\"next\"");
}

#[test]
fn the_catalogue_is_deterministic_and_shaped_like_the_real_images() {
    let one = Registry::with_catalogue(Access::Open).unwrap();
    let two = Registry::with_catalogue(Access::Open).unwrap();
    let amd64 = Platform::linux("amd64", None);
    for (repo, tag) in [("library/alpine", "latest"), ("library/python", "3.12-slim"), ("testcontainers/ryuk", "0.8.1")]
    {
        assert_eq!(one.digest_of(repo, tag), two.digest_of(repo, tag), "{repo}:{tag}");
    }
    let config = |repo: &str, tag: &str| one.resolve(repo, tag, &amd64).unwrap().config;
    assert_eq!(config("library/hello-world", "latest")["config"]["Cmd"], json!(["/hello"]));
    assert_eq!(config("library/busybox", "latest")["config"]["Cmd"], json!(["sh"]));
    let python = config("library/python", "3.12");
    assert_eq!(python["config"]["Cmd"], json!(["python3"]));
    let env: Vec<&str> = python["config"]["Env"].as_array().unwrap().iter().filter_map(|e| e.as_str()).collect();
    assert!(env.iter().any(|e| e.starts_with("GPG_KEY=")) && env.contains(&"PYTHON_VERSION=3.12.7"), "{env:?}");
    assert_eq!(python["os"], "linux");
    assert_eq!(python["history"].as_array().unwrap().len(), 4);
    let all = config("library/podshim-all-config", "1")["config"].clone();
    for key in [
        "ExposedPorts",
        "Volumes",
        "Healthcheck",
        "StopSignal",
        "User",
        "WorkingDir",
        "Entrypoint",
        "Labels",
        "Cmd",
        "Env",
    ] {
        assert!(all.get(key).is_some(), "{key}");
    }
    assert_eq!(one.resolve("library/alpine", "3.10", &amd64).unwrap().config["docker_version"], "19.03.12");
}

#[test]
fn a_node_gets_its_own_platform_or_a_clear_refusal() {
    let r = Registry::with_catalogue(Access::Open).unwrap();
    let amd64 = r.resolve("library/alpine", "latest", &Platform::linux("amd64", None)).unwrap();
    let arm64 = r.resolve("library/alpine", "latest", &Platform::linux("arm64", None)).unwrap();
    assert_eq!(amd64.digest, arm64.digest);
    assert_ne!(amd64.config_digest, arm64.config_digest);
    assert_eq!(arm64.config["architecture"], "arm64");
    let s390x = r.resolve("library/alpine", "latest", &Platform::linux("s390x", None));
    assert_eq!(s390x, Err(ResolveError::NoMatchingPlatform { index: amd64.digest.clone() }));
    assert_eq!(r.resolve("library/alpine", "nosuch", &Platform::host()), Err(ResolveError::NotFound));
    // By the platform manifest's digest: that manifest, whatever the node's platform.
    let pinned = r.resolve("library/alpine", &arm64.manifest_digest, &Platform::linux("amd64", None)).unwrap();
    assert_eq!(pinned.config_digest, arm64.config_digest);
}
