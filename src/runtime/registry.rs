//! The container index: what the shared watches show, kept as containers, so a lookup by id, name or id prefix
//! is a map access and each container's create body is parsed once, when its record arrives. Holds no truth of
//! its own: it is rebuilt from the watches, and everything in it is on Kubernetes objects.
//!
//! - A **record** (ConfigMap, see `docs/lifecycle.md`) is a container. Its newest pod is the container's pod.
//! - A **name claim** (ConfigMap named after a hash of the Docker name, owned by its record) is what makes a name
//!   unique across replicas: Kubernetes creates an object only if its name is free. A record created with
//!   [`NAME_CLAIMED_ANNOTATION`] is shown only once its claim names it (a create that lost the race for its name
//!   is never seen); a record without it (written before claims existed) holds its name by its annotation alone.
//! - An **image record** (ConfigMap labelled `podshim.io/image`) is a pulled image: kept apart, in the image index
//!   ([`ImageIndex`]), which the container index only holds.
//! - The index keeps what it needs and nothing more: managedFields, the raw create body (parsed instead) and the
//!   files copied before start (`binaryData`, read from the API when needed) are dropped, and of a deleted pod
//!   only its final state is kept, for a short time and in bounded number ([`Exits`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard_stubs::models::{ContainerCreateBody, ImageConfig};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::image_index::{is_image_record, ImageIndex};
use crate::error::Error;
use podshim_translate::image_merge::merge;
use podshim_translate::inspect::ContainerView;
use podshim_translate::labels::{
    CLAIM_FOR_ANNOTATION, CONFIG_ANNOTATION, ID_ANNOTATION, IMAGE_CONFIG_ANNOTATION, IMAGE_ID_ANNOTATION,
    NAME_ANNOTATION, NAME_CLAIMED_ANNOTATION, NAME_CLAIM_LABEL, STOPPED_FINALIZER,
};
use podshim_translate::state::{pod_to_state, DockerState, Status};

/// How long the final state of a deleted pod is kept (for a `wait` that was not scheduled in time).
const EXIT_TTL: Duration = Duration::from_secs(600);
/// At most this many final states are kept; the oldest go first.
const EXIT_LIMIT: usize = 4096;
/// How many changed container ids are remembered for [`Index::changed_since`].
const CHANGE_LOG: usize = 16_384;

/// One container as podshim sees it: the record, its create body, and the newest pod started from it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The record, without its create body and copied files (see the module doc).
    pub record: Arc<ConfigMap>,
    body: Arc<ContainerCreateBody>,
    body_readable: bool,
    /// The image's runtime config recorded at create (merged into inspect's `Config`).
    image_config: Option<Arc<ImageConfig>>,
    pub pod: Option<Arc<Pod>>,
}

impl Container {
    /// The create body kept on the record (`podshim.io/config`), parsed when the record arrived. An unreadable
    /// one (someone edited the record) is podshim's problem, not the client's.
    pub fn create_body(&self) -> Result<Arc<ContainerCreateBody>, Error> {
        if self.body_readable {
            Ok(self.body.clone())
        } else {
            Err(Error::Internal(format!("the stored configuration of container {} is unreadable", self.id)))
        }
    }

    /// The image's runtime config recorded at create (`None` for a record written before images were resolved).
    pub fn image_config(&self) -> Option<&ImageConfig> {
        self.image_config.as_deref()
    }

    /// A reference to the container's record, which owns what podshim makes for the container (its pods, its
    /// helper pods): the garbage collector removes them with it. `controller`: the record controls it (a pod).
    pub fn owned_by_record(&self, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: "v1".to_string(),
            kind: "ConfigMap".to_string(),
            name: self.record.metadata.name.clone().unwrap_or_default(),
            uid: self.record.metadata.uid.clone().unwrap_or_default(),
            controller: Some(controller),
            block_owner_deletion: Some(false),
        }
    }

    /// The image as the client named it.
    pub fn image(&self) -> Option<String> {
        self.body.image.clone()
    }

    /// The id of the container's image (recorded at create; for a record written before images were resolved,
    /// the id derived from the reference).
    pub fn image_id(&self) -> String {
        match annotation(&self.record.metadata, IMAGE_ID_ANNOTATION) {
            Some(id) => id.to_string(),
            None => podshim_translate::image_ref::reference_to_image_id(self.image().as_deref().unwrap_or("")),
        }
    }

    /// Whether the container has a TTY (`Config.Tty`): decides raw or multiplexed output.
    pub fn tty(&self) -> bool {
        self.body.tty.unwrap_or(false)
    }

    /// Whether the container keeps stdin open (`Config.OpenStdin`, `docker run -i`).
    pub fn open_stdin(&self) -> bool {
        self.body.open_stdin.unwrap_or(false)
    }

    /// The container's Docker state (created when no pod exists yet; removing while the record is being
    /// deleted).
    pub fn state(&self) -> DockerState {
        let mut state = pod_to_state(self.pod.as_deref());
        if is_removing(self) {
            state.status = Status::Removing;
        }
        state
    }

    /// What inspect and list read about the container ([`ContainerView`]): from the pod when there is one,
    /// else from the record (a created container); the name and creation time always from the record.
    pub fn to_view(&self) -> ContainerView {
        let mut record = match &self.pod {
            Some(pod) => ContainerView::from_pod(pod, None),
            None => ContainerView {
                id: self.id.clone(),
                name: self.name.clone(),
                body: ContainerCreateBody::default(),
                state: self.state(),
                created: None,
                ip: None,
                published: None,
                gateway: None,
                image_id: None,
                mounts: Vec::new(),
                namespace: String::new(),
            },
        };
        record.body = match &self.image_config {
            Some(image) => merge(&self.body, image),
            None => (*self.body).clone(),
        };
        record.image_id = Some(self.image_id());
        record.mounts =
            podshim_translate::mounts::from_annotations(self.record.metadata.annotations.as_ref()).unwrap_or_default();
        record.namespace = self.record.metadata.namespace.clone().unwrap_or_default();
        record.id = self.id.clone();
        record.name = self.name.clone();
        record.state = self.state();
        record.created = self.record.metadata.creation_timestamp.as_ref().map(|t| t.0);
        record
    }
}

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

/// True when the container's record is being deleted: it no longer holds its name.
pub fn is_removing(c: &Container) -> bool {
    c.record.metadata.deletion_timestamp.is_some()
}

/// True for a ConfigMap that claims a name rather than records a container.
pub fn is_name_claim(cm: &ConfigMap) -> bool {
    cm.metadata.labels.as_ref().is_some_and(|l| l.contains_key(NAME_CLAIM_LABEL))
}

/// A pod as the container's state should see it. A pod podshim is stopping is not being *removed* (Docker's
/// `removing`) but stopped: its deletion is hidden and its restart policy set to `Never` (the kubelet will not
/// run it again), so the state reads running during the grace period and exited afterwards.
pub fn effective_pod(pod: Arc<Pod>) -> Arc<Pod> {
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

/// A record as the index keeps it.
#[derive(Debug)]
struct Entry {
    record: Arc<ConfigMap>,
    body: Arc<ContainerCreateBody>,
    body_readable: bool,
    image_config: Option<Arc<ImageConfig>>,
    name: String,
    /// Written with a name claim: shown only while the claim names this container.
    claimed: bool,
}

/// A name claim as the index keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The Docker name.
    pub name: String,
    /// The container it is claimed for.
    pub id: String,
    /// The claim object's name and uid (for a precondition when a stale claim is deleted).
    pub object: String,
    pub uid: Option<String>,
}

/// The final state of a deleted pod.
#[derive(Debug, Clone)]
pub struct Exit {
    pub pod_name: String,
    pub state: DockerState,
}

/// The final states of recently deleted pods, by container id: bounded in age and number, so memory does not
/// grow with the rate of removals.
#[derive(Debug, Default)]
pub struct Exits {
    by_id: HashMap<String, (Instant, Exit)>,
    order: VecDeque<(Instant, String)>,
}

impl Exits {
    fn bury(&mut self, id: String, exit: Exit) {
        let now = Instant::now();
        self.by_id.insert(id.clone(), (now, exit));
        self.order.push_back((now, id));
        while let Some((at, id)) = self.order.front().cloned() {
            let expired = at.elapsed() > EXIT_TTL || self.order.len() > EXIT_LIMIT;
            if !expired {
                break;
            }
            self.order.pop_front();
            // Only when this entry is the container's newest burial.
            if self.by_id.get(&id).is_some_and(|(t, _)| *t == at) {
                self.by_id.remove(&id);
            }
        }
    }

    /// The last deleted pod's final state of a container, if recently seen.
    pub fn last(&self, id: &str) -> Option<&Exit> {
        self.by_id.get(id).filter(|(at, _)| at.elapsed() <= EXIT_TTL).map(|(_, exit)| exit)
    }

    /// How many final states are kept.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when none is kept.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// What the watches show, as containers. Updated by the watch tasks in [`super::cache`]; read through
/// [`Cache`](super::cache::Cache).
#[derive(Debug, Default)]
pub struct Index {
    /// The pulled images (image records).
    images: ImageIndex,
    /// Records by container id.
    records: HashMap<String, Entry>,
    /// Record object name -> container id.
    record_ids: HashMap<String, String>,
    /// Name claims by Docker name, and claim object name -> Docker name.
    claims: HashMap<String, Claim>,
    claim_names: HashMap<String, String>,
    /// Pods by name, and the pod names of each container id.
    pods: HashMap<String, Arc<Pod>>,
    pods_by_id: HashMap<String, BTreeSet<String>>,
    /// The containers shown, by id (ordered, for prefix lookups).
    containers: BTreeMap<String, Container>,
    /// Docker name -> ids of the shown containers with that name.
    names: HashMap<String, BTreeSet<String>>,
    exits: Exits,
    /// Bumped on every change; `changes` remembers which container each change touched.
    version: u64,
    changes: VecDeque<(u64, String)>,
}

impl Index {
    /// The pulled images.
    pub fn images(&self) -> &ImageIndex {
        &self.images
    }

    /// Every container, by id.
    pub fn containers(&self) -> impl Iterator<Item = &Container> {
        self.containers.values()
    }

    /// How many containers there are.
    pub fn len(&self) -> usize {
        self.containers.len()
    }

    /// True when there is no container.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }

    /// A container by full id.
    pub fn get(&self, id: &str) -> Option<&Container> {
        self.containers.get(id)
    }

    /// The pods of a container id (also when its record is gone), oldest first.
    pub fn pods_of(&self, id: &str) -> Vec<Arc<Pod>> {
        let names = self.pods_by_id.get(id).into_iter().flatten();
        let mut pods: Vec<Arc<Pod>> = names.filter_map(|n| self.pods.get(n).cloned()).collect();
        pods.sort_by_key(|p| pod_index(p));
        pods
    }

    /// A pod by name.
    pub fn pod(&self, name: &str) -> Option<&Arc<Pod>> {
        self.pods.get(name)
    }

    /// Container ids that have pods but no record (their record was deleted).
    pub fn orphaned_pod_ids(&self) -> Vec<String> {
        let shown = |id: &String| self.records.contains_key(id);
        self.pods_by_id.keys().filter(|id| !shown(id)).cloned().collect()
    }

    /// The final states of recently deleted pods.
    pub fn exits(&self) -> &Exits {
        &self.exits
    }

    /// The claim of a Docker name, if any.
    pub fn claim(&self, name: &str) -> Option<&Claim> {
        self.claims.get(name)
    }

    /// Records written with a name claim whose claim never came (a create that lost the race for its name and
    /// could not clean up, or a podshim that stopped in between): record name, container id, creation time.
    pub fn unclaimed_records(&self) -> Vec<(String, String, Option<jiff::Timestamp>)> {
        self.records
            .iter()
            .filter(|(id, e)| e.claimed && !self.containers.contains_key(*id))
            .map(|(id, e)| {
                let created = e.record.metadata.creation_timestamp.as_ref().map(|t| t.0);
                (e.record.metadata.name.clone().unwrap_or_default(), id.clone(), created)
            })
            .collect()
    }

    /// Shown containers that hold their name without a claim (written before claims existed).
    pub fn names_without_claims(&self) -> Vec<Container> {
        let unclaimed = |c: &&Container| self.claims.get(&c.name).is_none_or(|claim| claim.id != c.id);
        self.containers.values().filter(unclaimed).filter(|c| !is_removing(c)).cloned().collect()
    }

    /// The container that holds `name` (without `/`), if any: the container its claim names, else (for
    /// containers written before claims) the oldest shown container with that name. A container being removed
    /// holds no name.
    pub fn name_holder(&self, name: &str) -> Option<&Container> {
        if let Some(c) = self.claims.get(name).and_then(|claim| self.containers.get(&claim.id)) {
            if !is_removing(c) {
                return Some(c);
            }
        }
        let ids = self.names.get(name).into_iter().flatten();
        ids.filter_map(|id| self.containers.get(id))
            .filter(|c| !is_removing(c))
            .min_by_key(|c| c.record.metadata.creation_timestamp.as_ref().map(|t| t.0))
    }

    /// Docker's lookup order (moby daemon.GetContainer): full id, then name, then unique id prefix.
    pub fn resolve(&self, id_or_name: &str) -> Result<Container, Error> {
        if id_or_name.is_empty() {
            return Err(Error::NoSuchContainer(id_or_name.to_string()));
        }
        if let Some(c) = self.containers.get(id_or_name) {
            return Ok(c.clone());
        }
        let bare = id_or_name.strip_prefix('/').unwrap_or(id_or_name);
        if let Some(c) = self.name_holder(bare) {
            return Ok(c.clone());
        }
        let mut matches = self
            .containers
            .range::<str, _>((std::ops::Bound::Included(id_or_name), std::ops::Bound::Unbounded))
            .take_while(|(id, _)| id.starts_with(id_or_name));
        match (matches.next(), matches.next()) {
            (Some((_, c)), None) => Ok(c.clone()),
            // moby pkg/truncindex ErrAmbiguousPrefix, an invalid-parameter error (400).
            (Some(_), Some(_)) => {
                Err(Error::InvalidParameter(format!("multiple IDs found with provided prefix: {id_or_name}")))
            }
            _ => Err(Error::NoSuchContainer(id_or_name.to_string())),
        }
    }

    /// The version of the last change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The ids of the containers changed after `version`, or `None` when that is too far back to tell (then
    /// every container may have changed).
    pub fn changed_since(&self, version: u64) -> Option<Vec<String>> {
        if version >= self.version {
            return Some(Vec::new());
        }
        let oldest = self.changes.front().map(|(v, _)| *v)?;
        if oldest > version + 1 {
            return None;
        }
        let start = self.changes.partition_point(|(v, _)| *v <= version);
        let ids: BTreeSet<&String> = self.changes.range(start..).map(|(_, id)| id).collect();
        Some(ids.into_iter().cloned().collect())
    }

    /// A ConfigMap (record, name claim or image record) was added or changed.
    pub fn apply_config_map(&mut self, cm: ConfigMap) {
        if is_image_record(&cm) {
            self.images.apply(&cm);
        } else if is_name_claim(&cm) {
            self.apply_claim(&cm);
        } else {
            self.apply_record(cm);
        }
    }

    /// A ConfigMap (record, name claim or image record) was deleted.
    pub fn delete_config_map(&mut self, cm: &ConfigMap) {
        let object = cm.metadata.name.clone().unwrap_or_default();
        if is_image_record(cm) {
            self.images.delete(cm);
        } else if is_name_claim(cm) {
            if let Some(name) = self.claim_names.remove(&object) {
                if let Some(claim) = self.claims.remove(&name) {
                    self.refresh(&claim.id);
                }
            }
        } else if let Some(id) = self.record_ids.remove(&object) {
            self.records.remove(&id);
            self.refresh(&id);
        }
    }

    /// A pod was added or changed.
    pub fn apply_pod(&mut self, pod: Pod) {
        let Some(id) = object_id(&pod.metadata).map(str::to_string) else { return };
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.pods_by_id.entry(id.clone()).or_default().insert(name.clone());
        self.pods.insert(name, Arc::new(trim_pod(pod)));
        self.refresh(&id);
    }

    /// A pod was deleted: its final state is kept for a while.
    pub fn delete_pod(&mut self, pod: &Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.pods.remove(&name);
        let Some(id) = object_id(&pod.metadata).map(str::to_string) else { return };
        if let Some(set) = self.pods_by_id.get_mut(&id) {
            set.remove(&name);
            if set.is_empty() {
                self.pods_by_id.remove(&id);
            }
        }
        let mut last = (*effective_pod(Arc::new(pod.clone()))).clone();
        // Deletion is how podshim stops a pod, not a removal in progress.
        last.metadata.deletion_timestamp = None;
        self.exits.bury(id.clone(), Exit { pod_name: name, state: pod_to_state(Some(&last)) });
        self.refresh(&id);
    }

    /// Replaces all ConfigMaps (a relist of the watch).
    pub fn replace_config_maps(&mut self, all: Vec<ConfigMap>) {
        let (images, all): (Vec<ConfigMap>, Vec<ConfigMap>) = all.into_iter().partition(is_image_record);
        self.images.replace(&images.iter().collect::<Vec<_>>());
        let keep: BTreeSet<String> = all.iter().filter_map(|cm| cm.metadata.name.clone()).collect();
        let gone_records: Vec<String> = self.record_ids.keys().filter(|n| !keep.contains(*n)).cloned().collect();
        let gone_claims: Vec<String> = self.claim_names.keys().filter(|n| !keep.contains(*n)).cloned().collect();
        for object in gone_records.into_iter().chain(gone_claims) {
            let stub = ConfigMap {
                metadata: kube::api::ObjectMeta { name: Some(object.clone()), ..Default::default() },
                ..Default::default()
            };
            if self.claim_names.contains_key(&object) {
                let mut claim = stub;
                claim.metadata.labels = Some(BTreeMap::from([(NAME_CLAIM_LABEL.to_string(), "true".to_string())]));
                self.delete_config_map(&claim);
            } else {
                self.delete_config_map(&stub);
            }
        }
        for cm in all {
            self.apply_config_map(cm);
        }
    }

    /// Replaces all pods (a relist of the watch). Pods gone meanwhile leave no final state: their deletion was
    /// not seen.
    pub fn replace_pods(&mut self, all: Vec<Pod>) {
        let keep: BTreeSet<String> = all.iter().filter_map(|p| p.metadata.name.clone()).collect();
        let gone: Vec<String> = self.pods.keys().filter(|n| !keep.contains(*n)).cloned().collect();
        for name in gone {
            if let Some(pod) = self.pods.remove(&name) {
                if let Some(id) = object_id(&pod.metadata).map(str::to_string) {
                    if let Some(set) = self.pods_by_id.get_mut(&id) {
                        set.remove(&name);
                        if set.is_empty() {
                            self.pods_by_id.remove(&id);
                        }
                    }
                    self.refresh(&id);
                }
            }
        }
        for pod in all {
            self.apply_pod(pod);
        }
    }

    fn apply_record(&mut self, mut cm: ConfigMap) {
        let Some(id) = object_id(&cm.metadata).map(str::to_string) else { return };
        let object = cm.metadata.name.clone().unwrap_or_default();
        let annotations = cm.metadata.annotations.get_or_insert_with(BTreeMap::new);
        let raw = annotations.remove(CONFIG_ANNOTATION);
        let image_config = annotations.remove(IMAGE_CONFIG_ANNOTATION).and_then(|json| {
            serde_json::from_str::<ImageConfig>(&json)
                .map_err(|err| tracing::warn!(container.id = %id, error = %err, "unreadable image config on a record"))
                .ok()
                .map(Arc::new)
        });
        let parsed = raw.as_deref().map(serde_json::from_str::<ContainerCreateBody>);
        let (body, body_readable) = match parsed {
            Some(Ok(body)) => (body, true),
            Some(Err(err)) => {
                tracing::warn!(container.id = %id, error = %err, "unreadable create body on a container record");
                (ContainerCreateBody::default(), false)
            }
            None => (ContainerCreateBody::default(), true),
        };
        let name = annotations.get(NAME_ANNOTATION).cloned().unwrap_or_default();
        let claimed = annotations.get(NAME_CLAIMED_ANNOTATION).is_some_and(|v| v == "true");
        cm.metadata.managed_fields = None;
        cm.binary_data = None;
        cm.data = None;
        self.record_ids.insert(object, id.clone());
        let entry = Entry { record: Arc::new(cm), body: Arc::new(body), body_readable, image_config, name, claimed };
        self.records.insert(id.clone(), entry);
        self.refresh(&id);
    }

    fn apply_claim(&mut self, cm: &ConfigMap) {
        let object = cm.metadata.name.clone().unwrap_or_default();
        let (Some(name), Some(id)) =
            (annotation(&cm.metadata, NAME_ANNOTATION), annotation(&cm.metadata, CLAIM_FOR_ANNOTATION))
        else {
            return;
        };
        let claim =
            Claim { name: name.to_string(), id: id.to_string(), object: object.clone(), uid: cm.metadata.uid.clone() };
        let previous = self.claims.insert(claim.name.clone(), claim.clone());
        self.claim_names.insert(object, claim.name.clone());
        if let Some(previous) = previous.filter(|p| p.id != claim.id) {
            self.refresh(&previous.id);
        }
        self.refresh(&claim.id);
    }

    /// Rebuilds the shown container of `id` after a change to its record, pods or claim.
    fn refresh(&mut self, id: &str) {
        if let Some(old) = self.containers.remove(id) {
            if let Some(ids) = self.names.get_mut(&old.name) {
                ids.remove(id);
                if ids.is_empty() {
                    self.names.remove(&old.name);
                }
            }
        }
        if let Some(c) = self.build(id) {
            self.names.entry(c.name.clone()).or_default().insert(id.to_string());
            self.containers.insert(id.to_string(), c);
        }
        self.version += 1;
        self.changes.push_back((self.version, id.to_string()));
        while self.changes.len() > CHANGE_LOG {
            self.changes.pop_front();
        }
    }

    fn build(&self, id: &str) -> Option<Container> {
        let entry = self.records.get(id)?;
        if entry.claimed && self.claims.get(&entry.name).is_none_or(|claim| claim.id != id) {
            return None;
        }
        let pod = self
            .pods_by_id
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|n| self.pods.get(n))
            .max_by_key(|p| (pod_index(p), p.metadata.creation_timestamp.as_ref().map(|t| t.0)))
            .map(|p| effective_pod(Arc::clone(p)));
        Some(Container {
            id: id.to_string(),
            name: entry.name.clone(),
            record: entry.record.clone(),
            body: entry.body.clone(),
            body_readable: entry.body_readable,
            image_config: entry.image_config.clone(),
            pod,
        })
    }
}

/// A pod as the index keeps it: its create body is the record's, and managedFields serve no reader.
fn trim_pod(mut pod: Pod) -> Pod {
    pod.metadata.managed_fields = None;
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        annotations.remove(CONFIG_ANNOTATION);
    }
    pod
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
