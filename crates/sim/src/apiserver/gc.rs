//! The garbage collector (kube-controller-manager's, in miniature): an object whose every owner (by
//! `ownerReferences[].uid`) is gone is deleted, the way a background-propagation delete of the owner does on a
//! real cluster. Pods go through the normal delete, so a running pod is terminated gracefully.
//!
//! `propagationPolicy=Orphan` on the owner's delete is handled in [`super::crud`]: the dependents lose their
//! reference to it first, so nothing here touches them. `Foreground` is treated as `Background` (the owner
//! goes at once, its dependents right after), which is a difference from a real cluster only in the order.

use std::collections::HashSet;

use serde_json::Value;

use super::crud;
use super::discovery;
use super::http::Query;
use super::router::ResourcePath;
use super::State;

/// Runs until shutdown: after every change, deletes the objects whose owners are all gone.
pub async fn run(state: State) {
    let mut changes = state.store.subscribe();
    loop {
        collect(&state);
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}

/// One pass: finds the orphans and deletes them.
pub fn collect(state: &State) {
    for (resource, namespace, name) in orphans(state) {
        let Some(info) = discovery::resource(&resource) else { continue };
        let path = ResourcePath { info, namespace: Some(namespace.clone()), name: Some(name.clone()), sub: None };
        match crud::delete(state, &path, &Query::parse(None), b"") {
            Ok(_) => tracing::debug!(%resource, %namespace, %name, "garbage-collected"),
            Err(err) if err.code == 404 => {}
            Err(err) => tracing::warn!(%resource, %namespace, %name, error = %err.message, "garbage collection failed"),
        }
    }
}

/// Namespaced objects that have owners, none of which exists any more, and are not already being deleted.
fn orphans(state: &State) -> Vec<(String, String, String)> {
    let mut uids: HashSet<String> = HashSet::new();
    let mut dependents = Vec::new();
    for info in discovery::RESOURCES {
        let (items, _) = state.store.list(info.name, None);
        for item in items {
            if let Some(uid) = item["metadata"]["uid"].as_str() {
                uids.insert(uid.to_string());
            }
            if info.namespaced && has_owners(&item) && item["metadata"].get("deletionTimestamp").is_none() {
                dependents.push((info.name, item));
            }
        }
    }
    dependents
        .into_iter()
        .filter(|(_, item)| owner_uids(item).all(|uid| !uids.contains(uid)))
        .map(|(resource, item)| {
            let meta = &item["metadata"];
            let field = |k: &str| meta[k].as_str().unwrap_or_default().to_string();
            (resource.to_string(), field("namespace"), field("name"))
        })
        .collect()
}

fn has_owners(item: &Value) -> bool {
    item["metadata"]["ownerReferences"].as_array().is_some_and(|refs| !refs.is_empty())
}

fn owner_uids(item: &Value) -> impl Iterator<Item = &str> {
    item["metadata"]["ownerReferences"].as_array().into_iter().flatten().filter_map(|r| r["uid"].as_str())
}
