//! Bind mounts of the caller's paths (`-v /host/dir:/dst`, `--mount type=bind`), on the lifecycle side. What a
//! bind becomes is decided in [`podshim_translate::binds`]; here:
//! - at create, [`prepare`]: a bind under a `--bind-map` prefix is that claim's directory; any other must be a
//!   directory or file podshim can read (a missing `-v` source is made, as Docker makes it);
//! - at start, [`add_to_pod`] adds the copy containers and [`pin`] pins a pod that mounts a ReadWriteOnce claim
//!   of `--bind-map` to podshim's own node; [`upload`] sends the copied binds into the pod before its command
//!   starts;
//! - after the container exits, [`copy_back`] brings what it left in its writable copied binds back into the
//!   caller's directories, then lets the pod end (so `wait` and auto-remove come after the copy).
//!
//! See `docs/binds.md`.

mod copy_back;
mod host_tar;
mod upload;

use std::path::{Path, PathBuf};

use bollard_stubs::models::{ContainerCreateBody, RestartPolicyNameEnum};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolumeClaim, Pod,
};
use kube::Api;

pub(crate) use copy_back::spawn as spawn_copy_back;
pub(crate) use upload::{plan as upload_plan, upload};

use crate::error::Error;
use crate::runtime::Runtime;
use host_tar::HostBind;
use podshim_translate::binds::{self, BindMap};
use podshim_translate::labels::BINDS_REPLICA_ANNOTATION;
use podshim_translate::mounts::{ContainerMount, MountKind};

/// `--bind-map`, `--node-name`, `--bind-copy-limit`.
#[derive(Debug, Clone)]
pub struct BindOptions {
    pub maps: Vec<BindMap>,
    /// The node podshim runs on (pods mounting a ReadWriteOnce claim of a map are pinned to it).
    pub node_name: Option<String>,
    /// The most the copied binds of a container may hold, each way.
    pub copy_limit: u64,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions { maps: Vec::new(), node_name: None, copy_limit: 1 << 30 }
    }
}

/// At create: resolves the body's own binds (not those taken with `VolumesFrom`, resolved by their container):
/// onto a claim of `--bind-map`, or checked for the copy.
pub(crate) async fn prepare(
    rt: &Runtime,
    body: &ContainerCreateBody,
    mounts: &mut [ContainerMount],
) -> Result<(), Error> {
    let options = &rt.options().binds;
    let restarts = body
        .host_config
        .as_ref()
        .and_then(|hc| hc.restart_policy.as_ref())
        .and_then(|p| p.name)
        .is_some_and(|name| !matches!(name, RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO));
    for m in mounts.iter_mut().filter(|m| m.kind == MountKind::Bind && !m.inherited) {
        if let Some((claim, subpath)) = binds::resolve(&options.maps, &m.source) {
            m.claim = Some(claim);
            m.subpath = Some(subpath);
            continue;
        }
        if restarts && m.rw {
            return Err(Error::Unsupported {
                option: format!("Binds ({}:{})", m.source, m.destination),
                why: "a writable bind that no --bind-map covers is copied back when the container exits for good, \
                      which a restart policy never lets it do: map its directory onto a claim with --bind-map, or \
                      bind it read-only"
                    .into(),
            });
        }
        m.subpath = check_copy_source(&m.source, m.create_source).await?;
    }
    Ok(())
}

/// A bind to copy: the source must be a directory or file podshim can read; a missing one is made when
/// `create` (`-v`). Returns the file name of a one-file bind.
async fn check_copy_source(source: &str, create: bool) -> Result<Option<String>, Error> {
    let unreadable = |why: String| {
        Error::InvalidParameter(format!(
            "bind source path {source}: {why}; podshim copies a bind's files from its own filesystem: run podshim \
             where the caller's files are, or put them on a claim and map it with --bind-map HOSTPREFIX=CLAIM"
        ))
    };
    let meta = match tokio::fs::metadata(source).await {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            tokio::fs::create_dir_all(source).await.map_err(|e| unreadable(format!("cannot be made ({e})")))?;
            return Ok(None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InvalidParameter(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {source}"
            )))
        }
        Err(e) => return Err(unreadable(format!("cannot be read ({e})"))),
    };
    if meta.is_dir() {
        let mut entries = tokio::fs::read_dir(source).await.map_err(|e| unreadable(format!("cannot be read ({e})")))?;
        entries.next_entry().await.map_err(|e| unreadable(format!("cannot be read ({e})")))?;
        return Ok(None);
    }
    if !meta.is_file() {
        return Err(unreadable("is neither a directory nor a regular file".into()));
    }
    tokio::fs::File::open(source).await.map_err(|e| unreadable(format!("cannot be read ({e})")))?;
    let name = Path::new(source).file_name().and_then(|n| n.to_str()).map(str::to_string);
    name.map(Some).ok_or_else(|| unreadable("has no file name".into()))
}

/// The caller's side of the pod's copied binds.
fn host_binds(mounts: &[ContainerMount]) -> Vec<HostBind> {
    binds::copied(mounts)
        .into_iter()
        .enumerate()
        .map(|(n, m)| HostBind { n, source: PathBuf::from(&m.source), file: m.subpath.clone() })
        .collect()
}

/// Adds the copy containers (see [`binds::copy_containers`]) and, when something comes back, the replica that
/// copies it ([`BINDS_REPLICA_ANNOTATION`]).
pub(crate) fn add_to_pod(rt: &Runtime, pod: &mut Pod, mounts: &[ContainerMount]) {
    let (copy_in, keeper) = binds::copy_containers(mounts, &rt.options().helper_image);
    let Some(spec) = pod.spec.as_mut() else { return };
    if let Some(copy_in) = copy_in {
        spec.init_containers.get_or_insert_with(Vec::new).push(copy_in);
    }
    if let Some(keeper) = keeper {
        spec.containers.push(keeper);
        let replica = rt.options().ports.replica.clone();
        pod.metadata.annotations.get_or_insert_with(Default::default).insert(BINDS_REPLICA_ANNOTATION.into(), replica);
    }
}

/// Pins the pod to `--node-name` when it mounts a ReadWriteOnce claim of `--bind-map`: the caller (the sidecar's
/// pod) has that claim mounted on podshim's node, and only pods there can mount it too. A claim that cannot be
/// read is left to Kubernetes (the pod then waits for it, and the start says why).
pub(crate) async fn pin(rt: &Runtime, pod: &mut Pod, mounts: &[ContainerMount]) {
    let Some(node) = rt.options().binds.node_name.clone() else { return };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(rt.client().clone(), rt.namespace());
    let mut claims: Vec<&str> = mounts.iter().filter_map(|m| m.claim.as_deref()).collect();
    claims.dedup();
    let mut rwo = false;
    for claim in claims {
        if let Ok(pvc) = api.get(claim).await {
            let modes = pvc.spec.and_then(|s| s.access_modes).unwrap_or_default();
            rwo |= !modes.is_empty() && modes.iter().all(|m| m == "ReadWriteOnce" || m == "ReadWriteOncePod");
        }
    }
    if !rwo {
        return;
    }
    let Some(spec) = pod.spec.as_mut() else { return };
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node]),
        }]),
        ..Default::default()
    };
    let required = NodeSelector { node_selector_terms: vec![term] };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    affinity.node_affinity = Some(NodeAffinity {
        required_during_scheduling_ignored_during_execution: Some(required),
        ..Default::default()
    });
}
