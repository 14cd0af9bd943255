//! `DELETE /containers/{id}` and `POST /containers/prune`: delete the record; the garbage collector deletes
//! the pods it owns. Pods kept by podshim's stop finalizer are released first.

use std::sync::Arc;

use bollard_stubs::models::ContainerPruneResponse;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams};
use tracing::instrument;

use super::lifecycle::{catch_up, container_error, is_not_found};
use super::registry::{is_stopped_by_podshim, STOPPED_FINALIZER};
use super::start::pods_of;
use super::{Container, Runtime};
use crate::error::Error;
use podshim_translate::list_filters::ListFilters;
use podshim_translate::summary::record_to_summary;

/// Lets the given pods go: a pod podshim stopped loses [`STOPPED_FINALIZER`] (its deletion then completes);
/// with `delete_finished`, a pod that ended on its own is deleted. Failures are logged, not returned: the
/// caller's operation does not depend on them, and a leftover pod is owned by the record and goes with it.
pub(super) async fn release_pods(rt: &Runtime, id: &str, pods: &[Arc<Pod>], delete_finished: bool) {
    let api = rt.pods_api();
    let requests = pods.iter().filter_map(|pod| {
        let name = pod.metadata.name.clone()?;
        let api = api.clone();
        if is_stopped_by_podshim(pod) {
            let rest: Vec<&String> =
                pod.metadata.finalizers.iter().flatten().filter(|f| *f != STOPPED_FINALIZER).collect();
            let patch = serde_json::json!({"metadata": {"finalizers": rest}});
            Some(futures::future::Either::Left(async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
            }))
        } else if delete_finished && pod.metadata.deletion_timestamp.is_none() {
            Some(futures::future::Either::Right(async move {
                api.delete(&name, &DeleteParams::default()).await.map(|_| ())
            }))
        } else {
            None
        }
    });
    for result in futures::future::join_all(requests).await {
        match result {
            Ok(()) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => tracing::warn!(error = %err, container.id = %id, "releasing an earlier pod"),
        }
    }
}

/// Deletes the container: force-kills running pods, releases stopped ones, deletes the record. Shared by
/// `rm`, prune and the auto-remove reaper.
pub(super) async fn delete_container(rt: &Runtime, c: &Container, force: bool) -> Result<(), Error> {
    let pods = pods_of(rt, c);
    if force {
        let api = rt.pods_api();
        let kills = pods.iter().filter(|p| !is_stopped_by_podshim(p) && p.metadata.deletion_timestamp.is_none());
        let kills = kills.filter_map(|p| p.metadata.name.clone()).map(|name| {
            let api = api.clone();
            async move { api.delete(&name, &DeleteParams::default().grace_period(0)).await.map(|_| ()) }
        });
        for result in futures::future::join_all(kills).await {
            match result {
                Ok(()) => {}
                Err(err) if is_not_found(&err) => {}
                Err(err) => return Err(Error::kubernetes("killing the container's pod", err)),
            }
        }
    }
    release_pods(rt, &c.id, &pods, false).await;
    let name = c.record.metadata.name.clone().unwrap_or_default();
    rt.records_api()
        .delete(&name, &DeleteParams::background())
        .await
        .map_err(|err| container_error(&c.id, "deleting the container record", err))?;
    Ok(())
}

/// `volumes` (`v`) changes nothing: podshim containers have no anonymous volumes yet (bind mounts and volumes
/// are refused at create).
#[instrument(skip(rt), fields(container.id))]
pub(super) async fn remove(rt: &Runtime, id_or_name: &str, force: bool, volumes: bool) -> Result<(), Error> {
    let _ = volumes;
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    if c.state().is_running() && !force {
        return Err(Error::Conflict(format!(
            "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
            c.name
        )));
    }
    delete_container(rt, &c, force).await?;
    // Docker answers once the container is gone.
    catch_up(rt, "the container's removal", |all| all.iter().all(|x| x.id != c.id)).await
}

/// Removes every container that is not running and matches `filters` (Docker prunes created ones too).
#[instrument(skip(rt, filters))]
pub(super) async fn prune(rt: &Runtime, filters: &ListFilters) -> Result<ContainerPruneResponse, Error> {
    let now = jiff::Timestamp::now();
    let mut deleted = Vec::new();
    for c in rt.containers() {
        let state = c.state();
        if state.is_running() || state.status == podshim_translate::state::Status::Removing {
            continue;
        }
        if !filters.matches(&record_to_summary(&c.to_record(), now), &state) {
            continue;
        }
        match delete_container(rt, &c, false).await {
            Ok(()) => deleted.push(c.id.clone()),
            Err(Error::NoSuchContainer(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(ContainerPruneResponse { containers_deleted: Some(deleted), space_reclaimed: Some(0) })
}
