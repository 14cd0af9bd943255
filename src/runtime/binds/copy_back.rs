//! The copy back: once a container with writable copied binds has exited, the keeper [`COPY_OUT_CONTAINER`] still
//! holds what it left in them. The replica named on the pod ([`BINDS_REPLICA_ANNOTATION`], the one on whose
//! machine the caller's directories are) reads them with `tar` in the keeper, unpacks them into the caller's
//! directories, and then signals the keeper to end: the pod finishes and the container's exit shows (until then
//! its state is running, see `podshim_translate::state`). Driven by the index's change log, as auto-remove is;
//! the first pass after startup looks at every container, so a copy that a restart interrupted is done then.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, LogParams};
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::host_tar::{self, HostBind, UnpackError};
use crate::runtime::registry::{annotation, is_stopped_by_podshim};
use crate::runtime::{Container, Runtime};
use podshim_translate::binds::{copied_back, keeper_release, COPY_OUT_CONTAINER, COPY_ROOT};
use podshim_translate::labels::{BINDS_REPLICA_ANNOTATION, MAIN_CONTAINER};
use podshim_translate::mounts;

/// The pod whose binds this replica copies back now: the keeper runs, and the container's main container has
/// ended, or the pod is being deleted (`docker stop`: a kubelet may post no status until every container of a
/// terminating pod has ended, so the copy then waits for the main container's log to end, see [`main_ended`]).
fn due(c: &Container, replica: &str) -> Option<Arc<Pod>> {
    let pod = c.pod.as_ref()?;
    if annotation(&pod.metadata, BINDS_REPLICA_ANNOTATION) != Some(replica) || !keeper_runs(pod) {
        return None;
    }
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let main = statuses.iter().find(|s| s.name == MAIN_CONTAINER).and_then(|s| s.state.as_ref());
    let main_ended = main.is_some_and(|s| s.terminated.is_some());
    (main_ended || stopping(pod)).then(|| pod.clone())
}

/// The pod is being deleted: stopped by podshim (whose index shows a stopped pod without its deletion, see
/// `registry::effective_pod`) or removed.
fn stopping(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() || is_stopped_by_podshim(pod)
}

/// Waits until the main container has ended: its log, followed, ends with it (at most `limit`).
async fn main_ended(rt: &Runtime, pod: &str, limit: std::time::Duration) {
    let params =
        LogParams { container: Some(MAIN_CONTAINER.into()), follow: true, tail_lines: Some(0), ..Default::default() };
    let followed = async {
        let Ok(stream) = rt.pods_api().log_stream(pod, &params).await else { return };
        let mut stream = std::pin::pin!(stream);
        let mut buf = [0u8; 4096];
        while matches!(futures::AsyncReadExt::read(&mut stream, &mut buf).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(limit, followed).await;
}

pub(crate) fn spawn(rt: Runtime, shutdown: CancellationToken) {
    let span = tracing::info_span!("copy_back", namespace = %rt.namespace());
    tokio::spawn(
        async move {
            let replica = rt.options().ports.replica.clone();
            let mut changes = rt.cache().changes();
            let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
            let mut seen: Option<u64> = None;
            loop {
                changes.mark_unchanged();
                let (version, work) = rt.cache().read(|index| {
                    let ids: Vec<String> = match seen.and_then(|v| index.changed_since(v)) {
                        Some(ids) => ids,
                        None => index.containers().map(|c| c.id.clone()).collect(),
                    };
                    let work: Vec<(Container, Arc<Pod>)> = ids
                        .iter()
                        .filter_map(|id| index.get(id))
                        .filter_map(|c| due(c, &replica).map(|pod| (c.clone(), pod)))
                        .collect();
                    (index.version(), work)
                });
                seen = Some(version);
                for (c, pod) in work {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    if !in_flight.lock().map(|mut set| set.insert(name.clone())).unwrap_or(false) {
                        continue;
                    }
                    let (rt, in_flight) = (rt.clone(), in_flight.clone());
                    tokio::spawn(
                        async move {
                            tracing::debug!(container.id = %c.id, pod = %name, "copying the bind mounts back");
                            if stopping(&pod) {
                                let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30).max(0) as u64;
                                main_ended(&rt, &name, std::time::Duration::from_secs(grace)).await;
                            }
                            copy_back(&rt, &c, &name).await;
                            release(&rt, &name).await;
                            // The keeper's end shows on the watch; until then (at most a minute: a failed release is
                            // tried again at the next change) this pod is not looked at again.
                            let ended = rt
                                .cache()
                                .wait_for(|index| index.pod(&name).is_none_or(|p| !keeper_runs(p)).then_some(()));
                            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), ended).await;
                            if let Ok(mut set) = in_flight.lock() {
                                set.remove(&name);
                            }
                        }
                        .in_current_span(),
                    );
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    changed = changes.changed() => if changed.is_err() { break },
                }
            }
        }
        .instrument(span),
    );
}

fn keeper_runs(pod: &Pod) -> bool {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses
        .into_iter()
        .flatten()
        .any(|s| s.name == COPY_OUT_CONTAINER && s.state.as_ref().is_some_and(|s| s.running.is_some()))
}

/// Reads the writable copied binds out of the keeper and unpacks them into the caller's directories. Errors are
/// logged: the container's exit is not held back by them.
async fn copy_back(rt: &Runtime, c: &Container, pod: &str) {
    let Ok(all) = mounts::from_annotations(c.record.metadata.annotations.as_ref()) else { return };
    let back: Vec<HostBind> =
        super::host_binds(&all).into_iter().filter(|b| copied_back(&all).iter().any(|(n, _)| *n == b.n)).collect();
    if back.is_empty() {
        return;
    }
    let mut command = vec!["tar".to_string(), "-c".into(), "-f".into(), "-".into(), "-C".into(), COPY_ROOT.into()];
    for b in &back {
        command.push(match &b.file {
            Some(name) => format!("{}/{name}", b.n),
            None => b.n.to_string(),
        });
    }
    let params = AttachParams::default()
        .container(COPY_OUT_CONTAINER)
        .stdin(false)
        .stdout(true)
        .stderr(false)
        .max_stdout_buf_size(64 * 1024);
    let mut session = match rt.pods_api().exec(pod, command, &params).await {
        Ok(session) => session,
        Err(err) => {
            tracing::warn!(container.id = %c.id, pod, error = %err, "the bind mounts were not copied back");
            return;
        }
    };
    let Some(stdout) = session.stdout() else { return };
    let limit = rt.options().binds.copy_limit;
    let bridge = SyncIoBridge::new(stdout);
    let unpacked = tokio::task::spawn_blocking(move || host_tar::unpack(bridge, &back, limit)).await;
    match unpacked {
        Ok(Ok(())) => tracing::debug!(container.id = %c.id, pod, "bind mounts copied back"),
        Ok(Err(UnpackError::OverLimit(limit))) => tracing::warn!(
            container.id = %c.id,
            pod,
            "the bind mounts were copied back only in part: more than the copy limit of {limit} bytes (--bind-copy-limit)"
        ),
        Ok(Err(err)) => {
            tracing::warn!(container.id = %c.id, pod, error = %err, "the bind mounts were not all copied back")
        }
        Err(err) => tracing::warn!(container.id = %c.id, pod, error = %err, "the bind mounts were not copied back"),
    }
    drop(session);
}

/// Lets the keeper end ([`keeper_release`]), waiting at most half a minute for the exec.
async fn release(rt: &Runtime, pod: &str) {
    let params = AttachParams::default().container(COPY_OUT_CONTAINER).stdin(false).stdout(true).stderr(true);
    let released = async {
        match rt.pods_api().exec(pod, keeper_release(), &params).await {
            Ok(session) => {
                let _ = session.join().await;
            }
            Err(err) => tracing::warn!(pod, error = %err, "the keeper of the bind mounts could not be released"),
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(30), released).await.is_err() {
        tracing::warn!(pod, "the keeper of the bind mounts did not take its release within 30 s");
    }
}
