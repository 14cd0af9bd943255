//! The Image tag's reading operations: list, inspect, history. Pulls are in [`super::image_pull`]; tag, delete
//! and prune in [`super::image_write`].
//!
//! Images are the ones podshim pulled (image records, read from the cache): see `docs/images.md`.

use crate::server::RequestBody;
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::query::query_of;
use super::response::{self, Body};
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::image::StoredImage;
use podshim_translate::image_filters::ImageFilters;

/// `GET /images/json` (ImageList): `filters` (`reference`, `label`, `dangling`, `before`, `since`, `until`),
/// newest first. `Containers` is -1 and `SharedSize` -1, as Docker reports them unless asked to compute them.
/// Before API 1.44 an untagged image shows Docker's `<none>:<none>` placeholders.
pub fn image_list(rt: &Runtime, req: &Request<RequestBody>, version: ApiVersion) -> Result<Response<Body>, Error> {
    let filters = ImageFilters::parse(query_of(req).get("filters").unwrap_or_default())?;
    let created_of = |name: Option<&str>| -> Result<Option<jiff::Timestamp>, Error> {
        let Some(name) = name else { return Ok(None) };
        Ok(Some(rt.image(name)?.image.config.created_at().unwrap_or(jiff::Timestamp::UNIX_EPOCH)))
    };
    let (before, since) = filters.bound_references();
    let (before, since) = (created_of(before)?, created_of(since)?);
    let filters = filters.with_bounds(before, since);
    let placeholders = version < ApiVersion(1, 44);
    let mut images: Vec<(&StoredImage, Value)> = Vec::new();
    let all = rt.images();
    for entry in &all {
        let Some(listed) = filters.apply(&entry.image) else { continue };
        let mut summary = entry.image.to_summary(-1);
        summary.repo_tags = listed.tags;
        summary.repo_digests = listed.digests;
        if placeholders && summary.repo_tags.is_empty() {
            summary.repo_tags = vec!["<none>:<none>".into()];
            if summary.repo_digests.is_empty() {
                summary.repo_digests = vec!["<none>@<none>".into()];
            }
        }
        let mut value = serde_json::to_value(&summary).map_err(|e| Error::Internal(format!("encoding: {e}")))?;
        if placeholders {
            value["VirtualSize"] = json!(summary.size);
        }
        images.push((&entry.image, value));
    }
    images.sort_by(|a, b| b.0.created_seconds().cmp(&a.0.created_seconds()).then_with(|| a.0.id.cmp(&b.0.id)));
    let list: Vec<Value> = images.into_iter().map(|(_, v)| v).collect();
    Ok(response::json(StatusCode::OK, &list))
}

/// `GET /images/{name}/json` (ImageInspect). 404 `No such image: <ref>` for an image never pulled. Clients of
/// API versions before 1.50 also get the fields Docker removed since (`Parent`, `DockerVersion`, and before 1.45
/// `Container`, `ContainerConfig`, before 1.44 `VirtualSize`).
pub fn image_inspect(rt: &Runtime, name: &str, version: ApiVersion) -> Result<Response<Body>, Error> {
    let entry = rt.image(name)?;
    let inspect = entry.image.to_inspect();
    let mut value = serde_json::to_value(&inspect).map_err(|e| Error::Internal(format!("encoding: {e}")))?;
    if let Value::Object(map) = &mut value {
        if version < ApiVersion(1, 50) {
            map.insert("Parent".into(), json!(""));
            map.insert("DockerVersion".into(), json!(""));
        }
        if version < ApiVersion(1, 45) {
            map.insert("Container".into(), json!(""));
            map.insert("ContainerConfig".into(), empty_container_config());
        }
        if version < ApiVersion(1, 44) {
            map.insert("VirtualSize".into(), json!(inspect.size.unwrap_or(0)));
        }
    }
    Ok(response::json(StatusCode::OK, &value))
}

/// The `ContainerConfig` Docker shows for a pulled image (the config of the container it was committed from,
/// which a pulled image does not carry).
fn empty_container_config() -> Value {
    json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null, "Cmd": null,
        "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
    })
}

/// `GET /images/{name}/history` (ImageHistory).
pub fn image_history(rt: &Runtime, name: &str) -> Result<Response<Body>, Error> {
    let entry = rt.image(name)?;
    Ok(response::json(StatusCode::OK, &entry.image.history()))
}
