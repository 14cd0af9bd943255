//! Resolving a tag or digest to what a node runs: the manifest for its platform (through an index
//! or manifest list when there is one) and that manifest's image config.

use serde_json::Value;

use super::image::{Manifest, Platform, DOCKER_LIST, OCI_INDEX};
use super::store::Store;

/// What a pull of one reference found.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The digest the reference named or the tag pointed at (index or manifest): the repo digest.
    pub digest: String,
    /// The platform's image manifest.
    pub manifest_digest: String,
    /// The image ID: the digest of the config blob.
    pub config_digest: String,
    /// The whole config blob (`architecture`, `os`, `config`, `rootfs`, `history`, ...).
    pub config: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No such repository, tag or digest.
    NotFound,
    /// The index has no manifest for the platform (containerd: "no match for platform in manifest").
    NoMatchingPlatform { index: String },
    /// The content is not what a manifest should be.
    Invalid(String),
}

/// Resolves `reference` (a tag or a digest) in `repository` for `platform`.
pub fn resolve(
    store: &Store,
    repository: &str,
    reference: &str,
    platform: &Platform,
) -> Result<Resolved, ResolveError> {
    let (digest, top) = store.manifest(repository, reference).ok_or(ResolveError::NotFound)?;
    let (manifest_digest, manifest) = if top.media_type == OCI_INDEX || top.media_type == DOCKER_LIST {
        let chosen = pick(&parse(&top)?, platform).ok_or(ResolveError::NoMatchingPlatform { index: digest.clone() })?;
        store.manifest(repository, &chosen).ok_or(ResolveError::NotFound)?
    } else {
        (digest.clone(), top)
    };
    let body = parse(&manifest)?;
    let config_digest =
        body["config"]["digest"].as_str().ok_or_else(|| ResolveError::Invalid("no config".into()))?.to_string();
    let blob = store.blob(repository, &config_digest).ok_or(ResolveError::NotFound)?;
    let config = serde_json::from_slice(&blob).map_err(|e| ResolveError::Invalid(e.to_string()))?;
    Ok(Resolved { digest, manifest_digest, config_digest, config })
}

fn parse(manifest: &Manifest) -> Result<Value, ResolveError> {
    serde_json::from_slice(&manifest.bytes).map_err(|e| ResolveError::Invalid(e.to_string()))
}

/// The first entry of an index for `platform`, as containerd's platform matcher picks: same OS and
/// architecture, and the same variant when both name one (`arm64` without a variant is `v8`).
pub fn pick(index: &Value, platform: &Platform) -> Option<String> {
    let normal = |arch: &str, variant: Option<&str>| match (arch, variant) {
        ("arm64", None) => Some("v8".to_string()),
        (_, v) => v.map(str::to_string),
    };
    let wanted = normal(&platform.architecture, platform.variant.as_deref());
    index["manifests"].as_array()?.iter().find_map(|entry| {
        let p = &entry["platform"];
        let arch = p["architecture"].as_str()?;
        let matches = p["os"].as_str() == Some(platform.os.as_str())
            && arch == platform.architecture
            && (wanted.is_none() || normal(arch, p["variant"].as_str()) == wanted);
        matches.then(|| entry["digest"].as_str().map(str::to_string)).flatten()
    })
}
