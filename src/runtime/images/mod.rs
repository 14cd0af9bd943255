//! Images: pulled from registries into image records (one ConfigMap per image, see `docs/images.md`), read from
//! the image index the shared ConfigMap watch keeps, and resolved at `docker create` to the digest the pod runs.
//!
//! - [`crate::runtime::image_index`]: the image index (lookups by id, id prefix, tag, digest), which the
//!   container index holds.
//! - [`registry_client`]: resolving references at registries (`oci-client`), `docker login`, Docker's error texts.
//! - [`pull`]: `docker pull`; [`remove`]: `docker tag`, `docker rmi`, `docker image prune`.
//! - [`store`]: writing image records; [`secrets`]: pull Secrets from a client's credentials.
//! - [`events`]: image events.

pub mod events;
pub mod pull;
pub mod registry_client;
pub mod remove;
pub mod secrets;
pub mod store;

use std::sync::Arc;

use bollard_stubs::models::{ImageDeleteResponseItem, ImagePruneResponse};

pub use super::image_index::{ImageEntry, ImageIndex};
pub use pull::Pulled;
pub use registry_client::{Endpoint, Fetched, Platform, RegistryConfig};

use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::image_filters::ImageFilters;
use podshim_translate::image_ref::ImageRef;
use podshim_translate::registry_auth::{registry_host, Credentials};

/// What a container records about its image at create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// `sha256:` of the config.
    pub id: String,
    /// The digest reference the pod runs.
    pub pinned: String,
    /// The image's runtime config as JSON (`{}` when it has none).
    pub config_json: String,
    /// The pull Secrets the pod lists, from the image's pull and the configured ones.
    pub pull_secrets: Vec<String>,
}

impl Runtime {
    /// The registries and pull Secrets configured.
    pub fn registry(&self) -> &RegistryConfig {
        &self.options().registry
    }

    /// An image by id, id prefix, tag or digest reference, as Docker resolves it. 404 `No such image: <ref>`, 400
    /// for an invalid reference.
    pub fn image(&self, name: &str) -> Result<Arc<ImageEntry>, Error> {
        self.cache().read(|index| index.images().resolve(name)).map_err(Error::from)
    }

    /// Every pulled image.
    pub fn images(&self) -> Vec<Arc<ImageEntry>> {
        self.cache().read(|index| index.images().images().cloned().collect())
    }

    /// What a container created from `name` records: 404 `No such image` when it was never pulled (clients
    /// then pull and create again).
    pub fn resolve_for_create(&self, name: &str) -> Result<ResolvedImage, Error> {
        let entry = self.image(name)?;
        let wanted = ImageRef::parse(name).ok();
        let image = &entry.image;
        let pinned = image
            .pinned_reference(wanted.as_ref())
            .ok_or_else(|| Error::Internal(format!("image {} has no digest to run it by", image.id)))?;
        let config = image.config.config.clone().unwrap_or_default();
        let config_json =
            serde_json::to_string(&config).map_err(|e| Error::Internal(format!("encoding an image config: {e}")))?;
        let mut pull_secrets: Vec<String> = image.meta.pull_secret.iter().cloned().collect();
        pull_secrets.extend(
            self.registry().pull_secrets.iter().filter(|s| !pull_secrets.contains(s)).cloned().collect::<Vec<_>>(),
        );
        Ok(ResolvedImage { id: image.id.clone(), pinned, config_json, pull_secrets })
    }

    /// `POST /images/create?fromImage=...`, first half: resolves the reference at its registry (nothing is
    /// written; a failure is Docker's error for the client).
    pub async fn fetch_image(
        &self,
        reference: &ImageRef,
        credentials: Option<&Credentials>,
        platform: &Platform,
    ) -> Result<Fetched, Error> {
        pull::fetch(self, reference, credentials, platform).await
    }

    /// Second half: records the fetched image (see [`pull::record`]).
    pub async fn record_pull(
        &self,
        reference: &ImageRef,
        fetched: Fetched,
        credentials: Option<&Credentials>,
    ) -> Result<Pulled, Error> {
        pull::record(self, reference, fetched, credentials).await
    }

    /// `POST /images/{name}/tag`.
    pub async fn tag_image(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<(), Error> {
        remove::tag(self, name, repo, tag).await
    }

    /// `DELETE /images/{name}`.
    pub async fn remove_image(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteResponseItem>, Error> {
        remove::remove(self, name, force).await
    }

    /// `POST /images/prune`.
    pub async fn prune_images(&self, filters: &ImageFilters) -> Result<ImagePruneResponse, Error> {
        remove::prune(self, filters).await
    }

    /// `POST /auth`: checks the credentials against their registry.
    pub async fn login(&self, credentials: &Credentials) -> Result<(), Error> {
        registry_client::login(self.registry(), &registry_host(&credentials.server), credentials).await
    }
}
