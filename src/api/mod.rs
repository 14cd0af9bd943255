//! The Docker Engine API surface: the router and one module per swagger tag.
//!
//! The router strips an optional `/vX.Y` prefix (refusing versions podshim does not speak), matches
//! `(method, path)`, and opens one span per request.

pub mod response;
pub mod system;

use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::error::Error;
use crate::runtime::Runtime;
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
    /// The container lifecycle.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }
    /// The Kubernetes client.
    pub fn client(&self) -> &kube::Client {
        self.inner.runtime.client()
    }
}

impl crate::server::Handler for AppState {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        handle(self.clone(), req).await
    }
}

/// Serves one request: version prefix, routing, the Docker headers on every response.
pub async fn handle(state: AppState, req: Request<Incoming>) -> Response<Body> {
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

async fn route(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let (_version, path) = split_version(req.uri().path())?;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::system_ping(&method)),
        (&Method::GET, ["version"]) => Ok(system::system_version(state).await),
        _ => Err(Error::PageNotFound),
    }
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
