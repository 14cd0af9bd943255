//! A pulled image as podshim keeps it ([`StoredImage`]: the registry's config blob, the references that name it,
//! its compressed layer sizes) and the answers Docker gives about images: `GET /images/{name}/json`
//! ([`StoredImage::to_inspect`]), one entry of `GET /images/json` ([`StoredImage::to_summary`]) and
//! `GET /images/{name}/history` ([`StoredImage::history`]).
//!
//! The image id is Docker's: `sha256:` of the config blob as the registry serves it ([`super::image_ref::digest_of`]).

use std::collections::HashMap;

use bollard_stubs::models::{
    DriverData, ImageConfig, ImageHistoryResponseItem, ImageInspect, ImageInspectMetadata, ImageInspectRootFs,
    ImageSummary,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::image_ref::{digest_of, familiar_reference, ImageRef};
use super::TranslateError;

/// The image config blob (OCI image config, or Docker's image JSON), the parts podshim reads. Unknown keys are
/// ignored; the blob itself is kept as the registry served it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default, rename = "os.version")]
    pub os_version: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// The runtime defaults (`Env`, `Cmd`, `Entrypoint`, `ExposedPorts`, `Volumes`, `Healthcheck`, ...).
    #[serde(default)]
    pub config: Option<ImageConfig>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
    #[serde(default)]
    pub history: Vec<History>,
}

/// `rootfs` of a config blob.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default, rename = "type")]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One `history` entry of a config blob.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

impl ConfigFile {
    /// Parses a config blob; 500-class when the registry served something that is not one.
    pub fn parse(raw: &str) -> Result<ConfigFile, TranslateError> {
        serde_json::from_str(raw)
            .map_err(|e| TranslateError::InvalidParameter(format!("the image config is not valid JSON: {e}")))
    }

    /// The creation time, if the blob has a readable one.
    pub fn created_at(&self) -> Option<Timestamp> {
        self.created.as_deref().and_then(|c| c.parse().ok())
    }
}

/// One compressed layer as the manifest lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub digest: String,
    pub size: i64,
}

/// What podshim keeps about a pulled image besides its config blob: kept as JSON on the image's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageMeta {
    /// Full references with a tag (`docker.io/library/alpine:latest`), in the order they were added.
    #[serde(default)]
    pub repo_tags: Vec<String>,
    /// Full references with a digest (`docker.io/library/alpine@sha256:...`).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// The manifest's layers (compressed sizes).
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// When a tag was last added (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
    /// The pull Secret holding the credentials the image was pulled with, if any (a name, never a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<String>,
}

/// A pulled image: its id, its config blob parsed, and [`ImageMeta`].
#[derive(Debug, Clone, Default)]
pub struct StoredImage {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    pub config: ConfigFile,
    pub meta: ImageMeta,
}

impl StoredImage {
    /// An image from its config blob as the registry served it; the id is the blob's digest.
    pub fn from_blob(raw: &str, meta: ImageMeta) -> Result<StoredImage, TranslateError> {
        Ok(StoredImage { id: digest_of(raw.as_bytes()), config: ConfigFile::parse(raw)?, meta })
    }

    /// The size podshim reports: the sum of the compressed layer sizes the registry lists. Docker reports the
    /// unpacked size, which only a node that extracted the layers knows.
    pub fn size(&self) -> i64 {
        self.meta.layers.iter().map(|l| l.size.max(0)).sum()
    }

    /// `RepoTags` as Docker prints them (`alpine:latest`).
    pub fn familiar_tags(&self) -> Vec<String> {
        self.meta.repo_tags.iter().map(|t| familiar_reference(t)).collect()
    }

    /// `RepoDigests` as Docker prints them (`alpine@sha256:...`).
    pub fn familiar_digests(&self) -> Vec<String> {
        self.meta.repo_digests.iter().map(|t| familiar_reference(t)).collect()
    }

    /// The image's labels (`Config.Labels`).
    pub fn labels(&self) -> HashMap<String, String> {
        self.config.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default()
    }

    /// Untagged and no digest left: Docker's `<none>:<none>`.
    pub fn is_dangling(&self) -> bool {
        self.meta.repo_tags.is_empty()
    }

    /// The creation time as Unix seconds (0 when unknown, as for images built with a zero time).
    pub fn created_seconds(&self) -> i64 {
        self.config.created_at().map_or(0, |t| t.as_second())
    }

    /// The digest reference a pod runs for `wanted` (the reference the client named): the repo digest in the same
    /// repository, else the first one. `None` for an image without any (never the case for a pulled image).
    pub fn pinned_reference(&self, wanted: Option<&ImageRef>) -> Option<String> {
        let same_repo = wanted.and_then(|w| {
            let name = w.name();
            self.meta.repo_digests.iter().find(|d| d.split_once('@').is_some_and(|(n, _)| n == name))
        });
        same_repo.or(self.meta.repo_digests.first()).cloned()
    }

    /// `GET /images/{name}/json` (ImageInspect), API 1.50's shape. `Config` is the image's config as the
    /// registry has it; `GraphDriver` names the node's snapshotter; `Metadata.LastTagTime` when a tag was added.
    pub fn to_inspect(&self) -> ImageInspect {
        let config = self.config.config.clone().unwrap_or_default();
        ImageInspect {
            id: Some(self.id.clone()),
            repo_tags: Some(self.familiar_tags()),
            repo_digests: Some(self.familiar_digests()),
            comment: Some(self.config.comment.clone().unwrap_or_default()),
            created: self.config.created.clone().or_else(|| Some("0001-01-01T00:00:00Z".into())),
            author: Some(self.config.author.clone().unwrap_or_default()),
            config: Some(config),
            architecture: Some(self.config.architecture.clone()),
            variant: self.config.variant.clone().filter(|v| !v.is_empty()),
            os: Some(self.config.os.clone()),
            os_version: self.config.os_version.clone().filter(|v| !v.is_empty()),
            size: Some(self.size()),
            graph_driver: Some(DriverData { name: super::inspect::DRIVER.to_string(), data: HashMap::new() }),
            root_fs: Some(ImageInspectRootFs {
                typ: self.config.rootfs.as_ref().map_or_else(|| "layers".to_string(), |r| r.typ.clone()),
                layers: Some(self.config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default()),
            }),
            metadata: Some(ImageInspectMetadata {
                last_tag_time: Some(self.meta.last_tag_time.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into())),
            }),
            ..Default::default()
        }
    }

    /// One entry of `GET /images/json` (ImageList); `containers` is how many containers use the image (Docker
    /// reports -1 unless asked to count; podshim knows it at no cost).
    pub fn to_summary(&self, containers: i64) -> ImageSummary {
        ImageSummary {
            id: self.id.clone(),
            parent_id: String::new(),
            repo_tags: self.familiar_tags(),
            repo_digests: self.familiar_digests(),
            created: self.created_seconds(),
            size: self.size(),
            shared_size: -1,
            labels: self.labels(),
            containers,
            manifests: None,
            descriptor: None,
        }
    }

    /// `GET /images/{name}/history` (ImageHistory): the config's history, newest first, as Docker lists it. The
    /// newest entry carries the image id and tags; earlier ones `<missing>` (their ids are not known locally,
    /// as for any pulled image in Docker). Sizes: the compressed size of the layer each entry made.
    pub fn history(&self) -> Vec<ImageHistoryResponseItem> {
        let mut layers = self.meta.layers.iter();
        let mut items: Vec<ImageHistoryResponseItem> = self
            .config
            .history
            .iter()
            .map(|h| {
                let size = if h.empty_layer { 0 } else { layers.next().map_or(0, |l| l.size) };
                ImageHistoryResponseItem {
                    id: "<missing>".to_string(),
                    created: h
                        .created
                        .as_deref()
                        .and_then(|c| c.parse::<Timestamp>().ok())
                        .map_or(0, |t| t.as_second()),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    tags: Vec::new(),
                    size,
                    comment: h.comment.clone().unwrap_or_default(),
                }
            })
            .collect();
        if items.is_empty() {
            items.push(ImageHistoryResponseItem {
                created: self.created_seconds(),
                size: self.size(),
                ..Default::default()
            });
        }
        items.reverse();
        if let Some(newest) = items.first_mut() {
            newest.id = self.id.clone();
            newest.tags = self.familiar_tags();
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config blob the real node's registry serves for `alpine` (a busybox image laid out like Alpine).
    pub(crate) const ALPINE_BLOB: &str = r#"{"architecture": "amd64", "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}, "created": "1970-01-01T00:00:00Z", "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "realk8s oci_image.py busybox"}], "os": "linux", "rootfs": {"diff_ids": ["sha256:e85275e9cd1300bc158377b5d7597d948fe91dc408939a27e847e18977d49bf5"], "type": "layers"}}"#;

    fn alpine() -> StoredImage {
        let meta = ImageMeta {
            repo_tags: vec!["docker.io/library/alpine:latest".into(), "docker.io/library/alpine:3.10".into()],
            repo_digests: vec![
                "docker.io/library/alpine@sha256:b5c7cdcaa2d2756e94639f2d0eebe2cd73c522e42dffc9b995a007485b9a0abe"
                    .into(),
            ],
            layers: vec![Layer { digest: "sha256:bf".into(), size: 1032775 }],
            ..Default::default()
        };
        StoredImage::from_blob(ALPINE_BLOB, meta).unwrap()
    }

    #[test]
    fn the_id_is_the_digest_of_the_blob_as_served() {
        // The same id the reference engine reports for this image.
        assert_eq!(alpine().id, "sha256:1d0925695eda7263e0afa3c13cebec3c8360d331d928738a046b6e9b6b0d3d24");
    }

    #[test]
    fn inspect_has_dockers_fields() {
        let inspect = serde_json::to_value(alpine().to_inspect()).unwrap();
        assert_eq!(inspect["RepoTags"], serde_json::json!(["alpine:latest", "alpine:3.10"]));
        assert_eq!(inspect["RepoDigests"][0].as_str().unwrap().split('@').next(), Some("alpine"));
        assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(inspect["Created"], "1970-01-01T00:00:00Z");
        assert_eq!(inspect["Os"], "linux");
        assert_eq!(inspect["Size"], 1032775);
        assert_eq!(
            inspect["RootFS"]["Layers"][0],
            "sha256:e85275e9cd1300bc158377b5d7597d948fe91dc408939a27e847e18977d49bf5"
        );
    }

    #[test]
    fn summary_and_history() {
        let image = alpine();
        let summary = image.to_summary(2);
        assert_eq!((summary.created, summary.size, summary.containers), (0, 1032775, 2));
        let history = image.history();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].id, image.id);
        assert_eq!(history[0].created_by, "realk8s oci_image.py busybox");
        assert_eq!(history[0].tags, vec!["alpine:latest", "alpine:3.10"]);
    }

    #[test]
    fn a_pod_runs_the_digest_of_the_named_repository() {
        let mut image = alpine();
        image.meta.repo_digests.insert(0, "quay.io/x/alpine@sha256:aa".into());
        let wanted = ImageRef::parse("alpine").unwrap();
        assert_eq!(
            image.pinned_reference(Some(&wanted)).unwrap(),
            "docker.io/library/alpine@sha256:b5c7cdcaa2d2756e94639f2d0eebe2cd73c522e42dffc9b995a007485b9a0abe"
        );
        assert_eq!(image.pinned_reference(None).unwrap(), "quay.io/x/alpine@sha256:aa");
    }
}
