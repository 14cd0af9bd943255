//! The `fieldValidation` query parameter: fields the typed decoding dropped are unknown fields;
//! `Strict` rejects them (400), `Warn` (the default) reports them in `Warning` headers, `Ignore` drops
//! them silently.

use serde_json::Value;

use super::http::{Query, Resp};
use crate::status::ApiError;

/// The paths (`spec.foo`, `spec.containers[0].bar`) present in `raw` but gone from `decoded`.
pub fn unknown_fields(raw: &Value, decoded: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(raw, decoded, "", &mut out);
    out
}

fn walk(raw: &Value, decoded: &Value, path: &str, out: &mut Vec<String>) {
    match (raw, decoded) {
        (Value::Object(r), Value::Object(d)) => {
            for (key, value) in r {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match d.get(key) {
                    Some(dv) => walk(value, dv, &child, out),
                    None if !value.is_null() => out.push(child),
                    None => {}
                }
            }
        }
        (Value::Array(r), Value::Array(d)) => {
            for (i, (rv, dv)) in r.iter().zip(d).enumerate() {
                walk(rv, dv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Applies the request's `fieldValidation` to the unknown fields: an error for `Strict`, else the
/// warnings to send.
pub fn check(query: &Query, kind: &str, raw: &Value, decoded: &Value) -> Result<Vec<String>, ApiError> {
    let unknown = unknown_fields(raw, decoded);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
    match query.get("fieldValidation").unwrap_or("Warn") {
        "Strict" => Err(ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: strict decoding error: {}",
            listed.join(", ")
        ))),
        "Ignore" => Ok(Vec::new()),
        _ => Ok(listed),
    }
}

/// Adds one `Warning: 299 - "..."` header per warning.
pub fn with_warnings(mut resp: Resp, warnings: &[String]) -> Resp {
    for warning in warnings {
        let text = format!("299 - {:?}", warning);
        if let Ok(value) = hyper::header::HeaderValue::from_str(&text) {
            resp.headers_mut().append(hyper::header::WARNING, value);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_dropped_fields_at_any_depth() {
        let raw = json!({"metadata": {"name": "a", "bogus": 1}, "spec": {"containers": [{"name": "c", "x": true}]}, "n": null});
        let decoded = json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}]}});
        assert_eq!(unknown_fields(&raw, &decoded), ["metadata.bogus", "spec.containers[0].x"]);
    }

    #[test]
    fn strict_rejects_warn_reports() {
        let raw = json!({"spec": {"foo": 1}});
        let decoded = json!({"spec": {}});
        let strict = Query::parse(Some("fieldValidation=Strict"));
        let err = check(&strict, "Pod", &raw, &decoded).unwrap_err();
        assert_eq!(
            err.message,
            "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.foo\""
        );
        assert_eq!(check(&Query::default(), "Pod", &raw, &decoded).unwrap(), ["unknown field \"spec.foo\""]);
        assert!(check(&Query::parse(Some("fieldValidation=Ignore")), "Pod", &raw, &decoded).unwrap().is_empty());
    }
}
