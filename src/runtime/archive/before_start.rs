//! `docker cp` for a container that does not run (created, or exited): the files live in its record until the
//! next start mounts them ([`podshim_translate::files`] holds the encoding and the mounts).
//!
//! podshim cannot read the image before the container runs, so `HEAD`/`GET` here know only the copied files
//! (and the directories that hold them), and `PUT` accepts any absolute directory.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;

use super::{ArchiveStream, UploadStream};
use crate::error::Error;
use crate::runtime::kube_error::container_error;
use crate::runtime::registry::Index;
use crate::runtime::{Container, Runtime};
use podshim_translate::files::{
    self, files_to_record, merge_files, record_stat, record_to_files, tar_to_files, CopiedFile, PathStat,
    FILES_ANNOTATION, RECORD_FILES_MAX_BYTES,
};

/// How many times a write of the record is retried when another write got there first.
const WRITE_ATTEMPTS: usize = 5;

/// The stat (and for `GET`, a tar) of a copied file or of a directory holding copied files. The index keeps
/// only the files' paths and modes, so their contents are read from the record itself.
pub(super) async fn read(
    rt: &Runtime,
    c: &Container,
    path: &str,
    stat_only: bool,
) -> Result<(PathStat, Option<ArchiveStream>), Error> {
    let copied = if stat_only || files::record_annotation(&c.record).is_none() {
        record_to_files(&c.record)?
    } else {
        let name = c.record.metadata.name.clone().unwrap_or_default();
        let record: ConfigMap = rt
            .records_api()
            .get(&name)
            .await
            .map_err(|err| container_error(&c.id, "reading the container record", err))?;
        record_to_files(&record)?
    };
    let not_found = || Error::NoSuchPath { path: path.to_string(), container: c.name.clone() };
    let stat = record_stat(&copied, path).ok_or_else(not_found)?;
    if stat_only {
        return Ok((stat, None));
    }
    let tar =
        tar_of(&copied, path, &stat).map_err(|e| Error::CopyFailed(format!("podshim: building the archive: {e}")))?;
    Ok((stat, Some(Box::pin(futures::stream::once(async move { Ok(tar.into()) })))))
}

/// A tar of the copied files at or below `path`, named from the path's base name as Docker names them.
fn tar_of(copied: &[CopiedFile], path: &str, stat: &PathStat) -> std::io::Result<Vec<u8>> {
    let clean = format!("/{}", path.trim_matches('/').trim_end_matches("/."));
    let clean = if clean == "/" { String::new() } else { clean };
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, mode: u32, data: &[u8], kind: tar::EntryType| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, name, data)
    };
    if !stat.is_dir() {
        if let Some(file) = copied.iter().find(|f| f.path == clean) {
            add(&stat.name, file.mode, &file.data, tar::EntryType::Regular)?;
        }
        return builder.into_inner();
    }
    let top = if stat.name == "/" { ".".to_string() } else { stat.name.clone() };
    add(&format!("{top}/"), 0o755, &[], tar::EntryType::Directory)?;
    for file in copied.iter().filter(|f| f.path.starts_with(&format!("{clean}/"))) {
        let rest = &file.path[clean.len() + 1..];
        add(&format!("{top}/{rest}"), file.mode, &file.data, tar::EntryType::Regular)?;
    }
    builder.into_inner()
}

/// Keeps the regular files of the upload in the record, for the next start.
pub(super) async fn put(rt: &Runtime, c: &Container, path: &str, mut body: UploadStream) -> Result<(), Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() > 2 * RECORD_FILES_MAX_BYTES {
            return Err(Error::InvalidParameter(format!(
                "files copied into a container before it starts are kept in a Kubernetes ConfigMap, which holds at most 1 MiB; this archive is over {} bytes: copy it after start instead",
                2 * RECORD_FILES_MAX_BYTES
            )));
        }
    }
    let added = tar_to_files(&bytes, path)?;
    if record_stat(&record_to_files(&c.record)?, path).is_some_and(|s| !s.is_dir()) {
        return Err(Error::InvalidParameter("extraction point is not a directory".into()));
    }
    let api = rt.records_api();
    let name = c.record.metadata.name.clone().unwrap_or_default();
    for _ in 0..WRITE_ATTEMPTS {
        let mut record: ConfigMap =
            api.get(&name).await.map_err(|err| container_error(&c.id, "reading the container record", err))?;
        let merged = merge_files(record_to_files(&record)?, added.clone())?;
        let (data, annotation) = files_to_record(&merged);
        record.binary_data = Some(data);
        record
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(FILES_ANNOTATION.into(), annotation.clone());
        match api.replace(&name, &PostParams::default(), &record).await {
            Ok(_) => {
                let written = |index: &Index| {
                    index.get(&c.id).is_some_and(|x| files::record_annotation(&x.record) == Some(annotation.as_str()))
                };
                return rt.cache().catch_up("the copied files", written).await;
            }
            Err(kube::Error::Api(status)) if status.is_conflict() => continue,
            Err(err) => return Err(container_error(&c.id, "keeping the copied files in the container record", err)),
        }
    }
    Err(Error::Unavailable(format!("the record of container {} kept changing while copying files into it", c.id)))
}
