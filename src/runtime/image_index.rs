//! The image index: the image records (ConfigMaps labelled [`IMAGE_RECORD_LABEL`]) the shared ConfigMap watch
//! sees, kept parsed, with lookups by id, id prefix, tag and digest reference as Docker resolves an image name.
//! Like the container index it holds no truth of its own: it is rebuilt from the watch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;

use crate::error::Error;
use podshim_translate::image::{ImageMeta, StoredImage};
use podshim_translate::image_ref::{id_prefix, ImageRef};
use podshim_translate::labels::{IMAGE_CONFIG_KEY, IMAGE_META_KEY, IMAGE_RECORD_LABEL};

/// One image record as the index keeps it.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    pub image: StoredImage,
    /// The record's object name, uid and resourceVersion (for writes with a precondition).
    pub object: String,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// True for a ConfigMap that is an image record.
pub fn is_image_record(cm: &ConfigMap) -> bool {
    cm.metadata.labels.as_ref().and_then(|l| l.get(IMAGE_RECORD_LABEL)).is_some_and(|v| v == "true")
}

/// Reads an image record. `None` (with a warning) for one podshim cannot read back.
pub fn entry_of(cm: &ConfigMap) -> Option<ImageEntry> {
    let object = cm.metadata.name.clone()?;
    let data = cm.data.as_ref();
    let raw = data.and_then(|d| d.get(IMAGE_CONFIG_KEY))?;
    let meta: ImageMeta = match data.and_then(|d| d.get(IMAGE_META_KEY)).map(|m| serde_json::from_str(m)) {
        Some(Ok(meta)) => meta,
        Some(Err(err)) => {
            tracing::warn!(record = %object, error = %err, "unreadable image record");
            return None;
        }
        None => ImageMeta::default(),
    };
    match StoredImage::from_blob(raw, meta) {
        Ok(image) => Some(ImageEntry {
            image,
            object,
            uid: cm.metadata.uid.clone(),
            resource_version: cm.metadata.resource_version.clone(),
        }),
        Err(err) => {
            tracing::warn!(record = %object, error = %err, "unreadable image config on an image record");
            None
        }
    }
}

/// The pulled images, by id.
#[derive(Debug, Default)]
pub struct ImageIndex {
    by_id: BTreeMap<String, Arc<ImageEntry>>,
    /// Record object name -> image id.
    objects: HashMap<String, String>,
}

/// Why a name does not resolve.
#[derive(Debug)]
pub enum Unresolved {
    /// Not a valid reference (400).
    Invalid(Error),
    /// No such image; the message names the reference as Docker does (`nosuch:latest`).
    Missing(String),
}

impl From<Unresolved> for Error {
    fn from(u: Unresolved) -> Error {
        match u {
            Unresolved::Invalid(err) => err,
            Unresolved::Missing(what) => Error::NoSuchImage(what),
        }
    }
}

impl ImageIndex {
    /// Every image.
    pub fn images(&self) -> impl Iterator<Item = &Arc<ImageEntry>> {
        self.by_id.values()
    }

    /// How many images there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no image was pulled.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// An image by full id (`sha256:...`).
    pub fn get(&self, id: &str) -> Option<&Arc<ImageEntry>> {
        self.by_id.get(id)
    }

    /// The image a full reference (`docker.io/library/alpine:latest` or `...@sha256:...`) names. Two records
    /// claiming one tag (a race between replicas) resolve to the one tagged last.
    pub fn by_reference(&self, full: &str) -> Option<&Arc<ImageEntry>> {
        let tagged =
            |e: &&Arc<ImageEntry>| e.image.meta.repo_tags.iter().chain(&e.image.meta.repo_digests).any(|r| r == full);
        self.by_id.values().filter(tagged).max_by(|a, b| a.image.meta.last_tag_time.cmp(&b.image.meta.last_tag_time))
    }

    /// Docker's image lookup (moby GetImage): a digest (`sha256:<64 hex>` or 64 hex) is an id; else the reference
    /// with `:latest` added is looked up among tags and digests, then the string as an id prefix.
    pub fn resolve(&self, name: &str) -> Result<Arc<ImageEntry>, Unresolved> {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() == 64 && id_prefix(hex).is_some() {
            let id = format!("sha256:{hex}");
            return self.by_id.get(&id).cloned().ok_or(Unresolved::Missing(id));
        }
        if name.starts_with("sha256:") {
            return self.by_id_prefix(name).ok_or_else(|| Unresolved::Missing(name.to_string()));
        }
        let reference = ImageRef::parse(name).map_err(|e| Unresolved::Invalid(e.into()))?.with_default_tag();
        if let Some(found) = self.by_reference(&reference.full()) {
            return Ok(found.clone());
        }
        self.by_id_prefix(name).ok_or_else(|| Unresolved::Missing(reference.familiar()))
    }

    /// The one image whose id starts with the prefix; none when no image or several do.
    fn by_id_prefix(&self, prefix: &str) -> Option<Arc<ImageEntry>> {
        let hex = id_prefix(prefix)?;
        let start = format!("sha256:{hex}");
        let mut matches = self.by_id.range(start.clone()..).take_while(|(id, _)| id.starts_with(&start));
        match (matches.next(), matches.next()) {
            (Some((_, e)), None) => Some(e.clone()),
            _ => None,
        }
    }

    /// An image record was added or changed.
    pub fn apply(&mut self, cm: &ConfigMap) {
        let Some(entry) = entry_of(cm) else { return };
        if let Some(old) = self.objects.insert(entry.object.clone(), entry.image.id.clone()) {
            if old != entry.image.id {
                self.by_id.remove(&old);
            }
        }
        self.by_id.insert(entry.image.id.clone(), Arc::new(entry));
    }

    /// An image record was deleted.
    pub fn delete(&mut self, cm: &ConfigMap) {
        let Some(object) = cm.metadata.name.as_deref() else { return };
        if let Some(id) = self.objects.remove(object) {
            self.by_id.remove(&id);
        }
    }

    /// Replaces every image record (a relist of the watch).
    pub fn replace(&mut self, all: &[&ConfigMap]) {
        self.by_id.clear();
        self.objects.clear();
        for cm in all {
            self.apply(cm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOB: &str = r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]}}"#;

    fn record(name: &str, tags: &[&str]) -> ConfigMap {
        let meta = ImageMeta { repo_tags: tags.iter().map(|t| t.to_string()).collect(), ..Default::default() };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {IMAGE_RECORD_LABEL: "true"}},
            "data": {IMAGE_CONFIG_KEY: BLOB, IMAGE_META_KEY: serde_json::to_string(&meta).unwrap()},
        }))
        .unwrap()
    }

    #[test]
    fn names_resolve_like_docker() {
        let mut index = ImageIndex::default();
        index.apply(&record("podshim-image-x", &["docker.io/library/alpine:latest"]));
        let id = index.images().next().unwrap().image.id.clone();
        for name in ["alpine", "alpine:latest", "docker.io/library/alpine", &id, &id[7..], &id[..12], &id[7..12]] {
            assert_eq!(index.resolve(name).unwrap().image.id, id, "{name}");
        }
        match index.resolve("nosuch") {
            Err(Unresolved::Missing(what)) => assert_eq!(what, "nosuch:latest"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(index.resolve("Alpine"), Err(Unresolved::Invalid(_))));
        index.delete(&record("podshim-image-x", &[]));
        assert!(index.is_empty());
    }
}
