//! The Container tag's reading operations: inspect, list, wait and logs.

use crate::server::RequestBody;
use bollard_stubs::models::ContainerSummary;
use http::{Request, Response, StatusCode};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::query::{query_of, Query};
use super::resolve;
use super::response::{self, Body};
use super::stream::{self, Framing};
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::{LogOptions, Runtime, WaitCondition, WaitOutcome};
use podshim_translate::inspect::{legacy_network_fields, view_to_inspect};
use podshim_translate::list_filters::ListFilters;
use podshim_translate::summary::view_to_summary;

/// `GET /containers/{id}/json` (ContainerInspect). `size` is ignored (sizes live on a node), and the deprecated
/// top-level `NetworkSettings` fields are merged in for clients that still read them.
pub fn container_inspect(rt: &Runtime, id: &str) -> Result<Response<Body>, Error> {
    let container = resolve(rt, id)?;
    let mut view = container.to_view();
    view.gateway = rt.ports().client_gateway();
    let mut json = serde_json::to_value(view_to_inspect(&view))
        .map_err(|e| Error::Internal(format!("encoding the inspect answer: {e}")))?;
    if let Some(Value::Object(settings)) = json.get_mut("NetworkSettings") {
        settings.extend(legacy_network_fields(&view));
    }
    Ok(response::json(StatusCode::OK, &json))
}

/// `GET /containers/json` (ContainerList): `all`, `limit`, `filters` (see [`ListFilters`]); `size` is ignored.
/// Newest first, as Docker lists.
pub fn container_list(rt: &Runtime, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let limit = query.int("limit")?;
    let filters = ListFilters::parse(query.get("filters").unwrap_or_default())?;
    let now = Timestamp::now();
    let created_of = |reference: Option<&str>| -> Result<Option<Timestamp>, Error> {
        let Some(reference) = reference else { return Ok(None) };
        Ok(rt.resolve(reference)?.to_view().created)
    };
    let (before, since) = filters.bound_references();
    let (before, since) = (created_of(before)?, created_of(since)?);
    let filters = filters.with_bounds(before, since);
    let ancestors = filters.ancestors().into_iter().filter_map(|a| rt.image(&a).ok().map(|e| (a, e.image.id.clone())));
    let filters = filters.with_ancestor_ids(ancestors.collect());
    let include_stopped = filters.includes_stopped(query.bool("all"), limit);
    let gateway = rt.ports().client_gateway();
    let mut entries: Vec<_> = rt
        .containers()
        .iter()
        .map(|c| c.to_view())
        .map(|mut v| {
            v.gateway = gateway.clone();
            v
        })
        .filter(|r| include_stopped || r.state.is_running())
        .map(|r| (shown_image(rt, view_to_summary(&r, now)), r.state))
        .filter(|(entry, state)| filters.matches(entry, state))
        .map(|(entry, _)| entry)
        .collect();
    entries.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    if let Some(limit) = limit.filter(|l| *l > 0) {
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(response::json(StatusCode::OK, &entries))
}

/// ps's `Image`: the reference the container was created with while it still names the container's image, else
/// the image id (moby daemon/list.go).
fn shown_image(rt: &Runtime, mut entry: ContainerSummary) -> ContainerSummary {
    let (Some(image), Some(id)) = (entry.image.as_deref(), entry.image_id.as_deref()) else { return entry };
    if image != id && rt.image(image).map(|e| e.image.id != id).unwrap_or(true) {
        entry.image = Some(id.to_string());
    }
    entry
}

/// moby's wait body (`container.WaitResponse`): `Error` only when there is one.
#[derive(Serialize)]
struct WaitBody {
    #[serde(rename = "Error", skip_serializing_if = "Option::is_none")]
    error: Option<WaitError>,
    #[serde(rename = "StatusCode")]
    status_code: i64,
}

#[derive(Serialize)]
struct WaitError {
    #[serde(rename = "Message")]
    message: String,
}

/// Docker's `condition` values. Docker (checked with 20.10) treats any other value as `not-running`, and so
/// does podshim.
fn wait_condition(value: Option<&str>) -> WaitCondition {
    match value {
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        _ => WaitCondition::NotRunning,
    }
}

/// The bytes of a finished wait: `{"StatusCode":N}` and a newline, as moby's `json.Encoder` writes it.
fn wait_line(outcome: WaitOutcome) -> bytes::Bytes {
    let error = outcome.error.map(|message| WaitError { message });
    stream::json_line(&WaitBody { error, status_code: outcome.status_code })
}

/// `POST /containers/{id}/wait` (ContainerWait): 404 before any header for an unknown container; otherwise the
/// 200 headers go out at once and the body when the condition is met. A client that leaves drops the wait.
pub fn container_wait(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let condition = wait_condition(query_of(req).non_empty("condition"));
    let container = resolve(rt, id)?;
    let wait = rt.wait(&container, condition)?;
    let body = futures::stream::once(async move { Ok(wait_line(wait.await)) });
    Ok(stream::streaming(StatusCode::OK, "application/json", body))
}

/// `GET /containers/{id}/logs` (ContainerLogs): multiplexed frames unless the container has a TTY.
pub async fn container_logs(
    rt: &Runtime,
    id: &str,
    req: &Request<RequestBody>,
    version: ApiVersion,
) -> Result<Response<Body>, Error> {
    let options = log_options(&query_of(req))?;
    let container = resolve(rt, id)?;
    let framing = Framing::for_container(container.tty());
    let output = rt.logs(&container, options).await?;
    Ok(stream::output_response(output, framing, version))
}

/// The logs query: at least one of `stdout`/`stderr` (moby's sentence otherwise); `tail` is `all` or a count
/// (anything else, like a negative count, means all, as in moby); `since`/`until` Unix seconds, `0` no bound.
fn log_options(query: &Query) -> Result<LogOptions, Error> {
    let (stdout, stderr) = (query.bool("stdout"), query.bool("stderr"));
    if !stdout && !stderr {
        return Err(Error::InvalidParameter("Bad parameters: you must choose at least one stream".into()));
    }
    Ok(LogOptions {
        stdout,
        stderr,
        follow: query.bool("follow"),
        timestamps: query.bool("timestamps"),
        tail: query.get("tail").and_then(|t| t.trim().parse::<u64>().ok()),
        since: query.timestamp("since")?,
        until: query.timestamp("until")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_body_leaves_out_a_missing_error() {
        let line = wait_line(WaitOutcome { status_code: 3, error: None });
        assert_eq!(&line[..], b"{\"StatusCode\":3}\n");
        let line = wait_line(WaitOutcome { status_code: -1, error: Some("gone".into()) });
        assert_eq!(&line[..], b"{\"Error\":{\"Message\":\"gone\"},\"StatusCode\":-1}\n");
    }

    #[test]
    fn wait_conditions_follow_docker() {
        assert_eq!(wait_condition(None), WaitCondition::NotRunning);
        assert_eq!(wait_condition(Some("next-exit")), WaitCondition::NextExit);
        assert_eq!(wait_condition(Some("removed")), WaitCondition::Removed);
        assert_eq!(wait_condition(Some("bogus")), WaitCondition::NotRunning);
    }

    #[test]
    fn log_options_need_a_stream_and_parse_tail_and_bounds() {
        let err = log_options(&Query::parse(Some("stdout=0&stderr=false"))).unwrap_err();
        assert_eq!(err.to_string(), "Bad parameters: you must choose at least one stream");
        let q = Query::parse(Some("stdout=true&tail=all&since=0&until=0&follow=1&timestamps=True"));
        let o = log_options(&q).unwrap();
        assert!(o.stdout && !o.stderr && o.follow && o.timestamps);
        assert_eq!((o.tail, o.since, o.until), (None, None, None));
        let o = log_options(&Query::parse(Some("stderr=1&tail=5&since=1700000000.5"))).unwrap();
        assert_eq!(o.tail, Some(5));
        assert_eq!(o.since.unwrap().subsec_nanosecond(), 500_000_000);
        assert!(log_options(&Query::parse(Some("stderr=1&since=yesterday"))).is_err());
    }
}
