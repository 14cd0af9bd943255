//! Responses as the distribution registry (2.8) sends them: `Docker-Distribution-Api-Version` on
//! every answer, errors as `{"errors":[{"code","message","detail"}]}`, content with its digest.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;
pub type Resp = Response<Body>;

pub const JSON: &str = "application/json; charset=utf-8";

/// A response; for `HEAD` the body is left out but `Content-Length` stays that of the body.
pub fn respond(code: u16, content_type: Option<&str>, body: Bytes, head: bool) -> Resp {
    let length = body.len();
    let body = if head { Bytes::new() } else { body };
    let mut resp = Response::new(Full::new(body).map_err(|never| match never {}).boxed_unsync());
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set(&mut resp, "docker-distribution-api-version", "registry/2.0");
    if let Some(content_type) = content_type {
        set(&mut resp, CONTENT_TYPE.as_str(), content_type);
    }
    resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(length));
    resp
}

/// Sets a header; values that are not valid header text are left out (they come from our own data).
pub fn set(resp: &mut Resp, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        resp.headers_mut().insert(name, value);
    }
}

pub fn json_body(code: u16, value: &Value, head: bool) -> Resp {
    let mut text = serde_json::to_vec(value).unwrap_or_default();
    text.push(b'\n');
    respond(code, Some(JSON), Bytes::from(text), head)
}

/// An error in the distribution spec's shape.
pub fn error(code: u16, error_code: &str, message: &str, detail: Value, head: bool) -> Resp {
    json_body(code, &json!({"errors": [{"code": error_code, "message": message, "detail": detail}]}), head)
}

/// Content addressed by `digest` (a manifest or a blob), with the headers a registry sends.
pub fn content(content_type: &str, digest: &str, bytes: Bytes, head: bool, blob: bool) -> Resp {
    let mut resp = respond(200, Some(content_type), bytes, head);
    set(&mut resp, "docker-content-digest", digest);
    set(&mut resp, "etag", &format!("\"{digest}\""));
    if blob {
        set(&mut resp, "cache-control", "max-age=31536000");
    }
    resp
}

/// `201 Created` for something stored at `location`.
pub fn created(location: &str, digest: &str) -> Resp {
    let mut resp = respond(201, None, Bytes::new(), false);
    set(&mut resp, "location", location);
    set(&mut resp, "docker-content-digest", digest);
    resp
}

pub fn manifest_unknown(detail: Value, head: bool) -> Resp {
    error(404, "MANIFEST_UNKNOWN", "manifest unknown", detail, head)
}

pub fn blob_unknown(digest: &str, head: bool) -> Resp {
    error(404, "BLOB_UNKNOWN", "blob unknown to registry", json!(digest), head)
}

pub fn name_unknown(name: &str) -> Resp {
    error(404, "NAME_UNKNOWN", "repository name not known to registry", json!({"name": name}), false)
}

pub fn unsupported() -> Resp {
    error(405, "UNSUPPORTED", "The operation is unsupported.", Value::Null, false)
}

pub fn digest_invalid(digest: &str) -> Resp {
    error(
        400,
        "DIGEST_INVALID",
        "provided digest did not match uploaded content",
        json!({"Digest": digest, "Reason": {}}),
        false,
    )
}

/// The registry's memory limit is reached.
pub fn full() -> Resp {
    error(413, "SIZE_INVALID", "the simulated registry is full", json!({"limit": super::store::MAX_BYTES}), false)
}

/// A path the API does not have: Go's plain-text 404.
pub fn not_found_page() -> Resp {
    let mut resp = respond(404, Some("text/plain; charset=utf-8"), Bytes::from_static(b"404 page not found\n"), false);
    set(&mut resp, "x-content-type-options", "nosniff");
    resp
}

/// The JSON body with a `Link` header to the next page, as `_catalog` and `tags/list` paginate.
pub fn paginated(body: Value, next: Option<String>) -> Resp {
    let mut resp = json_body(200, &body, false);
    if let Some(next) = next {
        set(&mut resp, "link", &format!("<{next}>; rel=\"next\""));
    }
    resp
}
