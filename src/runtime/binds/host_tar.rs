//! The caller's side of copied binds, blocking IO (run on the blocking pool): measure and write the tar that goes
//! into the pod (`<n>/...` for the `n`th copied bind), and unpack the tar that comes back into the caller's
//! directories, never outside them and never more than the limit.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// One copied bind on the caller's side.
#[derive(Debug, Clone)]
pub(crate) struct HostBind {
    /// Its directory under the copy root in the pod.
    pub n: usize,
    /// The caller's directory, or the file of a bind of one file.
    pub source: PathBuf,
    /// A bind of one file: its name (the entry `<n>/<name>`).
    pub file: Option<String>,
}

/// Bytes a tar entry takes besides its data.
const ENTRY_OVERHEAD: u64 = 512;

/// The size of what would be copied: file data plus a header per entry. Stops counting past `limit`
/// (`Err(None)`); `Err(Some(e))` when the tree cannot be read.
pub(crate) fn measure(binds: &[HostBind], limit: u64) -> Result<u64, Option<io::Error>> {
    let mut total = 0u64;
    let mut pending: Vec<PathBuf> = binds.iter().map(|b| b.source.clone()).collect();
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).map_err(Some)?;
        total += ENTRY_OVERHEAD + if meta.is_file() { meta.len() } else { 0 };
        if total > limit {
            return Err(None);
        }
        if meta.is_dir() {
            for entry in fs::read_dir(&path).map_err(Some)? {
                pending.push(entry.map_err(Some)?.path());
            }
        }
    }
    Ok(total)
}

/// Writes the tar of `binds` to `out`: each directory's tree under `<n>/` (symlinks as links), each file as
/// `<n>/<name>`, owners as numbers, modes and times kept; then the entry `complete` (the copy in checks that it
/// came) and the end of the archive.
pub(crate) fn write(binds: &[HostBind], complete: &str, out: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for bind in binds {
        match &bind.file {
            Some(name) => builder.append_path_with_name(&bind.source, format!("{}/{name}", bind.n))?,
            None => builder.append_dir_all(bind.n.to_string(), &bind.source)?,
        }
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o600);
    builder.append_data(&mut header, complete, io::empty())?;
    builder.into_inner()?.flush()
}

/// Why an unpack stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnpackError {
    #[error("more than {0} bytes")]
    OverLimit(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Unpacks the tar the keeper sends (`<n>/...`) into the caller's directories (files, directories and symbolic
/// links; other kinds are skipped), overwriting what is there. An entry that would leave its bind, or go
/// through a symbolic link, is skipped. Stops past `limit` bytes of file data.
pub(crate) fn unpack(input: impl Read, binds: &[HostBind], limit: u64) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(input);
    let mut total = 0u64;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(target) = target_of(&path, binds) else { continue };
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        if kind.is_dir() {
            if !target.is_dir() {
                fs::create_dir_all(&target)?;
                set_mode(&target, mode)?;
            }
            continue;
        }
        if !(kind.is_file() || kind.is_symlink()) || path_has_symlink(&target, binds) {
            continue;
        }
        total += entry.size();
        if total > limit {
            return Err(UnpackError::OverLimit(limit));
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => fs::remove_file(&target)?,
            Err(_) => {}
        }
        if kind.is_symlink() {
            if let Some(link) = entry.link_name()? {
                std::os::unix::fs::symlink(link, &target)?;
            }
            continue;
        }
        let mut file = fs::File::create(&target)?;
        io::copy(&mut entry, &mut file)?;
        set_mode(&target, mode)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Where an entry `<n>/<rest>` goes on the caller's side: `None` for an entry of no bind, one that leaves its
/// bind (`..`, absolute), the bind's own top directory, or anything but the file of a one-file bind.
fn target_of(path: &Path, binds: &[HostBind]) -> Option<PathBuf> {
    let mut parts = path.components().filter(|c| !matches!(c, Component::CurDir));
    let n: usize = parts.next()?.as_os_str().to_str()?.parse().ok()?;
    let bind = binds.iter().find(|b| b.n == n)?;
    let rest: Vec<Component> = parts.collect();
    if rest.is_empty() || rest.iter().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let rest: PathBuf = rest.iter().collect();
    match &bind.file {
        Some(name) => (rest.as_os_str() == name.as_str()).then(|| bind.source.clone()),
        None => Some(bind.source.join(rest)),
    }
}

/// A directory between the bind's root and `target` is a symbolic link (written by an earlier entry, or there
/// before): writing through it could leave the bind.
fn path_has_symlink(target: &Path, binds: &[HostBind]) -> bool {
    let Some(root) = binds.iter().map(root_of).find(|r| target.starts_with(r)) else { return true };
    let mut dir = target.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(&root) {
            break;
        }
        if fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
        dir = d.parent();
    }
    false
}

fn root_of(bind: &HostBind) -> PathBuf {
    match &bind.file {
        Some(_) => bind.source.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => bind.source.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_bind(n: usize, source: &Path) -> HostBind {
        HostBind { n, source: source.to_path_buf(), file: None }
    }

    #[test]
    fn a_tree_goes_out_and_comes_back_with_its_modes() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("sub")).unwrap();
        std::fs::write(from.path().join("sub/a.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("sub/a.txt", from.path().join("link")).unwrap();
        let binds = [dir_bind(3, from.path())];
        assert!(measure(&binds, 1 << 20).unwrap() >= 5);
        assert!(measure(&binds, 10).unwrap_err().is_none(), "over the limit");
        let mut tar = Vec::new();
        write(&binds, ".done", &mut tar).unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::write(to.path().join("kept.txt"), b"mine").unwrap();
        unpack(&tar[..], &[dir_bind(3, to.path())], 1 << 20).unwrap();
        assert_eq!(std::fs::read(to.path().join("sub/a.txt")).unwrap(), b"hello");
        assert_eq!(std::fs::read_link(to.path().join("link")).unwrap(), Path::new("sub/a.txt"));
        assert_eq!(std::fs::read(to.path().join("kept.txt")).unwrap(), b"mine");
        assert!(matches!(unpack(&tar[..], &[dir_bind(3, to.path())], 2), Err(UnpackError::OverLimit(2))));
    }

    #[test]
    fn entries_that_leave_their_bind_or_go_through_a_link_are_skipped() {
        let outside = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut add_link = |name: &str, target: &Path| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            builder.append_link(&mut h, name, target).unwrap();
        };
        add_link("0/esc", outside.path());
        let data = |name: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_cksum();
            (h, name.to_string())
        };
        let (mut h, name) = data("0/esc/pwned");
        builder.append_data(&mut h, name, &b"x"[..]).unwrap();
        let (mut h, name) = data("1/other-bind");
        builder.append_data(&mut h, name, &b"x"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        unpack(&tar[..], &[dir_bind(0, to.path())], 1 << 20).unwrap();
        assert!(!outside.path().join("pwned").exists());
        assert!(!to.path().join("other-bind").exists());
    }

    #[test]
    fn a_one_file_bind_takes_only_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf.txt");
        std::fs::write(&file, b"v1").unwrap();
        let binds = [HostBind { n: 0, source: file.clone(), file: Some("conf.txt".into()) }];
        let mut tar = Vec::new();
        write(&binds, ".done", &mut tar).unwrap();
        std::fs::write(&file, b"changed").unwrap();
        unpack(&tar[..], &binds, 1 << 20).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"v1");
    }
}
