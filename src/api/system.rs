//! System endpoints: `GET|HEAD /_ping`, `GET /version`, `GET /info` (`GET /events` is in [`super::events`]).

use bollard_stubs::models::{SystemVersion, SystemVersionComponents, SystemVersionPlatform};
use bytes::Bytes;
use http::{Method, Response, StatusCode};

use super::response::{self, Body};
use super::{API_VERSION, MIN_API_VERSION};
use crate::runtime::Runtime;
use podshim_translate::platform::go_arch;
use podshim_translate::state::Status;

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
pub async fn system_version(rt: &Runtime) -> Response<Body> {
    let asked = tokio::time::timeout(CLUSTER_VERSION_TIMEOUT, rt.client().apiserver_version()).await;
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

fn kernel_version() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string())
}

/// `info` (SystemInfo): what `docker info`, docker-py and testcontainers read. Container counts come from the
/// runtime; `OperatingSystem` names the namespace the containers run in. Machine figures (`NCPU`, `MemTotal`)
/// belong to the cluster's nodes, which podshim does not list, and are 0.
pub async fn system_info(rt: &Runtime) -> Response<Body> {
    let containers = rt.containers();
    let states: Vec<_> = containers.iter().map(|c| c.state().status).collect();
    let count = |s: Status| states.iter().filter(|x| **x == s).count();
    let counts = Counts {
        total: containers.len(),
        running: count(Status::Running) + count(Status::Restarting),
        paused: count(Status::Paused),
        images: rt.images().len(),
    };
    response::json(StatusCode::OK, &info_body(rt.namespace(), &counts))
}

/// The container and image numbers of `/info`.
pub struct Counts {
    pub total: usize,
    pub running: usize,
    pub paused: usize,
    pub images: usize,
}

/// The `/info` body for containers in `namespace`.
pub fn info_body(namespace: &str, counts: &Counts) -> serde_json::Value {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string());
    let mut info = serde_json::json!({
        "ID": format!("podshim/{namespace}"),
        "Containers": counts.total,
        "ContainersRunning": counts.running,
        "ContainersPaused": counts.paused,
        "ContainersStopped": counts.total.saturating_sub(counts.running + counts.paused),
        "Images": counts.images,
        "Driver": podshim_translate::inspect::DRIVER,
        "DriverStatus": [],
        "Plugins": {"Volume": [], "Network": ["bridge"], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": true,
        "SwapLimit": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": false,
        "PidsLimit": false,
        "IPv4Forwarding": true,
        "Debug": false,
        "NFd": 0,
        "NGoroutines": 0,
        "SystemTime": jiff::Timestamp::now().to_string(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "systemd",
        "CgroupVersion": "2",
        "NEventsListener": 0,
    });
    let more = serde_json::json!({
        "KernelVersion": kernel_version().unwrap_or_default(),
        "OperatingSystem": format!("podshim (Kubernetes namespace {namespace})"),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "InsecureRegistryCIDRs": [],
            "Mirrors": [],
        },
        "NCPU": 0,
        "MemTotal": 0,
        "GenericResources": null,
        "DockerRootDir": "",
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": hostname.unwrap_or_else(|_| "podshim".to_string()),
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": {"kubernetes": {"path": "kubernetes"}},
        "DefaultRuntime": "kubernetes",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "",
                  "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": [],
        "Warnings": [],
    });
    if let (Some(info), serde_json::Value::Object(more)) = (info.as_object_mut(), more) {
        info.extend(more);
    }
    info
}
