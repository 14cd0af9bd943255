//! The Docker system endpoints through real clients: the docker CLI and raw HTTP on the unix socket.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{body, http, Podshim};

#[test]
fn docker_cli_version_prints_the_server_section() {
    let podshim = Podshim::start();
    let out = podshim.docker(&["version"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "docker version failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let server = stdout.split_once("Server:").map(|(_, s)| s).expect("a Server: section");
    assert!(server.contains("Engine:"), "{server}");
    assert!(server.contains("API version:      1.50 (minimum version 1.24)"), "{server}");
    assert!(server.contains(&format!("Version:          {}", env!("CARGO_PKG_VERSION"))), "{server}");
    assert!(server.contains("Kubernetes:"), "the cluster's version is listed: {server}");
}

#[test]
fn ping_answers_ok_with_the_api_version_header() {
    let podshim = Podshim::start();
    let resp = http(&podshim.socket, "GET", "/_ping").unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("\r\napi-version: 1.50\r\n"), "{resp}");
    assert_eq!(body(&resp), "OK");
    let head = http(&podshim.socket, "HEAD", "/v1.41/_ping").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body(&head), "");
}

#[test]
fn version_is_served_with_and_without_the_prefix() {
    let podshim = Podshim::start();
    for path in ["/version", "/v1.50/version", "/v1.24/version"] {
        let resp = http(&podshim.socket, "GET", path).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {resp}");
        let json: serde_json::Value = serde_json::from_str(body(&resp)).unwrap();
        assert_eq!(json["ApiVersion"], "1.50", "{path}");
        assert_eq!(json["MinAPIVersion"], "1.24", "{path}");
    }
}

#[test]
fn too_new_a_version_and_unknown_paths_get_dockers_errors() {
    let podshim = Podshim::start();
    let resp = http(&podshim.socket, "GET", "/v1.51/version").unwrap();
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert_eq!(body(&resp), r#"{"message":"client version 1.51 is too new. Maximum supported API version is 1.50"}"#);
    let resp = http(&podshim.socket, "GET", "/no/such/path").unwrap();
    assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
    assert_eq!(body(&resp), r#"{"message":"page not found"}"#);
}
