//! System endpoints: `GET|HEAD /_ping` and `GET /version`.

use bollard::models::{SystemVersion, SystemVersionComponents, SystemVersionPlatform};
use bytes::Bytes;
use http::{Method, Response, StatusCode};

use super::response::{self, Body};
use super::{AppState, API_VERSION, MIN_API_VERSION};

/// `_ping`: `OK` as text/plain (no body for HEAD); the version headers are added by the router.
pub fn system_ping(method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD { Bytes::new() } else { Bytes::from_static(b"OK") };
    let mut resp = response::bytes_with_type(StatusCode::OK, "text/plain; charset=utf-8", body);
    let headers = resp.headers_mut();
    headers.insert("Cache-Control", http::HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    headers.insert("Pragma", http::HeaderValue::from_static("no-cache"));
    resp
}

/// How long `/version` waits for the cluster's version before leaving it out.
const CLUSTER_VERSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `version`: podshim's own version, the API versions it speaks, and the cluster's version when known.
pub async fn system_version(state: &AppState) -> Response<Body> {
    let asked = tokio::time::timeout(CLUSTER_VERSION_TIMEOUT, state.client().apiserver_version()).await;
    let kubernetes = asked.ok().and_then(Result::ok).map(|info| SystemVersionComponents {
        name: "Kubernetes".to_string(),
        version: info.git_version,
        details: None,
    });
    response::json(StatusCode::OK, &version_body(kubernetes))
}

/// The `/version` body; `kubernetes` is the cluster's version component when it answered.
pub fn version_body(kubernetes: Option<SystemVersionComponents>) -> SystemVersion {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let details = [
        ("ApiVersion", API_VERSION.to_string()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("GitCommit", git_commit().to_string()),
        ("GoVersion", GO_VERSION.to_string()),
        ("Os", std::env::consts::OS.to_string()),
        ("Arch", go_arch().to_string()),
        ("KernelVersion", kernel_version().unwrap_or_default()),
        ("Experimental", "false".to_string()),
    ];
    let engine = SystemVersionComponents {
        name: "Engine".to_string(),
        version: version.clone(),
        details: Some(details.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
    };
    SystemVersion {
        platform: Some(SystemVersionPlatform { name: "podshim".to_string() }),
        components: Some(std::iter::once(engine).chain(kubernetes).collect()),
        version: Some(version),
        api_version: Some(API_VERSION.to_string()),
        min_api_version: Some(MIN_API_VERSION.to_string()),
        git_commit: Some(git_commit().to_string()),
        go_version: Some(GO_VERSION.to_string()),
        os: Some(std::env::consts::OS.to_string()),
        arch: Some(go_arch().to_string()),
        kernel_version: kernel_version(),
        experimental: None,
        build_time: None,
    }
}

/// Docker clients print a Go version; podshim is not written in Go, and says so there.
const GO_VERSION: &str = "none (podshim is written in Rust)";

/// The commit podshim was built from, when the build recorded it in `PODSHIM_GIT_COMMIT`.
fn git_commit() -> &'static str {
    option_env!("PODSHIM_GIT_COMMIT").unwrap_or("unknown")
}

/// Docker reports the architecture in Go's words (`amd64`, `arm64`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn kernel_version() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string())
}
