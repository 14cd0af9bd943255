//! The two shared watches of podshim's objects in its namespace, both selected by [`MANAGED_SELECTOR`]: the
//! ConfigMaps (container records, name claims and image records) and the pods. Each event updates the container index
//! ([`Index`]) in place, and one change signal wakes waiters.
//!
//! Inspect, list, wait, events and the auto-remove reaper read this cache; nothing polls the API server. The
//! cache lags the API server a little, so code that has just written an object uses the object the write
//! returned, not the cache.

use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::registry::{Container, Index};
use crate::error::Error;
use podshim_translate::labels::MANAGED_SELECTOR;

/// How long an operation waits for the shared watch to show its own write (read-your-writes for the next
/// request of the same client).
pub(crate) const CACHE_CATCH_UP: Duration = Duration::from_secs(30);

/// How long startup waits for the first complete list before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A cheap-to-clone view of the container index of one namespace.
#[derive(Clone)]
pub struct Cache {
    index: Arc<RwLock<Index>>,
    changes: watch::Receiver<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the {0} watch did not complete its first list within {1:?}: is the cluster reachable?")]
    NotReady(&'static str, Duration),
}

/// How one watch changes the index.
trait Indexed: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static {
    const WHAT: &'static str;
    fn apply(index: &mut Index, obj: Self);
    fn delete(index: &mut Index, obj: &Self);
    fn replace(index: &mut Index, all: Vec<Self>);
}

impl Indexed for ConfigMap {
    const WHAT: &'static str = "records";
    fn apply(index: &mut Index, obj: Self) {
        index.apply_config_map(obj)
    }
    fn delete(index: &mut Index, obj: &Self) {
        index.delete_config_map(obj)
    }
    fn replace(index: &mut Index, all: Vec<Self>) {
        index.replace_config_maps(all)
    }
}

impl Indexed for Pod {
    const WHAT: &'static str = "pods";
    fn apply(index: &mut Index, obj: Self) {
        index.apply_pod(obj)
    }
    fn delete(index: &mut Index, obj: &Self) {
        index.delete_pod(obj)
    }
    fn replace(index: &mut Index, all: Vec<Self>) {
        index.replace_pods(all)
    }
}

impl Cache {
    /// Starts both watch tasks (they run until `shutdown`) and waits for their first complete lists.
    pub async fn start(client: kube::Client, namespace: &str, shutdown: CancellationToken) -> Result<Self, CacheError> {
        let (tx, changes) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let index = Arc::new(RwLock::new(Index::default()));
        let records_ready = spawn_watch::<ConfigMap>(
            Api::namespaced(client.clone(), namespace),
            namespace,
            index.clone(),
            tx.clone(),
            shutdown.clone(),
        );
        let pods_ready = spawn_watch::<Pod>(Api::namespaced(client, namespace), namespace, index.clone(), tx, shutdown);
        let ready = async {
            records_ready.await.map_err(|_| "record")?;
            pods_ready.await.map_err(|_| "pod")
        };
        match tokio::time::timeout(READY_TIMEOUT, ready).await {
            Ok(Ok(())) => {}
            Ok(Err(what)) => return Err(CacheError::NotReady(what, READY_TIMEOUT)),
            Err(_) => return Err(CacheError::NotReady("record and pod", READY_TIMEOUT)),
        }
        Ok(Cache { index, changes })
    }

    /// A cache that no watch feeds: for tests, which change the index through [`Cache::update`].
    pub fn detached() -> Self {
        Cache { index: Arc::default(), changes: watch::channel(0).1 }
    }

    /// Reads the index. `read` runs under a lock: it must be short and must not block.
    pub fn read<T>(&self, read: impl FnOnce(&Index) -> T) -> T {
        let index = self.index.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        read(&index)
    }

    /// Changes the index directly (tests).
    pub fn update(&self, update: impl FnOnce(&mut Index)) {
        let mut index = self.index.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        update(&mut index);
    }

    /// A receiver of the change signal (records, claims or pods changed).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Waits (bounded by [`CACHE_CATCH_UP`]) until `check` holds for the index: an operation waiting to see
    /// its own write. `what` names the write in the timeout's error.
    pub async fn catch_up(&self, what: &str, check: impl Fn(&Index) -> bool) -> Result<(), Error> {
        tokio::time::timeout(CACHE_CATCH_UP, self.wait_for(|index| check(index).then_some(())))
            .await
            .map_err(|_| Error::Timeout(format!("the pod watch did not show {what} within {CACHE_CATCH_UP:?}")))
    }

    /// Every container in the index, as a list.
    pub fn containers(&self) -> Vec<Container> {
        self.read(|index| index.containers().cloned().collect())
    }

    /// Waits until `check` returns `Some`, re-checking after every change either watch sees. Cancel-safe:
    /// dropping the future (a client that went away) leaves nothing behind; it holds no lock across an await.
    pub async fn wait_for<T>(&self, mut check: impl FnMut(&Index) -> Option<T>) -> T {
        let mut changes = self.changes.clone();
        loop {
            changes.mark_unchanged();
            if let Some(found) = self.read(&mut check) {
                return found;
            }
            if changes.changed().await.is_err() {
                // The watch tasks ended (shutdown): nothing will change any more.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Spawns the watch of one kind; the returned receiver completes once its first list is in the index.
fn spawn_watch<K: Indexed>(
    api: Api<K>,
    namespace: &str,
    index: Arc<RwLock<Index>>,
    tx: Arc<watch::Sender<u64>>,
    shutdown: CancellationToken,
) -> tokio::sync::oneshot::Receiver<()> {
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let config = watcher::Config::default().labels(MANAGED_SELECTOR);
    let stream = watcher(api, config).default_backoff();
    let span = tracing::info_span!("watch", kind = K::WHAT, namespace = %namespace);
    tokio::spawn(
        async move {
            let mut stream = std::pin::pin!(stream);
            let mut ready_tx = Some(ready_tx);
            // A relist in progress: the objects it has listed so far.
            let mut listing: Option<Vec<K>> = None;
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = stream.next() => next,
                };
                let event = match next {
                    Some(Ok(event)) => event,
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "watch failed; retrying");
                        continue;
                    }
                    None => break,
                };
                let changed = {
                    let mut index = index.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    match event {
                        watcher::Event::Apply(obj) => {
                            K::apply(&mut index, obj);
                            true
                        }
                        watcher::Event::Delete(obj) => {
                            K::delete(&mut index, &obj);
                            true
                        }
                        watcher::Event::Init => {
                            listing = Some(Vec::new());
                            false
                        }
                        watcher::Event::InitApply(obj) => {
                            listing.get_or_insert_with(Vec::new).push(obj);
                            false
                        }
                        watcher::Event::InitDone => {
                            K::replace(&mut index, listing.take().unwrap_or_default());
                            if let Some(ready) = ready_tx.take() {
                                let _ = ready.send(());
                            }
                            true
                        }
                    }
                };
                if changed {
                    tx.send_modify(|n| *n += 1);
                }
            }
        }
        .instrument(span),
    );
    ready
}
