//! `POST /containers/{id}/rename`: claims the new name before it releases the old one.

use std::collections::BTreeMap;

use kube::api::{Patch, PatchParams};
use tracing::instrument;

use super::names::{claim, delete_claim, Claimed};
use crate::error::Error;
use crate::runtime::kube_error::{container_error, is_not_found};
use crate::runtime::{Container, Runtime};
use podshim_translate::labels::{self, NAME_ANNOTATION, NAME_CLAIMED_ANNOTATION};

#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn rename(rt: &Runtime, c: &Container, new_name: &str) -> Result<(), Error> {
    tracing::Span::current().record("container.id", c.id.as_str());
    let new_name = labels::validate_container_name(new_name)?;
    if let Some(holder) = rt.cache().read(|index| index.name_holder(&new_name).map(|h| h.id.clone())) {
        if holder == c.id {
            // moby: "Renaming a container with the same name as its current name".
            return Err(Error::InvalidParameter(
                "Renaming a container with the same name as its current name".to_string(),
            ));
        }
        return Err(Error::NameInUse { name: new_name, id: holder });
    }
    if let Claimed::TakenBy(holder) = claim(rt, &new_name, &c.record).await? {
        return Err(Error::NameInUse { name: new_name, id: holder });
    }
    let annotations = BTreeMap::from([(NAME_ANNOTATION, new_name.as_str()), (NAME_CLAIMED_ANNOTATION, "true")]);
    let patch = serde_json::json!({"metadata": {"annotations": annotations}});
    let record_name = c.record.metadata.name.clone().unwrap_or_default();
    rt.records_api()
        .patch(&record_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|err| container_error(&c.id, "renaming the container record", err))?;
    if let Some(pod_name) = c.pod.as_ref().and_then(|p| p.metadata.name.clone()) {
        match rt.pods_api().patch(&pod_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(Error::kubernetes("renaming the container's pod", err)),
        }
    }
    let old = rt.cache().read(|index| index.claim(&c.name).filter(|claim| claim.id == c.id).cloned());
    if let Some(old) = old {
        delete_claim(rt, &old.object, old.uid).await?;
    }
    // Read-your-writes for both names: the next request finds the container by its new name and no longer by
    // its old one (the old claim's deletion reaches the cache on its own event).
    rt.cache()
        .catch_up("the new name", |index| {
            index.get(&c.id).is_some_and(|x| x.name == new_name)
                && index.name_holder(&c.name).is_none_or(|holder| holder.id != c.id)
        })
        .await
}
