//! Request bodies in `application/vnd.kubernetes.protobuf`, for the kinds kubectl's typed clients send
//! that way (`kubectl create namespace|configmap|secret|serviceaccount`): decoded into the same JSON a
//! JSON client would send. Responses are always JSON (every client also accepts it).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::status::ApiError;

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// One field of a message.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let field = match tag & 7 {
            0 => Field::Varint(varint(buf, &mut pos)?),
            1 => {
                pos += 8;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let bytes = &buf[pos..end];
                pos = end;
                Field::Bytes(bytes)
            }
            5 => {
                pos += 4;
                Field::Fixed
            }
            _ => return None,
        };
        out.push((tag >> 3, field));
    }
    (pos == buf.len()).then_some(out)
}

fn text(b: &[u8]) -> Value {
    json!(String::from_utf8_lossy(b))
}

/// A `map<string, string>` entry (or `map<string, bytes>` with `base64`).
/// Sets a string field; proto2 encodes unset strings as empty ones, JSON leaves them out.
fn set_text(target: &mut Value, key: &str, b: &[u8]) {
    if !b.is_empty() {
        target[key] = text(b);
    }
}

fn map_entry(b: &[u8], target: &mut Value, base64: bool) -> Option<()> {
    let (mut key, mut value) = (String::new(), Vec::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(k)) => key = String::from_utf8_lossy(k).into_owned(),
            (2, Field::Bytes(v)) => value = v.to_vec(),
            _ => {}
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    target[key] = if base64 {
        json!(base64::engine::general_purpose::STANDARD.encode(value))
    } else {
        json!(String::from_utf8_lossy(&value))
    };
    Some(())
}

fn push(target: &mut Value, value: Value) {
    match target {
        Value::Array(items) => items.push(value),
        other => *other = json!([value]),
    }
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut meta = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => set_text(&mut meta, "name", v),
            (2, Field::Bytes(v)) => set_text(&mut meta, "generateName", v),
            (3, Field::Bytes(v)) => set_text(&mut meta, "namespace", v),
            (6, Field::Bytes(v)) => set_text(&mut meta, "resourceVersion", v),
            (11, Field::Bytes(v)) => map_entry(v, &mut meta["labels"], false)?,
            (12, Field::Bytes(v)) => map_entry(v, &mut meta["annotations"], false)?,
            (14, Field::Bytes(v)) => push(&mut meta["finalizers"], text(v)),
            _ => {}
        }
    }
    Some(meta)
}

fn local_object_reference(b: &[u8]) -> Option<Value> {
    let mut out = json!({});
    for (n, f) in fields(b)? {
        if let (1, Field::Bytes(v)) = (n, f) {
            out["name"] = text(v);
        }
    }
    Some(out)
}

/// ServiceSpec: ports (1), selector (2), clusterIP (3), type (4), externalName (10), the fields
/// `kubectl create service` and `kubectl expose` set.
fn service_spec(b: &[u8]) -> Option<Value> {
    let mut spec = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => push(&mut spec["ports"], service_port(v)?),
            (2, Field::Bytes(v)) => map_entry(v, &mut spec["selector"], false)?,
            (3, Field::Bytes(v)) => set_text(&mut spec, "clusterIP", v),
            (4, Field::Bytes(v)) => set_text(&mut spec, "type", v),
            (10, Field::Bytes(v)) => set_text(&mut spec, "externalName", v),
            _ => {}
        }
    }
    Some(spec)
}

/// ServicePort: name (1), protocol (2), port (3), targetPort (4, IntOrString), nodePort (5).
fn service_port(b: &[u8]) -> Option<Value> {
    let mut port = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => set_text(&mut port, "name", v),
            (2, Field::Bytes(v)) => set_text(&mut port, "protocol", v),
            (3, Field::Varint(x)) => port["port"] = json!(x as i32),
            (4, Field::Bytes(v)) => {
                let (mut kind, mut int, mut text_value) = (0, 0, String::new());
                for (m, g) in fields(v)? {
                    match (m, g) {
                        (1, Field::Varint(x)) => kind = x,
                        (2, Field::Varint(x)) => int = x as i32,
                        (3, Field::Bytes(s)) => text_value = String::from_utf8_lossy(s).into_owned(),
                        _ => {}
                    }
                }
                port["targetPort"] = if kind == 1 { json!(text_value) } else { json!(int) };
            }
            (5, Field::Varint(x)) if x != 0 => port["nodePort"] = json!(x as i32),
            _ => {}
        }
    }
    Some(port)
}

/// The kind-specific fields of the object message.
fn object(kind: &str, raw: &[u8]) -> Option<Value> {
    let mut obj = json!({"apiVersion": "v1", "kind": kind});
    for (n, f) in fields(raw)? {
        let Field::Bytes(v) = f else {
            if let (Field::Varint(x), "ConfigMap", 4) | (Field::Varint(x), "Secret", 5) = (&f, kind, n) {
                obj["immutable"] = json!(*x != 0);
            }
            if let (Field::Varint(x), "ServiceAccount", 4) = (&f, kind, n) {
                obj["automountServiceAccountToken"] = json!(*x != 0);
            }
            continue;
        };
        match (kind, n) {
            (_, 1) => obj["metadata"] = object_meta(v)?,
            ("ConfigMap", 2) => map_entry(v, &mut obj["data"], false)?,
            ("ConfigMap", 3) => map_entry(v, &mut obj["binaryData"], true)?,
            ("Secret", 2) => map_entry(v, &mut obj["data"], true)?,
            ("Secret", 3) => set_text(&mut obj, "type", v),
            ("Secret", 4) => map_entry(v, &mut obj["stringData"], false)?,
            ("ServiceAccount", 2) => push(&mut obj["secrets"], json!({"name": local_object_reference(v)?["name"]})),
            ("ServiceAccount", 3) => push(&mut obj["imagePullSecrets"], local_object_reference(v)?),
            ("Service", 2) => obj["spec"] = service_spec(v)?,
            ("Namespace", 2) => {
                for (m, g) in fields(v)? {
                    if let (1, Field::Bytes(s)) = (m, g) {
                        push(&mut obj["spec"]["finalizers"], text(s));
                    }
                }
            }
            _ => {}
        }
    }
    Some(obj)
}

/// Decodes a `k8s\0` envelope (runtime.Unknown) holding one of the supported kinds.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let unsupported =
        |what: &str| ApiError::unsupported_media_type(&format!("{CONTENT_TYPE} ({what}); send application/json"));
    let envelope = body.strip_prefix(b"k8s\0").ok_or_else(|| unsupported("no k8s envelope"))?;
    let parts = fields(envelope).ok_or_else(|| ApiError::bad_request("malformed protobuf body"))?;
    let (mut kind, mut raw) = (String::new(), &[][..]);
    for (n, f) in parts {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (m, g) in fields(type_meta).ok_or_else(|| ApiError::bad_request("malformed protobuf body"))? {
                    if let (2, Field::Bytes(k)) = (m, g) {
                        kind = String::from_utf8_lossy(k).into_owned();
                    }
                }
            }
            (2, Field::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount" | "Service") {
        return Err(unsupported(&format!("kind {kind:?}")));
    }
    object(&kind, raw).ok_or_else(|| ApiError::bad_request("malformed protobuf body"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [field(1, k.as_bytes()), field(2, v)].concat()
    }

    #[test]
    fn decodes_a_secret_envelope() {
        let meta = [field(1, b"s1"), field(3, b"ns"), field(11, &entry("app", b"x"))].concat();
        let raw = [field(1, &meta), field(2, &entry("k", b"\x00\x01")), field(3, b"Opaque")].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let obj = decode(&body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "ns", "labels": {"app": "x"}},
                "data": {"k": "AAE="}, "type": "Opaque"})
        );
    }

    #[test]
    fn decodes_a_service_spec() {
        let target = [vec![0x10, 0x90, 0x3f]].concat(); // intVal 8080
        let port = [field(1, b"80-8080"), field(2, b"TCP"), vec![0x18, 80], field(4, &target), vec![0x28, 0]].concat();
        let spec = [field(1, &port), field(2, &entry("app", b"web")), field(3, b""), field(4, b"ClusterIP")].concat();
        let raw = [field(1, &field(1, b"web")), field(2, &spec)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Service")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let obj = decode(&body).unwrap();
        assert_eq!(
            obj["spec"],
            json!({"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "web"}, "type": "ClusterIP"})
        );
    }

    #[test]
    fn other_kinds_and_garbage_are_rejected() {
        let type_meta = [field(1, b"v1"), field(2, b"Pod")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta)].concat();
        assert_eq!(decode(&body).unwrap_err().code, 415);
        assert_eq!(decode(b"k8s\0\xff").unwrap_err().code, 400);
        assert_eq!(decode(b"{}").unwrap_err().code, 415);
    }
}
