//! The write path shared by create, update and patch: namespace and name checks, immutable metadata,
//! the resourceVersion precondition, status kept or taken per endpoint, defaults and validation.

use serde_json::{json, Value};

use super::discovery::ResourceInfo;
use super::{defaults, kinds, pods, validate};
use crate::status::ApiError;

/// The kinds whose main endpoint leaves status alone (it has a `/status` subresource).
pub fn has_status_subresource(resource: &str) -> bool {
    matches!(resource, "pods" | "namespaces" | "nodes" | "services" | "persistentvolumeclaims" | "persistentvolumes")
}

/// Prepares a decoded body for creation in `namespace` ("" for cluster-scoped).
pub fn prepare_create(info: &ResourceInfo, namespace: &str, mut object: Value) -> Result<Value, ApiError> {
    check_namespace(info, namespace, &mut object)?;
    kinds::apply_generate_name(&mut object);
    if let Some(meta) = object["metadata"].as_object_mut() {
        for key in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            meta.remove(key);
        }
    }
    defaults::apply(info.name, &mut object);
    validate::validate(info.name, info.kind, &object)?;
    kinds::decode(info, object)
}

/// How an update treats the object's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateTarget {
    /// PUT/PATCH of the object: status is kept where a status subresource exists.
    Main,
    /// PUT/PATCH of `/status`: only status changes.
    Status,
}

/// Merges a decoded new version of an object with the stored one and checks it.
pub fn prepare_update(
    info: &ResourceInfo,
    namespace: &str,
    current: &Value,
    mut new: Value,
    target: UpdateTarget,
) -> Result<Value, ApiError> {
    let name = current["metadata"]["name"].as_str().unwrap_or_default();
    check_namespace(info, namespace, &mut new)?;
    match new["metadata"]["name"].as_str() {
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => new["metadata"]["name"] = json!(name),
    }
    let wanted_rv = new["metadata"]["resourceVersion"].as_str().unwrap_or_default();
    if !wanted_rv.is_empty() && wanted_rv != current["metadata"]["resourceVersion"].as_str().unwrap_or_default() {
        return Err(ApiError::conflict(
            info.name,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    for key in
        ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "generateName"]
    {
        match current["metadata"].get(key) {
            Some(v) => new["metadata"][key] = v.clone(),
            None => drop(new["metadata"].as_object_mut().and_then(|m| m.remove(key))),
        }
    }
    match target {
        UpdateTarget::Status => {
            let status = new.get("status").cloned();
            let mut out = current.clone();
            match status {
                Some(s) => out["status"] = s,
                None => drop(out.as_object_mut().and_then(|m| m.remove("status"))),
            }
            return kinds::decode(info, out);
        }
        UpdateTarget::Main if has_status_subresource(info.name) => match current.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => drop(new.as_object_mut().and_then(|m| m.remove("status"))),
        },
        UpdateTarget::Main => {}
    }
    if info.name == "pods" {
        pods::check_update(current, &mut new)?;
    }
    if info.name == "namespaces" {
        new["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    }
    if info.name == "secrets" {
        defaults::fold_string_data(&mut new);
    }
    if matches!(info.name, "configmaps" | "secrets") {
        validate::check_immutable(info.kind, current, &new)?;
    }
    validate::validate(info.name, info.kind, &new)?;
    kinds::decode(info, new)
}

/// The body's namespace must be empty or the request's; cluster-scoped kinds drop it.
fn check_namespace(info: &ResourceInfo, namespace: &str, object: &mut Value) -> Result<(), ApiError> {
    if !info.namespaced {
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("namespace");
        }
        return Ok(());
    }
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            object["metadata"]["namespace"] = json!(namespace);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::discovery;

    #[test]
    fn stale_resource_version_is_a_conflict() {
        let info = discovery::resource("configmaps").unwrap();
        let current = json!({"metadata": {"name": "a", "namespace": "d", "resourceVersion": "5"}});
        let new = json!({"metadata": {"name": "a", "resourceVersion": "4"}, "data": {"k": "v"}});
        let err = prepare_update(info, "d", &current, new, UpdateTarget::Main).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(err.message, "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again");
    }

    #[test]
    fn status_update_changes_only_status() {
        let info = discovery::resource("pods").unwrap();
        let current = json!({"metadata": {"name": "a", "namespace": "d", "labels": {"x": "1"}}, "spec": {"nodeName": "n"}, "status": {"phase": "Pending"}});
        let new = json!({"metadata": {"name": "a", "labels": {}}, "spec": {}, "status": {"phase": "Running"}});
        let out = prepare_update(info, "d", &current, new, UpdateTarget::Status).unwrap();
        assert_eq!(out["status"]["phase"], "Running");
        assert_eq!(out["spec"]["nodeName"], "n");
        assert_eq!(out["metadata"]["labels"]["x"], "1");
    }

    #[test]
    fn namespace_mismatch_is_a_bad_request() {
        let info = discovery::resource("configmaps").unwrap();
        let body = json!({"metadata": {"name": "a", "namespace": "other"}});
        assert_eq!(prepare_create(info, "default", body).unwrap_err().code, 400);
    }
}
