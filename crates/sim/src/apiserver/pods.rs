//! Pod-specific rules: which spec changes an update may make, `pods/binding`, and graceful deletion.

use serde_json::{json, Value};

use super::store::{format_time, Store};
use crate::status::{ApiError, FieldError};

const UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Rejects spec changes other than images, activeDeadlineSeconds and added tolerations; bumps
/// `metadata.generation` when the spec changed.
pub fn check_update(current: &Value, new: &mut Value) -> Result<(), ApiError> {
    let old_spec = &current["spec"];
    let mut normalized = new["spec"].clone();
    for list in ["containers", "initContainers"] {
        let (Some(olds), Some(news)) = (old_spec[list].as_array(), normalized[list].as_array_mut()) else { continue };
        if olds.len() == news.len() {
            for (o, n) in olds.iter().zip(news.iter_mut()) {
                n["image"] = o["image"].clone();
            }
        }
    }
    normalized["activeDeadlineSeconds"] = old_spec["activeDeadlineSeconds"].clone();
    let old_tolerations = old_spec["tolerations"].as_array().cloned().unwrap_or_default();
    let new_tolerations = normalized["tolerations"].as_array().cloned().unwrap_or_default();
    if new_tolerations.starts_with(&old_tolerations) {
        normalized["tolerations"] = old_spec["tolerations"].clone();
    }
    let strip_nulls = |v: &Value| -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            other => other.clone(),
        }
    };
    if strip_nulls(&normalized) != strip_nulls(old_spec) {
        let name = current["metadata"]["name"].as_str().unwrap_or_default();
        return Err(ApiError::invalid("Pod", "", name, &[FieldError::forbidden("spec", UPDATE_FORBIDDEN)]));
    }
    if new["spec"] != *old_spec {
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(generation + 1);
    }
    Ok(())
}

/// `POST pods/{name}/binding`: sets spec.nodeName once.
pub fn bind(store: &Store, namespace: &str, name: &str, binding: &Value) -> Result<Value, ApiError> {
    let target = binding["target"]["name"].as_str().unwrap_or_default().to_string();
    if target.is_empty() {
        let causes = [FieldError::required("target.name", "")];
        return Err(ApiError::invalid("Binding", "", name, &causes));
    }
    store.update("pods", namespace, name, |pod| {
        if pod["metadata"].get("deletionTimestamp").is_some() {
            return Err(ApiError::conflict("pods", name, "pod is being deleted, cannot be assigned to a host"));
        }
        if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(ApiError::conflict("pods", name, &format!("pod {name} is already assigned to node {node:?}")));
        }
        let mut pod = pod.clone();
        pod["spec"]["nodeName"] = json!(target);
        let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
            "lastTransitionTime": super::store::now_rfc3339()});
        let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
        conditions.push(condition);
        pod["status"]["conditions"] = json!(conditions);
        Ok(pod)
    })?;
    Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}))
}

/// What a pod deletion does.
#[derive(Debug, PartialEq)]
pub enum PodDeletion {
    /// Remove now.
    Now,
    /// Mark with deletionTimestamp = now + grace and keep for the node to finish.
    Graceful(i64),
    /// Already terminating with a shorter or equal grace period: nothing changes.
    Unchanged,
}

/// Decides a pod deletion: graceful only when the pod is bound to a node and not finished.
pub fn deletion(pod: &Value, requested_grace: Option<i64>) -> PodDeletion {
    let bound = pod["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
    let finished = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    if !bound || finished {
        return PodDeletion::Now;
    }
    let existing = pod["metadata"]["deletionGracePeriodSeconds"].as_i64();
    let grace =
        requested_grace.or(existing).or(pod["spec"]["terminationGracePeriodSeconds"].as_i64()).unwrap_or(30).max(0);
    match existing {
        _ if grace == 0 => PodDeletion::Now,
        Some(old) if old <= grace => PodDeletion::Unchanged,
        _ => PodDeletion::Graceful(grace),
    }
}

/// Marks a pod for graceful deletion.
pub fn mark_terminating(pod: &Value, grace: i64) -> Value {
    let mut pod = pod.clone();
    let at = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(grace)).unwrap_or(jiff::Timestamp::MAX);
    pod["metadata"]["deletionTimestamp"] = json!(format_time(at));
    pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "generation": 1}, "spec": {"nodeName": "n", "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "c", "image": "a"}], "tolerations": [{"key": "k"}]}, "status": {"phase": "Running"}})
    }

    #[test]
    fn image_and_toleration_additions_are_allowed() {
        let mut new = pod();
        new["spec"]["containers"][0]["image"] = json!("b");
        new["spec"]["tolerations"] = json!([{"key": "k"}, {"key": "k2"}]);
        check_update(&pod(), &mut new).unwrap();
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn other_spec_changes_are_forbidden() {
        let mut new = pod();
        new["spec"]["containers"][0]["command"] = json!(["sh"]);
        let err = check_update(&pod(), &mut new).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.starts_with("Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields"));
    }

    #[test]
    fn deletion_modes() {
        assert_eq!(deletion(&pod(), None), PodDeletion::Graceful(30));
        assert_eq!(deletion(&pod(), Some(0)), PodDeletion::Now);
        let mut unbound = pod();
        unbound["spec"]["nodeName"] = Value::Null;
        assert_eq!(deletion(&unbound, Some(10)), PodDeletion::Now);
        let mut done = pod();
        done["status"]["phase"] = json!("Succeeded");
        assert_eq!(deletion(&done, None), PodDeletion::Now);
        let terminating = mark_terminating(&pod(), 30);
        assert_eq!(deletion(&terminating, Some(40)), PodDeletion::Unchanged);
        assert_eq!(deletion(&terminating, Some(5)), PodDeletion::Graceful(5));
    }

    #[test]
    fn binding_twice_is_a_conflict() {
        let store = Store::new(10);
        let mut p = pod();
        p["spec"]["nodeName"] = Value::Null;
        p["metadata"]["namespace"] = json!("d");
        store.create("pods", "d", p).unwrap();
        bind(&store, "d", "p", &json!({"target": {"name": "n1"}})).unwrap();
        assert_eq!(store.get("pods", "d", "p").unwrap()["spec"]["nodeName"], "n1");
        assert_eq!(bind(&store, "d", "p", &json!({"target": {"name": "n1"}})).unwrap_err().code, 409);
    }
}
