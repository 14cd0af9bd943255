//! The Docker Engine API surface: the router and one module per swagger tag.
//!
//! The router strips an optional `/vX.Y` prefix (refusing versions podshim does not speak), matches
//! `(method, path)` against the route table ([`routes`]), and opens one span per request. Per request, once:
//! [`AppState::runtime_for`] decides the namespace it works in, and [`resolve`] the container it names.
//!
//! Handlers by tag: [`containers`] (lifecycle) and `container_read` (inspect, list, logs, wait), [`attach`]
//! and [`exec`] over the connection [`hijack`] takes over, [`archive`] (docker cp), [`images`], [`image_pull`],
//! [`image_write`] and [`auth`], [`events`], [`system`]; [`query`] and [`response`] read requests and build
//! answers, [`stream`] streams them.

pub mod archive;
pub mod attach;
pub mod auth;
mod container_read;
pub mod containers;
pub mod events;
pub mod exec;
pub mod hijack;
pub mod image_pull;
pub mod image_write;
pub mod images;
pub mod query;
pub mod response;
pub mod routes;
pub mod stream;
pub mod system;
pub mod volumes;

#[cfg(test)]
mod router_tests;

use std::sync::Arc;

use crate::server::RequestBody;
use http::{HeaderValue, Request, Response};
use tracing::Instrument;

use crate::error::Error;
use crate::runtime::{Container, Runtime};
use response::Body;

/// The API version podshim speaks by default and at most (what docker CLI 28 speaks).
pub const API_VERSION: &str = "1.50";
/// The oldest API version podshim accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
}

impl AppState {
    pub fn new(runtime: Runtime) -> Self {
        AppState { inner: Arc::new(Inner { runtime }) }
    }
}

impl AppState {
    /// The lifecycle a request works in: the one place that decides a request's namespace (and so which
    /// containers, images and volumes it sees). Every request gets the daemon's namespace today; a client
    /// identity with a namespace of its own is decided here.
    pub fn runtime_for<B>(&self, _req: &Request<B>) -> Runtime {
        self.inner.runtime.clone()
    }
}

impl crate::server::Handler for AppState {
    async fn handle(&self, req: Request<RequestBody>) -> Response<Body> {
        handle(self.clone(), req).await
    }
}

/// Resolves the container a request names, once per request, and records its id on the request span; the
/// runtime's operations take the [`Container`] it gives.
pub fn resolve(rt: &Runtime, id_or_name: &str) -> Result<Container, Error> {
    let container = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", container.id.as_str());
    Ok(container)
}

/// Serves one request: version prefix, routing, the Docker headers on every response.
pub async fn handle(state: AppState, req: Request<RequestBody>) -> Response<Body> {
    let span = tracing::info_span!(
        "request",
        http.method = %req.method(),
        http.path = %req.uri().path(),
        container.id = tracing::field::Empty,
        http.status = tracing::field::Empty,
    );
    async move {
        let mut resp = match route(&state, req).await {
            Ok(resp) => resp,
            Err(err) => response::error(&err),
        };
        tracing::Span::current().record("http.status", resp.status().as_u16());
        let headers = resp.headers_mut();
        headers.insert("Api-Version", HeaderValue::from_static(API_VERSION));
        headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
        headers.insert("Ostype", HeaderValue::from_static("linux"));
        headers.insert("Server", HeaderValue::from_static(concat!("podshim/", env!("CARGO_PKG_VERSION"))));
        resp
    }
    .instrument(span)
    .await
}

/// An API version `major.minor`, ordered. A request without a `/vX.Y` prefix speaks [`API_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    /// The version of a request whose path had `prefix` (`None`: podshim's own).
    pub fn of(prefix: Option<&str>) -> Self {
        let (major, minor) = prefix.and_then(parse_api_version).unwrap_or((1, 50));
        ApiVersion(major, minor)
    }
}

/// Docker answers a wrong method like an unknown path: 404 `page not found` (checked with Docker 20.10).
async fn route(state: &AppState, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let (version, path) = split_version(req.uri().path())?;
    let version = ApiVersion::of(version);
    let segments: Vec<String> = path.trim_start_matches('/').split('/').map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let found = routes::table()
        .iter()
        .filter(|r| r.method == method)
        .find_map(|r| r.matches(&segments).map(|params| (r, params)));
    let Some((route, params)) = found else { return Err(Error::PageNotFound) };
    let rt = state.runtime_for(&req);
    route.call(routes::Call { rt, req, params, version }).await
}

/// Decodes `%XX` escapes in a path segment (a client may escape the `:` or `/` of an image reference).
fn percent_decode(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_string();
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `/v1.41/containers/json` into `(Some("1.41"), "/containers/json")` and checks the version.
pub fn split_version(path: &str) -> Result<(Option<&str>, &str), Error> {
    let Some(rest) = path.strip_prefix("/v") else { return Ok((None, path)) };
    let (version, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some(parsed) = parse_api_version(version) else { return Ok((None, path)) };
    if parsed > parse_api_version(API_VERSION).unwrap_or((1, 50)) {
        return Err(Error::ApiVersionTooNew { requested: version.to_string(), max: API_VERSION });
    }
    if parsed < parse_api_version(MIN_API_VERSION).unwrap_or((1, 24)) {
        return Err(Error::ApiVersionTooOld { requested: version.to_string(), min: MIN_API_VERSION });
    }
    Ok((Some(version), tail))
}

fn parse_api_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decode("testcontainers%2Fryuk%3A0.8.1"), "testcontainers/ryuk:0.8.1");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
    }

    #[test]
    fn version_prefix_is_stripped() {
        assert_eq!(split_version("/v1.50/containers/json").unwrap(), (Some("1.50"), "/containers/json"));
        assert_eq!(split_version("/v1.24/_ping").unwrap(), (Some("1.24"), "/_ping"));
        assert_eq!(split_version("/_ping").unwrap(), (None, "/_ping"));
        assert_eq!(split_version("/version").unwrap(), (None, "/version"));
    }

    #[test]
    fn version_above_the_maximum_is_refused_with_dockers_words() {
        let err = split_version("/v1.51/version").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(err.to_string(), "client version 1.51 is too new. Maximum supported API version is 1.50");
    }

    #[test]
    fn version_below_the_minimum_is_refused() {
        let err = split_version("/v1.12/version").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(err.to_string().starts_with("client version 1.12 is too old."));
    }
}
