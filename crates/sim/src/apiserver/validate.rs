//! Validation on create and update, per kind, with the real server's field paths and messages.

use std::collections::HashSet;

use serde_json::Value;

use crate::status::{ApiError, FieldError};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_qualified_part(name),
        None => is_qualified_part(key),
    }
}

/// Checks an object of `resource` (`kind`) before it is stored.
pub fn validate(resource: &str, kind: &str, object: &Value) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let mut errs = metadata(resource, object);
    if resource == "pods" {
        errs.extend(pod_spec(&object["spec"]));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(kind, "", name, &errs))
    }
}

/// ConfigMaps and Secrets marked `immutable: true` keep their data and the mark.
pub fn check_immutable(kind: &str, current: &Value, new: &Value) -> Result<(), ApiError> {
    if current["immutable"] != true {
        return Ok(());
    }
    const DETAIL: &str = "field is immutable when `immutable` is set";
    let mut errs = Vec::new();
    if new["immutable"] != true {
        errs.push(FieldError::forbidden("immutable", DETAIL));
    }
    for field in ["data", "binaryData"] {
        if current[field] != new[field] {
            errs.push(FieldError::forbidden(field, DETAIL));
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    let name = current["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid(kind, "", name, &errs))
}

fn metadata(resource: &str, object: &Value) -> Vec<FieldError> {
    let meta = &object["metadata"];
    let mut errs = Vec::new();
    match meta["name"].as_str().filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::required("metadata.name", "name or generateName is required")),
        Some(name) if resource == "namespaces" && !is_dns_label(name) => {
            errs.push(FieldError::invalid("metadata.name", name, LABEL_MSG))
        }
        Some(name) if resource != "namespaces" && !is_dns_subdomain(name) => {
            errs.push(FieldError::invalid("metadata.name", name, SUBDOMAIN_MSG))
        }
        Some(_) => {}
    }
    if let Some(labels) = meta["labels"].as_object() {
        for (key, value) in labels {
            if !is_label_key(key) {
                errs.push(FieldError::invalid("metadata.labels", key, QUALIFIED_MSG));
            }
            let value = value.as_str().unwrap_or_default();
            if !value.is_empty() && !is_qualified_part(value) {
                errs.push(FieldError::invalid("metadata.labels", value, LABEL_VALUE_MSG));
            }
        }
    }
    errs
}

fn other(field: String, reason: &'static str, text: String) -> FieldError {
    FieldError { message: format!("{field}: {text}"), field, reason }
}

fn pod_spec(spec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut volumes = HashSet::new();
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let name = v["name"].as_str().unwrap_or_default();
        let field = format!("spec.volumes[{i}].name");
        if name.is_empty() {
            errs.push(FieldError::required(&field, ""));
        } else if !is_dns_label(name) {
            errs.push(FieldError::invalid(&field, name, LABEL_MSG));
        } else if !volumes.insert(name.to_string()) {
            errs.push(other(field, "FieldValueDuplicate", format!("Duplicate value: {name:?}")));
        }
    }
    if spec["containers"].as_array().is_none_or(|c| c.is_empty()) {
        errs.push(FieldError::required("spec.containers", ""));
    }
    let mut names = HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let path = format!("spec.{list}[{i}]");
            let name = c["name"].as_str().unwrap_or_default();
            if name.is_empty() {
                errs.push(FieldError::required(&format!("{path}.name"), ""));
            } else if !is_dns_label(name) {
                errs.push(FieldError::invalid(&format!("{path}.name"), name, LABEL_MSG));
            } else if !names.insert(name.to_string()) {
                errs.push(other(format!("{path}.name"), "FieldValueDuplicate", format!("Duplicate value: {name:?}")));
            }
            if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
                errs.push(FieldError::required(&format!("{path}.image"), ""));
            }
            for (j, m) in c["volumeMounts"].as_array().into_iter().flatten().enumerate() {
                let vname = m["name"].as_str().unwrap_or_default();
                if !volumes.contains(vname) {
                    let field = format!("{path}.volumeMounts[{j}].name");
                    errs.push(other(field, "FieldValueNotFound", format!("Not found: {vname:?}")));
                }
            }
        }
    }
    let policy = spec["restartPolicy"].as_str().unwrap_or_default();
    if !["Always", "OnFailure", "Never"].contains(&policy) {
        errs.push(other(
            "spec.restartPolicy".into(),
            "FieldValueNotSupported",
            format!("Unsupported value: {policy:?}: supported values: \"Always\", \"OnFailure\", \"Never\""),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, spec: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": spec})
    }

    fn c(name: &str) -> Value {
        json!({"name": name, "image": "busybox"})
    }

    #[test]
    fn valid_pod_passes() {
        let spec = json!({"restartPolicy": "Always", "containers": [c("a")], "volumes": [{"name": "v"}]});
        assert!(validate("pods", "Pod", &pod("p.q-1", spec)).is_ok());
    }

    #[test]
    fn bad_name_uses_the_real_message() {
        let spec = json!({"restartPolicy": "Always", "containers": [c("a")]});
        let err = validate("pods", "Pod", &pod("Bad", spec)).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            format!("Pod \"Bad\" is invalid: metadata.name: Invalid value: \"Bad\": {SUBDOMAIN_MSG}")
        );
    }

    #[test]
    fn container_problems_are_listed() {
        let spec = json!({"restartPolicy": "Always", "containers": [c("a"), c("a"), {"name": "B_", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}]});
        let err = validate("pods", "Pod", &pod("p", spec)).unwrap_err();
        let causes = err.details.unwrap()["causes"].clone();
        let fields: Vec<&str> = causes.as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[1].name",
                "spec.containers[2].name",
                "spec.containers[2].image",
                "spec.containers[2].volumeMounts[0].name"
            ]
        );
        assert!(err.message.contains("spec.containers[1].name: Duplicate value: \"a\""));
    }

    #[test]
    fn no_containers_and_bad_labels() {
        let mut p = pod("p", json!({"restartPolicy": "Always"}));
        p["metadata"]["labels"] = json!({"ok/key": "v", "-bad": "x", "k": "bad value"});
        let err = validate("pods", "Pod", &p).unwrap_err();
        assert!(err.message.contains("spec.containers: Required value"));
        assert!(err.message.contains("metadata.labels: Invalid value: \"-bad\""));
        assert!(err.message.contains("metadata.labels: Invalid value: \"bad value\""));
    }

    #[test]
    fn immutable_config_maps_keep_their_data() {
        let current = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let mut new = current.clone();
        assert!(check_immutable("ConfigMap", &current, &new).is_ok());
        new["data"]["a"] = json!("2");
        let err = check_immutable("ConfigMap", &current, &new).unwrap_err();
        assert_eq!(
            err.message,
            "ConfigMap \"c\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
        );
    }

    #[test]
    fn namespace_names_are_labels() {
        assert!(validate("namespaces", "Namespace", &json!({"metadata": {"name": "a.b"}})).is_err());
        assert!(validate("namespaces", "Namespace", &json!({"metadata": {"name": "ab"}})).is_ok());
    }
}
