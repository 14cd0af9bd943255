//! A container's bind mounts, from its volumeMounts and the pod's prepared volumes; the cleanup of a
//! pod's tmpfs volumes, and of pod directories an earlier run left.
//!
//! Each container process gets a root of its own in a private mount namespace, and every volumeMount
//! is a bind mount into it (see [`super::rootfs`]): nothing shows on the host, and mount points are
//! created inside the container's root (or inside an outer volume), not on this machine.

use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use super::rootfs::BindMount;
use super::volumes::{dir_0777, Volumes};

/// The bind mounts of `container`, outer mount points first.
///
/// Without a root of the container's own (`isolated` false: not root with CAP_SYS_ADMIN, or no
/// overlayfs) a container that mounts a real volume cannot run: the error says so (placeholder volumes,
/// like the service account token an API server may add, are left out).
pub fn container_mounts(container: &Container, volumes: &Volumes, isolated: bool) -> Result<Vec<BindMount>, String> {
    let mut wanted: Vec<_> = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| isolated || !volumes.sources.get(&m.name).is_some_and(|s| s.placeholder))
        .collect();
    if !isolated && !wanted.is_empty() {
        return Err(format!(
            "cannot mount volume {:?}: volume mounts need the simulated node to run as root with CAP_SYS_ADMIN \
             and overlayfs",
            wanted[0].name
        ));
    }
    wanted.sort_by_key(|m| Path::new(&m.mount_path).components().count());
    let mut mounts = Vec::with_capacity(wanted.len());
    for vm in wanted {
        let source = volumes
            .sources
            .get(&vm.name)
            .ok_or_else(|| format!("volume {:?} of volumeMount {:?} not found", vm.name, vm.mount_path))?;
        let mut path = source.path.clone();
        let mut is_file = source.is_file;
        if let Some(sub) = vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if Path::new(sub).components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(format!("subPath {sub:?} must be a relative path without '..'"));
            }
            path = path.join(sub);
            if !path.exists() {
                dir_0777(&path).map_err(|e| format!("subPath {sub}: {e}"))?;
            }
            is_file = !path.is_dir();
        }
        let target = PathBuf::from(&vm.mount_path);
        if !target.is_absolute() {
            return Err(format!("mountPath {:?} must be absolute", vm.mount_path));
        }
        let read_only = vm.read_only == Some(true) || source.read_only;
        mounts.push(BindMount { source: path, target, read_only, is_file });
    }
    Ok(mounts)
}

/// Unmounts the pod's tmpfs volumes.
pub fn cleanup(tmpfs: &[PathBuf]) {
    for path in tmpfs {
        if let Err(error) = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(%error, path = %path.display(), "cannot unmount tmpfs");
        }
    }
}

/// Removes pod directories left by an earlier run (the simulated API server keeps no pods across
/// restarts): kills the container processes such a run left running (recorded in `<n>.pid`) and
/// unmounts its tmpfs emptyDirs first.
pub fn remove_stale_pod_dirs(pods_dir: &Path) {
    for pod_dir in std::fs::read_dir(pods_dir).into_iter().flatten().flatten() {
        for container_dir in std::fs::read_dir(pod_dir.path()).into_iter().flatten().flatten() {
            for file in std::fs::read_dir(container_dir.path()).into_iter().flatten().flatten() {
                if file.path().extension().is_some_and(|e| e == "pid") {
                    super::process::kill_recorded(&file.path());
                }
            }
        }
        let empty_dirs = pod_dir.path().join("volumes").join("empty-dir");
        for volume in std::fs::read_dir(&empty_dirs).into_iter().flatten().flatten() {
            let _ = nix::mount::umount2(&volume.path(), nix::mount::MntFlags::MNT_DETACH);
        }
        if let Err(error) = std::fs::remove_dir_all(pod_dir.path()) {
            tracing::warn!(%error, dir = %pod_dir.path().display(), "cannot remove a stale pod directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::volumes::VolumeSource;

    fn container(mounts: serde_json::Value) -> Container {
        serde_json::from_value(serde_json::json!({"name": "c", "volumeMounts": mounts})).unwrap()
    }

    fn volumes() -> Volumes {
        let source = |path: &str, placeholder| VolumeSource {
            path: PathBuf::from(path),
            is_file: false,
            read_only: false,
            placeholder,
        };
        Volumes {
            sources: [
                ("data".to_string(), source("/nonexistent/a", false)),
                ("token".to_string(), source("/nonexistent/b", true)),
            ]
            .into(),
            tmpfs: Vec::new(),
        }
    }

    #[test]
    fn without_isolation_real_volumes_fail_and_placeholders_are_skipped() {
        let token_only = container(serde_json::json!([{"name": "token", "mountPath": "/var/run/secrets/x"}]));
        assert_eq!(container_mounts(&token_only, &volumes(), false), Ok(Vec::new()));
        let data = container(serde_json::json!([{"name": "data", "mountPath": "/data"}]));
        let error = container_mounts(&data, &volumes(), false).unwrap_err();
        assert!(error.contains("root with CAP_SYS_ADMIN"), "{error}");
    }

    #[test]
    fn outer_mount_points_come_first() {
        let nested = container(serde_json::json!([
            {"name": "data", "mountPath": "/a/b/c"},
            {"name": "token", "mountPath": "/a", "readOnly": true},
        ]));
        let mounts = container_mounts(&nested, &volumes(), true).unwrap();
        let targets: Vec<_> = mounts.iter().map(|m| (m.target.to_str().unwrap(), m.read_only)).collect();
        assert_eq!(targets, [("/a", true), ("/a/b/c", false)]);
    }
}
