//! The route table: every operation podshim serves, with what a client can send it (the body's kind and the query
//! parameters with their types). The router matches requests against it; the hostile-input test
//! (`tests/hostile_input.rs`) reads it to send every route malformed input, so a route added here is tested.
//!
//! Handlers stay thin: each entry's handler only unpacks the [`Call`] for the handler of its swagger tag.

use std::future::Future;
use std::pin::Pin;

use crate::server::RequestBody;
use bollard_stubs::models::{ExecConfig, ExecStartConfig};
use http::{Method, Request, Response};

use super::response::Body;
use super::{
    archive, attach, auth, container_read, containers, events, exec, image_pull, image_write, images, query, system,
    volumes, ApiVersion,
};
use crate::error::Error;
use crate::runtime::Runtime;

/// One request on its way to its handler: the path parameters in the order of the pattern.
pub struct Call {
    /// The lifecycle in the request's namespace ([`super::AppState::runtime_for`]).
    pub rt: Runtime,
    pub req: Request<RequestBody>,
    pub params: Vec<String>,
    pub version: ApiVersion,
}

impl Call {
    fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or_default()
    }
}

/// A handler's answer.
pub type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>;
type Handler = fn(Call) -> Answer;

/// What the body of a request is.
#[derive(Clone, Copy)]
pub enum BodyKind {
    /// Not read (or at most a few bytes, as a start's).
    None,
    /// A JSON object: its top-level fields, and the handler's own decoder (for a test to find out which values
    /// of a field are of the wrong type).
    Json { fields: fn() -> &'static [&'static str], decode: fn(&[u8]) -> Result<(), Error> },
    /// A tar archive, plain or gzip.
    Tar,
}

/// The type of a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// moby's BoolValue: never refused.
    Bool,
    Int,
    /// Free text (a name, a signal, keys).
    Text,
    /// Unix seconds (with a fraction) or RFC 3339.
    Timestamp,
    /// A JSON `filters` document.
    Filters,
    /// One of these values.
    Enum(&'static [&'static str]),
    /// An absolute path in a container.
    Path,
}

/// One route.
pub struct Route {
    pub method: Method,
    /// Segments of the path; `{id}` is one parameter, `{name*}` one or more segments (an image reference).
    pub pattern: &'static str,
    /// The swagger operation.
    pub operation: &'static str,
    pub body: BodyKind,
    pub query: &'static [(&'static str, ParamKind)],
    handler: Handler,
}

const fn route(
    method: Method,
    pattern: &'static str,
    operation: &'static str,
    body: BodyKind,
    query: &'static [(&'static str, ParamKind)],
    handler: Handler,
) -> Route {
    Route { method, pattern, operation, body, query, handler }
}

use ParamKind::{Bool, Enum, Filters, Int, Path, Text, Timestamp};

const NO_QUERY: &[(&str, ParamKind)] = &[];
const STOP_QUERY: &[(&str, ParamKind)] = &[("t", Int), ("signal", Text)];
const RESIZE_QUERY: &[(&str, ParamKind)] = &[("h", Int), ("w", Int)];
const ARCHIVE_QUERY: &[(&str, ParamKind)] = &[("path", Path)];
const WAIT_CONDITIONS: &[&str] = &["not-running", "next-exit", "removed"];

fn create_body() -> BodyKind {
    BodyKind::Json {
        fields: query::field_names::<bollard_stubs::models::ContainerCreateBody>,
        decode: |bytes| containers::create_body(bytes).map(drop),
    }
}

fn exec_config_body() -> BodyKind {
    BodyKind::Json {
        fields: query::field_names::<ExecConfig>,
        decode: |bytes| query::decode_json_folded::<ExecConfig>(bytes).map(drop).map_err(Error::from),
    }
}

fn auth_body() -> BodyKind {
    BodyKind::Json {
        fields: query::field_names::<bollard_stubs::models::AuthConfig>,
        decode: |bytes| auth::auth_body(bytes).map(drop),
    }
}

fn volume_create_body() -> BodyKind {
    BodyKind::Json {
        fields: query::field_names::<bollard_stubs::models::VolumeCreateRequest>,
        decode: |bytes| volumes::create_body(bytes).map(drop),
    }
}

fn exec_start_body() -> BodyKind {
    BodyKind::Json {
        fields: query::field_names::<ExecStartConfig>,
        decode: |bytes| exec::start_config(bytes).map(drop),
    }
}

/// Every route podshim serves. Docker answers a known path with a wrong method as an unknown path: 404.
pub fn routes() -> Vec<Route> {
    use BodyKind::{None as NoBody, Tar};
    vec![
        route(Method::GET, "/_ping", "SystemPing", NoBody, NO_QUERY, |c| {
            Box::pin(async move { Ok(system::system_ping(c.req.method())) })
        }),
        route(Method::HEAD, "/_ping", "SystemPingHead", NoBody, NO_QUERY, |c| {
            Box::pin(async move { Ok(system::system_ping(c.req.method())) })
        }),
        route(Method::GET, "/version", "SystemVersion", NoBody, NO_QUERY, |c| {
            Box::pin(async move { Ok(system::system_version(&c.rt).await) })
        }),
        route(Method::GET, "/info", "SystemInfo", NoBody, NO_QUERY, |c| {
            Box::pin(async move { Ok(system::system_info(&c.rt).await) })
        }),
        route(
            Method::GET,
            "/events",
            "SystemEvents",
            NoBody,
            &[("since", Timestamp), ("until", Timestamp), ("filters", Filters)],
            |c| Box::pin(async move { events::system_events(&c.rt, &c.req) }),
        ),
        route(Method::POST, "/containers/create", "ContainerCreate", create_body(), &[("name", Text)], |c| {
            Box::pin(async move { containers::container_create(&c.rt, c.req).await })
        }),
        route(
            Method::GET,
            "/containers/json",
            "ContainerList",
            NoBody,
            &[("all", Bool), ("limit", Int), ("size", Bool), ("filters", Filters)],
            |c| Box::pin(async move { container_read::container_list(&c.rt, &c.req) }),
        ),
        route(Method::POST, "/containers/prune", "ContainerPrune", NoBody, &[("filters", Filters)], |c| {
            Box::pin(async move { containers::container_prune(&c.rt, &c.req).await })
        }),
        route(Method::GET, "/containers/{id}/json", "ContainerInspect", NoBody, &[("size", Bool)], |c| {
            Box::pin(async move { container_read::container_inspect(&c.rt, c.param(0)) })
        }),
        route(Method::POST, "/containers/{id}/start", "ContainerStart", NoBody, &[("detachKeys", Text)], |c| {
            Box::pin(async move {
                let id = c.param(0).to_string();
                containers::container_start(&c.rt, &id, c.req).await
            })
        }),
        route(Method::POST, "/containers/{id}/stop", "ContainerStop", NoBody, STOP_QUERY, |c| {
            Box::pin(async move { containers::container_stop(&c.rt, c.param(0), &c.req).await })
        }),
        route(Method::POST, "/containers/{id}/restart", "ContainerRestart", NoBody, STOP_QUERY, |c| {
            Box::pin(async move { containers::container_restart(&c.rt, c.param(0), &c.req).await })
        }),
        route(Method::POST, "/containers/{id}/kill", "ContainerKill", NoBody, &[("signal", Text)], |c| {
            Box::pin(async move { containers::container_kill(&c.rt, c.param(0), &c.req).await })
        }),
        route(
            Method::DELETE,
            "/containers/{id}",
            "ContainerDelete",
            NoBody,
            &[("force", Bool), ("v", Bool), ("link", Bool)],
            |c| Box::pin(async move { containers::container_delete(&c.rt, c.param(0), &c.req).await }),
        ),
        route(Method::POST, "/containers/{id}/rename", "ContainerRename", NoBody, &[("name", Text)], |c| {
            Box::pin(async move { containers::container_rename(&c.rt, c.param(0), &c.req).await })
        }),
        route(
            Method::POST,
            "/containers/{id}/wait",
            "ContainerWait",
            NoBody,
            &[("condition", Enum(WAIT_CONDITIONS))],
            |c| Box::pin(async move { container_read::container_wait(&c.rt, c.param(0), &c.req) }),
        ),
        route(
            Method::GET,
            "/containers/{id}/logs",
            "ContainerLogs",
            NoBody,
            &[
                ("stdout", Bool),
                ("stderr", Bool),
                ("follow", Bool),
                ("timestamps", Bool),
                ("tail", Text),
                ("since", Timestamp),
                ("until", Timestamp),
            ],
            |c| Box::pin(async move { container_read::container_logs(&c.rt, c.param(0), &c.req, c.version).await }),
        ),
        route(
            Method::POST,
            "/containers/{id}/attach",
            "ContainerAttach",
            NoBody,
            &[
                ("stdin", Bool),
                ("stdout", Bool),
                ("stderr", Bool),
                ("stream", Bool),
                ("logs", Bool),
                ("detachKeys", Text),
            ],
            |c| {
                Box::pin(async move {
                    let (id, version) = (c.param(0).to_string(), c.version);
                    attach::container_attach(&c.rt, &id, c.req, version).await
                })
            },
        ),
        route(Method::POST, "/containers/{id}/resize", "ContainerResize", NoBody, RESIZE_QUERY, |c| {
            Box::pin(async move { containers::container_resize(&c.rt, c.param(0), &c.req) })
        }),
        route(Method::POST, "/containers/{id}/exec", "ContainerExec", exec_config_body(), NO_QUERY, |c| {
            Box::pin(async move {
                let id = c.param(0).to_string();
                exec::exec_create(&c.rt, &id, c.req).await
            })
        }),
        route(Method::POST, "/exec/{id}/start", "ExecStart", exec_start_body(), NO_QUERY, |c| {
            Box::pin(async move {
                let (id, version) = (c.param(0).to_string(), c.version);
                exec::exec_start(&c.rt, &id, c.req, version).await
            })
        }),
        route(Method::GET, "/exec/{id}/json", "ExecInspect", NoBody, NO_QUERY, |c| {
            Box::pin(async move { exec::exec_inspect(&c.rt, c.param(0)) })
        }),
        route(Method::POST, "/exec/{id}/resize", "ExecResize", NoBody, RESIZE_QUERY, |c| {
            Box::pin(async move { exec::exec_resize(&c.rt, c.param(0), &c.req) })
        }),
        route(Method::HEAD, "/containers/{id}/archive", "ContainerArchiveInfo", NoBody, ARCHIVE_QUERY, |c| {
            Box::pin(async move { archive::container_archive_info(&c.rt, c.param(0), &c.req).await })
        }),
        route(Method::GET, "/containers/{id}/archive", "ContainerArchive", NoBody, ARCHIVE_QUERY, |c| {
            Box::pin(async move { archive::container_archive(&c.rt, c.param(0), &c.req).await })
        }),
        route(
            Method::PUT,
            "/containers/{id}/archive",
            "PutContainerArchive",
            Tar,
            &[("path", Path), ("noOverwriteDirNonDir", Bool), ("copyUIDGID", Bool)],
            |c| {
                Box::pin(async move {
                    let id = c.param(0).to_string();
                    archive::put_container_archive(&c.rt, &id, c.req).await
                })
            },
        ),
        route(Method::GET, "/containers/{id}/top", "ContainerTop", NoBody, NO_QUERY, |c| {
            Box::pin(async move { containers::not_implemented(&c.rt, c.param(0), "top") })
        }),
        route(Method::GET, "/containers/{id}/changes", "ContainerChanges", NoBody, NO_QUERY, |c| {
            Box::pin(async move { containers::not_implemented(&c.rt, c.param(0), "changes") })
        }),
        route(Method::GET, "/containers/{id}/export", "ContainerExport", NoBody, NO_QUERY, |c| {
            Box::pin(async move { containers::not_implemented(&c.rt, c.param(0), "export") })
        }),
        route(Method::GET, "/containers/{id}/stats", "ContainerStats", NoBody, NO_QUERY, |c| {
            Box::pin(async move { containers::not_implemented(&c.rt, c.param(0), "stats") })
        }),
        route(Method::POST, "/auth", "SystemAuth", auth_body(), NO_QUERY, |c| {
            Box::pin(async move { auth::system_auth(&c.rt, c.req).await })
        }),
        route(
            Method::POST,
            "/images/create",
            "ImageCreate",
            NoBody,
            &[("fromImage", Text), ("fromSrc", Text), ("repo", Text), ("tag", Text), ("platform", Text)],
            |c| Box::pin(async move { image_pull::image_create(&c.rt, c.req).await }),
        ),
        route(
            Method::GET,
            "/images/json",
            "ImageList",
            NoBody,
            &[("all", Bool), ("filters", Filters), ("digests", Bool), ("shared-size", Bool)],
            |c| Box::pin(async move { images::image_list(&c.rt, &c.req, c.version) }),
        ),
        route(Method::POST, "/images/prune", "ImagePrune", NoBody, &[("filters", Filters)], |c| {
            Box::pin(async move { image_write::image_prune(&c.rt, &c.req).await })
        }),
        route(Method::POST, "/commit", "ImageCommit", NoBody, NO_QUERY, |_| {
            Box::pin(async move { image_write::not_implemented("commit") })
        }),
        route(Method::POST, "/build", "ImageBuild", NoBody, NO_QUERY, |_| {
            Box::pin(async move { image_write::not_implemented("build") })
        }),
        route(Method::POST, "/images/load", "ImageLoad", NoBody, NO_QUERY, |_| {
            Box::pin(async move { image_write::not_implemented("load") })
        }),
        route(Method::GET, "/images/get", "ImageGetAll", NoBody, NO_QUERY, |_| {
            Box::pin(async move { image_write::not_implemented("get") })
        }),
        route(Method::GET, "/images/search", "ImageSearch", NoBody, &[("term", Text)], |_| {
            Box::pin(async move { image_write::not_implemented("search") })
        }),
        route(Method::GET, "/images/{name*}/get", "ImageGet", NoBody, NO_QUERY, |_| {
            Box::pin(async move { image_write::not_implemented("get") })
        }),
        route(Method::POST, "/images/{name*}/push", "ImagePush", NoBody, &[("tag", Text)], |_| {
            Box::pin(async move { image_write::not_implemented("push") })
        }),
        route(Method::GET, "/images/{name*}/json", "ImageInspect", NoBody, NO_QUERY, |c| {
            Box::pin(async move { images::image_inspect(&c.rt, c.param(0), c.version) })
        }),
        route(Method::GET, "/images/{name*}/history", "ImageHistory", NoBody, NO_QUERY, |c| {
            Box::pin(async move { images::image_history(&c.rt, c.param(0)) })
        }),
        route(Method::POST, "/images/{name*}/tag", "ImageTag", NoBody, &[("repo", Text), ("tag", Text)], |c| {
            Box::pin(async move { image_write::image_tag(&c.rt, c.param(0), &c.req).await })
        }),
        route(Method::DELETE, "/images/{name*}", "ImageDelete", NoBody, &[("force", Bool), ("noprune", Bool)], |c| {
            Box::pin(async move { image_write::image_delete(&c.rt, c.param(0), &c.req).await })
        }),
        route(Method::GET, "/volumes", "VolumeList", NoBody, &[("filters", Filters)], |c| {
            Box::pin(async move { volumes::volume_list(&c.rt, &c.req).await })
        }),
        route(Method::POST, "/volumes/create", "VolumeCreate", volume_create_body(), NO_QUERY, |c| {
            Box::pin(async move { volumes::volume_create(&c.rt, c.req).await })
        }),
        route(Method::POST, "/volumes/prune", "VolumePrune", NoBody, &[("filters", Filters)], |c| {
            Box::pin(async move { volumes::volume_prune(&c.rt, &c.req, c.version).await })
        }),
        route(Method::GET, "/volumes/{name}", "VolumeInspect", NoBody, NO_QUERY, |c| {
            Box::pin(async move { volumes::volume_inspect(&c.rt, c.param(0)).await })
        }),
        route(Method::PUT, "/volumes/{name}", "VolumeUpdate", NoBody, &[("version", Int)], |c| {
            Box::pin(async move { volumes::volume_update(c.version) })
        }),
        route(Method::DELETE, "/volumes/{name}", "VolumeDelete", NoBody, &[("force", Bool)], |c| {
            Box::pin(async move { volumes::volume_delete(&c.rt, c.param(0), &c.req).await })
        }),
    ]
}

/// The table, built once.
pub fn table() -> &'static [Route] {
    static TABLE: std::sync::OnceLock<Vec<Route>> = std::sync::OnceLock::new();
    TABLE.get_or_init(routes)
}

impl Route {
    /// The path parameters when `segments` (percent-decoded) match the pattern.
    pub fn matches(&self, segments: &[&str]) -> Option<Vec<String>> {
        let pattern: Vec<&str> = self.pattern.trim_start_matches('/').split('/').collect();
        let mut params = Vec::new();
        let mut at = 0;
        for (i, part) in pattern.iter().enumerate() {
            if part.ends_with("*}") {
                // One or more segments, up to what the rest of the pattern needs.
                let rest = pattern.len() - i - 1;
                let take = segments.len().checked_sub(at + rest).filter(|n| *n > 0)?;
                params.push(segments[at..at + take].join("/"));
                at += take;
            } else if part.starts_with('{') {
                params.push(segments.get(at)?.to_string());
                at += 1;
            } else {
                (segments.get(at)? == part).then_some(())?;
                at += 1;
            }
        }
        (at == segments.len()).then_some(params)
    }

    /// Runs the handler.
    pub fn call(&self, call: Call) -> Answer {
        (self.handler)(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(method: Method, path: &str) -> Option<(&'static str, Vec<String>)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        table()
            .iter()
            .filter(|r| r.method == method)
            .find_map(|r| r.matches(&segments).map(|params| (r.operation, params)))
    }

    #[test]
    fn patterns_match_with_their_parameters() {
        assert_eq!(find(Method::GET, "/_ping"), Some(("SystemPing", vec![])));
        assert_eq!(find(Method::POST, "/containers/create"), Some(("ContainerCreate", vec![])));
        assert_eq!(find(Method::POST, "/containers/abc/start"), Some(("ContainerStart", vec!["abc".into()])));
        assert_eq!(find(Method::DELETE, "/containers/abc"), Some(("ContainerDelete", vec!["abc".into()])));
        assert_eq!(
            find(Method::GET, "/images/quay.io/me/app:1/json"),
            Some(("ImageInspect", vec!["quay.io/me/app:1".into()]))
        );
        assert_eq!(find(Method::DELETE, "/images/me/app"), Some(("ImageDelete", vec!["me/app".into()])));
        assert_eq!(find(Method::GET, "/images/json"), Some(("ImageList", vec![])));
        assert_eq!(find(Method::GET, "/images//json").map(|f| f.0), Some("ImageInspect"));
        assert_eq!(find(Method::GET, "/containers/abc/nope"), None);
        assert_eq!(find(Method::PUT, "/_ping"), None);
    }

    #[test]
    fn operations_are_unique() {
        let mut names: Vec<&str> = table().iter().map(|r| r.operation).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
