//! Path parsing: which document or which resource (namespace, name, subresource) a request is for.

use super::discovery::{self, ResourceInfo};

/// What a path names.
#[derive(Debug, PartialEq)]
pub enum Route {
    /// `/api`, `/api/v1`, `/apis`, `/version`, `/healthz`, `/openapi/v3`...
    Doc(Doc),
    /// A resource under `/api/v1`.
    Resource(ResourcePath),
    /// Under `/api/v1` but no such resource: 404 with a Status.
    UnknownResource,
    /// Anything else: `404 page not found` as text.
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    ApiVersions,
    ApiResources,
    ApiGroups,
    Version,
    Health,
    OpenApiV3Root,
    OpenApiV3Core,
    OpenApiV3Storage,
    StorageGroup,
    StorageResources,
}

/// `/api/v1/[namespaces/{ns}/]{resource}[/{name}[/{sub}]]`, or `/apis/storage.k8s.io/v1/...` likewise.
#[derive(Debug, PartialEq)]
pub struct ResourcePath {
    pub info: &'static ResourceInfo,
    /// Set for namespaced resources addressed within a namespace; None for all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl ResourcePath {
    /// The namespace part of the store key ("" for cluster-scoped).
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

pub fn route(path: &str) -> Route {
    let path = path.trim_end_matches('/');
    match path {
        "/api" => return Route::Doc(Doc::ApiVersions),
        "/api/v1" => return Route::Doc(Doc::ApiResources),
        "/apis" => return Route::Doc(Doc::ApiGroups),
        "/version" => return Route::Doc(Doc::Version),
        "/healthz" | "/readyz" | "/livez" => return Route::Doc(Doc::Health),
        "/openapi/v3" => return Route::Doc(Doc::OpenApiV3Root),
        "/openapi/v3/api/v1" => return Route::Doc(Doc::OpenApiV3Core),
        "/openapi/v3/apis/storage.k8s.io/v1" => return Route::Doc(Doc::OpenApiV3Storage),
        "/apis/storage.k8s.io" => return Route::Doc(Doc::StorageGroup),
        "/apis/storage.k8s.io/v1" => return Route::Doc(Doc::StorageResources),
        _ => {}
    }
    if path.starts_with("/healthz/") || path.starts_with("/readyz/") || path.starts_with("/livez/") {
        return Route::Doc(Doc::Health);
    }
    let (group, rest) = if let Some(rest) = path.strip_prefix("/api/v1/") {
        ("", rest)
    } else if let Some(rest) = path.strip_prefix("/apis/storage.k8s.io/v1/") {
        (discovery::STORAGE_GROUP, rest)
    } else {
        return Route::NotFound;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Route::NotFound;
    }
    // namespaces/{ns}/{resource}[/{name}[/{sub}]]; namespaces/{ns}[/{sub}] is the namespace itself.
    if parts[0] == "namespaces" && parts.len() >= 3 && parts[2] != "status" && parts[2] != "finalize" {
        let Some(info) = discovery::resource_in(group, parts[2]).filter(|i| i.namespaced) else {
            return Route::UnknownResource;
        };
        if parts.len() > 5 {
            return Route::NotFound;
        }
        return Route::Resource(ResourcePath {
            info,
            namespace: Some(parts[1].to_string()),
            name: parts.get(3).map(|s| s.to_string()),
            sub: parts.get(4).map(|s| s.to_string()),
        });
    }
    let Some(info) = discovery::resource_in(group, parts[0]) else {
        return Route::UnknownResource;
    };
    if parts.len() > 3 || (info.namespaced && parts.len() > 1) {
        return Route::NotFound;
    }
    Route::Resource(ResourcePath {
        info,
        namespace: None,
        name: parts.get(1).map(|s| s.to_string()),
        sub: parts.get(2).map(|s| s.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match route(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_namespaced_and_cluster_paths() {
        let r = res("/api/v1/namespaces/default/pods/p1/log");
        assert_eq!(
            (r.info.name, r.ns(), r.name.as_deref(), r.sub.as_deref()),
            ("pods", "default", Some("p1"), Some("log"))
        );
        let r = res("/api/v1/pods");
        assert_eq!((r.info.name, r.namespace, r.name), ("pods", None, None));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!((r.info.name, r.name.as_deref()), ("namespaces", Some("kube-system")));
        let r = res("/api/v1/namespaces/x/status");
        assert_eq!((r.info.name, r.name.as_deref(), r.sub.as_deref()), ("namespaces", Some("x"), Some("status")));
        let r = res("/api/v1/nodes/n1/status");
        assert_eq!((r.info.name, r.sub.as_deref()), ("nodes", Some("status")));
        let r = res("/apis/storage.k8s.io/v1/storageclasses/standard");
        assert_eq!((r.info.name, r.namespace, r.name.as_deref()), ("storageclasses", None, Some("standard")));
        let r = res("/api/v1/persistentvolumes/pv1/status");
        assert_eq!(
            (r.info.name, r.name.as_deref(), r.sub.as_deref()),
            ("persistentvolumes", Some("pv1"), Some("status"))
        );
    }

    #[test]
    fn unknown_paths() {
        assert_eq!(route("/api/v1/foos"), Route::UnknownResource);
        assert_eq!(route("/api/v1/namespaces/x/foos"), Route::UnknownResource);
        assert_eq!(route("/api/v1/namespaces/x/nodes"), Route::UnknownResource);
        assert_eq!(route("/foo"), Route::NotFound);
        assert_eq!(route("/api/v1/pods/x"), Route::NotFound);
        assert_eq!(route("/api"), Route::Doc(Doc::ApiVersions));
        assert_eq!(route("/api/v1/storageclasses"), Route::UnknownResource);
        assert_eq!(route("/apis/storage.k8s.io/v1/pods"), Route::UnknownResource);
        assert_eq!(route("/apis/storage.k8s.io/v1"), Route::Doc(Doc::StorageResources));
        assert_eq!(route("/apis/apps/v1/deployments"), Route::NotFound);
    }
}
