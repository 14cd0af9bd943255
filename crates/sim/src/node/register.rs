//! The Node object: registration at start (retried until the API server answers) and a status
//! heartbeat, as a kubelet keeps its `Ready` condition fresh.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::status::time_text;

/// The kubelet version the node reports (the API version podshim is built against).
pub const KUBELET_VERSION: &str = "v1.33.0";

/// How often the node status is renewed.
const HEARTBEAT: Duration = Duration::from_secs(30);

pub(crate) fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(16 << 30, |kib| kib * 1024)
}

/// The node's CPUs.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the node can give pods (all of it: the simulated kubelet reserves nothing), as the scheduler counts it.
pub(crate) fn allocatable() -> std::collections::BTreeMap<String, f64> {
    std::collections::BTreeMap::from([
        ("cpu".to_string(), cpus() as f64),
        ("memory".to_string(), memory_bytes() as f64),
    ])
}

/// The Node's `status`.
pub fn node_status(name: &str, started: jiff::Timestamp) -> Value {
    let cpus = cpus();
    let capacity = json!({
        "cpu": cpus.to_string(),
        "memory": format!("{}Ki", memory_bytes() / 1024),
        "pods": "110",
        "ephemeral-storage": "100Gi",
    });
    let now = time_text(jiff::Timestamp::now());
    let since = time_text(started);
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": since})
    };
    let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "podshim-sim", "systemUUID": "podshim-sim", "bootID": "podshim-sim",
            "kernelVersion": kernel, "osImage": "podshim simulated node (local processes)",
            "containerRuntimeVersion": "sim://0.1.0", "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux",
            "architecture": crate::registry::Platform::host().architecture,
        },
    })
}

fn node_object(name: &str) -> Result<NodeObject, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": crate::registry::Platform::host().architecture,
            "node-role.kubernetes.io/control-plane": "",
        }},
        "spec": {},
    }))
}

async fn register_once(api: &Api<NodeObject>, name: &str, started: jiff::Timestamp) -> Result<(), kube::Error> {
    let object = node_object(name).map_err(kube::Error::SerdeError)?;
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => return Err(e),
    }
    let patch = json!({"status": node_status(name, started)});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Registers the node (retrying with back-off while the API server is not there) and renews its
/// status until `shutdown`.
pub async fn maintain(client: kube::Client, name: String, shutdown: CancellationToken) {
    let api: Api<NodeObject> = Api::all(client);
    let started = jiff::Timestamp::now();
    let mut delay = Duration::from_millis(200);
    let mut registered = false;
    loop {
        match register_once(&api, &name, started).await {
            Ok(()) => {
                if registered {
                    tracing::debug!(node = %name, "node status renewed");
                } else {
                    tracing::info!(node = %name, "node registered");
                }
                registered = true;
                delay = HEARTBEAT;
            }
            Err(error) => {
                tracing::warn!(%error, node = %name, "node registration failed; retrying");
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
