//! Containers from the cache: the container set is the set of records; each container's pod is the newest
//! pod started from its record. Resolves a full id, a unique id prefix or a name. Holds no truth of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard_stubs::models::ContainerCreateBody;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};

use super::cache::Cache;
use super::Container;
use crate::error::Error;
use podshim_translate::inspect::ContainerRecord;
use podshim_translate::labels::{CONFIG_ANNOTATION, ID_ANNOTATION, NAME_ANNOTATION};

/// How long an operation waits for the shared watch to show its own write (read-your-writes for the next
/// request of the same client).
pub(crate) const CACHE_CATCH_UP: Duration = Duration::from_secs(30);

/// Finalizer podshim puts on a pod before deleting it to stop the container: the pod object, with its final
/// status (exit code, times), stays for inspect, ps and logs until the container is started again or removed.
pub const STOPPED_FINALIZER: &str = "podshim.io/stopped";

/// An annotation of an object.
pub fn annotation<'a>(meta: &'a kube::api::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// The container id of a record or pod.
pub fn object_id(meta: &kube::api::ObjectMeta) -> Option<&str> {
    annotation(meta, ID_ANNOTATION)
}

/// The number `n` in a pod name `podshim-<short id>-<n>`.
pub fn pod_index(pod: &Pod) -> u64 {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    name.rsplit_once('-').and_then(|(_, n)| n.parse().ok()).unwrap_or(0)
}

/// True when podshim stopped this pod: deletion requested while [`STOPPED_FINALIZER`] keeps it.
pub fn is_stopped_by_podshim(pod: &Pod) -> bool {
    pod.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == STOPPED_FINALIZER))
}

/// A pod as the container's state should see it. A pod podshim is stopping is not being *removed* (Docker's
/// `removing`) but stopped: its deletion is hidden and its restart policy set to `Never` (the kubelet will not
/// run it again), so the state reads running during the grace period and exited afterwards.
fn effective_pod(pod: Arc<Pod>) -> Arc<Pod> {
    if pod.metadata.deletion_timestamp.is_none() || !is_stopped_by_podshim(&pod) {
        return pod;
    }
    let mut pod = (*pod).clone();
    pod.metadata.deletion_timestamp = None;
    if let Some(spec) = pod.spec.as_mut() {
        spec.restart_policy = Some("Never".to_string());
    }
    Arc::new(pod)
}

/// Every container, oldest record first.
pub fn containers(cache: &Cache) -> Vec<Container> {
    let pods = cache.pods();
    let mut by_key: HashMap<&str, Vec<&Arc<Pod>>> = HashMap::new();
    for pod in &pods {
        if let Some(id) = object_id(&pod.metadata) {
            by_key.entry(id).or_default().push(pod);
        }
        for owner in pod.metadata.owner_references.iter().flatten() {
            by_key.entry(owner.uid.as_str()).or_default().push(pod);
        }
    }
    let mut records = cache.records();
    records.sort_by(|a, b| {
        let created = |r: &ConfigMap| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    records.into_iter().filter_map(|record| container(record, &by_key)).collect()
}

fn container(record: Arc<ConfigMap>, by_key: &HashMap<&str, Vec<&Arc<Pod>>>) -> Option<Container> {
    let id = object_id(&record.metadata)?.to_string();
    let uid = record.metadata.uid.as_deref().unwrap_or("");
    let candidates = by_key.get(id.as_str()).into_iter().chain(by_key.get(uid)).flatten();
    let pod = candidates
        .max_by_key(|p| (pod_index(p), p.metadata.creation_timestamp.as_ref().map(|t| t.0)))
        .map(|p| effective_pod(Arc::clone(p)));
    let name = annotation(&record.metadata, NAME_ANNOTATION).unwrap_or("").to_string();
    Some(Container { id, name, record, pod })
}

impl Container {
    /// The create body kept on the record (`podshim.io/config`).
    pub fn create_body(&self) -> Result<ContainerCreateBody, Error> {
        let json = annotation(&self.record.metadata, CONFIG_ANNOTATION).unwrap_or("{}");
        serde_json::from_str(json).map_err(|err| {
            Error::Internal(format!("the stored configuration of container {} is unreadable: {err}", self.id))
        })
    }

    /// The image as the client named it.
    pub fn image(&self) -> Option<String> {
        self.create_body().ok().and_then(|b| b.image)
    }

    /// Whether the container has a TTY (`Config.Tty`): decides raw or multiplexed output.
    pub fn tty(&self) -> bool {
        self.create_body().ok().and_then(|b| b.tty).unwrap_or(false)
    }

    /// Whether the container keeps stdin open (`Config.OpenStdin`, `docker run -i`).
    pub fn open_stdin(&self) -> bool {
        self.create_body().ok().and_then(|b| b.open_stdin).unwrap_or(false)
    }

    /// What inspect and list read about the container ([`ContainerRecord`]): from the pod when there is one,
    /// else from the record (a created container); the name and creation time always from the record.
    pub fn to_record(&self) -> ContainerRecord {
        let mut record = match &self.pod {
            Some(pod) => ContainerRecord::from_pod(pod, None),
            None => ContainerRecord {
                id: self.id.clone(),
                name: self.name.clone(),
                body: self.create_body().unwrap_or_default(),
                state: self.state(),
                created: None,
                ip: None,
            },
        };
        record.id = self.id.clone();
        record.name = self.name.clone();
        record.state = self.state();
        record.created = self.record.metadata.creation_timestamp.as_ref().map(|t| t.0);
        record
    }
}

/// True when the container's record is being deleted: it no longer holds its name.
pub fn is_removing(c: &Container) -> bool {
    c.record.metadata.deletion_timestamp.is_some()
}

/// Docker's lookup order (moby daemon.GetContainer): full id, then name, then unique id prefix.
pub fn resolve(all: &[Container], id_or_name: &str) -> Result<Container, Error> {
    if id_or_name.is_empty() {
        return Err(Error::NoSuchContainer(id_or_name.to_string()));
    }
    if let Some(c) = all.iter().find(|c| c.id == id_or_name) {
        return Ok(c.clone());
    }
    let bare = id_or_name.strip_prefix('/').unwrap_or(id_or_name);
    if let Some(c) = all.iter().find(|c| c.name == bare && !is_removing(c)) {
        return Ok(c.clone());
    }
    let mut matches = all.iter().filter(|c| c.id.starts_with(id_or_name));
    match (matches.next(), matches.next()) {
        (Some(c), None) => Ok(c.clone()),
        // moby pkg/truncindex ErrAmbiguousPrefix, an invalid-parameter error (400).
        (Some(_), Some(_)) => {
            Err(Error::InvalidParameter(format!("multiple IDs found with provided prefix: {id_or_name}")))
        }
        _ => Err(Error::NoSuchContainer(id_or_name.to_string())),
    }
}

/// The container that holds `name` (without `/`), if any.
pub fn name_holder<'a>(all: &'a [Container], name: &str) -> Option<&'a Container> {
    all.iter().find(|c| c.name == name && !is_removing(c))
}

/// Waits (bounded) until `check` holds for the containers in the cache.
pub(crate) async fn catch_up(
    rt: &super::Runtime,
    what: &str,
    check: impl Fn(&[Container]) -> bool,
) -> Result<(), Error> {
    let wait = rt.cache().wait_for(|cache| check(&containers(cache)).then_some(()));
    tokio::time::timeout(CACHE_CATCH_UP, wait)
        .await
        .map_err(|_| Error::Timeout(format!("the pod watch did not show {what} within {CACHE_CATCH_UP:?}")))
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
