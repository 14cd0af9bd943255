//! The one shared watch of podshim's pods (a kube-runtime reflector) and a change signal for waiters.
//!
//! Inspect, list, wait and events read this cache; nothing polls the API server. The cache lags the API
//! server a little, so code that has just written a pod uses the object the write returned, not the cache.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::translate::labels::MANAGED_SELECTOR;

/// How long startup waits for the first complete list before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A cheap-to-clone view of podshim's pods in one namespace.
#[derive(Clone)]
pub struct PodCache {
    store: Store<Pod>,
    changes: watch::Receiver<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the pod watch did not complete its first list within {0:?}: is the cluster reachable?")]
    NotReady(Duration),
}

impl PodCache {
    /// Starts the watch task (it runs until `shutdown`) and waits for the first complete list.
    pub async fn start(client: kube::Client, namespace: &str, shutdown: CancellationToken) -> Result<Self, CacheError> {
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let (store, writer) = reflector::store();
        let (tx, changes) = watch::channel(0u64);
        let config = watcher::Config::default().labels(MANAGED_SELECTOR);
        let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
        let span = tracing::info_span!("pod_watch", namespace = %namespace);
        tokio::spawn(
            async move {
                let mut stream = std::pin::pin!(stream);
                loop {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        next = stream.next() => next,
                    };
                    match next {
                        Some(Ok(_)) => {
                            tx.send_modify(|n| *n += 1);
                        }
                        Some(Err(err)) => tracing::warn!(error = %err, "pod watch failed; retrying"),
                        None => break,
                    }
                }
            }
            .instrument(span),
        );
        let cache = PodCache { store, changes };
        match tokio::time::timeout(READY_TIMEOUT, cache.store.wait_until_ready()).await {
            Ok(Ok(())) => Ok(cache),
            _ => Err(CacheError::NotReady(READY_TIMEOUT)),
        }
    }

    /// A cache over an existing store (tests feed the store's writer directly).
    pub fn from_parts(store: Store<Pod>, changes: watch::Receiver<u64>) -> Self {
        PodCache { store, changes }
    }

    /// Every pod podshim owns in its namespace, as last seen.
    pub fn pods(&self) -> Vec<Arc<Pod>> {
        self.store.state()
    }

    /// The first pod that matches.
    pub fn find(&self, predicate: impl Fn(&Pod) -> bool) -> Option<Arc<Pod>> {
        self.store.find(|pod| predicate(pod))
    }

    /// Waits until `check` returns `Some`, re-checking after every change the watch sees. Cancel-safe: dropping
    /// the future (a client that went away) leaves nothing behind.
    pub async fn wait_for<T>(&self, check: impl Fn(&PodCache) -> Option<T>) -> T {
        let mut changes = self.changes.clone();
        loop {
            changes.mark_unchanged();
            if let Some(found) = check(self) {
                return found;
            }
            if changes.changed().await.is_err() {
                // The watch task ended (shutdown): nothing will change any more.
                std::future::pending::<()>().await;
            }
        }
    }
}
