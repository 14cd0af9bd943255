//! `DELETE /containers/{id}` and `POST /containers/prune`: delete the record; the garbage collector deletes
//! the pods it owns. Pods kept by podshim's stop finalizer are released first.

use bollard_stubs::models::ContainerPruneResponse;
use kube::api::DeleteParams;
use tracing::instrument;

use super::pods::{pods_of, release_pods};
use crate::error::Error;
use crate::runtime::kube_error::{container_error, is_not_found};
use crate::runtime::registry::is_stopped_by_podshim;
use crate::runtime::{Container, Runtime};
use podshim_translate::list_filters::ListFilters;
use podshim_translate::summary::view_to_summary;

/// Deletes the container: force-kills running pods, releases stopped ones, deletes the record. Shared by
/// `rm`, prune and the auto-remove reaper.
pub(crate) async fn delete_container(rt: &Runtime, c: &Container, force: bool) -> Result<(), Error> {
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
    rt.ports().close(&c.id).await;
    Ok(())
}

/// With `volumes` (`v=1`, `docker rm -v`) the container's own anonymous volumes go too, once it is gone; named
/// volumes stay, as with Docker.
#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn remove(rt: &Runtime, c: &Container, force: bool, volumes: bool) -> Result<(), Error> {
    tracing::Span::current().record("container.id", c.id.as_str());
    if c.state().is_running() && !force {
        return Err(Error::Conflict(format!(
            "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
            c.name
        )));
    }
    delete_container(rt, c, force).await?;
    // Docker answers once the container is gone.
    rt.cache().catch_up("the container's removal", |index| index.get(&c.id).is_none()).await?;
    if volumes {
        super::mounts::remove_anonymous(rt, c).await;
    }
    Ok(())
}

/// Removes every container that is not running and matches `filters` (Docker prunes created ones too).
#[instrument(skip(rt, filters))]
pub(crate) async fn prune(rt: &Runtime, filters: &ListFilters) -> Result<ContainerPruneResponse, Error> {
    let now = jiff::Timestamp::now();
    let mut deleted = Vec::new();
    for c in rt.containers() {
        let state = c.state();
        if state.is_running() || state.status == podshim_translate::state::Status::Removing {
            continue;
        }
        if !filters.matches(&view_to_summary(&c.to_view(), now), &state) {
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
