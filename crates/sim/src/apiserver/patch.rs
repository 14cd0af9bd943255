//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch with the
//! merge keys of the core kinds served here.

use serde_json::{Map, Value};

use crate::status::ApiError;

/// The three patch types a core resource accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
}

impl PatchType {
    /// From the Content-Type header; anything else (server-side apply included) is 415.
    pub fn from_content_type(content_type: &str) -> Result<PatchType, ApiError> {
        match content_type.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies `patch` to `target` and returns the result.
pub fn apply(kind: PatchType, target: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let mut out = target.clone();
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut out, &ops).map_err(|e| {
                tracing::debug!(error = %e, "json patch failed");
                ApiError {
                    code: 422,
                    reason: "Invalid",
                    message: "the server rejected our request due to an error in our request".into(),
                    details: None,
                }
            })?;
        }
        PatchType::Merge | PatchType::Strategic => {
            let patch: Value = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("the patch is not a JSON object"));
            }
            if kind == PatchType::Merge {
                json_patch::merge(&mut out, &patch);
            } else {
                strategic_merge(&mut out, &patch);
            }
        }
    }
    Ok(out)
}

/// The merge key of a list field, by the field's name.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses"
        | "ephemeralContainerStatuses"
        | "readinessGates" => Some(if field == "readinessGates" { "conditionType" } else { "name" }),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" | "podIPs" | "hostIPs" => Some("ip"),
        "ports" if items.iter().any(|p| p.get("containerPort").is_some()) => Some("containerPort"),
        "ports" => Some("port"),
        _ => None,
    }
}

/// Lists of strings merged as sets.
fn is_merged_primitive_list(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge: like a merge patch, but lists with a merge key merge item by item, and the
/// `$patch: delete|replace` and `$deleteFromPrimitiveList/<field>` directives apply.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = Value::Object(strip_directives(patch_map));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else { return };
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(remove)) =
                (target_map.get_mut(field).and_then(Value::as_array_mut), value.as_array())
            {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(_) => strategic_merge(target_map.entry(key.clone()).or_insert(Value::Null), value),
            Value::Array(items) => {
                let current = target_map.get(key).and_then(Value::as_array).cloned();
                target_map.insert(key.clone(), merge_list(key, current, items));
            }
            other => {
                target_map.insert(key.clone(), other.clone());
            }
        }
    }
}

fn merge_list(field: &str, current: Option<Vec<Value>>, items: &[Value]) -> Value {
    let Some(mut current) = current else {
        return Value::Array(items.iter().filter(|i| !is_delete(i)).map(strip).collect());
    };
    if is_merged_primitive_list(field) {
        for item in items {
            if !current.contains(item) {
                current.push(item.clone());
            }
        }
        return Value::Array(current);
    }
    let Some(key) = merge_key(field, items) else {
        return Value::Array(items.iter().map(strip).collect());
    };
    for item in items {
        let position = current.iter().position(|c| c.get(key).is_some() && c.get(key) == item.get(key));
        match (position, is_delete(item)) {
            (Some(i), true) => drop(current.remove(i)),
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut current[i], item),
            (None, false) => current.push(strip(item)),
        }
    }
    Value::Array(current)
}

fn is_delete(item: &Value) -> bool {
    item.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn strip(item: &Value) -> Value {
    match item {
        Value::Object(map) => Value::Object(strip_directives(map)),
        other => other.clone(),
    }
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"labels": {"a": "1"}, "finalizers": ["x"]}, "spec": {"containers": [
            {"name": "a", "image": "i1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "i2"}
        ]}})
    }

    #[test]
    fn merge_patch_replaces_lists() {
        let out = apply(
            PatchType::Merge,
            &pod(),
            br#"{"spec":{"containers":[{"name":"a","image":"new"}]},"metadata":{"labels":{"a":null,"b":"2"}}}"#,
        )
        .unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"name": "a", "image": "new"}]));
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    }

    #[test]
    fn json_patch_ops() {
        let out =
            apply(PatchType::Json, &pod(), br#"[{"op":"replace","path":"/spec/containers/1/image","value":"z"}]"#)
                .unwrap();
        assert_eq!(out["spec"]["containers"][1]["image"], "z");
        assert_eq!(apply(PatchType::Json, &pod(), b"{}").unwrap_err().code, 400);
        let failed = apply(PatchType::Json, &pod(), br#"[{"op":"remove","path":"/nope"}]"#).unwrap_err();
        assert_eq!((failed.code, failed.reason), (422, "Invalid"));
    }

    #[test]
    fn strategic_merge_merges_by_key() {
        let patch = br#"{"spec":{"containers":[{"name":"a","image":"new","env":[{"name":"Y","value":"2"}]},{"name":"c","image":"i3"}]}}"#;
        let out = apply(PatchType::Strategic, &pod(), patch).unwrap();
        let cs = &out["spec"]["containers"];
        assert_eq!(cs[0]["image"], "new");
        assert_eq!(cs[0]["env"], json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]));
        assert_eq!(cs[1]["name"], "b");
        assert_eq!(cs[2]["name"], "c");
    }

    #[test]
    fn strategic_merge_directives() {
        let patch = br#"{"metadata":{"finalizers":["y"],"$deleteFromPrimitiveList/finalizers":["x"]},"spec":{"containers":[{"name":"b","$patch":"delete"}]}}"#;
        let out = apply(PatchType::Strategic, &pod(), patch).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["y"]));
        assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 1);
        let status =
            json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "A", "status": "True"}]}});
        let out =
            apply(PatchType::Strategic, &status, br#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#)
                .unwrap();
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "A", "status": "True"}])
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchType::Merge
        );
        assert_eq!(PatchType::from_content_type("application/apply-patch+yaml").unwrap_err().code, 415);
    }
}
