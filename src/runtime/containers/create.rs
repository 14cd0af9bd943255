//! `POST /containers/create`: resolves the image (404 `No such image` when it was never pulled), validates and
//! translates the body once, makes its volumes ([`super::mounts`]), writes the record with what it needs of the
//! image and the mounts, claims the name.
//!
//! The record is written first (the claim of the name is owned by it, so it goes with the record), then the
//! name is claimed ([`super::names`]). A record whose claim failed is deleted again and is never shown: the
//! index shows a record written with a claim only once its claim names it.

use std::collections::BTreeMap;

use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, ImageConfig};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use tracing::instrument;

use super::mounts;
use super::names::{claim, Claimed};
use crate::error::Error;
use crate::runtime::ids::random_id;
use crate::runtime::images::ResolvedImage;
use crate::runtime::kube_error::{is_already_exists, is_not_found};
use crate::runtime::Runtime;
use podshim_translate::image_merge::merge;
use podshim_translate::labels::{
    self, ID_ANNOTATION, IMAGE_CONFIG_ANNOTATION, IMAGE_ID_ANNOTATION, IMAGE_PINNED_ANNOTATION, NAME_ANNOTATION,
    NAME_CLAIMED_ANNOTATION, PULL_SECRETS_ANNOTATION,
};
use podshim_translate::pod::{create_to_pod, create_warnings, PodIdentity};

/// How many fresh ids a create tries when a record name (the short id) is taken.
const ID_ATTEMPTS: usize = 8;
/// How many generated names a create tries (each checked against the index first, then claimed) before it
/// names the container after its id, as moby does.
const NAME_ATTEMPTS: usize = 5;

/// The record for a create body, without its id and name: the pod's metadata (labels, annotations with config
/// and auto-remove) and the image it resolved to. Translating the whole pod refuses at create what could never
/// run, as Docker does.
fn record_template(rt: &Runtime, body: &ContainerCreateBody, image: &ResolvedImage) -> Result<ConfigMap, Error> {
    let ids = PodIdentity {
        id: "0".repeat(64),
        name: String::new(),
        namespace: rt.namespace().to_string(),
        host_gateway: rt.ports().host_gateway_for(rt, body),
    };
    let pod = create_to_pod(body, &ids)?;
    let mut annotations = pod.metadata.annotations.unwrap_or_default();
    annotations.insert(IMAGE_ID_ANNOTATION.to_string(), image.id.clone());
    annotations.insert(IMAGE_PINNED_ANNOTATION.to_string(), image.pinned.clone());
    annotations.insert(IMAGE_CONFIG_ANNOTATION.to_string(), image.config_json.clone());
    if !image.pull_secrets.is_empty() {
        annotations.insert(PULL_SECRETS_ANNOTATION.to_string(), image.pull_secrets.join(","));
    }
    Ok(ConfigMap {
        metadata: ObjectMeta {
            namespace: Some(rt.namespace().to_string()),
            labels: pod.metadata.labels,
            annotations: Some(annotations),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// The image of a create body, resolved, and its config; with that merged in, the container must have something to run
/// (moby: `No command specified`).
fn resolve_image(rt: &Runtime, body: &ContainerCreateBody) -> Result<(ResolvedImage, ImageConfig), Error> {
    let name = body.image.as_deref().unwrap_or("");
    if name.is_empty() {
        return Err(Error::InvalidParameter("Config.Image must not be empty".into()));
    }
    let image = rt.resolve_for_create(name)?;
    let config = serde_json::from_str(&image.config_json).unwrap_or_default();
    let merged = merge(body, &config);
    let runs = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| l.iter().any(|s| !s.is_empty()));
    if !runs(&merged.entrypoint) && !runs(&merged.cmd) {
        return Err(Error::InvalidParameter("No command specified".into()));
    }
    Ok((image, config))
}

/// The template for one container: named `podshim-<short id>`, with its id and name.
fn stamped(template: &ConfigMap, id: &str, name: &str) -> ConfigMap {
    let mut record = template.clone();
    record.metadata.name = Some(labels::pod_name_for(id));
    let annotations = record.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(ID_ANNOTATION.to_string(), id.to_string());
    annotations.insert(NAME_ANNOTATION.to_string(), name.to_string());
    annotations.insert(NAME_CLAIMED_ANNOTATION.to_string(), "true".to_string());
    record
}

/// Writes the record under a fresh id (drawing another when the short id is taken).
async fn write_record(rt: &Runtime, template: &ConfigMap, name: &str) -> Result<ConfigMap, Error> {
    let api = rt.records_api();
    for _ in 0..ID_ATTEMPTS {
        let id = random_id();
        match api.create(&PostParams::default(), &stamped(template, &id, name)).await {
            Ok(stored) => return Ok(stored),
            Err(err) if is_already_exists(&err) => continue,
            Err(err) => return Err(Error::kubernetes("creating the container record", err)),
        }
    }
    Err(Error::Internal(format!("no free container id after {ID_ATTEMPTS} attempts")))
}

/// Deletes a record whose name could not be claimed.
async fn discard(rt: &Runtime, record: &ConfigMap) {
    let name = record.metadata.name.clone().unwrap_or_default();
    match rt.records_api().delete(&name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(err) if is_not_found(&err) => {}
        Err(err) => tracing::warn!(record = %name, error = %err, "deleting a record that lost its name"),
    }
}

/// A generated name that the index shows free, or `None` after [`NAME_ATTEMPTS`] taken ones.
fn free_generated_name(rt: &Runtime, attempt: usize) -> Option<String> {
    let mut random = [0u8; 5];
    random.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..5]);
    let name = labels::generated_name(random, attempt);
    rt.cache().read(|index| index.name_holder(&name).is_none()).then_some(name)
}

/// Claims a generated name for the stored record: a few random names, then the short id. The record's name
/// annotation follows the name that was claimed.
async fn claim_generated(rt: &Runtime, record: ConfigMap) -> Result<ConfigMap, Error> {
    let id = record.metadata.annotations.as_ref().and_then(|a| a.get(ID_ANNOTATION)).cloned().unwrap_or_default();
    let mut record = record;
    for attempt in 0..=NAME_ATTEMPTS {
        let current = record.metadata.annotations.as_ref().and_then(|a| a.get(NAME_ANNOTATION)).cloned();
        let name = if attempt == NAME_ATTEMPTS {
            labels::fallback_name(&id)
        } else if let Some(written) = current.clone().filter(|n| attempt == 0 && !n.is_empty()) {
            // The name the record was written with (free in the index then): claimed without a rename.
            written
        } else {
            match free_generated_name(rt, attempt) {
                Some(name) => name,
                None => continue,
            }
        };
        if current.as_deref() != Some(name.as_str()) {
            record = rename_record(rt, &record, &name).await?;
        }
        if claim(rt, &name, &record).await? == Claimed::Yes {
            return Ok(record);
        }
    }
    Err(Error::Internal(format!("no free name for container {id}")))
}

/// Sets the name annotation of a stored record (before its name is claimed).
async fn rename_record(rt: &Runtime, record: &ConfigMap, name: &str) -> Result<ConfigMap, Error> {
    let patch = serde_json::json!({"metadata": {"annotations": {NAME_ANNOTATION: name}}});
    let object = record.metadata.name.clone().unwrap_or_default();
    rt.records_api()
        .patch(&object, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .map_err(|err| Error::kubernetes("naming the container record", err))
}

#[instrument(skip(rt, body), fields(container.id))]
pub(crate) async fn create(
    rt: &Runtime,
    name: Option<&str>,
    body: ContainerCreateBody,
) -> Result<ContainerCreateResponse, Error> {
    let explicit = match name.filter(|n| !n.is_empty()) {
        Some(n) => Some(labels::validate_container_name(n)?),
        None => None,
    };
    // Docker checks the image, then the configuration, then the name (404, 400, 409).
    let (image, image_config) = resolve_image(rt, &body)?;
    let template = record_template(rt, &body, &image)?;
    rt.ports().requests(&body, Some(&image_config))?;
    if let Some(n) = &explicit {
        if let Some(holder) = rt.cache().read(|index| index.name_holder(n).map(|c| c.id.clone())) {
            return Err(Error::NameInUse { name: n.clone(), id: holder });
        }
    }
    let first_name = match &explicit {
        Some(n) => n.clone(),
        None => free_generated_name(rt, 0).unwrap_or_default(),
    };
    // Volumes are made once the name is known free, as Docker makes them after it reserved the name.
    let all_mounts = mounts::prepare(rt, &body, &image_config).await?;
    let mut template = template;
    mounts::annotate(&mut template, &all_mounts)?;
    let record = match write_record(rt, &template, &first_name).await {
        Ok(record) => record,
        Err(err) => {
            mounts::discard(rt, &all_mounts).await;
            return Err(err);
        }
    };
    let id = record.metadata.annotations.as_ref().and_then(|a| a.get(ID_ANNOTATION)).cloned().unwrap_or_default();
    tracing::Span::current().record("container.id", id.as_str());
    let claimed = match &explicit {
        Some(n) => match claim(rt, n, &record).await {
            Ok(Claimed::Yes) => Ok(()),
            Ok(Claimed::TakenBy(holder)) => Err(Error::NameInUse { name: n.clone(), id: holder }),
            Err(err) => Err(err),
        },
        None => claim_generated(rt, record.clone()).await.map(|_| ()),
    };
    if let Err(err) = claimed {
        discard(rt, &record).await;
        mounts::discard(rt, &all_mounts).await;
        return Err(err);
    }
    rt.cache().catch_up("the new container", |index| index.get(&id).is_some()).await?;
    Ok(ContainerCreateResponse { id, warnings: create_warnings(&body) })
}
