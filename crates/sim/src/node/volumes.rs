//! Pod volumes: where each volume lives on this machine.
//!
//! - `emptyDir`: `<pod dir>/volumes/empty-dir/<name>` (mode 0777, like the kubelet's); with
//!   `medium: Memory` a tmpfs is mounted there, as large as its `sizeLimit` (unmounted when the pod ends).
//! - `hostPath`: the path itself, with the `type` checks and creations of the kubelet.
//! - `persistentVolumeClaim`: the directory of the PersistentVolume the claim is bound to (its `hostPath`, with
//!   the kubelet's type checks, or its `local.path`), so the data follows the volume, not the claim's name. The
//!   claim must exist and be bound, else the pod waits. Read-only only when the pod's volume says so (as on a
//!   real node, a ReadOnlyMany claim is not mounted read-only by itself).
//! - `configMap` / `secret`: files written under `<pod dir>/volumes/...`, mounted read-only.
//! - Anything else (projected, downwardAPI, ...): an empty directory.
//!
//! The containers' bind mounts of these volumes are in [`super::mounts`].

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{KeyToPath, Pod};

use super::cluster::Cluster;

/// Where one volume is on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSource {
    pub path: PathBuf,
    pub is_file: bool,
    /// configMap and secret volumes are always mounted read-only.
    pub read_only: bool,
    /// A volume type the sim does not fill (projected, downwardAPI, ...): without mount support
    /// its mounts are left out instead of failing the container.
    pub placeholder: bool,
}

/// The pod's prepared volumes.
#[derive(Debug, Default)]
pub struct Volumes {
    pub sources: HashMap<String, VolumeSource>,
    /// tmpfs mounts on the host (emptyDir medium Memory), unmounted at cleanup.
    pub tmpfs: Vec<PathBuf>,
}

pub fn dir_0777(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
}

/// The mount options of a memory-backed emptyDir: tmpfs's own root mode 1777 (the kubelet mounts it over the 0777
/// directory without a `mode`), and its `sizeLimit` as the tmpfs size,
/// as kubelets with `SizeMemoryBackedVolumes` (on by default from Kubernetes 1.22) mount it, so a write past the
/// limit fails with ENOSPC. Without a limit (or one that does not parse) the kernel's default size.
fn tmpfs_options(size_limit: Option<&str>) -> String {
    match size_limit.and_then(crate::resources::parse_quantity) {
        Some(bytes) if bytes >= 1.0 => format!("mode=1777,size={}", bytes.ceil() as u64),
        _ => "mode=1777".to_string(),
    }
}

/// Prepares every volume of `pod`; the error is the reason the pod waits.
pub async fn prepare(pod: &Pod, pod_dir: &Path, cluster: &dyn Cluster, can_mount: bool) -> Result<Volumes, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut volumes = Volumes::default();
    let io_err = |what: &str, e: io::Error| format!("{what}: {e}");
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let name = &volume.name;
        let local = |kind: &str| pod_dir.join("volumes").join(kind).join(name);
        let source = if let Some(empty) = &volume.empty_dir {
            let path = local("empty-dir");
            dir_0777(&path).map_err(|e| io_err(name, e))?;
            if empty.medium.as_deref() == Some("Memory") && can_mount && !volumes.tmpfs.contains(&path) {
                let options = tmpfs_options(empty.size_limit.as_ref().map(|q| q.0.as_str()));
                nix::mount::mount(
                    Some("tmpfs"),
                    &path,
                    Some("tmpfs"),
                    nix::mount::MsFlags::empty(),
                    Some(options.as_str()),
                )
                .map_err(|e| format!("{name}: mounting tmpfs: {e}"))?;
                volumes.tmpfs.push(path.clone());
            }
            VolumeSource { path, is_file: false, read_only: false, placeholder: false }
        } else if let Some(host) = &volume.host_path {
            host_path(&host.path, host.type_.as_deref().unwrap_or(""))?
        } else if let Some(claim) = &volume.persistent_volume_claim {
            let path = claim_path(cluster, &namespace, &claim.claim_name).await?;
            VolumeSource { path, is_file: false, read_only: claim.read_only == Some(true), placeholder: false }
        } else if let Some(cm) = &volume.config_map {
            let path = local("configmap");
            let files = match cluster.config_map(&namespace, &cm.name).await? {
                Some(found) => {
                    let mut files: Vec<(String, Vec<u8>)> =
                        found.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                    files.extend(found.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
                    files
                }
                None if cm.optional == Some(true) => Vec::new(),
                None => return Err(format!("configmap {:?} not found", cm.name)),
            };
            write_files(&path, files, cm.items.as_deref(), cm.default_mode).map_err(|e| io_err(name, e))?;
            VolumeSource { path, is_file: false, read_only: true, placeholder: false }
        } else if let Some(secret) = &volume.secret {
            let path = local("secret");
            let secret_name = secret.secret_name.clone().unwrap_or_default();
            let files = match cluster.secret(&namespace, &secret_name).await? {
                Some(found) => found.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect(),
                None if secret.optional == Some(true) => Vec::new(),
                None => return Err(format!("secret {secret_name:?} not found")),
            };
            write_files(&path, files, secret.items.as_deref(), secret.default_mode).map_err(|e| io_err(name, e))?;
            VolumeSource { path, is_file: false, read_only: true, placeholder: false }
        } else {
            tracing::debug!(volume = %name, "volume type not simulated; using an empty directory");
            let path = local("other");
            dir_0777(&path).map_err(|e| io_err(name, e))?;
            VolumeSource { path, is_file: false, read_only: false, placeholder: true }
        };
        volumes.sources.insert(name.clone(), source);
    }
    Ok(volumes)
}

/// Where the volume bound to claim `name` is on this machine; the error is the kubelet's reason to wait.
async fn claim_path(cluster: &dyn Cluster, namespace: &str, name: &str) -> Result<PathBuf, String> {
    let Some(claim) = cluster.claim(namespace, name).await? else {
        return Err(format!("persistentvolumeclaim {name:?} not found"));
    };
    let phase = claim.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let volume_name = claim.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
    if phase != "Bound" || volume_name.is_empty() {
        return Err(format!(
            "PVC {namespace}/{name} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName ({volume_name:?})"
        ));
    }
    let Some(volume) = cluster.volume(&volume_name).await? else {
        return Err(format!("persistentvolume {volume_name:?} not found"));
    };
    let spec = volume.spec.unwrap_or_default();
    if let Some(host) = spec.host_path {
        return host_path(&host.path, host.type_.as_deref().unwrap_or("")).map(|source| source.path);
    }
    if let Some(local) = spec.local {
        return Ok(PathBuf::from(local.path));
    }
    Err(format!("persistentvolume {volume_name:?}: its volume source is not one this node mounts (hostPath, local)"))
}

/// The kubelet's hostPath `type` handling.
fn host_path(path: &str, kind: &str) -> Result<VolumeSource, String> {
    let p = PathBuf::from(path);
    let meta = std::fs::metadata(&p).ok();
    let fail = |what: &str| Err(format!("hostPath type check failed: {path} is not a {what}"));
    let is_file = match kind {
        "DirectoryOrCreate" => {
            if meta.is_none() {
                std::fs::create_dir_all(&p).map_err(|e| format!("{path}: {e}"))?;
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
            } else if !meta.as_ref().is_some_and(|m| m.is_dir()) {
                return fail("directory");
            }
            false
        }
        "Directory" if !meta.as_ref().is_some_and(|m| m.is_dir()) => return fail("directory"),
        "FileOrCreate" => {
            if meta.is_none() {
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("{path}: {e}"))?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o644)
                    .open(&p)
                    .map_err(|e| format!("{path}: {e}"))?;
            } else if meta.as_ref().is_some_and(|m| m.is_dir()) {
                return fail("file");
            }
            true
        }
        "File" if !meta.as_ref().is_some_and(|m| m.is_file()) => return fail("file"),
        "Socket" => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.as_ref().is_some_and(|m| m.file_type().is_socket()) {
                return fail("socket file");
            }
            true
        }
        _ => meta.as_ref().is_some_and(|m| !m.is_dir()),
    };
    if meta.is_none() && kind.is_empty() {
        // Like containerd, which creates a missing bind source as a directory.
        std::fs::create_dir_all(&p).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(VolumeSource { path: p, is_file, read_only: false, placeholder: false })
}

/// Writes a configMap/secret volume's files (all keys, or `items` with their paths and modes).
fn write_files(
    dir: &Path,
    files: Vec<(String, Vec<u8>)>,
    items: Option<&[KeyToPath]>,
    mode: Option<i32>,
) -> io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let default_mode = mode.unwrap_or(0o644) as u32 & 0o7777;
    let mut wanted: Vec<(PathBuf, Vec<u8>, u32)> = Vec::new();
    for (key, value) in files {
        match items {
            None => wanted.push((PathBuf::from(&key), value, default_mode)),
            Some(items) => {
                for item in items.iter().filter(|i| i.key == key) {
                    let item_mode = item.mode.map(|m| m as u32 & 0o7777).unwrap_or(default_mode);
                    wanted.push((PathBuf::from(&item.path), value.clone(), item_mode));
                }
            }
        }
    }
    for (relative, value, mode) in wanted {
        if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            continue;
        }
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, value)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_empty_dir_is_as_large_as_its_size_limit() {
        assert_eq!(tmpfs_options(Some("1Mi")), "mode=1777,size=1048576");
        assert_eq!(tmpfs_options(Some("64M")), "mode=1777,size=64000000");
        assert_eq!(tmpfs_options(None), "mode=1777");
        assert_eq!(tmpfs_options(Some("nonsense")), "mode=1777");
        assert_eq!(tmpfs_options(Some("0")), "mode=1777");
    }

    #[test]
    fn host_path_type_checks_use_the_kubelet_wording() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let file = file.to_str().unwrap();
        assert_eq!(host_path(file, "Directory"), Err(format!("hostPath type check failed: {file} is not a directory")));
        assert!(host_path(file, "File").unwrap().is_file);
        let made = dir.path().join("new/dir");
        assert!(!host_path(made.to_str().unwrap(), "DirectoryOrCreate").unwrap().is_file);
        assert!(made.is_dir());
    }

    #[tokio::test]
    async fn a_claim_mounts_once_bound_and_then_its_volumes_directory() {
        use super::super::cluster::FakeCluster;
        use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
        let dir = tempfile::tempdir().unwrap();
        let volume_dir = dir.path().join("pv1");
        let mut cluster = FakeCluster::default();
        let claim = |status: serde_json::Value| -> PersistentVolumeClaim {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": "data"}, "spec": {"volumeName": status["v"]},
                "status": {"phase": status["phase"]}}),
            )
            .unwrap()
        };
        assert_eq!(
            claim_path(&cluster, "ns", "data").await,
            Err("persistentvolumeclaim \"data\" not found".to_string())
        );
        cluster.claims.insert("data".into(), claim(serde_json::json!({"phase": "Pending"})));
        assert_eq!(
            claim_path(&cluster, "ns", "data").await,
            Err("PVC ns/data has non-bound phase (\"Pending\") or empty pvc.Spec.VolumeName (\"\")".to_string())
        );
        cluster.claims.insert("data".into(), claim(serde_json::json!({"phase": "Bound", "v": "pv1"})));
        assert_eq!(claim_path(&cluster, "ns", "data").await, Err("persistentvolume \"pv1\" not found".to_string()));
        let volume: PersistentVolume = serde_json::from_value(serde_json::json!({"metadata": {"name": "pv1"},
            "spec": {"hostPath": {"path": volume_dir, "type": "DirectoryOrCreate"}}}))
        .unwrap();
        cluster.volumes.insert("pv1".into(), volume);
        assert_eq!(claim_path(&cluster, "ns", "data").await, Ok(volume_dir.clone()));
        assert!(volume_dir.is_dir(), "DirectoryOrCreate makes the volume's directory");
    }

    #[test]
    fn config_map_items_choose_paths_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("cm");
        let items: Vec<KeyToPath> =
            serde_json::from_value(serde_json::json!([{"key": "a", "path": "sub/a.txt", "mode": 0o600}])).unwrap();
        let files = vec![("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())];
        write_files(&target, files, Some(&items), Some(0o644)).unwrap();
        let written = target.join("sub/a.txt");
        assert_eq!(std::fs::read(&written).unwrap(), b"1");
        assert_eq!(std::fs::metadata(&written).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!target.join("b").exists());
    }
}
