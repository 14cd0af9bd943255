//! Changing what names an image: `docker tag`, `docker rmi` and `docker image prune`.

use bollard_stubs::models::{ImageDeleteResponseItem, ImagePruneResponse};
use jiff::Timestamp;
use tracing::instrument;

use super::{events, pull, store};
use crate::error::Error;
use crate::runtime::image_index::ImageEntry;
use crate::runtime::Runtime;
use podshim_translate::image_delete::{self, Named, User};
use podshim_translate::image_filters::ImageFilters;
use podshim_translate::image_ref::{id_prefix, ImageRef};
use podshim_translate::labels::image_object_name;

/// The containers that use image `id`.
fn users(rt: &Runtime, id: &str) -> Vec<User> {
    rt.containers()
        .into_iter()
        .filter(|c| c.image_id() == id)
        .map(|c| User { running: c.state().is_running(), id: c.id })
        .collect()
}

/// `POST /images/{name}/tag`: `repo[:tag]` names the image `name` from now on (and no other image).
#[instrument(skip(rt))]
pub(crate) async fn tag(rt: &Runtime, name: &str, repo: &str, tag: Option<&str>) -> Result<(), Error> {
    let entry = rt.image(name)?;
    let reference = new_tag(repo, tag)?;
    let full = reference.full();
    let now = Timestamp::now().to_string();
    store::modify(rt, &entry.object, |meta| {
        meta.last_tag_time = Some(now.clone());
        store::add_ref(&mut meta.repo_tags, &full);
        true
    })
    .await?
    .ok_or_else(|| Error::NoSuchImage(name.to_string()))?;
    pull::untag_others(rt, &entry.image.id, &full).await?;
    let id = entry.image.id.clone();
    rt.cache()
        .catch_up("the new tag", |index| index.images().by_reference(&full).is_some_and(|e| e.image.id == id))
        .await?;
    events::emit(rt, events::tag(&id, &reference));
    Ok(())
}

/// The reference `repo` + `tag` (default `latest`) with Docker's checks.
fn new_tag(repo: &str, tag: Option<&str>) -> Result<ImageRef, Error> {
    let reference = ImageRef::parse(repo)?;
    if reference.digest.is_some() {
        return Err(Error::InvalidParameter("refusing to create a tag with a digest reference".into()));
    }
    let reference = match tag.filter(|t| !t.is_empty()) {
        Some(tag) if reference.tag.is_none() => {
            ImageRef::parse(&format!("{}:{tag}", reference.name()))?;
            reference.at_tag(tag)
        }
        Some(_) => return Err(Error::InvalidParameter("invalid reference format".into())),
        None => reference.with_default_tag(),
    };
    Ok(reference)
}

/// `DELETE /images/{name}` (moby's rules in [`image_delete::plan`]).
#[instrument(skip(rt))]
pub(crate) async fn remove(rt: &Runtime, name: &str, force: bool) -> Result<Vec<ImageDeleteResponseItem>, Error> {
    let entry = rt.image(name)?;
    let id = entry.image.id.clone();
    let by_id = id_prefix(name).is_some_and(|hex| id.strip_prefix("sha256:").unwrap_or(&id).starts_with(hex));
    let named =
        if by_id { Named::Id } else { Named::Reference { full: image_delete::named(name)?, given: name.to_string() } };
    let refs: Vec<String> = entry.image.meta.repo_tags.iter().chain(&entry.image.meta.repo_digests).cloned().collect();
    let plan = image_delete::plan(&id, &refs, &named, &users(rt, &id), force).map_err(|c| Error::Conflict(c.0))?;
    apply(rt, &entry, &plan.remove, plan.delete_image).await?;
    for item in &plan.items {
        if item.untagged.is_some() {
            events::emit(rt, events::untag(&id));
        }
    }
    if plan.delete_image {
        events::emit(rt, events::delete(&id));
    }
    Ok(plan.items)
}

/// Removes `refs` from the image's record, or deletes the record.
async fn apply(rt: &Runtime, entry: &ImageEntry, refs: &[String], delete: bool) -> Result<(), Error> {
    let id = entry.image.id.clone();
    if delete {
        store::delete(rt, &entry.object, entry.uid.as_deref()).await?;
        let object = image_object_name(&id);
        return rt
            .cache()
            .catch_up("the image's removal", |index| index.images().get(&id).is_none_or(|e| e.object != object))
            .await;
    }
    if refs.is_empty() {
        return Ok(());
    }
    store::modify(rt, &entry.object, |meta| {
        let mut changed = false;
        for r in refs {
            changed |= store::remove_ref(&mut meta.repo_tags, r);
            changed |= store::remove_ref(&mut meta.repo_digests, r);
        }
        changed
    })
    .await?;
    rt.cache()
        .catch_up("the untag", |index| {
            index.images().get(&id).is_none_or(|e| !refs.iter().any(|r| e.image.meta.repo_tags.contains(r)))
        })
        .await
}

/// `POST /images/prune`: deletes the images no container uses: only dangling ones unless `dangling=false`.
#[instrument(skip(rt, filters))]
pub(crate) async fn prune(rt: &Runtime, filters: &ImageFilters) -> Result<ImagePruneResponse, Error> {
    let dangling_only = filters.dangling().unwrap_or(true);
    let others = filters.clone().without_dangling();
    let candidates: Vec<_> = rt
        .images()
        .into_iter()
        .filter(|e| !dangling_only || e.image.is_dangling())
        .filter(|e| others.apply(&e.image).is_some())
        .collect();
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for entry in candidates {
        let id = entry.image.id.clone();
        if !users(rt, &id).is_empty() {
            continue;
        }
        let refs: Vec<String> =
            entry.image.meta.repo_tags.iter().chain(&entry.image.meta.repo_digests).cloned().collect();
        let plan = match image_delete::plan(&id, &refs, &Named::Id, &[], true) {
            Ok(plan) => plan,
            Err(_) => continue,
        };
        apply(rt, &entry, &plan.remove, true).await?;
        for item in &plan.items {
            if item.untagged.is_some() {
                events::emit(rt, events::untag(&id));
            }
        }
        events::emit(rt, events::delete(&id));
        reclaimed += entry.image.size();
        deleted.extend(plan.items);
    }
    Ok(ImagePruneResponse { images_deleted: Some(deleted), space_reclaimed: Some(reclaimed) })
}
