//! `POST /containers/{id}/rename`.

use std::collections::BTreeMap;

use kube::api::{Patch, PatchParams};
use tracing::instrument;

use crate::error::Error;
use crate::runtime::kube_error::{container_error, is_not_found};
use crate::runtime::registry::{self, catch_up};
use crate::runtime::Runtime;
use podshim_translate::labels::{self, NAME_ANNOTATION};

#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn rename(rt: &Runtime, id_or_name: &str, new_name: &str) -> Result<(), Error> {
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let new_name = labels::validate_container_name(new_name)?;
    let all = rt.containers();
    if let Some(holder) = registry::name_holder(&all, &new_name) {
        if holder.id == c.id {
            // moby: "Renaming a container with the same name as its current name".
            return Err(Error::InvalidParameter(
                "Renaming a container with the same name as its current name".to_string(),
            ));
        }
        return Err(Error::NameInUse { name: new_name, id: holder.id.clone() });
    }
    let patch = serde_json::json!({"metadata": {"annotations": BTreeMap::from([(NAME_ANNOTATION, &new_name)])}});
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
    catch_up(rt, "the new name", |all| all.iter().any(|x| x.id == c.id && x.name == new_name)).await
}
