//! `GET pods/{name}/log`: the query, validated like the real server's PodLogOptions, then the node's
//! log stream as a chunked text/plain body.

use crate::node::{LogQuery, LogStreamSelector};
use crate::status::{ApiError, FieldError};

use super::http::{self, Query, Resp};
use super::router::ResourcePath;
use super::{target, State};

/// Parses and validates the `pods/log` query for `pod_name`.
pub fn parse_query(query: &Query, container: String, pod_name: &str) -> Result<LogQuery, ApiError> {
    let tail_lines = query.int("tailLines")?;
    let limit_bytes = query.int("limitBytes")?;
    let since_seconds = query.int("sinceSeconds")?;
    let since_time = match query.get("sinceTime").filter(|s| !s.is_empty()) {
        Some(text) => Some(
            text.parse::<jiff::Timestamp>()
                .map_err(|e| ApiError::bad_request(format!("parsing time {text:?} as RFC3339: {e}")))?,
        ),
        None => None,
    };
    let stream = match query.get("stream").unwrap_or("All") {
        "All" | "" => LogStreamSelector::All,
        "Stdout" => LogStreamSelector::Stdout,
        "Stderr" => LogStreamSelector::Stderr,
        other => {
            let cause = FieldError {
                field: "stream".into(),
                reason: "FieldValueNotSupported",
                message: format!(
                    "stream: Unsupported value: {other:?}: supported values: \"All\", \"Stderr\", \"Stdout\""
                ),
            };
            return Err(ApiError::invalid("PodLogOptions", "", pod_name, &[cause]));
        }
    };
    let mut errs = Vec::new();
    if let Some(t) = tail_lines.filter(|t| *t < 0) {
        errs.push(FieldError::invalid("tailLines", &t.to_string(), "must be greater than or equal to 0"));
    }
    if let Some(b) = limit_bytes.filter(|b| *b < 1) {
        errs.push(FieldError::invalid("limitBytes", &b.to_string(), "must be greater than 0"));
    }
    if since_seconds.is_some() && since_time.is_some() {
        errs.push(FieldError::forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"));
    }
    if let Some(s) = since_seconds.filter(|s| *s < 1) {
        errs.push(FieldError::invalid("sinceSeconds", &s.to_string(), "must be greater than 0"));
    }
    if stream != LogStreamSelector::All && tail_lines.is_some() {
        errs.push(FieldError::forbidden("", "`tailLines` and specific `stream` are mutually exclusive for now"));
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid("PodLogOptions", "", pod_name, &errs));
    }
    let since = since_time.or_else(|| {
        let secs = since_seconds?;
        jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(secs)).ok()
    });
    Ok(LogQuery {
        container,
        follow: query.flag("follow"),
        previous: query.flag("previous"),
        timestamps: query.flag("timestamps"),
        tail_lines,
        limit_bytes,
        since,
        stream,
    })
}

pub async fn logs(state: &State, rp: &ResourcePath, query: &Query) -> Result<Resp, ApiError> {
    let name = rp.name.as_deref().unwrap_or_default();
    let (pod, pod_ref) = target::pod(&state.store, rp.ns(), name)?;
    let container = target::container(&pod, query.get("container"))?;
    let log_query = parse_query(query, container, name)?;
    let stream = state.node.logs(&pod_ref, log_query).await?;
    Ok(http::build(200, "text/plain", http::streaming(stream)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<LogQuery, ApiError> {
        parse_query(&Query::parse(Some(q)), "c".into(), "p")
    }

    #[test]
    fn parses_the_options() {
        let q = parse("follow=true&timestamps=1&tailLines=5&limitBytes=10&stream=All&sinceTime=2024-01-02T03:04:05Z")
            .unwrap();
        assert!(q.follow && q.timestamps && !q.previous);
        assert_eq!((q.tail_lines, q.limit_bytes), (Some(5), Some(10)));
        assert_eq!(q.since.unwrap().to_string(), "2024-01-02T03:04:05Z");
        assert_eq!(parse("stream=Stderr").unwrap().stream, LogStreamSelector::Stderr);
        assert!(parse("sinceSeconds=10").unwrap().since.is_some());
    }

    #[test]
    fn rejects_what_the_real_server_rejects() {
        let err = parse("sinceSeconds=1&sinceTime=2024-01-02T03:04:05Z").unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.contains("at most one of `sinceTime` or `sinceSeconds` may be specified"));
        let err = parse("stream=Stdout&tailLines=1").unwrap_err();
        assert!(err.message.contains("`tailLines` and specific `stream` are mutually exclusive for now"));
        assert_eq!(parse("stream=Both").unwrap_err().code, 422);
        assert_eq!(parse("tailLines=x").unwrap_err().code, 400);
        assert_eq!(parse("sinceTime=yesterday").unwrap_err().code, 400);
        assert_eq!(parse("tailLines=-1").unwrap_err().code, 422);
    }
}
