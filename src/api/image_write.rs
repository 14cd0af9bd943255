//! The Image tag's operations that change images: tag, delete, prune.

use crate::server::RequestBody;
use http::{Request, Response, StatusCode};

use super::query::query_of;
use super::response::{self, Body};
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::image_filters::ImageFilters;

/// `POST /images/{name}/tag` (ImageTag): `repo` (required) and `tag` (default `latest`). 201, as Docker.
pub async fn image_tag(rt: &Runtime, name: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let repo = query.get("repo").unwrap_or("");
    rt.tag_image(name, repo, query.non_empty("tag")).await?;
    Ok(response::empty(StatusCode::CREATED))
}

/// `DELETE /images/{name}` (ImageDelete): `force`; `noprune` has nothing to keep (podshim keeps no parent
/// images). 200 with the `Untagged` and `Deleted` items; 409 with Docker's sentences (see
/// `podshim_translate::image_delete`).
pub async fn image_delete(rt: &Runtime, name: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let items = rt.remove_image(name, query_of(req).bool("force")).await?;
    Ok(response::json(StatusCode::OK, &items))
}

/// `POST /images/prune` (ImagePrune): unused images, only untagged ones unless `dangling=false`; `label` and
/// `until` filters. `SpaceReclaimed` counts the compressed sizes podshim reports.
pub async fn image_prune(rt: &Runtime, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let filters = ImageFilters::parse(query_of(req).get("filters").unwrap_or_default())?;
    let pruned = rt.prune_images(&filters).await?;
    Ok(response::json(StatusCode::OK, &pruned))
}

/// Image operations that need an image store of podshim's own (it has none: nodes keep the layers): 501 naming
/// the operation.
pub fn not_implemented(operation: &str) -> Result<Response<Body>, Error> {
    let what = match operation {
        "commit" => "committing a container to an image (docker commit)",
        "build" => "building images (docker build)",
        "load" => "loading images from a tar archive (docker load)",
        "get" => "exporting images to a tar archive (docker save)",
        "search" => "searching a registry (docker search)",
        _ => "pushing images (docker push)",
    };
    Err(Error::NotImplemented(format!(
        "{what} is not implemented by podshim: images come from registries and their layers live on the nodes"
    )))
}
