//! Pushes through the distribution API, so tests (or `skopeo copy`, or any client) can add images:
//! blob uploads (`POST .../blobs/uploads/`, `PATCH`, `PUT ?digest=`, monolithic `POST ?digest=`,
//! cross-repository `?mount=&from=`) and `PUT .../manifests/<tag|digest>`.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_RANGE, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use serde_json::{json, Value};

use super::http::{self, Resp};
use super::image::{sha256, Manifest, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use super::store::PutError;
use super::Registry;
use crate::reference::{valid_digest, valid_repository, valid_tag};

/// The largest blob one upload may carry.
pub const MAX_BLOB: usize = 128 * 1024 * 1024;
/// The largest manifest (distribution's limit).
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;
/// Uploads in progress at once; more are refused until some finish or are cancelled.
pub const MAX_SESSIONS: usize = 64;

/// Blob uploads in progress, by id.
#[derive(Default)]
pub struct Uploads {
    sessions: Mutex<HashMap<String, Session>>,
}

struct Session {
    repository: String,
    data: Vec<u8>,
}

/// `.../blobs/uploads/[<id>]`.
pub async fn handle(registry: &Registry, name: &str, id: Option<&str>, req: Request<Incoming>) -> Resp {
    if !valid_repository(name) {
        return http::error(400, "NAME_INVALID", "invalid repository name", json!(name), false);
    }
    let base = base_url(&req);
    let params: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
    let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let uploads = registry.uploads();
    let method = req.method().clone();
    match (id, method) {
        (None, Method::POST) => {
            if let (Some(digest), Some(from)) = (param("mount"), param("from")) {
                if registry.store().mount_blob(name, &digest, &from) {
                    return http::created(&format!("{base}/v2/{name}/blobs/{digest}"), &digest);
                }
            }
            if let Some(digest) = param("digest") {
                return match read(req.into_body(), MAX_BLOB).await {
                    Ok(data) => finish(registry, name, &base, &digest, data),
                    Err(resp) => resp,
                };
            }
            let Ok(mut sessions) = uploads.sessions.lock() else { return http::unsupported() };
            if sessions.len() >= MAX_SESSIONS {
                return http::error(429, "TOOMANYREQUESTS", "too many uploads in progress", json!(null), false);
            }
            let id = uuid::Uuid::new_v4().to_string();
            sessions.insert(id.clone(), Session { repository: name.to_string(), data: Vec::new() });
            progress(202, &base, name, &id, 0)
        }
        (Some(id), method) => {
            let Some(have) = uploads.len_of(id, name) else {
                return http::error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", json!({}), false);
            };
            match method {
                Method::GET => progress(204, &base, name, id, have),
                Method::DELETE => {
                    uploads.take(id);
                    http::respond(204, None, Bytes::new(), false)
                }
                Method::PATCH | Method::PUT => {
                    let range_start = req
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split('-').next()?.trim().parse::<usize>().ok());
                    if range_start.is_some_and(|start| start != have) {
                        return http::error(416, "BLOB_UPLOAD_INVALID", "blob upload invalid", json!({}), false);
                    }
                    let is_put = req.method() == Method::PUT;
                    let chunk = match read(req.into_body(), MAX_BLOB.saturating_sub(have)).await {
                        Ok(chunk) => chunk,
                        Err(resp) => return resp,
                    };
                    let total = uploads.append(id, &chunk);
                    if !is_put {
                        return progress(202, &base, name, id, total);
                    }
                    let data = uploads.take(id).unwrap_or_default();
                    match param("digest") {
                        Some(digest) => finish(registry, name, &base, &digest, Bytes::from(data)),
                        None => http::digest_invalid(""),
                    }
                }
                _ => http::unsupported(),
            }
        }
        _ => http::unsupported(),
    }
}

impl Uploads {
    fn len_of(&self, id: &str, repository: &str) -> Option<usize> {
        let sessions = self.sessions.lock().ok()?;
        sessions.get(id).filter(|s| s.repository == repository).map(|s| s.data.len())
    }

    fn append(&self, id: &str, chunk: &[u8]) -> usize {
        let Ok(mut sessions) = self.sessions.lock() else { return 0 };
        sessions
            .get_mut(id)
            .map(|s| {
                s.data.extend_from_slice(chunk);
                s.data.len()
            })
            .unwrap_or(0)
    }

    fn take(&self, id: &str) -> Option<Vec<u8>> {
        self.sessions.lock().ok()?.remove(id).map(|s| s.data)
    }
}

/// Verifies an uploaded blob against `digest` and stores it.
fn finish(registry: &Registry, name: &str, base: &str, digest: &str, data: Bytes) -> Resp {
    if !valid_digest(digest) || sha256(&data) != digest {
        return http::digest_invalid(digest);
    }
    if !registry.store().put_blob(name, digest, data) {
        return http::full();
    }
    http::created(&format!("{base}/v2/{name}/blobs/{digest}"), digest)
}

/// `202`/`204` with where the upload continues and how much it holds.
fn progress(code: u16, base: &str, name: &str, id: &str, have: usize) -> Resp {
    let mut resp = http::respond(code, None, Bytes::new(), false);
    http::set(&mut resp, "location", &format!("{base}/v2/{name}/blobs/uploads/{id}"));
    http::set(&mut resp, "range", &format!("0-{}", have.saturating_sub(1)));
    http::set(&mut resp, "docker-upload-uuid", id);
    resp
}

/// `PUT /v2/<name>/manifests/<tag|digest>`.
pub async fn put_manifest(registry: &Registry, name: &str, reference: &str, req: Request<Incoming>) -> Resp {
    if !valid_repository(name) {
        return http::error(400, "NAME_INVALID", "invalid repository name", json!(name), false);
    }
    let by_digest = reference.contains(':');
    if !(if by_digest { valid_digest(reference) } else { valid_tag(reference) }) {
        return http::error(400, "TAG_INVALID", "manifest tag did not match URI", json!(reference), false);
    }
    let base = base_url(&req);
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = match read(req.into_body(), MAX_MANIFEST).await {
        Ok(bytes) => bytes,
        Err(resp) => return resp,
    };
    let Some(media_type) = media_type(content_type.as_deref(), &bytes) else {
        return http::error(400, "MANIFEST_INVALID", "manifest invalid", json!({}), false);
    };
    let digest = sha256(&bytes);
    if by_digest && digest != reference {
        return http::error(
            400,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            json!(null),
            false,
        );
    }
    let tag = (!by_digest).then_some(reference);
    match registry.store().put_manifest(name, tag, &digest, Manifest { media_type, bytes }) {
        Ok(()) => http::created(&format!("{base}/v2/{name}/manifests/{digest}"), &digest),
        Err(PutError::Unknown(missing)) => {
            http::error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", json!(missing), false)
        }
        Err(PutError::Invalid(why)) => http::error(400, "MANIFEST_INVALID", "manifest invalid", json!(why), false),
        Err(PutError::Full) => http::full(),
    }
}

/// The manifest's type: a known `Content-Type`, else its `mediaType` field, else what its shape says.
fn media_type(content_type: Option<&str>, bytes: &[u8]) -> Option<String> {
    const KNOWN: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];
    let header = content_type.map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if let Some(t) = header.filter(|t| KNOWN.contains(&t.as_str())) {
        return Some(t);
    }
    let value: Value = serde_json::from_slice(bytes).ok()?;
    if let Some(t) = value["mediaType"].as_str().filter(|t| KNOWN.contains(t)) {
        return Some(t.to_string());
    }
    if value.get("manifests").is_some() {
        Some(OCI_INDEX.to_string())
    } else {
        value.get("config").is_some().then(|| OCI_MANIFEST.to_string())
    }
}

/// `http://<Host>` for absolute `Location`s as the distribution registry sends them (relative without one).
fn base_url(req: &Request<Incoming>) -> String {
    req.headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b)))
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

/// Reads a body of at most `limit` bytes; past it, 413.
async fn read(body: Incoming, limit: usize) -> Result<Bytes, Resp> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(http::error(
            413,
            "SIZE_INVALID",
            "the upload is larger than the simulated registry accepts",
            json!({"limit": limit}),
            false,
        )),
        Err(err) => Err(http::error(400, "BLOB_UPLOAD_INVALID", "blob upload invalid", json!(err.to_string()), false)),
    }
}
