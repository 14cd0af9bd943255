//! Per-kind decoding: each body goes through k8s-openapi's typed struct and back, so unknown fields are
//! dropped and wrong types rejected like a real server's decoder does; and `generateName`.

use k8s_openapi::api::core::v1 as core;
use rand_chars::random_suffix;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::discovery::ResourceInfo;
use crate::status::ApiError;

/// Decodes `body` as the resource's kind and re-encodes it.
pub fn decode(info: &ResourceInfo, body: Value) -> Result<Value, ApiError> {
    decode_kind(info.name, info.kind, body)
}

/// Decodes `body` as `kind` (served as `resource`).
pub fn decode_kind(resource: &str, kind: &str, mut body: Value) -> Result<Value, ApiError> {
    let Some(map) = body.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: the body is not a JSON object"
        )));
    };
    let api_version = super::discovery::resource(resource).map_or_else(|| "v1".to_string(), |r| r.api_version());
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => drop(map.insert("apiVersion".into(), json!(api_version))),
        Some(v) if v == api_version => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({other}) does not match the expected API version ({api_version})"
            )))
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => drop(map.insert("kind".into(), json!(kind))),
        Some(k) if k == kind => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{other} in version \"v1\" cannot be handled as a {kind}: converting (v1.{other}) to (core.{kind}): unknown conversion"
            )))
        }
    }
    let fail = |e: serde_json::Error| {
        ApiError::bad_request(format!("{kind} in version \"v1\" cannot be handled as a {kind}: {e}"))
    };
    let out = match resource {
        "pods" => roundtrip::<core::Pod>(body),
        "configmaps" => roundtrip::<core::ConfigMap>(body),
        "secrets" => roundtrip::<core::Secret>(body),
        "services" => roundtrip::<core::Service>(body),
        "persistentvolumeclaims" => roundtrip::<core::PersistentVolumeClaim>(body),
        "persistentvolumes" => roundtrip::<core::PersistentVolume>(body),
        "storageclasses" => roundtrip::<k8s_openapi::api::storage::v1::StorageClass>(body),
        "resourcequotas" => roundtrip::<core::ResourceQuota>(body),
        "events" => roundtrip::<core::Event>(body),
        "serviceaccounts" => roundtrip::<core::ServiceAccount>(body),
        "namespaces" => roundtrip::<core::Namespace>(body),
        "nodes" => roundtrip::<core::Node>(body),
        "bindings" => roundtrip::<core::Binding>(body),
        _ => Ok(body),
    };
    let mut out = out.map_err(fail)?;
    if out.get("metadata").is_none_or(Value::is_null) {
        out["metadata"] = json!({});
    }
    Ok(out)
}

fn roundtrip<T: DeserializeOwned + Serialize>(body: Value) -> Result<Value, serde_json::Error> {
    let typed: T = serde_json::from_value(body)?;
    serde_json::to_value(typed)
}

/// Fills `metadata.name` from `metadata.generateName` (5 random characters, the real alphabet).
pub fn apply_generate_name(object: &mut Value) {
    let meta = &mut object["metadata"];
    let has_name = meta["name"].as_str().is_some_and(|n| !n.is_empty());
    if let (false, Some(prefix)) = (has_name, meta["generateName"].as_str()) {
        let name = format!("{prefix}{}", random_suffix(5));
        meta["name"] = json!(name);
    }
}

/// A tiny random source for names, seeded from uuid v4 (no extra dependency).
mod rand_chars {
    /// The alphabet of the real apimachinery `rand.String`: no vowels, no confusable characters.
    pub const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

    pub fn random_suffix(len: usize) -> String {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        bytes.iter().take(len).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::discovery;

    #[test]
    fn unknown_fields_are_dropped() {
        let info = discovery::resource("configmaps").unwrap();
        let out =
            decode(info, json!({"metadata": {"name": "a", "bogus": 1}, "data": {"k": "v"}, "extra": true})).unwrap();
        assert_eq!(
            out,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        let info = discovery::resource("pods").unwrap();
        let err = decode(info, json!({"metadata": {"name": "a"}, "spec": {"containers": "x"}})).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.starts_with("Pod in version \"v1\" cannot be handled as a Pod: "), "{}", err.message);
    }

    #[test]
    fn generate_name_appends_five_allowed_characters() {
        let mut obj = json!({"metadata": {"generateName": "web-"}});
        apply_generate_name(&mut obj);
        let name = obj["metadata"]["name"].as_str().unwrap();
        let suffix = name.strip_prefix("web-").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| rand_chars::ALPHABET.contains(&b)));
        let mut named = json!({"metadata": {"name": "fixed", "generateName": "web-"}});
        apply_generate_name(&mut named);
        assert_eq!(named["metadata"]["name"], "fixed");
    }
}
