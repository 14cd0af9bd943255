//! `POST /images/create` (ImageCreate) with `fromImage`: a pull, answered with Docker's JSON-lines progress.
//!
//! The reference is resolved at the registry first; what the registry says (not found, denied, unreachable) is
//! an HTTP error with Docker's text, as Docker answers before it writes any progress. Then the stream starts
//! (`Pulling from <path>`), the image is recorded, and it ends with `Digest: sha256:...` and `Status: Downloaded
//! newer image for <ref>` or `Status: Image is up to date for <ref>`; a failure to record is an error line in
//! the stream, as Docker reports failures after the pull started. Layers are not downloaded here (the node pulls
//! them by digest when a pod runs the image), so there are no per-layer lines.

use crate::server::RequestBody;
use futures::StreamExt;
use http::{Request, Response};
use serde_json::{json, Value};

use super::query::query_of;
use super::response::Body;
use super::stream;
use crate::error::Error;
use crate::runtime::images::Platform;
use crate::runtime::Runtime;
use podshim_translate::image_ref::ImageRef;
use podshim_translate::registry_auth;

/// `POST /images/create`: `fromImage` (with or without a tag), `tag` (a tag or a digest), `platform`,
/// `X-Registry-Auth`. `fromSrc` (importing a tarball) is refused with 400. Without any tag, `latest` is pulled
/// (Docker would pull every tag of the repository).
pub async fn image_create(rt: &Runtime, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(&req);
    let Some(image) = query.non_empty("fromImage") else {
        return Err(Error::Unsupported {
            option: "fromSrc".into(),
            why: "podshim does not import images (it runs images from registries); give fromImage".into(),
        });
    };
    let reference = with_tag(image, query.non_empty("tag"))?;
    let platform = match query.non_empty("platform") {
        Some(raw) => Platform::parse(raw)?,
        None => Platform::native(),
    };
    let credentials =
        req.headers().get("X-Registry-Auth").and_then(|h| h.to_str().ok()).and_then(registry_auth::decode_header);
    let fetched = rt.fetch_image(&reference, credentials.as_ref(), &platform).await?;
    let rt = rt.clone();
    let lines = progress(rt, reference, fetched, credentials);
    Ok(stream::json_lines(lines))
}

/// The progress lines: `Pulling from`, then (after recording) `Digest:` and `Status:`, or an error line.
fn progress(
    rt: Runtime,
    reference: ImageRef,
    fetched: crate::runtime::images::Fetched,
    credentials: Option<registry_auth::Credentials>,
) -> impl futures::Stream<Item = Value> + Send + 'static {
    let first = futures::stream::once(futures::future::ready(pulling_line(&reference)));
    let rest = futures::stream::once(async move {
        match rt.record_pull(&reference, fetched, credentials.as_ref()).await {
            Ok(pulled) => done_lines(&reference, &pulled.digest, pulled.new),
            Err(err) => vec![error_line(&err)],
        }
    });
    first.chain(rest.flat_map(futures::stream::iter))
}

/// `fromImage` with the `tag` parameter: `alpine` + `3` is `alpine:3`, a `sha256:` tag is a digest; no tag at
/// all is `latest`.
fn with_tag(image: &str, tag: Option<&str>) -> Result<ImageRef, Error> {
    let reference = ImageRef::parse(image)?;
    let reference = match tag {
        Some(digest) if digest.starts_with("sha256:") => ImageRef::parse(&format!("{}@{digest}", reference.name()))?,
        Some(tag) if reference.tag.is_none() && reference.digest.is_none() => {
            ImageRef::parse(&format!("{}:{tag}", reference.name()))?
        }
        _ => reference,
    };
    Ok(reference.with_default_tag())
}

/// `{"status":"Pulling from library/alpine","id":"latest"}`; for a digest, the id is the whole reference.
fn pulling_line(reference: &ImageRef) -> Value {
    let id = match &reference.tag {
        Some(tag) if reference.digest.is_none() => tag.clone(),
        _ => reference.familiar(),
    };
    json!({"status": format!("Pulling from {}", reference.path), "id": id})
}

fn done_lines(reference: &ImageRef, digest: &str, new: bool) -> Vec<Value> {
    let status = if new { "Downloaded newer image for" } else { "Image is up to date for" };
    vec![
        json!({"status": format!("Digest: {digest}")}),
        json!({"status": format!("Status: {status} {}", reference.familiar())}),
    ]
}

/// An error inside the stream, as Docker writes it.
fn error_line(err: &Error) -> Value {
    let message = err.to_string();
    json!({"errorDetail": {"message": message}, "error": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests_join_the_reference() {
        assert_eq!(with_tag("alpine", None).unwrap().full(), "docker.io/library/alpine:latest");
        assert_eq!(with_tag("alpine", Some("3.10")).unwrap().full(), "docker.io/library/alpine:3.10");
        assert_eq!(with_tag("alpine:3.10", None).unwrap().full(), "docker.io/library/alpine:3.10");
        let digest = format!("sha256:{}", "b".repeat(64));
        assert_eq!(with_tag("alpine", Some(&digest)).unwrap().familiar(), format!("alpine@{digest}"));
        assert_eq!(
            with_tag("Alpine", None).unwrap_err().to_string(),
            "invalid reference format: repository name must be lowercase"
        );
    }

    #[test]
    fn the_lines_have_dockers_shape() {
        let r = with_tag("127.0.0.1:5000/library/alpine", Some("latest")).unwrap();
        assert_eq!(pulling_line(&r), json!({"status": "Pulling from library/alpine", "id": "latest"}));
        let lines = done_lines(&r, "sha256:b5c7", true);
        assert_eq!(lines[0], json!({"status": "Digest: sha256:b5c7"}));
        assert_eq!(
            lines[1],
            json!({"status": "Status: Downloaded newer image for 127.0.0.1:5000/library/alpine:latest"})
        );
        let r = with_tag("alpine", None).unwrap();
        assert_eq!(done_lines(&r, "sha256:b5c7", false)[1]["status"], "Status: Image is up to date for alpine:latest");
        let digest = format!("sha256:{}", "b".repeat(64));
        let r = with_tag("alpine", Some(&digest)).unwrap();
        assert_eq!(pulling_line(&r)["id"], format!("alpine@{digest}"));
    }
}
