//! A container's bind mounts: from its volumeMounts and the pod's prepared volumes, creating
//! missing mount points; and the cleanup of what was created.
//!
//! Mechanism: each container process gets a private mount namespace and every volumeMount is a
//! bind mount there (see [`super::process`]), so nothing shows on the host. A bind needs an
//! existing mount point: a missing `mountPath` is created on the host (an empty directory, or an
//! empty file for a file volume) before the container starts and removed again when the pod ends
//! (only what was created, and only while still empty); a mount point inside another volume is
//! created inside that volume's directory instead.

use std::io;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use super::process::BindMount;
use super::volumes::{dir_0777, Volumes};

/// The bind mounts of `container`, creating missing mount points (recorded in `created`, for [`cleanup`]).
///
/// Without mount support (`can_mount` false: not root with CAP_SYS_ADMIN) a container that mounts a
/// real volume cannot run: the error says so (placeholder volumes, like the service account token
/// an API server may add, are left out).
pub fn container_mounts(
    container: &Container,
    volumes: &Volumes,
    can_mount: bool,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<BindMount>, String> {
    let mut mounts: Vec<(BindMount, bool)> = Vec::new();
    let mut wanted: Vec<_> = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| can_mount || !volumes.sources.get(&m.name).is_some_and(|s| s.placeholder))
        .collect();
    if !can_mount && !wanted.is_empty() {
        return Err(format!(
            "cannot mount volume {:?}: volume mounts need the simulated node to run as root with CAP_SYS_ADMIN",
            wanted[0].name
        ));
    }
    wanted.sort_by_key(|m| Path::new(&m.mount_path).components().count());
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
        // A mount point below an earlier mount is created inside that volume, else on the host.
        let parent = mounts.iter().rev().find(|(m, _)| target.starts_with(&m.target)).map(|(m, _)| m.clone());
        match parent {
            Some(outer) => {
                let inside = outer.source.join(target.strip_prefix(&outer.target).unwrap_or(&target));
                let mut ignored = Vec::new();
                ensure_mount_point(&inside, is_file, &mut ignored).map_err(|e| format!("{}: {e}", vm.mount_path))?;
            }
            None => ensure_mount_point(&target, is_file, created).map_err(|e| format!("{}: {e}", vm.mount_path))?,
        }
        let read_only = vm.read_only == Some(true) || source.read_only;
        mounts.push((BindMount { source: path, target, read_only }, is_file));
    }
    Ok(mounts.into_iter().map(|(m, _)| m).collect())
}

/// Creates `path` (and missing parents) as an empty directory or file, recording what it created.
fn ensure_mount_point(path: &Path, is_file: bool, created: &mut Vec<PathBuf>) -> io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cursor = path.parent();
    while let Some(dir) = cursor {
        if dir.exists() {
            break;
        }
        missing.push(dir.to_path_buf());
        cursor = dir.parent();
    }
    for dir in missing.into_iter().rev() {
        std::fs::create_dir(&dir)?;
        created.push(dir);
    }
    if is_file {
        std::fs::OpenOptions::new().create_new(true).write(true).open(path)?;
    } else {
        std::fs::create_dir(path)?;
    }
    created.push(path.to_path_buf());
    Ok(())
}

/// Removes the mount points created on the host (only if still empty) and unmounts tmpfs volumes.
pub fn cleanup(created: &[PathBuf], tmpfs: &[PathBuf]) {
    for path in created.iter().rev() {
        let removed = if path.is_dir() {
            std::fs::remove_dir(path)
        } else if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            std::fs::remove_file(path)
        } else {
            Ok(())
        };
        if let Err(error) = removed {
            tracing::debug!(%error, path = %path.display(), "mount point left in place");
        }
    }
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
    fn without_mount_support_real_volumes_fail_and_placeholders_are_skipped() {
        let mut created = Vec::new();
        let token_only = container(serde_json::json!([{"name": "token", "mountPath": "/var/run/secrets/x"}]));
        assert_eq!(container_mounts(&token_only, &volumes(), false, &mut created), Ok(Vec::new()));
        let data = container(serde_json::json!([{"name": "data", "mountPath": "/data"}]));
        let error = container_mounts(&data, &volumes(), false, &mut created).unwrap_err();
        assert!(error.contains("root with CAP_SYS_ADMIN"), "{error}");
        assert!(created.is_empty());
    }
}
