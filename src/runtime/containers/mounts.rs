//! A container's volumes, on the lifecycle side: at create, the mounts of the body are resolved (the containers of
//! `VolumesFrom` read from their records, 404 `No such container` as Docker), named volumes ensured, anonymous ones
//! created, and the list kept on the record ([`MOUNTS_ANNOTATION`], [`VOLUMES_ANNOTATION`]); at each start the pod
//! gets them ([`add_to_pod`]); `docker rm -v` and auto-remove remove the container's own anonymous volumes
//! ([`remove_anonymous`]). The translation itself is [`podshim_translate::mounts`].

use std::collections::BTreeMap;

use bollard_stubs::models::{ContainerCreateBody, ImageConfig, VolumeCreateRequest};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};

use crate::error::Error;
use crate::runtime::{Container, Runtime};
use podshim_translate::labels::{MOUNTS_ANNOTATION, VOLUMES_ANNOTATION};
use podshim_translate::mounts::{self, combine, requested, volume_uses, ContainerMount, MountKind};

/// The record's mounts (none when it has none or they cannot be read).
pub(crate) fn of(c: &Container) -> Vec<ContainerMount> {
    mounts::from_annotations(c.record.metadata.annotations.as_ref()).unwrap_or_default()
}

/// The mounts of a new container: resolved (binds onto their claims or checked for the copy), with every Docker
/// volume they name existing (named ones created when
/// missing, anonymous ones created and named). On an error, the anonymous volumes created so far are removed.
pub(crate) async fn prepare(
    rt: &Runtime,
    body: &ContainerCreateBody,
    image: &ImageConfig,
) -> Result<Vec<ContainerMount>, Error> {
    let image_volumes = image.volumes.clone().unwrap_or_default();
    let wanted = requested(body, &image_volumes)?;
    let mut inherited = Vec::with_capacity(wanted.volumes_from.len());
    for from in &wanted.volumes_from {
        let other = rt.resolve(&from.container)?;
        let theirs = mounts::from_annotations(other.record.metadata.annotations.as_ref())?;
        inherited.push((from.clone(), theirs));
    }
    let mut all = combine(wanted, &inherited);
    crate::runtime::binds::prepare(rt, body, &mut all).await?;
    let mut ensured: Vec<String> = Vec::new();
    for m in all.iter().filter(|m| m.kind == MountKind::Volume && !m.anonymous && !m.inherited) {
        if ensured.contains(&m.name) {
            continue;
        }
        if m.labels.is_empty() {
            rt.volume_ensure(&m.name).await?;
        } else {
            // `--mount volume-label=`: the labels of the volume when this creates it (an existing one is kept as it is).
            let request = VolumeCreateRequest {
                name: Some(m.name.clone()),
                driver: Some("local".to_string()),
                labels: Some(m.labels.clone()),
                ..Default::default()
            };
            rt.volume_create(&request).await?;
        }
        ensured.push(m.name.clone());
    }
    let mut created: Vec<String> = Vec::new();
    for m in all.iter_mut().filter(|m| m.kind == MountKind::Volume && m.name.is_empty()) {
        match rt.volume_create_anonymous(&m.labels).await {
            Ok(volume) => {
                m.name = volume.name.clone();
                created.push(volume.name);
            }
            Err(err) => {
                remove_volumes(rt, &created).await;
                return Err(err);
            }
        }
    }
    Ok(all)
}

/// Writes the mounts onto the record template: [`MOUNTS_ANNOTATION`] and [`VOLUMES_ANNOTATION`].
pub(crate) fn annotate(record: &mut ConfigMap, all: &[ContainerMount]) -> Result<(), Error> {
    if all.is_empty() {
        return Ok(());
    }
    let encode = |value: serde_json::Result<String>| {
        value.map_err(|err| Error::Internal(format!("encoding the container's mounts: {err}")))
    };
    let annotations = record.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(MOUNTS_ANNOTATION.to_string(), encode(serde_json::to_string(all))?);
    annotations.insert(VOLUMES_ANNOTATION.to_string(), encode(serde_json::to_string(&volume_uses(all)))?);
    Ok(())
}

/// The container's own anonymous volumes (not those taken with `VolumesFrom`).
fn own_anonymous(all: &[ContainerMount]) -> Vec<String> {
    volume_uses(all).into_iter().filter(|u| u.anonymous).map(|u| u.name).collect()
}

/// Removes the anonymous volumes a create made, when the create failed after all.
pub(crate) async fn discard(rt: &Runtime, all: &[ContainerMount]) {
    remove_volumes(rt, &own_anonymous(all)).await;
}

/// Adds the record's mounts to the pod of a start: the claims, the memory-backed emptyDirs, the copied binds'
/// emptyDirs and containers, the main container's volumeMounts, and the two annotations (so the pod answers inspect on its own).
pub(crate) fn add_to_pod(rt: &Runtime, c: &Container, pod: &mut Pod) -> Result<(), Error> {
    let annotations = c.record.metadata.annotations.as_ref();
    let all = mounts::from_annotations(annotations)?;
    if all.is_empty() {
        return Ok(());
    }
    mounts::add_to_pod(pod, &all)?;
    crate::runtime::binds::add_to_pod(rt, pod, &all);
    let pod_annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for key in [MOUNTS_ANNOTATION, VOLUMES_ANNOTATION] {
        if let Some(value) = annotations.and_then(|a| a.get(key)) {
            pod_annotations.insert(key.to_string(), value.clone());
        }
    }
    Ok(())
}

/// Removes a removed container's own anonymous volumes (`docker rm -v`, `--rm`), once the index no longer shows
/// the container (the volumes' "in use" check reads the records). A volume another container still mounts
/// (it took it with `VolumesFrom`) is kept, as Docker keeps it.
pub(crate) async fn remove_anonymous(rt: &Runtime, c: &Container) {
    let Ok(all) = mounts::from_annotations(c.record.metadata.annotations.as_ref()) else { return };
    let names = own_anonymous(&all);
    if names.is_empty() {
        return;
    }
    if let Err(err) = rt.cache().catch_up("the container's removal", |index| index.get(&c.id).is_none()).await {
        tracing::warn!(error = %err, container.id = %c.id, "the anonymous volumes stay: the removal was not seen");
        return;
    }
    remove_volumes(rt, &names).await;
}

async fn remove_volumes(rt: &Runtime, names: &[String]) {
    for name in names {
        match rt.volume_remove_with_container(name).await {
            Ok(()) | Err(Error::NotFound(_)) => {}
            Err(err) => tracing::info!(volume = %name, error = %err, "anonymous volume kept"),
        }
    }
}
