//! The admin endpoint (`--admin-listen`): `GET /metrics` (Prometheus text) and `GET /healthz`.

use crate::server::RequestBody;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::api::response::{self, Body};
use crate::metrics::RequestCounter;

/// The admin handler; cheap to clone.
#[derive(Clone)]
pub struct Admin {
    pub counter: RequestCounter,
}

impl crate::server::Handler for Admin {
    async fn handle(&self, req: Request<RequestBody>) -> Response<Body> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => response::bytes_with_type(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                Bytes::from(self.counter.render()),
            ),
            (&Method::GET, "/healthz") => response::bytes_with_type(StatusCode::OK, "text/plain", Bytes::from("ok")),
            _ => response::bytes_with_type(StatusCode::NOT_FOUND, "text/plain", Bytes::from("page not found")),
        }
    }
}
