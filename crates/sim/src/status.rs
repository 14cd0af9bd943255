//! `metav1.Status` error bodies, as a real kube-apiserver sends them.
//!
//! Shared by the API server (every error response) and the node (errors of logs, exec and attach).

use serde_json::{json, Value};

/// An API error: HTTP code, `reason` (`NotFound`, `AlreadyExists`, ...), message and optional details.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404 `pods "x" not found` (resource is the plural, with `.group` for non-core groups).
    pub fn not_found(resource: &str, name: &str) -> Self {
        ApiError::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
            .with_details(object_details(resource, name))
    }

    /// 409 `pods "x" already exists`.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        ApiError::new(409, "AlreadyExists", format!("{resource} \"{name}\" already exists"))
            .with_details(object_details(resource, name))
    }

    /// 409 Conflict, e.g. a stale resourceVersion on update.
    pub fn conflict(resource: &str, name: &str, why: &str) -> Self {
        ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"))
            .with_details(object_details(resource, name))
    }

    /// 422 Invalid: `Pod "x" is invalid: metadata.name: Invalid value: "X": ...`.
    /// `kind` is the Kind (`Pod`), `causes` are `(field, reason, message)` triples.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: &[FieldError]) -> Self {
        let joined = if causes.len() == 1 {
            causes[0].to_string()
        } else {
            format!("[{}]", causes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))
        };
        let causes_json: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message_without_field(), "field": c.field}))
            .collect();
        let mut details = json!({"name": name, "group": group, "kind": kind, "causes": causes_json});
        if group.is_empty() {
            details.as_object_mut().map(|d| d.shift_remove("group"));
        }
        ApiError::new(422, "Invalid", format!("{kind} \"{name}\" is invalid: {joined}")).with_details(details)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// 410 Gone / Expired, e.g. a watch from a resourceVersion that is too old.
    pub fn gone(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json; got {content_type:?}"))
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "InternalError", format!("Internal error occurred: {}", message.into()))
    }

    /// 401 Unauthorized: no credentials, or wrong ones (the real server says no more than that).
    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    /// The `metav1.Status` object, its fields in the order a real API server writes them (clients that
    /// compare bodies byte for byte see the same text).
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".to_string(), details.clone());
        }
        status["code"] = json!(self.code);
        status
    }
}

/// One field problem of an Invalid error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// e.g. `metadata.name`
    pub field: String,
    /// e.g. `FieldValueInvalid`, `FieldValueRequired`, `FieldValueForbidden`
    pub reason: &'static str,
    /// The full text, e.g. `metadata.name: Invalid value: "A": a lowercase RFC 1123 subdomain ...`
    pub message: String,
}

impl FieldError {
    /// `field: Invalid value: "<value>": <detail>`
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        FieldError {
            field: field.to_string(),
            reason: "FieldValueInvalid",
            message: format!("{field}: Invalid value: {value:?}: {detail}"),
        }
    }

    /// `field: Required value[: detail]`
    pub fn required(field: &str, detail: &str) -> Self {
        let message = if detail.is_empty() {
            format!("{field}: Required value")
        } else {
            format!("{field}: Required value: {detail}")
        };
        FieldError { field: field.to_string(), reason: "FieldValueRequired", message }
    }

    /// `field: Forbidden: detail`
    pub fn forbidden(field: &str, detail: &str) -> Self {
        FieldError {
            field: field.to_string(),
            reason: "FieldValueForbidden",
            message: format!("{field}: Forbidden: {detail}"),
        }
    }

    fn message_without_field(&self) -> &str {
        self.message.strip_prefix(&format!("{}: ", self.field)).unwrap_or(&self.message)
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// `{"name", "group", "kind"}` as the real server writes them: the plural as `kind`, `group` left out when
/// it is the core group.
fn object_details(resource: &str, name: &str) -> Value {
    match resource.split_once('.') {
        Some((kind, group)) => json!({"name": name, "group": group, "kind": kind}),
        None => json!({"name": name, "kind": resource}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_renders_byte_for_byte_like_the_real_server() {
        let text = serde_json::to_string(&ApiError::not_found("pods", "nosuch").to_status()).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nosuch\" not found","reason":"NotFound","details":{"name":"nosuch","kind":"pods"},"code":404}"#
        );
    }

    #[test]
    fn invalid_lists_its_causes_without_an_empty_group() {
        let cause = FieldError::invalid("metadata.name", "A", "bad");
        let status = ApiError::invalid("Pod", "", "A", &[cause]).to_status();
        let text = serde_json::to_string(&status).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Pod \"A\" is invalid: metadata.name: Invalid value: \"A\": bad","reason":"Invalid","details":{"name":"A","kind":"Pod","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"A\": bad","field":"metadata.name"}]},"code":422}"#
        );
    }
}
