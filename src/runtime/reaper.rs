//! Auto-remove (`--rm`): once the pod of an auto-remove container has terminated for good, its record is
//! deleted (the garbage collector deletes the pod). Driven by the shared watches; the first pass after startup
//! removes what exited while podshim was down. Idempotent and safe with two replicas: a record already gone
//! is not an error.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::containers::pods::release_pods;
use super::containers::remove::delete_container;
use super::registry::{annotation, is_removing, is_stopped_by_podshim, object_id};
use super::{Container, Runtime};
use crate::error::Error;
use podshim_translate::labels::AUTO_REMOVE_ANNOTATION;
use podshim_translate::state::Status;

/// True when the container should be removed now: auto-remove, has run, and will not run again.
pub(super) fn should_remove(c: &Container) -> bool {
    let auto_remove = annotation(&c.record.metadata, AUTO_REMOVE_ANNOTATION) == Some("true");
    auto_remove && c.pod.is_some() && !is_removing(c) && matches!(c.state().status, Status::Exited | Status::Dead)
}

/// Pods kept by podshim's stop finalizer whose record is gone (deleted behind podshim's back, e.g. with
/// kubectl): the finalizer would keep them terminating forever, so it is released.
fn release_orphans(rt: &Runtime, in_flight: &Arc<Mutex<HashSet<String>>>) {
    let records: HashSet<String> = rt.containers().into_iter().map(|c| c.id).collect();
    for pod in rt.cache().pods() {
        let Some(id) = object_id(&pod.metadata).map(str::to_string) else { continue };
        if records.contains(&id) || !is_stopped_by_podshim(&pod) {
            continue;
        }
        let key = format!("orphan/{}", pod.metadata.name.as_deref().unwrap_or(""));
        if !in_flight.lock().map(|mut set| set.insert(key.clone())).unwrap_or(false) {
            continue;
        }
        let rt = rt.clone();
        let in_flight = in_flight.clone();
        tokio::spawn(
            async move {
                release_pods(&rt, &id, &[pod], false).await;
                in_flight.lock().map(|mut set| set.remove(&key)).ok();
            }
            .in_current_span(),
        );
    }
}

pub(super) fn spawn(rt: Runtime, shutdown: CancellationToken) {
    let span = tracing::info_span!("auto_remove", namespace = %rt.namespace());
    tokio::spawn(
        async move {
            let mut changes = rt.cache().changes();
            let released = rt.inner.attached.released();
            // Removals under way (so a change seen meanwhile does not send a second delete).
            let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
            loop {
                changes.mark_unchanged();
                let all = rt.containers();
                if let Ok(mut set) = in_flight.lock() {
                    set.retain(|id| id.starts_with("orphan/") || all.iter().any(|c| &c.id == id && !is_removing(c)));
                }
                for c in all.into_iter().filter(should_remove) {
                    let fresh = in_flight.lock().map(|mut set| set.insert(c.id.clone())).unwrap_or(false);
                    if rt.inner.attached.is_attached(&c.id) || !fresh {
                        if fresh {
                            in_flight.lock().map(|mut set| set.remove(&c.id)).ok();
                        }
                        continue;
                    }
                    let rt = rt.clone();
                    let in_flight = in_flight.clone();
                    tokio::spawn(
                        async move {
                            match delete_container(&rt, &c, false).await {
                                Ok(()) | Err(Error::NoSuchContainer(_)) => {}
                                Err(err) => {
                                    tracing::warn!(error = %err, container.id = %c.id, "auto-remove failed");
                                    // The next change retries.
                                    in_flight.lock().map(|mut set| set.remove(&c.id)).ok();
                                }
                            }
                        }
                        .in_current_span(),
                    );
                }
                release_orphans(&rt, &in_flight);
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
