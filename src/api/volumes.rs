//! The Volume tag: list, create, inspect, remove, prune, and update (swarm only). A Docker volume is a
//! PersistentVolumeClaim: see `docs/volumes.md` and `runtime/volumes/`.

use crate::server::RequestBody;
use bollard_stubs::models::{Volume, VolumeCreateRequest};
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::query::{decode_json_folded, query_of, read_body, JSON_BODY_LIMIT};
use super::response::{self, Body};
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::volume::{ListFilters, PruneFilters};

/// A volume as Docker writes it: `Labels` and `Options` are `null` when empty (Go's nil maps).
fn volume_json(volume: &Volume) -> Result<Value, Error> {
    let mut value = serde_json::to_value(volume).map_err(|e| Error::Internal(format!("encoding: {e}")))?;
    for key in ["Labels", "Options"] {
        if value[key].as_object().is_some_and(|m| m.is_empty()) {
            value[key] = Value::Null;
        }
    }
    Ok(value)
}

/// `GET /volumes` (VolumeList): `filters` `name`, `label`, `dangling`, `driver`. `Warnings` is null, as Docker
/// sends it when there are none.
pub async fn volume_list(rt: &Runtime, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let filters = ListFilters::parse(query_of(req).get("filters").unwrap_or_default())?;
    let volumes = rt.volume_list(&filters).await?;
    let volumes = volumes.iter().map(volume_json).collect::<Result<Vec<Value>, Error>>()?;
    let body = json!({"Volumes": volumes, "Warnings": null});
    Ok(response::json(StatusCode::OK, &body))
}

/// Decodes a create body (Go's decoder: keys in any case). An empty body is Docker's `got EOF` (400).
pub fn create_body(bytes: &[u8]) -> Result<VolumeCreateRequest, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::InvalidParameter("got EOF while reading request body".to_string()));
    }
    Ok(decode_json_folded::<VolumeCreateRequest>(bytes)?)
}

/// `POST /volumes/create` (VolumeCreate): 201 with the volume, also when it already existed.
pub async fn volume_create(rt: &Runtime, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let bytes = read_body(req.into_body(), JSON_BODY_LIMIT).await?;
    let request = create_body(&bytes)?;
    let volume = rt.volume_create(&request).await?;
    Ok(response::json(StatusCode::CREATED, &volume_json(&volume)?))
}

/// `GET /volumes/{name}` (VolumeInspect): 404 `get NAME: no such volume`.
pub async fn volume_inspect(rt: &Runtime, name: &str) -> Result<Response<Body>, Error> {
    let volume = rt.volume_inspect(name).await?;
    Ok(response::json(StatusCode::OK, &volume_json(&volume)?))
}

/// `DELETE /volumes/{name}` (VolumeDelete): 204; 409 while a container uses it; `force`: a missing volume is 204.
pub async fn volume_delete(rt: &Runtime, name: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    rt.volume_remove(name, query_of(req).bool("force")).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune` (VolumePrune): unused volumes; from API 1.42 on only anonymous ones unless
/// `filters={"all":["true"]}`. `SpaceReclaimed` is 0: a claim's usage is not known to podshim.
pub async fn volume_prune(
    rt: &Runtime,
    req: &Request<RequestBody>,
    version: ApiVersion,
) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let filters = PruneFilters::parse(query.get("filters").unwrap_or_default(), version >= ApiVersion(1, 42))?;
    let pruned = rt.volume_prune(&filters).await?;
    Ok(response::json(StatusCode::OK, &pruned))
}

/// `PUT /volumes/{name}` (VolumeUpdate): only swarm cluster volumes can be updated, and podshim is no swarm
/// manager: Docker's 503. Before API 1.42 the route does not exist (404 `page not found`).
pub fn volume_update(version: ApiVersion) -> Result<Response<Body>, Error> {
    if version < ApiVersion(1, 42) {
        return Err(Error::PageNotFound);
    }
    Err(Error::Unavailable("volume update only valid for cluster volumes, but swarm is unavailable".to_string()))
}
