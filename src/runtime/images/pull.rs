//! `POST /images/create` (a pull): resolve the reference at the registry, store the image's record (config blob,
//! the tag and repo digest, layer sizes), move the tag away from the image that had it, and keep the credentials
//! the client sent as a pull Secret for the node.
//!
//! The layers are not downloaded: the node's runtime pulls them when a pod runs the image (by digest).

use jiff::Timestamp;
use tracing::instrument;

use super::registry_client::{self, Fetched, Platform};
use super::{events, secrets, store};
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::image_ref::{digest_of, ImageRef};
use podshim_translate::labels::image_object_name;
use podshim_translate::registry_auth::Credentials;

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The image id (`sha256:` of the config).
    pub id: String,
    /// The digest the reference resolved to (`Digest:` in Docker's stream).
    pub digest: String,
    /// False when the reference already named this image (`Image is up to date`).
    pub new: bool,
}

/// The first half of a pull: what `reference` (with a tag or digest; a bare name means `:latest`) names at its
/// registry. Fails with Docker's texts before anything is written.
#[instrument(skip(rt, credentials), fields(image = %reference.full()))]
pub(crate) async fn fetch(
    rt: &Runtime,
    reference: &ImageRef,
    credentials: Option<&Credentials>,
    platform: &Platform,
) -> Result<Fetched, Error> {
    let reference = reference.clone().with_default_tag();
    registry_client::fetch(rt.registry(), &reference, credentials, platform).await
}

/// The second half: records what [`fetch`] found (the image record, the tag moved to it, the pull Secret).
#[instrument(skip(rt, fetched, credentials), fields(image = %reference.full()))]
pub(crate) async fn record(
    rt: &Runtime,
    reference: &ImageRef,
    fetched: Fetched,
    credentials: Option<&Credentials>,
) -> Result<Pulled, Error> {
    let reference = reference.clone().with_default_tag();
    let id = digest_of(fetched.config.as_bytes());
    let repo_digest = reference.at_digest(&fetched.digest).full();
    let tag = reference.tag.as_ref().map(|_| reference.full());
    let before = rt.cache().read(|index| {
        let images = index.images();
        let named = images.by_reference(&reference.full()).map(|e| e.image.id.clone());
        (named, images.get(&id).is_some())
    });
    let new = match &tag {
        Some(_) => before.0.as_deref() != Some(id.as_str()),
        None => !before.1,
    };
    let secret = credentials.map(|c| secrets::name_for(&reference.domain, c));
    let now = Timestamp::now().to_string();
    let record = store::upsert(rt, &id, &fetched.config, |meta| {
        store::add_ref(&mut meta.repo_digests, &repo_digest);
        if let Some(tag) = &tag {
            if store::add_ref(&mut meta.repo_tags, tag) {
                meta.last_tag_time = Some(now.clone());
            }
        }
        meta.layers = fetched.layers.clone();
        if secret.is_some() {
            meta.pull_secret = secret.clone();
        }
    })
    .await?;
    if let Some(tag) = &tag {
        untag_others(rt, &id, tag).await?;
    }
    if let Some(credentials) = credentials {
        secrets::store(rt, &reference.domain, credentials, &record).await?;
    }
    let object = image_object_name(&id);
    rt.cache()
        .catch_up("the pulled image", |index| {
            index
                .images()
                .get(&id)
                .is_some_and(|e| e.object == object && tag.as_ref().is_none_or(|t| e.image.meta.repo_tags.contains(t)))
        })
        .await?;
    events::emit(rt, events::pull(&reference));
    Ok(Pulled { id, digest: fetched.digest, new })
}

/// A tag names one image: removes `tag` from every other image that has it (which may leave one dangling, as in
/// Docker).
pub(crate) async fn untag_others(rt: &Runtime, id: &str, tag: &str) -> Result<(), Error> {
    let others: Vec<String> = rt.cache().read(|index| {
        index
            .images()
            .images()
            .filter(|e| e.image.id != id && e.image.meta.repo_tags.iter().any(|t| t == tag))
            .map(|e| e.object.clone())
            .collect()
    });
    for object in others {
        store::modify(rt, &object, |meta| store::remove_ref(&mut meta.repo_tags, tag)).await?;
    }
    Ok(())
}
