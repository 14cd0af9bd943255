//! Docker volumes: one PersistentVolumeClaim each, in podshim's namespace (see `docs/volumes.md`). The claims are
//! read with plain list and get calls (a volume list is one request, labelled `podshim.io/volume=true`); which
//! containers use a volume comes from the container records in the shared cache (their
//! [`labels::VOLUMES_ANNOTATION`]).
//!
//! Nothing here waits for a claim to be bound: a volume exists as soon as its claim does.

mod events;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use bollard_stubs::models::{Volume, VolumeCreateRequest, VolumePruneResponse};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::Api;

use super::kube_error::{is_already_exists, is_not_found};
use super::{ids, registry, Runtime};
use crate::error::Error;
use podshim_translate::labels::{self, VOLUMES_ANNOTATION};
use podshim_translate::volume::{self, ListFilters, PruneFilters, VolumeError, VolumeSpec};

const SELECTOR: &str = "podshim.io/volume=true";

fn claims(rt: &Runtime) -> Api<PersistentVolumeClaim> {
    Api::namespaced(rt.client().clone(), rt.namespace())
}

fn no_such_volume(name: &str) -> Error {
    Error::NotFound(format!("get {name}: no such volume"))
}

impl From<VolumeError> for Error {
    fn from(err: VolumeError) -> Self {
        match err {
            VolumeError::Translate(err) => err.into(),
            VolumeError::NoSuchPlugin { .. } => Error::NotFound(err.to_string()),
        }
    }
}

/// A claim that is a live volume: made by podshim for a volume and not being deleted.
fn live_volume(claim: &PersistentVolumeClaim) -> Option<Volume> {
    if claim.metadata.deletion_timestamp.is_some() {
        return None;
    }
    volume::to_volume(claim)
}

/// The claim of the volume `name`, when it is a live volume.
async fn get_claim(rt: &Runtime, name: &str) -> Result<Option<(PersistentVolumeClaim, Volume)>, Error> {
    let claim = claims(rt)
        .get_opt(&labels::volume_claim_name(name))
        .await
        .map_err(|e| Error::kubernetes(format!("reading volume {name}"), e))?;
    Ok(claim.and_then(|c| live_volume(&c).filter(|v| v.name == name).map(|v| (c, v))))
}

/// How long a create waits for a removed volume's claim to go.
const CREATE_WAIT: Duration = Duration::from_secs(20);
/// How long a remove waits for its claim to go: shorter, as the volume is gone from the API either way (and a
/// removed container's pod, still stopping, can hold the claim for its grace period).
const REMOVE_WAIT: Duration = Duration::from_secs(5);
const GONE_POLL: Duration = Duration::from_millis(50);

/// Waits (at most `limit`) until the claim `claim_name` of uid `uid` no longer exists: a deleted claim stays while
/// Kubernetes' `pvc-protection` finalizer is on it (a moment, or while a pod still uses it). `true` when gone.
async fn wait_gone(rt: &Runtime, claim_name: &str, uid: Option<&str>, limit: Duration) -> Result<bool, Error> {
    let rounds = limit.as_millis() / GONE_POLL.as_millis();
    for _ in 0..rounds {
        let claim = claims(rt)
            .get_opt(claim_name)
            .await
            .map_err(|e| Error::kubernetes(format!("reading claim {claim_name}"), e))?;
        if claim.is_none_or(|c| c.metadata.uid.as_deref() != uid) {
            return Ok(true);
        }
        tokio::time::sleep(GONE_POLL).await;
    }
    Ok(false)
}

/// Writes the claim of `spec`; an existing volume of that name is the answer (Docker's create is idempotent and
/// keeps the first volume's options). `true` when this call made it. The claim of a volume being removed is
/// waited for (Docker's remove is over when it answers; a claim's deletion is over when its finalizer is done).
async fn create_claim(rt: &Runtime, spec: &VolumeSpec) -> Result<(Volume, bool), Error> {
    let claim = volume::claim(spec, rt.namespace());
    let claim_name = labels::volume_claim_name(&spec.name);
    let mut waited = false;
    // Bounded: AlreadyExists, then the claim gone before it could be read, more than a few times is no race.
    for _ in 0..4 {
        let err = match claims(rt).create(&PostParams::default(), &claim).await {
            Ok(created) => {
                let volume = volume::to_volume(&created).ok_or_else(|| {
                    Error::Internal(format!("the claim of volume {} reads back as no volume", spec.name))
                })?;
                tracing::info!(volume.name = %spec.name, claim = %claim_name, "volume created");
                return Ok((volume, true));
            }
            Err(err) => err,
        };
        match err {
            err if is_already_exists(&err) => {
                let existing = claims(rt)
                    .get_opt(&claim_name)
                    .await
                    .map_err(|e| Error::kubernetes(format!("reading volume {}", spec.name), e))?;
                let Some(existing) = existing else { continue };
                if let Some(volume) = live_volume(&existing).filter(|v| v.name == spec.name) {
                    return Ok((volume, false));
                }
                let terminating = existing.metadata.deletion_timestamp.is_some();
                if !terminating
                    || waited
                    || !wait_gone(rt, &claim_name, existing.metadata.uid.as_deref(), CREATE_WAIT).await?
                {
                    return Err(Error::Conflict(format!(
                        "create {}: the claim {claim_name} exists and is not this volume's, or is still being removed",
                        spec.name
                    )));
                }
                waited = true;
            }
            // The API server refused the claim as invalid (labels or options too large for its annotations): the
            // client's input, 400 with the server's reason.
            kube::Error::Api(status) if status.code == 422 => {
                return Err(Error::InvalidParameter(format!("create {}: {}", spec.name, status.message)));
            }
            err => return Err(Error::kubernetes(format!("creating volume {}", spec.name), err)),
        }
    }
    Err(Error::Conflict(format!("create {}: the claim {claim_name} keeps changing, try again", spec.name)))
}

/// `POST /volumes/create`. Docker sends the `create` event also when the volume already existed.
pub(crate) async fn create(rt: &Runtime, request: &VolumeCreateRequest) -> Result<Volume, Error> {
    let spec = VolumeSpec::from_request(request, ids::random_id, &rt.options().volumes)?;
    let (volume, _) = create_claim(rt, &spec).await?;
    events::emit(rt, events::create(&volume.name));
    Ok(volume)
}

/// The volume `name`, created when missing (`docker run -v name:/path`). The `create` event either way, as Docker
/// sends it each time a container names the volume.
pub(crate) async fn ensure(rt: &Runtime, name: &str) -> Result<Volume, Error> {
    if let Some((_, volume)) = get_claim(rt, name).await? {
        events::emit(rt, events::create(&volume.name));
        return Ok(volume);
    }
    let request = VolumeCreateRequest { name: Some(name.to_string()), ..Default::default() };
    let spec = VolumeSpec::from_request(&request, ids::random_id, &rt.options().volumes)?;
    let (volume, _) = create_claim(rt, &spec).await?;
    events::emit(rt, events::create(&volume.name));
    Ok(volume)
}

/// A new anonymous volume (a random 64-hex name), for `-v /path` and an image's `Volumes`.
/// `labels`: those of a `--mount type=volume` without a source (`volume-label=`), as Docker gives them.
pub(crate) async fn create_anonymous(rt: &Runtime, labels: &HashMap<String, String>) -> Result<Volume, Error> {
    let mut spec = VolumeSpec::anonymous(ids::random_id(), &rt.options().volumes);
    spec.labels.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let (volume, _) = create_claim(rt, &spec).await?;
    events::emit(rt, events::create(&volume.name));
    Ok(volume)
}

/// `GET /volumes/{name}`: 404 `get NAME: no such volume`.
pub(crate) async fn inspect(rt: &Runtime, name: &str) -> Result<Volume, Error> {
    get_claim(rt, name).await?.map(|(_, v)| v).ok_or_else(|| no_such_volume(name))
}

/// The ids of the containers that mount each volume, from the container records.
fn users(rt: &Runtime) -> BTreeMap<String, Vec<String>> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in rt.containers() {
        let Some(text) = registry::annotation(&c.record.metadata, VOLUMES_ANNOTATION) else { continue };
        let names: BTreeSet<String> = volume::mounted_volumes(text).into_iter().collect();
        for name in names {
            users.entry(name).or_default().push(c.id.clone());
        }
    }
    users
}

/// Every live volume with its claim, by name.
async fn all(rt: &Runtime) -> Result<Vec<(PersistentVolumeClaim, Volume)>, Error> {
    let list = claims(rt)
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .map_err(|e| Error::kubernetes("listing volumes", e))?;
    let mut volumes: Vec<(PersistentVolumeClaim, Volume)> =
        list.items.into_iter().filter_map(|c| live_volume(&c).map(|v| (c, v))).collect();
    volumes.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Ok(volumes)
}

/// `GET /volumes`, filtered.
pub(crate) async fn list(rt: &Runtime, filters: &ListFilters) -> Result<Vec<Volume>, Error> {
    let users = users(rt);
    Ok(all(rt).await?.into_iter().map(|(_, v)| v).filter(|v| filters.matches(v, users.contains_key(&v.name))).collect())
}

/// Deletes a volume's claim; `wait`: until it is gone (see [`wait_gone`]). `false` when it was gone already.
async fn delete_claim(rt: &Runtime, claim: &PersistentVolumeClaim, name: &str, wait: bool) -> Result<bool, Error> {
    let params = DeleteParams {
        preconditions: Some(Preconditions { uid: claim.metadata.uid.clone(), resource_version: None }),
        ..Default::default()
    };
    let claim_name = claim.metadata.name.clone().unwrap_or_default();
    match claims(rt).delete(&claim_name, &params).await {
        Ok(_) => {
            // Docker's remove is over when it answers: wait for the claim's finalizer (a moment; as long as a pod
            // still uses it, when a removed container's pod is still going). The volume is gone from the API
            // either way: a claim being deleted is no volume.
            if wait && !wait_gone(rt, &claim_name, claim.metadata.uid.as_deref(), REMOVE_WAIT).await? {
                tracing::info!(volume.name = %name, claim = %claim_name, "the claim is still being deleted");
            }
            tracing::info!(volume.name = %name, claim = %claim_name, "volume removed");
            events::emit(rt, events::destroy(name));
            Ok(true)
        }
        Err(err) if is_not_found(&err) => Ok(false),
        Err(err) => Err(Error::kubernetes(format!("removing volume {name}"), err)),
    }
}

/// `DELETE /volumes/{name}`: 409 `remove NAME: volume is in use - [ID, ...]` while a container mounts it (with or
/// without `force`, as Docker); `force` makes a missing volume no error.
/// `wait`: until the claim is gone (`docker volume rm`); a container's own anonymous volumes, removed with it, are
/// not waited for (a claim being deleted is no volume already).
pub(crate) async fn remove(rt: &Runtime, name: &str, force: bool, wait: bool) -> Result<(), Error> {
    let Some((claim, _)) = get_claim(rt, name).await? else {
        return if force { Ok(()) } else { Err(no_such_volume(name)) };
    };
    if let Some(ids) = users(rt).get(name) {
        return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", ids.join(", "))));
    }
    if delete_claim(rt, &claim, name, wait).await? || force {
        Ok(())
    } else {
        Err(no_such_volume(name))
    }
}

/// `POST /volumes/prune`: removes the unused volumes the filters take (see [`PruneFilters`]).
pub(crate) async fn prune(rt: &Runtime, filters: &PruneFilters) -> Result<VolumePruneResponse, Error> {
    let users = users(rt);
    let mut deleted = Vec::new();
    for (claim, volume) in all(rt).await? {
        if users.contains_key(&volume.name) || !filters.matches(&volume, volume::is_anonymous(&claim)) {
            continue;
        }
        if delete_claim(rt, &claim, &volume.name, false).await? {
            deleted.push(volume.name);
        }
    }
    Ok(VolumePruneResponse { volumes_deleted: Some(deleted), space_reclaimed: Some(0) })
}
