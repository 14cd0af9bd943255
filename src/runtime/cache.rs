//! The two shared watches (kube-runtime reflectors) of podshim's objects in its namespace, both selected by
//! [`MANAGED_SELECTOR`]: the records (ConfigMaps) and the pods, with one combined change signal for waiters.
//!
//! Inspect, list, wait, events and the auto-remove reaper read this cache; nothing polls the API server. The
//! cache lags the API server a little, so code that has just written an object uses the object the write
//! returned, not the cache.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use podshim_translate::labels::{ID_ANNOTATION, MANAGED_SELECTOR};

/// How long startup waits for the first complete list before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the last state of a deleted pod is remembered (for `wait?condition=removed`).
const GRAVEYARD_TTL: Duration = Duration::from_secs(600);

/// A cheap-to-clone view of podshim's records and pods in one namespace.
#[derive(Clone)]
pub struct Cache {
    records: Store<ConfigMap>,
    pods: Store<Pod>,
    changes: watch::Receiver<u64>,
    graveyard: Graveyard,
}

/// The last version of pods the watch saw deleted, by container id: a waiter that was not scheduled between
/// a pod's exit and its deletion still learns the exit code.
#[derive(Clone, Default)]
pub struct Graveyard(Arc<Mutex<HashMap<String, Burial>>>);

/// When a pod was seen deleted, and its last version.
type Burial = (Instant, Arc<Pod>);

impl Graveyard {
    fn bury(&self, pod: Pod) {
        let Some(id) = pod.metadata.annotations.as_ref().and_then(|a| a.get(ID_ANNOTATION)).cloned() else { return };
        let Ok(mut map) = self.0.lock() else { return };
        map.retain(|_, (at, _)| at.elapsed() < GRAVEYARD_TTL);
        map.insert(id, (Instant::now(), Arc::new(pod)));
    }

    /// The last deleted pod of a container, if recently seen.
    pub fn last_pod(&self, id: &str) -> Option<Arc<Pod>> {
        self.0.lock().ok().and_then(|map| map.get(id).map(|(_, pod)| pod.clone()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the {0} watch did not complete its first list within {1:?}: is the cluster reachable?")]
    NotReady(&'static str, Duration),
}

impl Cache {
    /// Starts both watch tasks (they run until `shutdown`) and waits for their first complete lists.
    pub async fn start(client: kube::Client, namespace: &str, shutdown: CancellationToken) -> Result<Self, CacheError> {
        let (tx, changes) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let graveyard = Graveyard::default();
        let records = spawn_reflector::<ConfigMap>(
            Api::namespaced(client.clone(), namespace),
            "records",
            namespace,
            tx.clone(),
            None,
            shutdown.clone(),
        );
        let pods = spawn_reflector::<Pod>(
            Api::namespaced(client, namespace),
            "pods",
            namespace,
            tx,
            Some({
                let graveyard = graveyard.clone();
                Box::new(move |pod| graveyard.bury(pod))
            }),
            shutdown,
        );
        let cache = Cache { records, pods, changes, graveyard };
        let ready = async {
            cache.records.wait_until_ready().await.map_err(|_| "record")?;
            cache.pods.wait_until_ready().await.map_err(|_| "pod")
        };
        match tokio::time::timeout(READY_TIMEOUT, ready).await {
            Ok(Ok(())) => {}
            Ok(Err(what)) => return Err(CacheError::NotReady(what, READY_TIMEOUT)),
            Err(_) => return Err(CacheError::NotReady("record and pod", READY_TIMEOUT)),
        }
        Ok(cache)
    }

    /// A cache over existing stores (tests feed the stores' writers directly).
    pub fn from_parts(records: Store<ConfigMap>, pods: Store<Pod>, changes: watch::Receiver<u64>) -> Self {
        Cache { records, pods, changes, graveyard: Graveyard::default() }
    }

    /// Every record, as last seen.
    pub fn records(&self) -> Vec<Arc<ConfigMap>> {
        self.records.state()
    }

    /// Every pod podshim owns in its namespace, as last seen.
    pub fn pods(&self) -> Vec<Arc<Pod>> {
        self.pods.state()
    }

    /// Recently deleted pods.
    pub fn graveyard(&self) -> &Graveyard {
        &self.graveyard
    }

    /// A receiver of the combined change signal (records or pods changed).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Waits until `check` returns `Some`, re-checking after every change either watch sees. Cancel-safe:
    /// dropping the future (a client that went away) leaves nothing behind; it holds no lock across an await.
    pub async fn wait_for<T>(&self, mut check: impl FnMut(&Cache) -> Option<T>) -> T {
        let mut changes = self.changes.clone();
        loop {
            changes.mark_unchanged();
            if let Some(found) = check(self) {
                return found;
            }
            if changes.changed().await.is_err() {
                // The watch tasks ended (shutdown): nothing will change any more.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Called with the last version of each object the watch sees deleted.
type OnDelete<K> = Box<dyn Fn(K) + Send>;

fn spawn_reflector<K>(
    api: Api<K>,
    what: &'static str,
    namespace: &str,
    tx: Arc<watch::Sender<u64>>,
    on_delete: Option<OnDelete<K>>,
    shutdown: CancellationToken,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let config = watcher::Config::default().labels(MANAGED_SELECTOR);
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    let span = tracing::info_span!("watch", kind = what, namespace = %namespace);
    tokio::spawn(
        async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = stream.next() => next,
                };
                match next {
                    Some(Ok(event)) => {
                        if let (watcher::Event::Delete(obj), Some(on_delete)) = (event, on_delete.as_ref()) {
                            on_delete(obj);
                        }
                        tx.send_modify(|n| *n += 1);
                    }
                    Some(Err(err)) => tracing::warn!(error = %err, "watch failed; retrying"),
                    None => break,
                }
            }
        }
        .instrument(span),
    );
    store
}
