//! The in-memory object store: objects as JSON keyed by resource, namespace and name, one global
//! resourceVersion counter, and a bounded history of changes that watches replay and follow.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::status::ApiError;

/// How many changes the store keeps for watches that resume from a resourceVersion.
pub const HISTORY_LEN: usize = 4096;

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub kind: EventType,
    pub resource: String,
    pub namespace: String,
    /// The object after the change (for a deletion: the last state, with the deletion's resourceVersion).
    pub object: Arc<Value>,
    /// The object before the change (None for an addition), for selector transitions.
    pub previous: Option<Arc<Value>>,
}

/// The store key: resource (plural), namespace ("" for cluster-scoped), name.
type Key = (String, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Change>,
    /// The resourceVersion up to which history was dropped: a watch from below it is expired.
    floor: u64,
}

/// The object store; cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    latest: watch::Sender<u64>,
    history_len: usize,
}

/// A watch asked for changes older than the retained history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

impl TooOld {
    /// 410 Expired with the real server's wording.
    pub fn to_error(&self) -> ApiError {
        ApiError::gone(format!("too old resource version: {} ({})", self.requested, self.oldest))
    }
}

impl Store {
    pub fn new(history_len: usize) -> Store {
        let inner = Inner { rv: 1, objects: BTreeMap::new(), history: VecDeque::new(), floor: 1 };
        Store { inner: Mutex::new(inner), latest: watch::channel(1).0, history_len: history_len.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver that changes whenever the store does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// How many watches are following the store.
    #[cfg(test)]
    pub fn watcher_count(&self) -> usize {
        self.latest.receiver_count()
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock().objects.get(&key(resource, namespace, name)).cloned()
    }

    /// Every object of `resource` (in `namespace` if given), sorted by namespace and name, with the current rv.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let from = (resource.to_string(), namespace.unwrap_or_default().to_string(), String::new());
        let items = inner
            .objects
            .range(from..)
            .take_while(|((r, ns, _), _)| r == resource && namespace.is_none_or(|want| want == ns))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    /// Stores a new object: sets uid, resourceVersion and creationTimestamp.
    pub fn create(&self, resource: &str, namespace: &str, mut object: Value) -> Result<Value, ApiError> {
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let mut inner = self.lock();
        let k = key(resource, namespace, &name);
        if inner.objects.contains_key(&k) {
            return Err(ApiError::already_exists(resource, &name));
        }
        let rv = inner.rv + 1;
        let meta = &mut object["metadata"];
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(now_rfc3339());
        meta["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(k, object.clone());
        self.record(&mut inner, rv, EventType::Added, resource, namespace, &object, None);
        Ok(object)
    }

    /// Read-modify-write of one object under the store lock. `change` gets the current object and returns
    /// the new one. An unchanged object is not written (no new resourceVersion), like the real server.
    /// An object left with a deletionTimestamp, no finalizers and no grace period left is removed.
    pub fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let k = key(resource, namespace, name);
        let current = inner.objects.get(&k).cloned().ok_or_else(|| ApiError::not_found(resource, name))?;
        let mut object = change(&current)?;
        object["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        if object == current {
            return Ok(object);
        }
        let rv = inner.rv + 1;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let finished = object["metadata"].get("deletionTimestamp").is_some()
            && !has_finalizers(&object)
            && object["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap_or(0) == 0;
        if finished {
            inner.objects.remove(&k);
            self.record(&mut inner, rv, EventType::Deleted, resource, namespace, &object, Some(current));
        } else {
            inner.objects.insert(k, object.clone());
            self.record(&mut inner, rv, EventType::Modified, resource, namespace, &object, Some(current));
        }
        Ok(object)
    }

    /// Removes an object and returns its last state (with the deletion's resourceVersion).
    pub fn remove(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let mut inner = self.lock();
        let mut object = inner.objects.remove(&key(resource, namespace, name))?;
        let rv = inner.rv + 1;
        let previous = object.clone();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(&mut inner, rv, EventType::Deleted, resource, namespace, &object, Some(previous));
        Some(object)
    }

    /// Drops the history so far, as a compaction would: a watch from before now gets 410 Expired.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.floor = inner.rv;
    }

    /// Removes every namespaced object in `namespace`.
    pub fn remove_namespace_contents(&self, namespace: &str) {
        let keys: Vec<Key> = self.lock().objects.keys().filter(|(_, ns, _)| ns == namespace).cloned().collect();
        for (resource, ns, name) in keys {
            self.remove(&resource, &ns, &name);
        }
    }

    /// The changes after `rv`, or `TooOld` when history no longer reaches back that far.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Change>, TooOld> {
        let inner = self.lock();
        if rv < inner.floor {
            return Err(TooOld { requested: rv, oldest: inner.floor });
        }
        let start = inner.history.partition_point(|c| c.rv <= rv);
        Ok(inner.history.range(start..).cloned().collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        inner: &mut Inner,
        rv: u64,
        kind: EventType,
        resource: &str,
        namespace: &str,
        object: &Value,
        previous: Option<Value>,
    ) {
        inner.rv = rv;
        inner.history.push_back(Change {
            rv,
            kind,
            resource: resource.to_string(),
            namespace: namespace.to_string(),
            object: Arc::new(object.clone()),
            previous: previous.map(Arc::new),
        });
        while inner.history.len() > self.history_len {
            if let Some(dropped) = inner.history.pop_front() {
                inner.floor = dropped.rv;
            }
        }
        self.latest.send_replace(rv);
    }
}

fn key(resource: &str, namespace: &str, name: &str) -> Key {
    (resource.to_string(), namespace.to_string(), name.to_string())
}

fn has_finalizers(object: &Value) -> bool {
    object["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty())
}

/// Now as RFC 3339 with whole seconds, like metav1.Time.
pub fn now_rfc3339() -> String {
    format_time(jiff::Timestamp::now())
}

/// A timestamp as RFC 3339 with whole seconds.
pub fn format_time(t: jiff::Timestamp) -> String {
    let secs = t.as_second();
    jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> Value {
        json!({"metadata": {"name": name}})
    }

    #[test]
    fn create_sets_metadata_and_bumps_the_version() {
        let store = Store::new(10);
        let a = store.create("pods", "default", obj("a")).unwrap();
        assert_eq!(a["metadata"]["resourceVersion"], "2");
        assert_eq!(a["metadata"]["uid"].as_str().unwrap().len(), 36);
        assert!(a["metadata"]["creationTimestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(store.create("pods", "default", obj("a")).unwrap_err().code, 409);
        assert_eq!(store.list("pods", None).1, 2);
    }

    #[test]
    fn unchanged_update_keeps_the_version() {
        let store = Store::new(10);
        store.create("pods", "default", obj("a")).unwrap();
        let same = store.update("pods", "default", "a", |v| Ok(v.clone())).unwrap();
        assert_eq!(same["metadata"]["resourceVersion"], "2");
        let changed = store
            .update("pods", "default", "a", |v| {
                let mut v = v.clone();
                v["x"] = json!(1);
                Ok(v)
            })
            .unwrap();
        assert_eq!(changed["metadata"]["resourceVersion"], "3");
    }

    #[test]
    fn history_replays_after_a_version_and_expires_old_ones() {
        let store = Store::new(2);
        for name in ["a", "b", "c"] {
            store.create("pods", "default", obj(name)).unwrap();
        }
        let changes = store.changes_since(3).unwrap();
        assert_eq!(changes.iter().map(|c| c.rv).collect::<Vec<_>>(), vec![4]);
        assert_eq!(store.changes_since(2).unwrap().len(), 2);
        let err = store.changes_since(1).unwrap_err();
        assert_eq!(err.to_error().message, "too old resource version: 1 (2)");
        assert_eq!(err.to_error().code, 410);
    }

    #[test]
    fn compaction_expires_every_earlier_version() {
        let store = Store::new(10);
        store.create("pods", "default", obj("a")).unwrap();
        store.compact();
        assert_eq!(store.changes_since(1).unwrap_err().to_error().message, "too old resource version: 1 (2)");
        assert!(store.changes_since(2).unwrap().is_empty());
    }

    #[test]
    fn removing_the_last_finalizer_of_a_deleted_object_removes_it() {
        let store = Store::new(10);
        store.create("configmaps", "default", json!({"metadata": {"name": "a", "finalizers": ["x"]}})).unwrap();
        store
            .update("configmaps", "default", "a", |v| {
                let mut v = v.clone();
                v["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                Ok(v)
            })
            .unwrap();
        assert!(store.get("configmaps", "default", "a").is_some());
        store
            .update("configmaps", "default", "a", |v| {
                let mut v = v.clone();
                v["metadata"]["finalizers"] = json!([]);
                Ok(v)
            })
            .unwrap();
        assert!(store.get("configmaps", "default", "a").is_none());
        assert_eq!(store.changes_since(3).unwrap()[0].kind, EventType::Deleted);
    }
}
