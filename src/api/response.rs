//! Every response body podshim sends is built here: JSON, empty, and `{"message": ...}` errors.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use serde::Serialize;

use crate::error::Error;

/// The body type of every response (the server's).
pub use crate::server::ResponseBody as Body;

/// An empty body with the given status.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Empty::new().map_err(never).boxed());
    *resp.status_mut() = status;
    resp
}

/// A JSON body.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes_with_type(status, "application/json", bytes.into()),
        Err(err) => error(&Error::Internal(format!("encoding the response: {err}"))),
    }
}

/// A body of the given content type.
pub fn bytes_with_type(status: StatusCode, content_type: &'static str, bytes: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(bytes).map_err(never).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Docker's error shape: `{"message": "..."}` with the error's status (a 304 has no body).
pub fn error(err: &Error) -> Response<Body> {
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(error = %err, source = ?std::error::Error::source(err), "request failed");
    } else {
        tracing::debug!(error = %err, "request refused");
    }
    if status == StatusCode::NOT_MODIFIED {
        return empty(status);
    }
    json(status, &bollard_stubs::models::ErrorResponse { message: err.to_string() })
}

fn never(never: std::convert::Infallible) -> std::io::Error {
    match never {}
}
