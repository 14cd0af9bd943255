//! `HEAD`, `GET` and `PUT /containers/{id}/archive` (ContainerArchiveInfo, ContainerArchive,
//! PutContainerArchive): `docker cp`. The work is in `runtime/archive.rs`.

use crate::server::RequestBody;
use futures::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::query::query_of;
use super::resolve;
use super::response::{self, Body};
use super::stream;
use crate::error::Error;
use crate::runtime::{PutOptions, Runtime, UploadStream};
use podshim_translate::files::PathStat;

/// Docker's stat header.
const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_of(req: &Request<RequestBody>) -> Result<String, Error> {
    query_of(req)
        .non_empty("path")
        .map(str::to_string)
        .ok_or_else(|| Error::InvalidParameter("path cannot be empty".into()))
}

fn with_stat(mut resp: Response<Body>, stat: &PathStat) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&stat.header_value()) {
        resp.headers_mut().insert(STAT_HEADER, value);
    }
    resp
}

/// `HEAD /containers/{id}/archive?path=`: 200 with the stat header, no body.
pub async fn container_archive_info(
    rt: &Runtime,
    id: &str,
    req: &Request<RequestBody>,
) -> Result<Response<Body>, Error> {
    let path = path_of(req)?;
    let stat = rt.archive_stat(&resolve(rt, id)?, &path).await?;
    Ok(with_stat(response::empty(StatusCode::OK), &stat))
}

/// `GET /containers/{id}/archive?path=`: the stat header and a tar stream (`application/x-tar`).
pub async fn container_archive(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let path = path_of(req)?;
    let (stat, tar) = rt.archive_get(&resolve(rt, id)?, &path).await?;
    Ok(with_stat(stream::streaming(StatusCode::OK, "application/x-tar", tar), &stat))
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=` with a tar body (plain or gzip).
pub async fn put_container_archive(rt: &Runtime, id: &str, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let path = path_of(&req)?;
    let container = resolve(rt, id)?;
    let query = query_of(&req);
    let options = PutOptions {
        no_overwrite_dir_non_dir: query.bool("noOverwriteDirNonDir"),
        copy_uid_gid: query.bool("copyUIDGID"),
    };
    let body: UploadStream = Box::pin(
        req.into_body()
            .into_data_stream()
            .map(|chunk| chunk.map_err(|e| Error::InvalidParameter(format!("reading the request body: {e}")))),
    );
    rt.archive_put(&container, &path, options, body).await?;
    Ok(response::empty(StatusCode::OK))
}
