//! `HEAD`/`GET`/`PUT /containers/{id}/archive` (ContainerArchiveInfo, ContainerArchive, PutContainerArchive): the
//! pure parts of copying files in and out.
//!
//! - **Stat**: Docker's `X-Docker-Container-Path-Stat` header, derived from the first header of the tar stream
//!   that `tar -c` writes in the container ([`tar_head_stat`]), so the image needs no `stat` binary.
//! - **Files copied before start**: a container that does not run has no pod to run `tar` in. Its uploaded
//!   regular files are kept in its record (the ConfigMap, see `docs/lifecycle.md`): the bytes as `binaryData`
//!   keys `file-<n>`, their target paths and modes in [`FILES_ANNOTATION`]. At start they are mounted into the
//!   pod from the record itself, one `subPath` mount per file ([`add_files_to_pod`]), so the image needs no tool.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, KeyToPath, Pod, Volume, VolumeMount};
use k8s_openapi::ByteString;
use serde::{Deserialize, Serialize};

pub use super::labels::FILES_ANNOTATION;
use super::TranslateError;

/// Kubernetes refuses a ConfigMap whose data (keys and values) exceeds 1 MiB; files copied before start share it.
pub const RECORD_FILES_MAX_BYTES: usize = 1024 * 1024;
/// The pod volume that mounts the files copied before start.
pub const FILES_VOLUME: &str = "podshim-files";

/// Go `os.FileMode` bits, as Docker's `ContainerPathStat.Mode` carries them.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_DEVICE: u32 = 1 << 26;
const MODE_NAMED_PIPE: u32 = 1 << 25;
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_CHAR_DEVICE: u32 = 1 << 21;
const MODE_STICKY: u32 = 1 << 20;

/// Docker's `ContainerPathStat`, the JSON in `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// A directory with mode 0755 at the epoch: what podshim answers for a directory it only knows by name.
    pub fn directory(name: &str) -> PathStat {
        PathStat {
            name: name.to_string(),
            size: 0,
            mode: MODE_DIR | 0o755,
            mtime: "1970-01-01T00:00:00Z".into(),
            link_target: String::new(),
        }
    }

    /// True when the mode has the directory bit.
    pub fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }

    /// The header value: base64 of the JSON.
    pub fn header_value(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }
}

/// The Go `os.FileMode` of a tar entry: the type bits plus the permission and special bits.
fn file_mode(kind: tar::EntryType, unix_mode: u32) -> u32 {
    let mut mode = unix_mode & 0o777;
    for (bit, go) in [(0o4000, MODE_SETUID), (0o2000, MODE_SETGID), (0o1000, MODE_STICKY)] {
        if unix_mode & bit != 0 {
            mode |= go;
        }
    }
    mode | match kind {
        tar::EntryType::Directory => MODE_DIR,
        tar::EntryType::Symlink => MODE_SYMLINK,
        tar::EntryType::Char => MODE_DEVICE | MODE_CHAR_DEVICE,
        tar::EntryType::Block => MODE_DEVICE,
        tar::EntryType::Fifo => MODE_NAMED_PIPE,
        _ => 0,
    }
}

/// The stat of the first entry of a tar stream (the copied path itself, as `tar -c -C <parent> <base>` writes
/// it), named `name`. `Ok(None)` while `head` is too short to tell; GNU long-name/long-link and PAX headers
/// before the entry are read through.
pub fn tar_head_stat(head: &[u8], name: &str) -> Result<Option<PathStat>, String> {
    let mut offset = 0;
    let mut long_link: Option<String> = None;
    loop {
        let Some(block) = head.get(offset..offset + 512) else { return Ok(None) };
        if block.iter().all(|b| *b == 0) {
            return Err("the archive is empty".into());
        }
        let header = tar::Header::from_byte_slice(block);
        let size = header.entry_size().map_err(|e| format!("bad tar header: {e}"))?;
        let data_end = offset + 512 + usize::try_from(size).map_err(|e| e.to_string())?;
        let kind = header.entry_type();
        if kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
        {
            let Some(data) = head.get(offset + 512..data_end) else { return Ok(None) };
            if kind.is_gnu_longlink() {
                long_link = Some(String::from_utf8_lossy(data).trim_end_matches('\0').to_string());
            } else if kind.is_pax_local_extensions() {
                for ext in tar::PaxExtensions::new(data).flatten() {
                    if ext.key() == Ok("linkpath") {
                        long_link = ext.value().ok().map(str::to_string);
                    }
                }
            }
            offset = offset + 512 + (size as usize).div_ceil(512) * 512;
            continue;
        }
        let unix_mode = header.mode().map_err(|e| format!("bad tar header: {e}"))?;
        let mtime = header.mtime().ok().and_then(|t| jiff::Timestamp::from_second(t as i64).ok());
        let link = long_link.or_else(|| header.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()));
        return Ok(Some(PathStat {
            name: name.to_string(),
            size: size as i64,
            mode: file_mode(kind, unix_mode),
            mtime: mtime.unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_string(),
            link_target: if kind == tar::EntryType::Symlink { link.unwrap_or_default() } else { String::new() },
        }));
    }
}

/// True for a gzip stream (its magic bytes).
pub fn is_gzip(body: &[u8]) -> bool {
    body.starts_with(&[0x1f, 0x8b])
}

/// A regular file copied into a container before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedFile {
    /// Absolute, normalised path in the container.
    pub path: String,
    /// Permission bits (0..=0o777: what a configMap item's `mode` allows).
    pub mode: u32,
    pub data: Vec<u8>,
}

/// One file in [`FILES_ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileEntry {
    key: String,
    path: String,
    mode: u32,
}

/// The regular files of a tar body (plain or gzip) extracted under `dir`, for a container that has not
/// started. Directories are implied by the files' paths; anything else (symlinks, devices, hard links) cannot be
/// kept in a ConfigMap and is refused.
pub fn tar_to_files(body: &[u8], dir: &str) -> Result<Vec<CopiedFile>, TranslateError> {
    let bad = |e: std::io::Error| TranslateError::InvalidParameter(format!("reading the archive: {e}"));
    let plain: Vec<u8> = if is_gzip(body) {
        let mut out = Vec::new();
        let limit = (RECORD_FILES_MAX_BYTES * 2) as u64;
        flate2::read::GzDecoder::new(body).take(limit).read_to_end(&mut out).map_err(bad)?;
        out
    } else {
        body.to_vec()
    };
    let mut files: Vec<CopiedFile> = Vec::new();
    let mut archive = tar::Archive::new(plain.as_slice());
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let relative = entry.path().map_err(bad)?.into_owned();
        let path = join_inside(dir, &relative)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(TranslateError::unsupported(
                "copying a symlink or special file into a container that is not running",
                format!("{path}: only regular files can be kept until start (they are mounted from a ConfigMap)"),
            ));
        }
        let mode = entry.header().mode().map_err(bad)? & 0o777;
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(bad)?;
        files.retain(|f| f.path != path);
        files.push(CopiedFile { path, mode, data });
    }
    Ok(files)
}

/// The longest path and name the kernel takes (`PATH_MAX`, `NAME_MAX`).
const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

/// An absolute path, lexically cleaned as Go's `path.Clean` (`/a/rec/../recout` is `/a/recout`; `..` at the root
/// stays at the root).
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The `path` of the archive endpoints: absolute, without NUL bytes, within the kernel's limits (400 with what
/// is wrong, where Docker answers 500 from its failed system call); cleaned, keeping a trailing `/.` (the
/// directory's content) or `/` (must be a directory), which Docker gives a meaning.
pub fn check_archive_path(path: &str) -> Result<String, TranslateError> {
    let invalid = |why: String| Err(TranslateError::InvalidParameter(why));
    if path.is_empty() {
        return invalid("path cannot be empty".into());
    }
    if path.contains('\0') {
        return invalid("path must not contain a NUL byte".into());
    }
    if !path.starts_with('/') {
        return invalid(format!("path {path:?} must be absolute"));
    }
    if path.len() > PATH_MAX || path.split('/').any(|name| name.len() > NAME_MAX) {
        return invalid(format!(
            "path is too long: a name has at most {NAME_MAX} bytes and a path at most {PATH_MAX} (file name too long)"
        ));
    }
    let clean = clean_path(path);
    let suffix = match (path.ends_with("/.") && clean != "/", path.ends_with('/') && clean != "/") {
        (true, _) => "/.",
        (false, true) => "/",
        _ => "",
    };
    Ok(format!("{clean}{suffix}"))
}

/// `dir` joined with an archive path, normalised; an entry that climbs out of `dir` is refused (as Docker's
/// untar refuses a breakout).
pub(crate) fn join_inside(dir: &str, relative: &Path) -> Result<String, TranslateError> {
    let dir = clean_path(dir);
    let mut parts: Vec<String> = dir.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
    let base = parts.len();
    for component in relative.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir if parts.len() > base => {
                parts.pop();
            }
            Component::ParentDir => {
                return Err(TranslateError::InvalidParameter(format!(
                    "{:?} is outside of {dir:?}",
                    relative.display().to_string()
                )))
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The [`FILES_ANNOTATION`] of a record.
pub fn record_annotation(record: &ConfigMap) -> Option<&str> {
    record.metadata.annotations.as_ref().and_then(|a| a.get(FILES_ANNOTATION)).map(String::as_str)
}

/// The files kept in a record so far.
pub fn record_to_files(record: &ConfigMap) -> Result<Vec<CopiedFile>, TranslateError> {
    let Some(json) = record_annotation(record) else {
        return Ok(Vec::new());
    };
    let entries: Vec<FileEntry> = serde_json::from_str(json)
        .map_err(|e| TranslateError::InvalidParameter(format!("the container's copied files are unreadable: {e}")))?;
    let data = record.binary_data.as_ref();
    Ok(entries
        .into_iter()
        .map(|e| {
            let bytes = data.and_then(|d| d.get(&e.key)).map(|b| b.0.clone()).unwrap_or_default();
            CopiedFile { path: e.path, mode: e.mode, data: bytes }
        })
        .collect())
}

/// `existing` with `added` on top (a file at the same path is replaced). Refused when a file would stand where
/// another file needs a directory, or the whole exceeds what a ConfigMap holds.
pub fn merge_files(existing: Vec<CopiedFile>, added: Vec<CopiedFile>) -> Result<Vec<CopiedFile>, TranslateError> {
    let mut all: Vec<CopiedFile> = existing.into_iter().filter(|e| !added.iter().any(|a| a.path == e.path)).collect();
    all.extend(added);
    for file in &all {
        let below = format!("{}/", file.path);
        if let Some(other) = all.iter().find(|o| o.path.starts_with(&below)) {
            return Err(TranslateError::InvalidParameter(format!(
                "cannot copy {}: {} is a file, not a directory",
                other.path, file.path
            )));
        }
    }
    let size: usize = all.iter().enumerate().map(|(n, f)| file_key(n).len() + f.data.len()).sum();
    if size > RECORD_FILES_MAX_BYTES {
        return Err(TranslateError::InvalidParameter(format!(
            "files copied into a container before it starts are kept in a Kubernetes ConfigMap, which holds at most 1 MiB; these are {size} bytes: copy them after start instead"
        )));
    }
    Ok(all)
}

fn file_key(n: usize) -> String {
    format!("file-{n}")
}

/// The record's `binaryData` and [`FILES_ANNOTATION`] value for `files`.
pub fn files_to_record(files: &[CopiedFile]) -> (BTreeMap<String, ByteString>, String) {
    let mut data = BTreeMap::new();
    let mut entries = Vec::new();
    for (n, file) in files.iter().enumerate() {
        data.insert(file_key(n), ByteString(file.data.clone()));
        entries.push(FileEntry { key: file_key(n), path: file.path.clone(), mode: file.mode });
    }
    (data, serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into()))
}

/// Mounts the record's files into the pod: one configMap volume of the record with an item per file (its mode),
/// and one read-only `subPath` mount per file at its exact path in the main container.
///
/// Files copied before start are therefore read-only in the container (configMap mounts are), and a later
/// `docker cp` to the same path while running fails; changing them needs a copy after start to another path.
pub fn add_files_to_pod(pod: &mut Pod, record: &ConfigMap) -> Result<(), TranslateError> {
    let Some(json) = record_annotation(record) else {
        return Ok(());
    };
    let entries: Vec<FileEntry> = serde_json::from_str(json)
        .map_err(|e| TranslateError::InvalidParameter(format!("the container's copied files are unreadable: {e}")))?;
    let Some(spec) = pod.spec.as_mut().filter(|_| !entries.is_empty()) else { return Ok(()) };
    let items = entries
        .iter()
        .map(|e| KeyToPath { key: e.key.clone(), path: e.key.clone(), mode: Some((e.mode & 0o777) as i32) })
        .collect();
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: FILES_VOLUME.to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: record.metadata.name.clone().unwrap_or_default(),
            items: Some(items),
            ..Default::default()
        }),
        ..Default::default()
    });
    for container in spec.containers.iter_mut() {
        let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
        mounts.extend(entries.iter().map(|e| VolumeMount {
            name: FILES_VOLUME.to_string(),
            mount_path: e.path.clone(),
            sub_path: Some(e.key.clone()),
            read_only: Some(true),
            ..Default::default()
        }));
    }
    Ok(())
}

/// The stat of `path` in a container that does not run, from its record: a copied file, a directory that holds
/// copied files, or a path the client names as a directory (trailing `/`, which Docker's CLI sends for
/// `docker cp x c:/dir/`). `None` for anything else: podshim cannot read the image before start.
pub fn record_stat(files: &[CopiedFile], path: &str) -> Option<PathStat> {
    let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into());
    let clean = join_inside("/", Path::new(path)).ok()?;
    if let Some(file) = files.iter().find(|f| f.path == clean) {
        return Some(PathStat {
            name,
            size: file.data.len() as i64,
            mode: file.mode,
            mtime: "1970-01-01T00:00:00Z".into(),
            link_target: String::new(),
        });
    }
    let below = if clean == "/" { clean.clone() } else { format!("{clean}/") };
    let implied = files.iter().any(|f| f.path.starts_with(&below));
    (implied || path.ends_with('/') || path.ends_with("/.")).then(|| PathStat::directory(&name))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
