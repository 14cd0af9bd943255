//! The registry's content, in memory: blobs by digest, and per repository its tags, its manifests
//! and which blobs it holds (a blob pushed to one repository is not readable through another, as
//! in the distribution registry, until it is mounted there).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;

use super::image::{Manifest, DOCKER_LIST, OCI_INDEX};

/// Blobs and manifests together may use this much memory; a push past it is refused.
pub const MAX_BYTES: usize = 512 * 1024 * 1024;

#[derive(Default)]
pub struct Store {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    blobs: HashMap<String, Bytes>,
    repositories: BTreeMap<String, Repository>,
    bytes: usize,
}

#[derive(Default)]
struct Repository {
    tags: BTreeMap<String, String>,
    manifests: HashMap<String, Manifest>,
    blobs: HashSet<String>,
}

/// Why a manifest was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutError {
    /// Not JSON, or not a manifest of a known kind.
    Invalid(String),
    /// A blob (or, for an index, a manifest) it references is not in the repository.
    Unknown(String),
    Full,
}

impl Store {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// Stores a blob (already verified against its digest) in `repository`; false when the store is full.
    pub fn put_blob(&self, repository: &str, digest: &str, bytes: Bytes) -> bool {
        self.with(|s| {
            if !s.blobs.contains_key(digest) {
                if s.bytes + bytes.len() > MAX_BYTES {
                    return false;
                }
                s.bytes += bytes.len();
                s.blobs.insert(digest.to_string(), bytes);
            }
            s.repositories.entry(repository.to_string()).or_default().blobs.insert(digest.to_string());
            true
        })
        .unwrap_or(false)
    }

    /// Mounts a blob of `from` into `repository`; false when `from` does not hold it.
    pub fn mount_blob(&self, repository: &str, digest: &str, from: &str) -> bool {
        self.with(|s| {
            let held = s.repositories.get(from).is_some_and(|r| r.blobs.contains(digest));
            if held {
                s.repositories.entry(repository.to_string()).or_default().blobs.insert(digest.to_string());
            }
            held
        })
        .unwrap_or(false)
    }

    pub fn blob(&self, repository: &str, digest: &str) -> Option<Bytes> {
        self.with(|s| {
            let linked = s.repositories.get(repository).is_some_and(|r| r.blobs.contains(digest));
            linked.then(|| s.blobs.get(digest).cloned()).flatten()
        })
        .flatten()
    }

    /// Stores a manifest under its digest (and `tag`), once everything it references is in the repository.
    pub fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        digest: &str,
        manifest: Manifest,
    ) -> Result<(), PutError> {
        let references = references(&manifest)?;
        self.with(|s| {
            let repo = s.repositories.get(repository);
            for (is_manifest, needed) in &references {
                let present = repo.is_some_and(|r| {
                    if *is_manifest {
                        r.manifests.contains_key(needed)
                    } else {
                        r.blobs.contains(needed)
                    }
                });
                if !present {
                    return Err(PutError::Unknown(needed.clone()));
                }
            }
            let repo = s.repositories.entry(repository.to_string()).or_default();
            let size = if repo.manifests.contains_key(digest) { 0 } else { manifest.bytes.len() };
            if s.bytes + size > MAX_BYTES {
                return Err(PutError::Full);
            }
            s.bytes += size;
            let repo = s.repositories.entry(repository.to_string()).or_default();
            repo.manifests.insert(digest.to_string(), manifest);
            if let Some(tag) = tag {
                repo.tags.insert(tag.to_string(), digest.to_string());
            }
            Ok(())
        })
        .unwrap_or(Err(PutError::Full))
    }

    /// Points `tag` at a manifest the repository holds; false when it holds none with that digest.
    pub fn tag(&self, repository: &str, tag: &str, digest: &str) -> bool {
        self.with(|s| match s.repositories.get_mut(repository) {
            Some(repo) if repo.manifests.contains_key(digest) => {
                repo.tags.insert(tag.to_string(), digest.to_string());
                true
            }
            _ => false,
        })
        .unwrap_or(false)
    }

    /// The manifest a tag or digest names, with its digest.
    pub fn manifest(&self, repository: &str, reference: &str) -> Option<(String, Manifest)> {
        self.with(|s| {
            let repo = s.repositories.get(repository)?;
            let digest = if reference.contains(':') { reference } else { repo.tags.get(reference)? };
            repo.manifests.get(digest).map(|m| (digest.to_string(), m.clone()))
        })
        .flatten()
    }

    /// The repository's tags in lexical order; `None` when the repository does not exist.
    pub fn tags(&self, repository: &str) -> Option<Vec<String>> {
        self.with(|s| s.repositories.get(repository).map(|r| r.tags.keys().cloned().collect())).flatten()
    }

    /// Repositories that hold at least one manifest, in lexical order.
    pub fn repositories(&self) -> Vec<String> {
        self.with(|s| s.repositories.iter().filter(|(_, r)| !r.manifests.is_empty()).map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }
}

/// What a manifest references: `(is a manifest, digest)` pairs.
fn references(manifest: &Manifest) -> Result<Vec<(bool, String)>, PutError> {
    let value: Value = serde_json::from_slice(&manifest.bytes).map_err(|e| PutError::Invalid(e.to_string()))?;
    let digest_of = |v: &Value| v["digest"].as_str().map(str::to_string);
    let invalid = || PutError::Invalid("a descriptor without a digest".to_string());
    if value["schemaVersion"] != 2 {
        return Err(PutError::Invalid("schemaVersion is not 2".to_string()));
    }
    if manifest.media_type == OCI_INDEX || manifest.media_type == DOCKER_LIST {
        let entries = value["manifests"].as_array().ok_or_else(invalid)?;
        return entries.iter().map(|m| digest_of(m).map(|d| (true, d)).ok_or_else(invalid)).collect();
    }
    let config = digest_of(&value["config"]).ok_or_else(invalid)?;
    let mut out = vec![(false, config)];
    for layer in value["layers"].as_array().ok_or_else(invalid)? {
        out.push((false, digest_of(layer).ok_or_else(invalid)?));
    }
    Ok(out)
}
