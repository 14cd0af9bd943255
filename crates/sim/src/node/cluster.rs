//! What the node needs from the API server, as a trait: the real implementation goes through
//! `kube::Client`; tests use an in-memory one, so the pod runner can be driven without a server.

#[cfg(test)]
use std::collections::BTreeMap;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret};
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

/// The outcome of a status patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchOutcome {
    Done,
    /// The pod is gone (404) or is another pod with the same name (409 uid precondition).
    Gone,
    Failed(String),
}

/// Reads and writes of the API server that a running pod needs.
pub trait Cluster: Send + Sync {
    /// `Ok(None)` when the object does not exist.
    fn config_map(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<ConfigMap>, String>>;
    fn secret(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<Secret>, String>>;
    fn claim(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<PersistentVolumeClaim>, String>>;
    fn volume(&self, name: &str) -> BoxFuture<'_, Result<Option<PersistentVolume>, String>>;
    /// Merge-patches `pods/{name}/status` with `{"metadata":{"uid":..},"status":..}`.
    fn patch_pod_status(&self, namespace: &str, name: &str, uid: &str, status: Value) -> BoxFuture<'_, PatchOutcome>;
}

/// [`Cluster`] through a `kube::Client`.
pub struct KubeCluster {
    pub client: kube::Client,
}

async fn get_opt<K>(api: Api<K>, name: &str) -> Result<Option<K>, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.map_err(|e| e.to_string())
}

impl Cluster for KubeCluster {
    fn config_map(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<ConfigMap>, String>> {
        let api = Api::namespaced(self.client.clone(), namespace);
        let name = name.to_string();
        Box::pin(async move { get_opt(api, &name).await })
    }

    fn secret(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<Secret>, String>> {
        let api = Api::namespaced(self.client.clone(), namespace);
        let name = name.to_string();
        Box::pin(async move { get_opt(api, &name).await })
    }

    fn claim(&self, namespace: &str, name: &str) -> BoxFuture<'_, Result<Option<PersistentVolumeClaim>, String>> {
        let api = Api::namespaced(self.client.clone(), namespace);
        let name = name.to_string();
        Box::pin(async move { get_opt(api, &name).await })
    }

    fn volume(&self, name: &str) -> BoxFuture<'_, Result<Option<PersistentVolume>, String>> {
        let api = Api::all(self.client.clone());
        let name = name.to_string();
        Box::pin(async move { get_opt(api, &name).await })
    }

    fn patch_pod_status(&self, namespace: &str, name: &str, uid: &str, status: Value) -> BoxFuture<'_, PatchOutcome> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let name = name.to_string();
        let body = serde_json::json!({"metadata": {"uid": uid}, "status": status});
        Box::pin(async move {
            match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&body)).await {
                Ok(_) => PatchOutcome::Done,
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => PatchOutcome::Gone,
                Err(e) => PatchOutcome::Failed(e.to_string()),
            }
        })
    }
}

/// An in-memory [`Cluster`] for tests: fixed objects, and every status patch recorded.
#[cfg(test)]
#[derive(Default)]
pub struct FakeCluster {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    pub claims: BTreeMap<String, PersistentVolumeClaim>,
    pub volumes: BTreeMap<String, PersistentVolume>,
    pub statuses: std::sync::Mutex<Vec<Value>>,
}

#[cfg(test)]
impl FakeCluster {
    /// The last status patched.
    pub fn last_status(&self) -> Option<Value> {
        self.statuses.lock().ok()?.last().cloned()
    }
}

#[cfg(test)]
impl Cluster for FakeCluster {
    fn config_map(&self, _: &str, name: &str) -> BoxFuture<'_, Result<Option<ConfigMap>, String>> {
        let found = self.config_maps.get(name).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn secret(&self, _: &str, name: &str) -> BoxFuture<'_, Result<Option<Secret>, String>> {
        let found = self.secrets.get(name).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn claim(&self, _: &str, name: &str) -> BoxFuture<'_, Result<Option<PersistentVolumeClaim>, String>> {
        let found = self.claims.get(name).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn volume(&self, name: &str) -> BoxFuture<'_, Result<Option<PersistentVolume>, String>> {
        let found = self.volumes.get(name).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn patch_pod_status(&self, _: &str, _: &str, _: &str, status: Value) -> BoxFuture<'_, PatchOutcome> {
        if let Ok(mut statuses) = self.statuses.lock() {
            statuses.push(status);
        }
        Box::pin(async { PatchOutcome::Done })
    }
}
