//! `POST /containers/create`: validates, translates once, writes the record.

use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use tracing::instrument;

use crate::error::Error;
use crate::runtime::ids::random_id;
use crate::runtime::kube_error::is_already_exists;
use crate::runtime::registry::{self, catch_up};
use crate::runtime::{Container, Runtime};
use podshim_translate::labels;
use podshim_translate::pod::{create_to_pod, create_warnings, PodIdentity};

/// How many fresh ids a create tries when a record name (the short id) is taken.
const CREATE_ATTEMPTS: usize = 8;

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
pub(crate) async fn create(
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
    Err(Error::Internal(format!("no free container id after {CREATE_ATTEMPTS} attempts")))
}
