//! `POST /containers/create` and `POST /containers/{id}/rename`, and what the other operations share:
//! Kubernetes error classes, reading the record back, and waiting for the cache to catch up with a write.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use tracing::instrument;

use super::registry::{self, annotation};
use super::{Container, Runtime};
use crate::error::Error;
use podshim_translate::labels::{self, CONFIG_ANNOTATION, NAME_ANNOTATION};
use podshim_translate::pod::{create_to_pod, create_warnings, PodIdentity};

/// How long an operation waits for the shared watch to show its own write (read-your-writes for the next
/// request of the same client).
pub(super) const CACHE_CATCH_UP: Duration = Duration::from_secs(30);
/// How many fresh ids a create tries when a record name (the short id) is taken.
const CREATE_ATTEMPTS: usize = 8;

pub(super) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_not_found())
}

pub(super) fn is_already_exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_already_exists())
}

pub(super) fn is_bad_request(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 400)
}

/// A Kubernetes error for a container: NotFound means it vanished meanwhile.
pub(super) fn container_error(id: &str, context: &str, err: kube::Error) -> Error {
    if is_not_found(&err) {
        Error::NoSuchContainer(id.to_string())
    } else {
        Error::kubernetes(context, err)
    }
}

/// The create body kept in the record.
pub(super) fn record_body(c: &Container) -> Result<ContainerCreateBody, Error> {
    let json = annotation(&c.record.metadata, CONFIG_ANNOTATION).unwrap_or("{}");
    serde_json::from_str(json).map_err(|err| {
        Error::InvalidParameter(format!("the stored configuration of container {} is unreadable: {err}", c.id))
    })
}

/// Waits (bounded) until `check` holds for the containers in the cache.
pub(super) async fn catch_up(rt: &Runtime, what: &str, check: impl Fn(&[Container]) -> bool) -> Result<(), Error> {
    let wait = rt.cache().wait_for(|cache| check(&registry::containers(cache)).then_some(()));
    tokio::time::timeout(CACHE_CATCH_UP, wait)
        .await
        .map_err(|_| Error::Timeout(format!("the pod watch did not show {what} within {CACHE_CATCH_UP:?}")))
}

pub(super) fn random_id() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    labels::new_container_id(bytes)
}

fn random_name(all: &[Container]) -> String {
    loop {
        let bytes = uuid::Uuid::new_v4();
        let name = labels::generated_name([bytes.as_bytes()[0], bytes.as_bytes()[1]]);
        if registry::name_holder(all, &name).is_none() {
            return name;
        }
    }
}

/// The record for a create body: the pod's metadata (labels, annotations with id, name, config, auto-remove)
/// on a ConfigMap named `podshim-<short id>`. Translating the whole pod here refuses at create what could never
/// run, as Docker does.
fn record_for(rt: &Runtime, body: &ContainerCreateBody, id: &str, name: &str) -> Result<ConfigMap, Error> {
    let ids = PodIdentity {
        id: id.to_string(),
        name: name.to_string(),
        namespace: rt.namespace().to_string(),
        hold_until_start: false,
    };
    let pod = create_to_pod(body, &ids)?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(labels::pod_name_for(id)),
            namespace: Some(rt.namespace().to_string()),
            labels: pod.metadata.labels,
            annotations: pod.metadata.annotations,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Names are unique among the records this replica's cache shows; two replicas creating the same name at the
/// same instant can both succeed (Kubernetes has no unique index on annotations).
#[instrument(skip(rt, body), fields(container.id))]
pub(super) async fn create(
    rt: &Runtime,
    name: Option<&str>,
    body: ContainerCreateBody,
) -> Result<ContainerCreateResponse, Error> {
    let explicit = match name.filter(|n| !n.is_empty()) {
        Some(n) => Some(labels::validate_container_name(n)?),
        None => None,
    };
    // Docker checks the configuration before the name (400 before 409).
    record_for(rt, &body, &random_id(), explicit.as_deref().unwrap_or("unnamed"))?;
    let api = rt.records_api();
    for _ in 0..CREATE_ATTEMPTS {
        let all = rt.containers();
        let name = match &explicit {
            Some(n) => {
                if let Some(holder) = registry::name_holder(&all, n) {
                    return Err(Error::NameInUse { name: n.clone(), id: holder.id.clone() });
                }
                n.clone()
            }
            None => random_name(&all),
        };
        let id = random_id();
        tracing::Span::current().record("container.id", id.as_str());
        let record = record_for(rt, &body, &id, &name)?;
        match api.create(&PostParams::default(), &record).await {
            Ok(_) => {
                catch_up(rt, "the new container", |all| all.iter().any(|c| c.id == id)).await?;
                return Ok(ContainerCreateResponse { id, warnings: create_warnings(&body) });
            }
            // The short id is taken by another container: draw a new id.
            Err(err) if is_already_exists(&err) => continue,
            Err(err) => return Err(Error::kubernetes("creating the container record", err)),
        }
    }
    Err(Error::Timeout(format!("no free container id after {CREATE_ATTEMPTS} attempts")))
}

#[instrument(skip(rt), fields(container.id))]
pub(super) async fn rename(rt: &Runtime, id_or_name: &str, new_name: &str) -> Result<(), Error> {
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let new_name = labels::validate_container_name(new_name)?;
    let all = rt.containers();
    if let Some(holder) = registry::name_holder(&all, &new_name) {
        if holder.id == c.id {
            // moby: "Renaming a container with the same name as its current name".
            return Err(Error::InvalidParameter(
                "Renaming a container with the same name as its current name".to_string(),
            ));
        }
        return Err(Error::NameInUse { name: new_name, id: holder.id.clone() });
    }
    let patch = serde_json::json!({"metadata": {"annotations": BTreeMap::from([(NAME_ANNOTATION, &new_name)])}});
    let record_name = c.record.metadata.name.clone().unwrap_or_default();
    rt.records_api()
        .patch(&record_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|err| container_error(&c.id, "renaming the container record", err))?;
    if let Some(pod_name) = c.pod.as_ref().and_then(|p| p.metadata.name.clone()) {
        match rt.pods_api().patch(&pod_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(Error::kubernetes("renaming the container's pod", err)),
        }
    }
    catch_up(rt, "the new name", |all| all.iter().any(|x| x.id == c.id && x.name == new_name)).await
}
