//! The distribution API's routes and its read side: `/v2/`, manifests, blobs, tags and the catalog.
//! Pushes are in [`super::upload`].

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION};
use hyper::{Method, Request};
use serde_json::json;

use super::http::{self, Resp};
use super::image::{Manifest, Platform, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use super::{resolve, upload, Registry};
use crate::reference::{valid_digest, valid_repository};

/// Which part of the API a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    /// `blobs/uploads/` (start) or `blobs/uploads/<id>`.
    Upload(String, Option<String>),
    Unknown,
}

impl Route {
    pub fn parse(path: &str) -> Route {
        let Some(rest) = path.strip_prefix("/v2/") else {
            return if path == "/v2" { Route::Base } else { Route::Unknown };
        };
        let own = |s: &str| s.to_string();
        if rest.is_empty() {
            Route::Base
        } else if rest == "_catalog" {
            Route::Catalog
        } else if let Some(name) = rest.strip_suffix("/tags/list") {
            Route::Tags(own(name))
        } else if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
            Route::Manifest(own(name), own(reference))
        } else if let Some(name) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads"))
        {
            Route::Upload(own(name), None)
        } else if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
            Route::Upload(own(name), Some(own(id)))
        } else if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
            Route::Blob(own(name), own(digest))
        } else {
            Route::Unknown
        }
    }

    fn repository(&self) -> Option<&str> {
        match self {
            Route::Tags(n) | Route::Manifest(n, _) | Route::Blob(n, _) | Route::Upload(n, _) => Some(n),
            _ => None,
        }
    }
}

/// Answers one request.
pub async fn handle(registry: &Registry, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let route = Route::parse(req.uri().path());
    let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !registry.access().allows(authorization) {
        let action = if head || method == Method::GET { "pull" } else { "push" };
        return registry.access().challenge(route.repository().map(|name| (name, action)), head);
    }
    let query = req.uri().query().unwrap_or("").to_string();
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => {
            http::respond(200, Some(http::JSON), Bytes::from_static(b"{}"), head)
        }
        (Route::Catalog, Method::GET) => catalog(registry, &query),
        (Route::Tags(name), Method::GET) => tags(registry, &name, &query),
        (Route::Manifest(name, reference), Method::GET | Method::HEAD) => {
            manifest(registry, &name, &reference, &accepted(&req), head)
        }
        (Route::Manifest(name, reference), Method::PUT) => upload::put_manifest(registry, &name, &reference, req).await,
        (Route::Blob(name, digest), Method::GET | Method::HEAD) => blob(registry, &name, &digest, head),
        (Route::Upload(name, id), _) => upload::handle(registry, &name, id.as_deref(), req).await,
        (Route::Unknown, _) => http::not_found_page(),
        _ => http::unsupported(),
    }
}

/// The media types of the `Accept` headers (several headers, comma-separated, parameters dropped).
fn accepted(req: &Request<Incoming>) -> Vec<String> {
    req.headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn manifest(registry: &Registry, name: &str, reference: &str, accept: &[String], head: bool) -> Resp {
    let by_digest = reference.contains(':');
    let detail = if by_digest { json!({"Name": name, "Revision": reference}) } else { json!({"Tag": reference}) };
    if !valid_repository(name) || (by_digest && !valid_digest(reference)) {
        return http::manifest_unknown(detail, head);
    }
    let Some((digest, found)) = registry.store().manifest(name, reference) else {
        return http::manifest_unknown(detail, head);
    };
    match negotiate(registry, name, digest, found, accept, !by_digest) {
        Ok((digest, m)) => http::content(&m.media_type, &digest, m.bytes, head, false),
        Err(Refusal::NotAccepted(message)) => http::error(404, "MANIFEST_UNKNOWN", message, json!(null), head),
        Err(Refusal::Invalid) => http::error(400, "MANIFEST_INVALID", "manifest invalid", json!({}), head),
    }
}

enum Refusal {
    NotAccepted(&'static str),
    Invalid,
}

/// What distribution 2.8 answers when the client does not accept the manifest's type: OCI content
/// is refused; a Docker manifest list fetched by tag becomes its linux/amd64 manifest when the
/// client takes Docker manifests; otherwise it would convert to schema 1, which it cannot (400).
fn negotiate(
    registry: &Registry,
    name: &str,
    digest: String,
    found: Manifest,
    accept: &[String],
    by_tag: bool,
) -> Result<(String, Manifest), Refusal> {
    let takes = |t: &str| accept.iter().any(|a| a == t);
    match found.media_type.as_str() {
        OCI_MANIFEST if !takes(OCI_MANIFEST) => {
            Err(Refusal::NotAccepted("OCI manifest found, but accept header does not support OCI manifests"))
        }
        OCI_INDEX if !takes(OCI_INDEX) => {
            Err(Refusal::NotAccepted("OCI index found, but accept header does not support OCI indexes"))
        }
        DOCKER_LIST if by_tag && !takes(DOCKER_LIST) => {
            if !takes(DOCKER_MANIFEST) {
                return Err(Refusal::Invalid);
            }
            let index = serde_json::from_slice(&found.bytes).map_err(|_| Refusal::Invalid)?;
            let chosen = resolve::pick(&index, &Platform::linux("amd64", None)).ok_or(Refusal::Invalid)?;
            registry.store().manifest(name, &chosen).ok_or(Refusal::Invalid)
        }
        DOCKER_MANIFEST if by_tag && !takes(DOCKER_MANIFEST) => Err(Refusal::Invalid),
        _ => Ok((digest, found)),
    }
}

fn blob(registry: &Registry, name: &str, digest: &str, head: bool) -> Resp {
    if !valid_digest(digest) {
        return http::error(400, "DIGEST_INVALID", "provided digest did not match uploaded content", json!({}), head);
    }
    match registry.store().blob(name, digest) {
        Some(bytes) => http::content("application/octet-stream", digest, bytes, head, true),
        None => http::blob_unknown(digest, head),
    }
}

fn tags(registry: &Registry, name: &str, query: &str) -> Resp {
    let Some(all) = registry.store().tags(name) else { return http::name_unknown(name) };
    let (page, next) = paginate(all, query);
    let next = next.map(|(last, n)| format!("/v2/{name}/tags/list?last={}&n={n}", encode(&last)));
    http::paginated(json!({"name": name, "tags": page}), next)
}

fn catalog(registry: &Registry, query: &str) -> Resp {
    let (page, next) = paginate(registry.store().repositories(), query);
    let next = next.map(|(last, n)| format!("/v2/_catalog?last={}&n={n}", encode(&last)));
    http::paginated(json!({"repositories": page}), next)
}

/// `n` entries after `last` (both optional; `n=0` or none: all), and where the next page starts.
fn paginate(all: Vec<String>, query: &str) -> (Vec<String>, Option<(String, usize)>) {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let n = get("n").and_then(|n| n.parse::<usize>().ok()).filter(|n| *n > 0);
    let rest: Vec<String> = match get("last") {
        Some(last) => all.into_iter().filter(|entry| *entry > last).collect(),
        None => all,
    };
    match n {
        Some(n) if rest.len() > n => {
            let page: Vec<String> = rest.into_iter().take(n).collect();
            let last = page.last().cloned().unwrap_or_default();
            (page, Some((last, n)))
        }
        _ => (rest, None),
    }
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
