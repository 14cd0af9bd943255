//! The Container tag's operations that change a container: one thin handler per swagger operation (parse, one
//! runtime call, render). Reading operations (inspect, list, wait, logs) are in [`super::container_read`];
//! attach is in [`super::hijack`].

use crate::server::RequestBody;
use bollard_stubs::models::ContainerCreateBody;
use http::{Request, Response, StatusCode};

use super::query::{query_of, read_body, JSON_BODY_LIMIT, START_BODY_LIMIT};
use super::resolve;
use super::response::{self, Body};
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::list_filters::ListFilters;

/// `POST /containers/create` (ContainerCreate): `name` query (empty is none, as bollard sends `platform=`), the
/// body capped at [`JSON_BODY_LIMIT`]. 201 `{"Id", "Warnings"}`.
pub async fn container_create(rt: &Runtime, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(&req);
    let bytes = read_body(req.into_body(), JSON_BODY_LIMIT).await?;
    let body = create_body(&bytes)?;
    let created = rt.create(query.non_empty("name"), body).await?;
    tracing::Span::current().record("container.id", created.id.as_str());
    Ok(response::json(StatusCode::CREATED, &created))
}

/// Decodes a create body (see [`podshim_translate::body::decode_create_body`]).
pub fn create_body(bytes: &[u8]) -> Result<ContainerCreateBody, Error> {
    Ok(podshim_translate::body::decode_create_body(bytes)?)
}

/// `POST /containers/{id}/start` (ContainerStart): 204, or 304 when already running. A body longer than 7 bytes
/// is refused with moby's sentence (a pre-1.24 HostConfig at start); `{}` or `null` is accepted.
pub async fn container_start(rt: &Runtime, id: &str, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    read_body(req.into_body(), START_BODY_LIMIT).await.map_err(|_| {
        Error::InvalidParameter(
            "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"
                .to_string(),
        )
    })?;
    let container = resolve(rt, id)?;
    rt.start_container(&container).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/stop` (ContainerStop): `t` seconds of grace (absent: the container's StopTimeout),
/// `signal` (API 1.42+). 204 once stopped, 304 when not running.
pub async fn container_stop(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let timeout = query.int("t")?;
    let container = resolve(rt, id)?;
    rt.stop(&container, timeout, query.non_empty("signal")).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/restart` (ContainerRestart): like stop, then start. 204.
pub async fn container_restart(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let timeout = query.int("t")?;
    let container = resolve(rt, id)?;
    rt.restart(&container, timeout, query.non_empty("signal")).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill` (ContainerKill): `signal`, default `SIGKILL` as in Docker. Which signals can be
/// delivered is the runtime's decision (see docs/lifecycle.md). 204.
pub async fn container_kill(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let container = resolve(rt, id)?;
    rt.kill(&container, id, query.non_empty("signal").unwrap_or("SIGKILL")).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `DELETE /containers/{id}` (ContainerDelete): `force`, `v`. `link=1` removes a legacy `--link` in Docker;
/// podshim has no links, so it is refused with 400 rather than answered with a removal that did not happen.
pub async fn container_delete(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    if query.bool("link") {
        return Err(Error::Unsupported { option: "link".into(), why: "containers have no legacy links".into() });
    }
    let container = resolve(rt, id)?;
    rt.remove(&container, query.bool("force"), query.bool("v")).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/rename` (ContainerRename): `name` required. 204, 409 when taken.
pub async fn container_rename(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let Some(name) = query.non_empty("name") else {
        return Err(Error::InvalidParameter("Neither old nor new names may be empty".into()));
    };
    let container = resolve(rt, id)?;
    rt.rename(&container, name).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune` (ContainerPrune): `filters` (`label` only; see [`ListFilters::parse_prune`]).
pub async fn container_prune(rt: &Runtime, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let filters = ListFilters::parse_prune(query_of(req).get("filters").unwrap_or_default())?;
    let pruned = rt.prune(&filters).await?;
    Ok(response::json(StatusCode::OK, &pruned))
}

/// `POST /containers/{id}/resize` (ContainerResize): `h` and `w` are required numbers (400 otherwise, as
/// moby); a value outside 0-65535 is clamped (moby accepts any integer). 409 when the container is not
/// running, as moby. The size goes to the terminal of the container's live stdin attach on this replica
/// (Kubernetes resizes a terminal only through an attach or exec session); without one the answer is still
/// Docker's 200 and nothing changes: `docker run -t` without `-i` resizes right after start and on every
/// SIGWINCH, and failing that would only print errors while the output is complete.
pub fn container_resize(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let mut size = [0u16; 2];
    for (key, value) in ["h", "w"].into_iter().zip(&mut size) {
        let given = query.int(key)?.ok_or_else(|| Error::InvalidParameter(format!("missing value for {key}")))?;
        *value = given.clamp(0, u16::MAX.into()) as u16;
    }
    rt.resize(id, size[0], size[1])?;
    Ok(response::empty(StatusCode::OK))
}

/// `top`, `changes`, `export`, `stats`: 404 for an unknown container first (as Docker), then 501.
pub fn not_implemented(rt: &Runtime, id: &str, operation: &str) -> Result<Response<Body>, Error> {
    resolve(rt, id)?;
    let what = match operation {
        "top" => "listing a container's processes (docker top)",
        "changes" => "a container's filesystem changes (docker diff)",
        "export" => "exporting a container's filesystem (docker export)",
        _ => "container resource usage (docker stats)",
    };
    Err(Error::NotImplemented(format!("{what} is not implemented by podshim")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_command_is_a_one_element_list_as_in_moby() {
        let body = create_body(br#"{"Image":"alpine","Cmd":"date","Entrypoint":["/bin/sh","-c"]}"#).unwrap();
        assert_eq!(body.cmd, Some(vec!["date".to_string()]));
        assert_eq!(body.entrypoint, Some(vec!["/bin/sh".to_string(), "-c".to_string()]));
        let err = create_body(br#"{"Image":"alpine","Cmd":3}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_mac_address_is_refused_and_keys_are_matched_without_case() {
        let err = create_body(br#"{"Image":"alpine","MacAddress":"02:42:ac:11:00:02"}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.to_string(),
            "MacAddress is not supported by podshim: Kubernetes cannot set a container's MAC address"
        );
        assert!(create_body(br#"{"Image":"alpine","MacAddress":""}"#).is_ok());
        let body = create_body(br#"{"image":"alpine","hostConfig":{"cpushares":512}}"#).unwrap();
        assert_eq!(body.image.as_deref(), Some("alpine"));
        assert_eq!(body.host_config.unwrap().cpu_shares, Some(512));
    }
}
