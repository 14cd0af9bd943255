//! The garbage collector (kube-controller-manager's, in miniature): an object whose every owner (by
//! `ownerReferences[].uid`) is gone is deleted, the way a background-propagation delete of the owner does on a
//! real cluster. Pods go through the normal delete, so a running pod is terminated gracefully.
//!
//! It follows the store's change history, so each change costs work for the objects it touches: the
//! dependents of each deleted object are looked up in an index by owner uid, and an object created with an
//! owner that no longer exists (a dangling reference) is deleted at once. When the history no longer reaches
//! back far enough, it rebuilds the index from a full list and collects every orphan.
//!
//! `propagationPolicy=Orphan` on the owner's delete is handled in [`super::crud`]: the dependents lose their
//! reference to it first, so nothing here touches them. `Foreground` is treated as `Background` (the owner
//! goes at once, its dependents right after), which is a difference from a real cluster only in the order.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::crud;
use super::discovery;
use super::http::Query;
use super::router::ResourcePath;
use super::store::{Change, EventType};
use super::State;

/// An object, by resource, namespace and name.
type Key = (String, String, String);

/// Who owns what, and which uids exist.
#[derive(Default)]
struct Owners {
    uids: HashSet<String>,
    /// Owner uid -> the objects that name it.
    dependents: HashMap<String, HashSet<Key>>,
    /// Object -> its uid and owner uids (to undo its entries when it changes or goes).
    objects: HashMap<Key, (String, Vec<String>)>,
}

impl Owners {
    fn forget(&mut self, key: &Key) {
        if let Some((uid, owners)) = self.objects.remove(key) {
            self.uids.remove(&uid);
            for owner in owners {
                if let Some(set) = self.dependents.get_mut(&owner) {
                    set.remove(key);
                    if set.is_empty() {
                        self.dependents.remove(&owner);
                    }
                }
            }
        }
    }

    fn learn(&mut self, key: Key, object: &Value) {
        self.forget(&key);
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let owners: Vec<String> = owner_uids(object).map(str::to_string).collect();
        for owner in &owners {
            self.dependents.entry(owner.clone()).or_default().insert(key.clone());
        }
        self.uids.insert(uid.clone());
        self.objects.insert(key, (uid, owners));
    }

    /// True when `key` has owners and none of them exists.
    fn is_orphan(&self, key: &Key) -> bool {
        self.objects
            .get(key)
            .is_some_and(|(_, owners)| !owners.is_empty() && owners.iter().all(|o| !self.uids.contains(o)))
    }
}

/// Runs until shutdown: after every change, deletes the objects whose owners are all gone.
pub async fn run(state: State) {
    let mut changes = state.store.subscribe();
    let mut owners = Owners::default();
    let mut seen = rebuild(&state, &mut owners);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        match state.store.changes_since(seen) {
            Ok(batch) => {
                if let Some(last) = batch.last() {
                    seen = last.rv;
                }
                let candidates = apply(&mut owners, &batch);
                delete_orphans(&state, &owners, candidates);
            }
            Err(_) => seen = rebuild(&state, &mut owners),
        }
    }
}

/// Learns a batch of changes; returns the objects that may have become orphans.
fn apply(owners: &mut Owners, batch: &[Change]) -> Vec<Key> {
    let mut candidates = Vec::new();
    for change in batch {
        let meta = &change.object["metadata"];
        let key =
            (change.resource.clone(), change.namespace.clone(), meta["name"].as_str().unwrap_or_default().to_string());
        match change.kind {
            EventType::Deleted => {
                let uid = meta["uid"].as_str().unwrap_or_default().to_string();
                owners.forget(&key);
                candidates.extend(owners.dependents.get(&uid).into_iter().flatten().cloned());
            }
            EventType::Added | EventType::Modified => {
                owners.learn(key.clone(), &change.object);
                candidates.push(key);
            }
        }
    }
    candidates
}

/// Rebuilds the index from a full list and collects every orphan; returns the resourceVersion it reflects.
fn rebuild(state: &State, owners: &mut Owners) -> u64 {
    *owners = Owners::default();
    let mut rv = 0;
    for info in discovery::RESOURCES {
        let (items, at) = state.store.list(info.name, None);
        rv = rv.max(at);
        for item in items {
            let meta = &item["metadata"];
            let key = (
                info.name.to_string(),
                meta["namespace"].as_str().unwrap_or_default().to_string(),
                meta["name"].as_str().unwrap_or_default().to_string(),
            );
            owners.learn(key, &item);
        }
    }
    let all: Vec<Key> = owners.objects.keys().cloned().collect();
    delete_orphans(state, owners, all);
    rv
}

/// Deletes those of `candidates` that are namespaced orphans not already being deleted.
fn delete_orphans(state: &State, owners: &Owners, candidates: Vec<Key>) {
    let unique: HashSet<Key> = candidates.into_iter().collect();
    for (resource, namespace, name) in unique {
        if namespace.is_empty() || !owners.is_orphan(&(resource.clone(), namespace.clone(), name.clone())) {
            continue;
        }
        let Some(info) = discovery::resource(&resource) else { continue };
        let Some(current) = state.store.get(&resource, &namespace, &name) else { continue };
        if current["metadata"].get("deletionTimestamp").is_some() {
            continue;
        }
        let path = ResourcePath { info, namespace: Some(namespace.clone()), name: Some(name.clone()), sub: None };
        match crud::delete(state, &path, &Query::parse(None), b"") {
            Ok(_) => tracing::debug!(%resource, %namespace, %name, "garbage-collected"),
            Err(err) if err.code == 404 => {}
            Err(err) => tracing::warn!(%resource, %namespace, %name, error = %err.message, "garbage collection failed"),
        }
    }
}

fn owner_uids(item: &Value) -> impl Iterator<Item = &str> {
    item["metadata"]["ownerReferences"].as_array().into_iter().flatten().filter_map(|r| r["uid"].as_str())
}
