//! Auto-remove (`--rm`): once the pod of an auto-remove container has terminated for good, its record is
//! deleted (the garbage collector deletes the pod). Driven by the index's change log, so each change costs
//! work for the containers it touched only; the first pass after startup looks at every container and removes
//! what exited while podshim was down. Idempotent and safe with two replicas: a record already gone is not an
//! error.
//!
//! It also releases pods kept by podshim's stop finalizer whose record is gone (deleted behind podshim's back,
//! e.g. with kubectl), and repairs names once at startup (see [`super::containers::names::repair`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::containers::mounts::remove_anonymous;
use super::containers::names;
use super::containers::pods::release_pods;
use super::containers::remove::delete_container;
use super::registry::{annotation, is_removing, is_stopped_by_podshim, Index};
use super::{Container, Runtime};
use crate::error::Error;
use podshim_translate::labels::AUTO_REMOVE_ANNOTATION;
use podshim_translate::state::Status;

/// True when the container should be removed now: auto-remove, has run, and will not run again.
pub(super) fn should_remove(c: &Container) -> bool {
    let auto_remove = annotation(&c.record.metadata, AUTO_REMOVE_ANNOTATION) == Some("true");
    auto_remove && c.pod.is_some() && !is_removing(c) && matches!(c.state().status, Status::Exited | Status::Dead)
}

/// What one pass has to do.
#[derive(Default)]
struct Work {
    remove: Vec<Container>,
    /// Stopped pods of containers whose record is gone.
    orphans: Vec<(String, Vec<Arc<Pod>>)>,
}

/// The work for the containers in `ids` (all of them when `None`).
fn work(index: &Index, ids: Option<Vec<String>>) -> Work {
    let ids = ids.unwrap_or_else(|| {
        let mut all: Vec<String> = index.containers().map(|c| c.id.clone()).collect();
        all.extend(index.orphaned_pod_ids());
        all
    });
    let mut work = Work::default();
    for id in ids {
        match index.get(&id) {
            Some(c) if should_remove(c) => work.remove.push(c.clone()),
            Some(_) => {}
            None => {
                let stopped: Vec<Arc<Pod>> =
                    index.pods_of(&id).into_iter().filter(|p| is_stopped_by_podshim(p)).collect();
                if !stopped.is_empty() {
                    work.orphans.push((id, stopped));
                }
            }
        }
    }
    work
}

/// Removals and releases under way (so a change seen meanwhile does not send a second request).
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<String>>>);

impl InFlight {
    /// Marks `key` as under way; false when it already was.
    fn begin(&self, key: &str) -> bool {
        self.0.lock().map(|mut set| set.insert(key.to_string())).unwrap_or(false)
    }

    fn end(&self, key: &str) {
        self.0.lock().map(|mut set| set.remove(key)).ok();
    }
}

pub(super) fn spawn(rt: Runtime, shutdown: CancellationToken) {
    let span = tracing::info_span!("auto_remove", namespace = %rt.namespace());
    tokio::spawn(
        async move {
            names::repair(&rt).await;
            let mut changes = rt.cache().changes();
            let released = rt.inner.attached.released();
            let in_flight = InFlight::default();
            // Containers left alone while attached: looked at again when an attach ends.
            let mut held: HashSet<String> = HashSet::new();
            let mut seen: Option<u64> = None;
            loop {
                changes.mark_unchanged();
                let (version, mut work) = rt.cache().read(|index| {
                    let ids = seen.and_then(|v| index.changed_since(v)).map(|mut ids| {
                        ids.extend(held.drain());
                        ids
                    });
                    (index.version(), work(index, ids))
                });
                seen = Some(version);
                for c in std::mem::take(&mut work.remove) {
                    if rt.inner.attached.is_attached(&c.id) {
                        held.insert(c.id.clone());
                        continue;
                    }
                    if !in_flight.begin(&c.id) {
                        continue;
                    }
                    let (rt, in_flight) = (rt.clone(), in_flight.clone());
                    tokio::spawn(
                        async move {
                            match delete_container(&rt, &c, false).await {
                                // `--rm` removes the container's anonymous volumes too, as Docker does.
                                Ok(()) => remove_anonymous(&rt, &c).await,
                                Err(Error::NoSuchContainer(_)) => {}
                                Err(err) => tracing::warn!(error = %err, container.id = %c.id, "auto-remove failed"),
                            }
                            // A failure is retried at the container's next change.
                            in_flight.end(&c.id);
                        }
                        .in_current_span(),
                    );
                }
                for (id, pods) in work.orphans {
                    let key = format!("orphan/{id}");
                    if !in_flight.begin(&key) {
                        continue;
                    }
                    let (rt, in_flight) = (rt.clone(), in_flight.clone());
                    tokio::spawn(
                        async move {
                            release_pods(&rt, &id, &pods, false).await;
                            in_flight.end(&key);
                        }
                        .in_current_span(),
                    );
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    changed = changes.changed() => if changed.is_err() { break },
                    _ = released.notified() => {}
                }
            }
        }
        .instrument(span),
    );
}
