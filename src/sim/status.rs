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
        let (kind, group) = split_group(resource);
        ApiError::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
            .with_details(json!({"name": name, "group": group, "kind": kind}))
    }

    /// 409 `pods "x" already exists`.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        let (kind, group) = split_group(resource);
        ApiError::new(409, "AlreadyExists", format!("{resource} \"{name}\" already exists"))
            .with_details(json!({"name": name, "group": group, "kind": kind}))
    }

    /// 409 Conflict, e.g. a stale resourceVersion on update.
    pub fn conflict(resource: &str, name: &str, why: &str) -> Self {
        let (kind, group) = split_group(resource);
        ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"))
            .with_details(json!({"name": name, "group": group, "kind": kind}))
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
        ApiError::new(422, "Invalid", format!("{kind} \"{name}\" is invalid: {joined}"))
            .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes_json}))
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

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
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

fn split_group(resource: &str) -> (&str, &str) {
    resource.split_once('.').unwrap_or((resource, ""))
}
