//! Pull Secrets: the credentials a client pulled with, as a `kubernetes.io/dockerconfigjson` Secret the pods of
//! that image list in `imagePullSecrets`, so the kubelet pulls with them too.
//!
//! One Secret per registry and user (`podshim-pull-<hash>`), written at each pull with credentials (a new
//! password replaces the old one). Each image record pulled with it is an owner of the Secret, so the garbage
//! collector deletes it with the last such image. The credentials are in the Secret's data and nowhere else.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::ByteString;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};

use crate::error::Error;
use crate::runtime::kube_error::is_already_exists;
use crate::runtime::Runtime;
use podshim_translate::labels::{MANAGED_LABEL, MANAGED_VALUE, PULL_SECRET_LABEL};
use podshim_translate::registry_auth::{dockerconfigjson, secret_name, Credentials};

/// The data key of a dockerconfigjson Secret.
const DOCKERCONFIGJSON: &str = ".dockerconfigjson";

fn owner(record: &ConfigMap) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: record.metadata.name.clone().unwrap_or_default(),
        uid: record.metadata.uid.clone().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    }
}

/// The Secret's name for `host` and these credentials (known before anything is written).
pub(crate) fn name_for(host: &str, credentials: &Credentials) -> String {
    secret_name(host, credentials.username())
}

/// Writes the pull Secret for `host` and `credentials`, owned (also) by the image record `record`.
pub(crate) async fn store(
    rt: &Runtime,
    host: &str,
    credentials: &Credentials,
    record: &ConfigMap,
) -> Result<(), Error> {
    let api: Api<Secret> = Api::namespaced(rt.client().clone(), rt.namespace());
    let name = name_for(host, credentials);
    let data =
        BTreeMap::from([(DOCKERCONFIGJSON.to_string(), ByteString(dockerconfigjson(host, credentials).into_bytes()))]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(rt.namespace().to_string()),
            labels: Some(BTreeMap::from([
                (MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string()),
                (PULL_SECRET_LABEL.to_string(), "true".to_string()),
            ])),
            owner_references: Some(vec![owner(record)]),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".to_string()),
        data: Some(data.clone()),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(err) if is_already_exists(&err) => {
            // New credentials replace the old; the owner is added to the list (ownerReferences merge by uid).
            let patch = serde_json::json!({
                "metadata": {"ownerReferences": [owner(record)]},
                "data": data,
            });
            api.patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
                .map(|_| ())
                .map_err(|e| Error::kubernetes("updating the pull secret", e))
        }
        Err(err) => Err(Error::kubernetes("creating the pull secret", err)),
    }
}
