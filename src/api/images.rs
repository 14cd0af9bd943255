//! The Image tag, as far as a Kubernetes back end can answer it.
//!
//! podshim does not pull or store images: the kubelet of the node that runs a container's pod pulls its image
//! (and a pull failure surfaces at `docker start`, naming the image). So a pull is a quick success stream, an
//! image inspect a synthetic answer whose `Id` is the one containers show ([`reference_to_image_id`]), and the
//! image list the images that podshim's containers use. Clients (docker CLI `run`, docker-py, testcontainers)
//! inspect or pull before create; these answers let them go on to create.

use std::collections::BTreeMap;

use crate::server::RequestBody;
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::query::Query;
use super::response::{self, Body};
use super::stream;
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::image_ref::{normalize_reference, reference_matches, reference_to_image_id};

/// `POST /images/create` (ImageCreate) with `fromImage` and `tag`: 200 and a short JSON-lines stream shaped
/// like Docker's for an image already present (`Pulling from <path>`, then `Status: Image is up to date for
/// <ref>`). Docker also sends `Digest: sha256:...`; podshim does not know the digest and leaves that line out.
/// Importing (`fromSrc`) is refused with 400.
pub fn image_create(req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = Query::of(req);
    let Some(image) = query.non_empty("fromImage") else {
        return Err(Error::Unsupported {
            option: "fromSrc".into(),
            why: "podshim does not import images; give fromImage (the kubelet pulls it when a container starts)".into(),
        });
    };
    let reference = with_tag(image, query.non_empty("tag"));
    Ok(stream::json_lines(futures::stream::iter(pull_lines(&reference))))
}

/// `fromImage` with the `tag` parameter: `alpine` + `3` is `alpine:3`, a `sha256:` tag is a digest.
fn with_tag(image: &str, tag: Option<&str>) -> String {
    match tag {
        Some(digest) if digest.starts_with("sha256:") => format!("{image}@{digest}"),
        Some(tag) => format!("{image}:{tag}"),
        None => image.to_string(),
    }
}

/// The progress lines of a pull of `reference`.
fn pull_lines(reference: &str) -> Vec<Value> {
    let full = normalize_reference(reference);
    let (name, tag) = split_name(&full);
    let path = name.split_once('/').map_or(name, |(_, path)| path);
    vec![
        json!({"status": format!("Pulling from {path}"), "id": tag}),
        json!({"status": format!("Status: Image is up to date for {}", familiar(reference))}),
    ]
}

/// `docker.io/library/alpine:latest` -> (`docker.io/library/alpine`, `latest`); a digest is the "tag".
fn split_name(full: &str) -> (&str, &str) {
    if let Some((name, digest)) = full.split_once('@') {
        return (name.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(name, |(n, _)| n), digest);
    }
    let slash = full.rfind('/').unwrap_or(0);
    match full[slash..].rfind(':') {
        Some(i) => (&full[..slash + i], &full[slash + i + 1..]),
        None => (full, "latest"),
    }
}

/// Docker's short form of a reference, as `docker images` shows it: `alpine:latest`, `me/app:1`,
/// `quay.io/x/y:2`.
fn familiar(reference: &str) -> String {
    let full = normalize_reference(reference);
    let short = full.strip_prefix("docker.io/").unwrap_or(&full);
    short.strip_prefix("library/").unwrap_or(short).to_string()
}

/// `GET /images/{name}/json` (ImageInspect): a synthetic answer for any reference (podshim cannot know
/// whether a registry has it; a missing image fails at start). `Config` is empty: the image's own ENTRYPOINT,
/// CMD and ENV are known only to the node.
pub fn image_inspect(name: &str) -> Response<Body> {
    response::json(StatusCode::OK, &inspect_body(name))
}

fn inspect_body(name: &str) -> Value {
    let digest = name.contains('@');
    json!({
        "Id": reference_to_image_id(name),
        "RepoTags": if digest { vec![] } else { vec![familiar(name)] },
        "RepoDigests": if digest { vec![familiar(name)] } else { vec![] },
        "Parent": "",
        "Comment": "",
        "Created": "1970-01-01T00:00:00Z",
        "DockerVersion": "",
        "Author": "",
        "Config": {"Env": [], "Cmd": null, "Entrypoint": null, "Labels": {}, "WorkingDir": "", "User": ""},
        "Architecture": super::system::go_arch(),
        "Os": "linux",
        "Size": 0,
        "GraphDriver": {"Name": podshim_translate::inspect::DRIVER, "Data": {}},
        "RootFS": {"Type": "layers", "Layers": []},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    })
}

/// `GET /images/json` (ImageList): the images podshim's containers use, one entry per image with the number of
/// containers using it. Filters: `reference` (the same normalised reference, or an ID prefix; Docker's glob
/// patterns are not evaluated) and `dangling=true` (podshim has no untagged images, so nothing); other keys are
/// ignored.
pub fn image_list(rt: &Runtime, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let filters: BTreeMap<String, Value> = match Query::of(req).non_empty("filters") {
        Some(raw) => serde_json::from_str(raw).map_err(|e| Error::InvalidParameter(format!("invalid filters: {e}")))?,
        None => BTreeMap::new(),
    };
    let values = |key: &str| -> Vec<String> {
        match filters.get(key) {
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    };
    let (references, dangling) = (values("reference"), values("dangling"));
    let mut images: BTreeMap<String, i64> = BTreeMap::new();
    for container in rt.containers() {
        if let Some(image) = container.image() {
            *images.entry(familiar(&image)).or_default() += 1;
        }
    }
    let list: Vec<Value> = images
        .into_iter()
        .filter(|(tag, _)| references.is_empty() || references.iter().any(|r| reference_matches(r, tag)))
        .filter(|_| !dangling.iter().any(|d| d == "true" || d == "1"))
        .map(|(tag, containers)| {
            json!({
                "Id": reference_to_image_id(&tag), "ParentId": "", "RepoTags": [tag], "RepoDigests": [],
                "Created": 0, "Size": 0, "SharedSize": -1, "Labels": {}, "Containers": containers,
            })
        })
        .collect();
    Ok(response::json(StatusCode::OK, &list))
}

/// `DELETE /images/{name}` (ImageDelete): images on nodes belong to the kubelet (its image garbage collection
/// removes unused ones), so there is nothing for podshim to delete. It answers as Docker does for a tag: 409
/// when a container uses the image (unless `force`), else 200 `[{"Untagged": "<ref>"}]`, so cleanup code runs
/// through.
pub fn image_delete(rt: &Runtime, name: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let force = Query::of(req).bool("force");
    let wanted = normalize_reference(name);
    let user =
        rt.containers().into_iter().find(|c| c.image().is_some_and(|image| normalize_reference(&image) == wanted));
    if let (Some(user), false) = (user, force) {
        return Err(Error::Conflict(format!(
            "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
            podshim_translate::labels::short_id(&user.id),
            reference_to_image_id(name),
        )));
    }
    Ok(response::json(StatusCode::OK, &json!([{"Untagged": familiar(name)}])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_stream_names_path_tag_and_familiar_reference() {
        let lines = pull_lines(&with_tag("alpine", Some("latest")));
        assert_eq!(lines[0], json!({"status": "Pulling from library/alpine", "id": "latest"}));
        assert_eq!(lines[1], json!({"status": "Status: Image is up to date for alpine:latest"}));
        let lines = pull_lines(&with_tag("quay.io/me/app", Some("2")));
        assert_eq!(lines[0], json!({"status": "Pulling from me/app", "id": "2"}));
        assert_eq!(lines[1]["status"], "Status: Image is up to date for quay.io/me/app:2");
    }

    #[test]
    fn inspect_shows_the_id_containers_show() {
        let body = inspect_body("busybox:latest");
        assert_eq!(body["Id"], reference_to_image_id("busybox"));
        assert_eq!(body["RepoTags"], json!(["busybox:latest"]));
        assert_eq!(body["Os"], "linux");
        assert_eq!(inspect_body("nosuch/img:1.0")["RepoTags"], json!(["nosuch/img:1.0"]));
    }
}
