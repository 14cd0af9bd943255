//! Docker names, unique across replicas: a name is held by a **claim**, a ConfigMap named after a hash of the
//! name ([`claim_object_name`]) and owned by the container's record. Kubernetes creates an object only if its
//! name is free, so of two creates (or renames) that want one name, exactly one claim is created. The claim goes
//! with its record (the garbage collector deletes it); a claim whose container is gone or being removed is
//! stale and is deleted (with a precondition on its uid) by the next claim of that name.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions};

use crate::error::Error;
use crate::runtime::kube_error::{is_already_exists, is_not_found};
use crate::runtime::registry::{annotation, object_id};
use crate::runtime::Runtime;
use podshim_translate::labels::{
    claim_object_name, pod_name_for, CLAIM_FOR_ANNOTATION, MANAGED_LABEL, MANAGED_VALUE, NAME_ANNOTATION,
    NAME_CLAIMED_ANNOTATION, NAME_CLAIM_LABEL,
};

/// How often a claim is tried when the claim in the way turns out to be stale (and is deleted meanwhile).
const CLAIM_ATTEMPTS: usize = 3;
/// A record written with a claim whose claim has not come within this long lost its name (or its writer
/// stopped in between): startup repair deletes it.
const UNCLAIMED_GRACE: Duration = Duration::from_secs(120);
/// Requests in flight during startup repair.
const REPAIR_CONCURRENCY: usize = 8;

/// The outcome of a claim.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// The name is this container's now.
    Yes,
    /// Another container holds it.
    TakenBy(String),
}

/// The claim object of `name` for the container of `record` (which must be stored: it owns the claim).
fn claim_for(rt: &Runtime, name: &str, record: &ConfigMap) -> ConfigMap {
    let id = object_id(&record.metadata).unwrap_or_default();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(claim_object_name(name)),
            namespace: Some(rt.namespace().to_string()),
            labels: Some(BTreeMap::from([
                (MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string()),
                (NAME_CLAIM_LABEL.to_string(), "true".to_string()),
            ])),
            annotations: Some(BTreeMap::from([
                (NAME_ANNOTATION.to_string(), name.to_string()),
                (CLAIM_FOR_ANNOTATION.to_string(), id.to_string()),
            ])),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".to_string(),
                kind: "ConfigMap".to_string(),
                name: record.metadata.name.clone().unwrap_or_default(),
                uid: record.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(false),
            }]),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Claims `name` for the container of the stored `record`: one request when the name is free.
pub(crate) async fn claim(rt: &Runtime, name: &str, record: &ConfigMap) -> Result<Claimed, Error> {
    let id = object_id(&record.metadata).unwrap_or_default().to_string();
    let api = rt.records_api();
    let wanted = claim_for(rt, name, record);
    let object = claim_object_name(name);
    for _ in 0..CLAIM_ATTEMPTS {
        match api.create(&PostParams::default(), &wanted).await {
            Ok(_) => return Ok(Claimed::Yes),
            Err(err) if is_already_exists(&err) => {}
            Err(err) => return Err(Error::kubernetes(format!("claiming the container name {name}"), err)),
        }
        let existing = match api.get(&object).await {
            Ok(existing) => existing,
            // Deleted meanwhile: try again.
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(Error::kubernetes(format!("reading the claim of the container name {name}"), e)),
        };
        let holder = annotation(&existing.metadata, CLAIM_FOR_ANNOTATION).unwrap_or_default().to_string();
        if holder == id {
            return Ok(Claimed::Yes);
        }
        if holder_is_alive(rt, &holder).await? {
            tracing::debug!(name, holder = %holder, "name taken");
            return Ok(Claimed::TakenBy(holder));
        }
        delete_claim(rt, &object, existing.metadata.uid.clone()).await?;
    }
    Err(Error::Internal(format!(
        "claiming the container name {name}: its claim {object} changed {CLAIM_ATTEMPTS} times while podshim looked"
    )))
}

/// True when the container `id` still exists and is not being removed (read from the API, not the cache: the
/// holder may be another replica's brand-new container).
async fn holder_is_alive(rt: &Runtime, id: &str) -> Result<bool, Error> {
    if id.is_empty() {
        return Ok(false);
    }
    match rt.records_api().get_opt(&pod_name_for(id)).await {
        Ok(Some(record)) => Ok(object_id(&record.metadata) == Some(id) && record.metadata.deletion_timestamp.is_none()),
        Ok(None) => Ok(false),
        Err(err) => Err(Error::kubernetes("reading the container that holds a name", err)),
    }
}

/// Deletes a claim object, only if it is still the one seen (`uid`). Gone already is fine.
pub(crate) async fn delete_claim(rt: &Runtime, object: &str, uid: Option<String>) -> Result<(), Error> {
    let params = DeleteParams {
        preconditions: uid.map(|uid| Preconditions { uid: Some(uid), resource_version: None }),
        ..DeleteParams::background()
    };
    match rt.records_api().delete(object, &params).await {
        Ok(_) => Ok(()),
        Err(err) if is_not_found(&err) => Ok(()),
        // The precondition failed: someone else replaced the claim, which is theirs now.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(Error::kubernetes("releasing a container name", err)),
    }
}

/// Once at startup: claims the names of containers written before claims existed (the older holder keeps a
/// name two of them share), and deletes records whose claim never came.
pub(crate) async fn repair(rt: &Runtime) {
    let (legacy, unclaimed) = rt.cache().read(|index| (index.names_without_claims(), index.unclaimed_records()));
    let claims = futures::stream::iter(legacy).map(|c| async move {
        match claim(rt, &c.name, &c.record).await {
            Ok(Claimed::Yes) => mark_claimed(rt, &c.record).await,
            Ok(Claimed::TakenBy(holder)) => {
                tracing::warn!(container.id = %c.id, name = %c.name, holder = %holder, "two containers share a name")
            }
            Err(err) => tracing::warn!(container.id = %c.id, error = %err, "claiming a container's name"),
        }
    });
    claims.buffer_unordered(REPAIR_CONCURRENCY).collect::<Vec<()>>().await;
    let now = jiff::Timestamp::now();
    let stale = unclaimed
        .into_iter()
        .filter(|(_, _, created)| created.is_some_and(|t| now.duration_since(t).unsigned_abs() > UNCLAIMED_GRACE));
    let deletes = futures::stream::iter(stale).map(|(record, id, _)| async move {
        match rt.records_api().delete(&record, &DeleteParams::background()).await {
            Ok(_) => tracing::info!(container.id = %id, "deleted a record whose name was never claimed"),
            Err(err) if is_not_found(&err) => {}
            Err(err) => tracing::warn!(container.id = %id, error = %err, "deleting an unclaimed record"),
        }
    });
    deletes.buffer_unordered(REPAIR_CONCURRENCY).collect::<Vec<()>>().await;
}

/// Marks a record as holding its name by a claim.
async fn mark_claimed(rt: &Runtime, record: &ConfigMap) {
    let patch = serde_json::json!({"metadata": {"annotations": {NAME_CLAIMED_ANNOTATION: "true"}}});
    let name = record.metadata.name.clone().unwrap_or_default();
    if let Err(err) = rt.records_api().patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::warn!(record = %name, error = %err, "marking a record's name as claimed");
    }
}
