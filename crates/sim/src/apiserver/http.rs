//! Request and response plumbing: the body type, JSON / text / Status responses, the query string and
//! the capped request body.

use std::io;

use bytes::Bytes;
use futures::Stream;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Response, StatusCode};
use serde_json::Value;

use crate::status::ApiError;

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, io::Error>;
pub type Resp = Response<Body>;

/// The real server's request body limit (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn streaming(stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> Body {
    use futures::StreamExt;
    StreamBody::new(stream.map(|chunk| chunk.map(Frame::data))).boxed_unsync()
}

pub fn json(code: u16, value: &Value) -> Resp {
    let text = serde_json::to_vec(value).unwrap_or_default();
    build(code, "application/json", full(text))
}

pub fn text(code: u16, body: &str) -> Resp {
    build(code, "text/plain; charset=utf-8", full(body.to_string()))
}

pub fn error(err: &ApiError) -> Resp {
    build(err.code, "application/json", full(status_json(&err.to_status())))
}

/// A Status as JSON text. [`ApiError::to_status`] builds it in the real server's key order (serde_json keeps
/// insertion order in this crate), which matters because clients compare these bodies textually.
pub fn status_json(status: &Value) -> String {
    status.to_string()
}

pub fn build(code: u16, content_type: &str, body: Body) -> Resp {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    resp.headers_mut()
        .insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-cache, private"));
    resp
}

/// `101 Switching Protocols` for a WebSocket upgrade: `accept` is derived from the client's key; `protocol` is the
/// subprotocol chosen, if any.
pub fn websocket_accepted(accept: &str, protocol: Option<&'static str>) -> Resp {
    use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
    let mut resp = build(101, "", full(Bytes::new()));
    let headers = resp.headers_mut();
    headers.remove(hyper::header::CONTENT_TYPE);
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Some(protocol) = protocol {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    if let Ok(value) = HeaderValue::from_str(accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    resp
}

/// The query string's pairs.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// `1`/`true` (any case) is true; absent is false.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }

    /// An integer parameter; a malformed one is a 400 like the real server's query decoding.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value {v:?} for query parameter {key:?}"))),
        }
    }
}

/// Reads the body up to [`MAX_BODY`]; beyond it: 413 RequestEntityTooLarge.
pub async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError {
            code: 413,
            reason: "RequestEntityTooLarge",
            message: format!("Request entity too large: limit is {MAX_BODY}"),
            details: None,
        }),
        Err(err) => Err(ApiError::bad_request(format!("reading the request body: {err}"))),
    }
}

/// Parses a JSON body for `kind`; a syntax error is a 400 worded like the real server's decoder.
pub fn parse_json(bytes: &[u8], kind: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(100)]).into_owned();
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {e} ({text})"
        ))
    })
}
/// Bodies are JSON only: protobuf and CBOR get 415 (clients then retry with JSON).
pub fn check_json_content_type(content_type: &str) -> Result<(), ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.is_empty() || media == "application/json" || media == "*/*" {
        return Ok(());
    }
    Err(ApiError {
        code: 415,
        reason: "UnsupportedMediaType",
        message: format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got {media}"),
        details: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys_follow_the_real_order() {
        let status = ApiError::not_found("pods", "nosuch").to_status();
        assert_eq!(
            status_json(&status),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nosuch\" not found","reason":"NotFound","details":{"name":"nosuch","kind":"pods"},"code":404}"#
        );
        let invalid = ApiError::invalid("Pod", "", "p", &[crate::status::FieldError::required("spec.x", "")]);
        assert!(status_json(&invalid.to_status()).contains(
            r#""details":{"name":"p","kind":"Pod","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.x"}]},"code":422}"#
        ));
    }
}
