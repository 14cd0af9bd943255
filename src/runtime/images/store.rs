//! Writing image records: create one for a new image, change the references of an existing one (a read, a change,
//! a replace with the read's resourceVersion, retried a few times when another writer came first), delete one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ObjectMeta, PostParams, Preconditions};

use crate::error::Error;
use crate::runtime::image_index::entry_of;
use crate::runtime::kube_error::{is_already_exists, is_conflict, is_not_found};
use crate::runtime::Runtime;
use podshim_translate::image::ImageMeta;
use podshim_translate::labels::{
    image_object_name, IMAGE_CONFIG_KEY, IMAGE_META_KEY, IMAGE_RECORD_LABEL, MANAGED_LABEL, MANAGED_VALUE,
};

/// How many times a change is retried when another writer changed the record in between.
const WRITE_ATTEMPTS: usize = 8;

fn meta_json(meta: &ImageMeta) -> Result<String, Error> {
    serde_json::to_string(meta).map_err(|e| Error::Internal(format!("encoding an image record: {e}")))
}

/// A new image record.
fn new_record(rt: &Runtime, id: &str, blob: &str, meta: &ImageMeta) -> Result<ConfigMap, Error> {
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(image_object_name(id)),
            namespace: Some(rt.namespace().to_string()),
            labels: Some(BTreeMap::from([
                (MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string()),
                (IMAGE_RECORD_LABEL.to_string(), "true".to_string()),
            ])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            (IMAGE_CONFIG_KEY.to_string(), blob.to_string()),
            (IMAGE_META_KEY.to_string(), meta_json(meta)?),
        ])),
        ..Default::default()
    })
}

/// Stores the image `id` (config `blob`): creates its record with `change` applied to empty metadata, or applies
/// `change` to the existing record's. Returns the stored record.
pub(crate) async fn upsert(
    rt: &Runtime,
    id: &str,
    blob: &str,
    change: impl Fn(&mut ImageMeta),
) -> Result<ConfigMap, Error> {
    let mut meta = ImageMeta::default();
    change(&mut meta);
    match rt.records_api().create(&PostParams::default(), &new_record(rt, id, blob, &meta)?).await {
        Ok(stored) => Ok(stored),
        Err(err) if is_already_exists(&err) => {
            let changed = modify(rt, &image_object_name(id), |m| {
                change(m);
                true
            })
            .await?;
            changed.ok_or_else(|| Error::Internal(format!("the image record of {id} disappeared while it was written")))
        }
        Err(err) => Err(Error::kubernetes("creating the image record", err)),
    }
}

/// Applies `change` to the metadata of the image record `object` (when it returns true, the record is written
/// back). `Ok(None)` when the record does not exist.
pub(crate) async fn modify(
    rt: &Runtime,
    object: &str,
    change: impl Fn(&mut ImageMeta) -> bool,
) -> Result<Option<ConfigMap>, Error> {
    let api = rt.records_api();
    for _ in 0..WRITE_ATTEMPTS {
        let mut cm = match api.get(object).await {
            Ok(cm) => cm,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(Error::kubernetes("reading the image record", err)),
        };
        let Some(entry) = entry_of(&cm) else {
            return Err(Error::Internal(format!("the image record {object} is unreadable")));
        };
        let mut meta = entry.image.meta.clone();
        if !change(&mut meta) {
            return Ok(Some(cm));
        }
        cm.data.get_or_insert_with(BTreeMap::new).insert(IMAGE_META_KEY.to_string(), meta_json(&meta)?);
        cm.metadata.managed_fields = None;
        match api.replace(object, &PostParams::default(), &cm).await {
            Ok(stored) => return Ok(Some(stored)),
            Err(err) if is_conflict(&err) => continue,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(Error::kubernetes("updating the image record", err)),
        }
    }
    Err(Error::Conflict(format!("the image record {object} kept changing; try again")))
}

/// Deletes the image record `object` if it still has `uid` (another writer may have replaced it).
pub(crate) async fn delete(rt: &Runtime, object: &str, uid: Option<&str>) -> Result<(), Error> {
    let params = DeleteParams {
        preconditions: uid.map(|u| Preconditions { uid: Some(u.to_string()), resource_version: None }),
        ..DeleteParams::background()
    };
    match rt.records_api().delete(object, &params).await {
        Ok(_) => Ok(()),
        Err(err) if is_not_found(&err) => Ok(()),
        Err(err) => Err(Error::kubernetes("deleting the image record", err)),
    }
}

/// Adds `reference` to `refs` unless present; true when added.
pub(crate) fn add_ref(refs: &mut Vec<String>, reference: &str) -> bool {
    if refs.iter().any(|r| r == reference) {
        return false;
    }
    refs.push(reference.to_string());
    true
}

/// Removes `reference` from `refs`; true when it was there.
pub(crate) fn remove_ref(refs: &mut Vec<String>, reference: &str) -> bool {
    let before = refs.len();
    refs.retain(|r| r != reference);
    refs.len() != before
}
