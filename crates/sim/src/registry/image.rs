//! Building an image's content: one small but real layer (a gzip'ed tar) per platform, the image
//! config, the per-platform manifests and the index (OCI) or manifest list (Docker) above them.
//!
//! Everything is deterministic (fixed mtimes and owners, JSON in a fixed key order), so the same
//! description gives the same digests in every run and tests can compare ids.

use std::io::Write;

use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Which media types an image uses: OCI (what Docker Hub serves today) or Docker's v2 schema 2
/// (what older images, e.g. `alpine:3.10`, still have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Oci,
    Docker,
}

/// An OS/architecture pair of an index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn linux(architecture: &str, variant: Option<&str>) -> Platform {
        Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(str::to_string) }
    }

    /// The platform of this machine, as Go names it (`amd64`, `arm64`/`v8`, ...).
    pub fn host() -> Platform {
        match std::env::consts::ARCH {
            "x86_64" => Platform::linux("amd64", None),
            "aarch64" => Platform::linux("arm64", Some("v8")),
            "x86" => Platform::linux("386", None),
            "powerpc64" => Platform::linux("ppc64le", None),
            other => Platform::linux(other, None),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"architecture": self.architecture, "os": self.os});
        if let Some(variant) = &self.variant {
            v["variant"] = json!(variant);
        }
        v
    }
}

/// What an image is made of.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub format: Format,
    pub platforms: Vec<Platform>,
    /// RFC 3339 creation time, in the config and its history.
    pub created: String,
    /// The config's `config` object (`Env`, `Cmd`, `Entrypoint`, `WorkingDir`, `User`, `ExposedPorts`, ...).
    pub config: Value,
    /// Top-level config fields besides the standard ones (e.g. `docker_version` of a classic build).
    pub extra: Value,
    /// `created_by` of each history entry; the first one added the layer, the others are empty layers.
    pub history: Vec<String>,
    /// The layer's files (path without a leading `/`, contents).
    pub files: Vec<(String, String)>,
}

/// A manifest as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub bytes: Bytes,
}

/// The content of a built image, in the order a registry accepts it (blobs, then manifests bottom-up).
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub blobs: Vec<(String, Bytes)>,
    pub manifests: Vec<(String, Manifest)>,
    /// The digest of the index (or manifest list): what a tag points at.
    pub digest: String,
}

impl ImageSpec {
    /// Builds the layers, configs, manifests and the index.
    pub fn build(&self) -> std::io::Result<Built> {
        let (manifest_type, config_type, layer_type, index_type) = match self.format {
            Format::Oci => (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, OCI_INDEX),
            Format::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LIST),
        };
        let mut built = Built::default();
        let mut entries = Vec::new();
        for platform in &self.platforms {
            let (tar, gz) = self.layer(platform)?;
            let layer_digest = sha256(&gz);
            let layer_size = gz.len();
            built.blobs.push((layer_digest.clone(), Bytes::from(gz)));
            let config = to_bytes(&self.config_json(platform, &sha256(&tar)));
            let config_digest = sha256(&config);
            let config_size = config.len();
            built.blobs.push((config_digest.clone(), config));
            let manifest = to_bytes(&json!({
                "schemaVersion": 2,
                "mediaType": manifest_type,
                "config": {"mediaType": config_type, "digest": config_digest, "size": config_size},
                "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": layer_size}],
            }));
            let digest = sha256(&manifest);
            entries.push(json!({
                "mediaType": manifest_type, "digest": digest, "size": manifest.len(), "platform": platform.to_json(),
            }));
            built.manifests.push((digest, Manifest { media_type: manifest_type.into(), bytes: manifest }));
        }
        let index = to_bytes(&json!({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}));
        built.digest = sha256(&index);
        built.manifests.push((built.digest.clone(), Manifest { media_type: index_type.into(), bytes: index }));
        Ok(built)
    }

    fn config_json(&self, platform: &Platform, diff_id: &str) -> Value {
        let history: Vec<Value> = self
            .history
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let mut entry = json!({"created": self.created, "created_by": step});
                if i > 0 {
                    entry["empty_layer"] = json!(true);
                }
                entry
            })
            .collect();
        let mut config = json!({"architecture": platform.architecture, "config": self.config});
        if let Some(extra) = self.extra.as_object() {
            for (k, v) in extra {
                config[k] = v.clone();
            }
        }
        config["created"] = json!(self.created);
        config["history"] = json!(history);
        config["os"] = json!(platform.os);
        config["rootfs"] = json!({"type": "layers", "diff_ids": [diff_id]});
        if let Some(variant) = &platform.variant {
            config["variant"] = json!(variant);
        }
        config
    }

    /// The layer as a tar and gzip'ed: the files, their directories, and `etc/podshim-sim-image`
    /// naming the platform (so each platform's layer differs, as real ones do).
    fn layer(&self, platform: &Platform) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        let mut files = self.files.clone();
        files.push(("etc/podshim-sim-image".into(), format!("{}/{}\n", platform.os, platform.architecture)));
        files.sort();
        let mut builder = tar::Builder::new(Vec::new());
        let mut dirs = std::collections::BTreeSet::new();
        for (path, contents) in &files {
            let mut parent = String::new();
            for part in path.split('/').collect::<Vec<_>>().split_last().map(|(_, dirs)| dirs).unwrap_or(&[]) {
                parent.push_str(part);
                parent.push('/');
                if dirs.insert(parent.clone()) {
                    append(&mut builder, &parent, tar::EntryType::Directory, 0o755, &[])?;
                }
            }
            append(&mut builder, path, tar::EntryType::Regular, 0o755, contents.as_bytes())?;
        }
        let tar = builder.into_inner()?;
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar)?;
        Ok((tar, gz.finish()?))
    }
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(data.len() as u64);
    builder.append_data(&mut header, path, data)
}

fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
