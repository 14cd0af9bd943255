//! The router and handlers over an in-memory connection: parsing, validation, errors and headers. The runtime
//! here has an empty cluster (every Kubernetes request fails), so these tests cover what is decided before or
//! without the cluster; the success paths are tested with real clients against the simulator.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::AppState;
use crate::runtime::{Runtime, RuntimeOptions};

/// A runtime whose cluster answers nothing: every Kubernetes request fails.
async fn state() -> AppState {
    let service = tower::service_fn(|_req: http::Request<kube::client::Body>| async {
        Err::<http::Response<Full<Bytes>>, std::io::Error>(std::io::Error::other("no cluster in this test"))
    });
    let client = kube::Client::new(service, "test");
    let options = RuntimeOptions {
        start_timeout: std::time::Duration::from_secs(1),
        split_log_streams: false,
        start_handshake: Default::default(),
        ports: Default::default(),
        registry: Default::default(),
        volumes: Default::default(),
        helper_image: "busybox".into(),
        binds: Default::default(),
    };
    let runtime = Runtime::unsynced(client, "test".into(), options);
    AppState::new(runtime)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends one request through `api::handle` over an in-memory HTTP/1.1 connection.
async fn send(method: Method, uri: &str, body: &'static str) -> Answer {
    let state = state().await;
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let req = crate::server::limit_body(req, Default::default());
        async move { Ok::<_, std::convert::Infallible>(super::handle(state, req).await) }
    });
    tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server_io), service));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io)).await.unwrap();
    tokio::spawn(conn);
    let req =
        Request::builder().method(method).uri(uri).header("Host", "d").body(Full::new(Bytes::from(body))).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Answer { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_page_not_found() {
    for (method, uri) in [(Method::GET, "/nope"), (Method::PUT, "/_ping"), (Method::POST, "/containers/json")] {
        let a = send(method, uri, "").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(a.message(), "page not found");
        assert_eq!(a.headers["Api-Version"], "1.50");
    }
}

#[tokio::test]
async fn unknown_containers_are_404_with_dockers_words_on_every_operation() {
    let cases = [
        (Method::GET, "/v1.50/containers/nope/json"),
        (Method::POST, "/containers/nope/wait?condition=removed"),
        (Method::POST, "/containers/nope/attach?stream=1&stdout=1"),
        (Method::POST, "/containers/nope/stop?t=1"),
        (Method::POST, "/containers/nope/kill"),
        (Method::DELETE, "/containers/nope?force=1"),
        (Method::GET, "/containers/nope/logs?stdout=1"),
        (Method::GET, "/containers/nope/top"),
        (Method::POST, "/containers/nope/resize?h=40&w=120"),
        (Method::POST, "/containers/nope/rename?name=x"),
    ];
    for (method, uri) in cases {
        let a = send(method, uri, "").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(a.message(), "No such container: nope", "{uri}");
    }
}

#[tokio::test]
async fn bad_create_bodies_are_400_with_the_parsers_message() {
    let a = send(Method::POST, "/containers/create", "{\"Image\": 3}").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().contains("invalid type: integer `3`, expected a string"), "{}", a.message());
    let a = send(Method::POST, "/containers/create", "{").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().starts_with("invalid JSON: "), "{}", a.message());
    let a = send(Method::POST, "/containers/create", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "invalid JSON: got EOF while reading request body");
}

#[tokio::test]
async fn bad_queries_are_400() {
    let a = send(Method::POST, "/containers/x/stop?t=soon", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().starts_with("invalid value for t: \"soon\""), "{}", a.message());
    let a = send(Method::GET, "/containers/x/logs?stdout=0&stderr=False", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "Bad parameters: you must choose at least one stream");
    let a = send(Method::GET, "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "Invalid filter 'bogus'");
    let a = send(Method::POST, "/containers/x/start", "12345678").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().starts_with("starting container with non-empty request body"));
    let a = send(Method::DELETE, "/containers/x?link=1", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().starts_with("link is not supported by podshim"));
}

#[tokio::test]
async fn container_list_is_json_with_and_without_a_version_prefix() {
    for uri in ["/containers/json?all=1", "/v1.41/containers/json?limit=-1&all=1&size=0&trunc_cmd=0"] {
        let a = send(Method::GET, uri, "").await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers["Content-Type"], "application/json");
        assert_eq!(a.json(), serde_json::json!([]));
    }
}

#[tokio::test]
async fn pulls_check_the_reference_and_platform_before_the_registry() {
    let a = send(Method::POST, "/images/create?fromImage=Alpine&tag=latest", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "invalid reference format: repository name must be lowercase");
    let a = send(Method::POST, "/images/create?fromImage=alpine&platform=foobar", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().contains("unknown operating system"), "{}", a.message());
    let a = send(Method::POST, "/images/create?fromSrc=-", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_images_are_404_with_dockers_words_and_names_may_have_slashes() {
    let a = send(Method::GET, "/v1.50/images/nosuch/img:1.0/json", "").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "No such image: nosuch/img:1.0");
    let a = send(Method::GET, "/images/testcontainers%2Fryuk:0.8.1/json", "").await;
    assert_eq!(a.message(), "No such image: testcontainers/ryuk:0.8.1");
    for (method, uri) in [
        (Method::DELETE, "/images/alpine"),
        (Method::GET, "/images/alpine/history"),
        (Method::POST, "/images/alpine/tag?repo=x"),
    ] {
        let a = send(method, uri, "").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(a.message(), "No such image: alpine:latest");
    }
    let a = send(Method::GET, "/images/Bad/json", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn image_operations_without_an_image_store_are_501() {
    for (method, uri) in [
        (Method::POST, "/v1.41/commit?container=x"),
        (Method::POST, "/build"),
        (Method::POST, "/images/load"),
        (Method::GET, "/images/get?names=alpine"),
        (Method::GET, "/images/alpine/get"),
        (Method::POST, "/images/me/app/push"),
        (Method::GET, "/images/search?term=x"),
    ] {
        let a = send(method, uri, "").await;
        assert_eq!(a.status, StatusCode::NOT_IMPLEMENTED, "{uri}");
        assert!(a.message().contains("is not implemented by podshim"), "{uri}: {}", a.message());
    }
}

#[tokio::test]
async fn create_of_an_image_never_pulled_is_404() {
    let a = send(Method::POST, "/containers/create", r#"{"Image":"alpine"}"#).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.message(), "No such image: alpine:latest");
}

#[tokio::test]
async fn info_names_the_namespace_and_counts_containers() {
    let a = send(Method::GET, "/v1.50/info", "").await;
    assert_eq!(a.status, StatusCode::OK);
    let info = a.json();
    assert_eq!(info["OperatingSystem"], "podshim (Kubernetes namespace test)");
    assert_eq!(info["OSType"], "linux");
    assert_eq!(info["Containers"], 0);
}

#[tokio::test]
async fn events_until_a_past_time_end_the_stream() {
    let a = send(Method::GET, "/events?since=1&until=2", "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["Content-Type"], "application/json");
    assert!(a.body.is_empty());
    let a = send(Method::GET, "/events?until=soon", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

/// A streamed answer (wait, logs -f, events) sends its headers before its first chunk: the client gets the
/// response head while the body is still pending.
#[tokio::test]
async fn streamed_answers_send_their_headers_at_once() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let service = hyper::service::service_fn(|_req| async {
        let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        Ok::<_, std::convert::Infallible>(super::stream::streaming(StatusCode::OK, "application/json", never))
    });
    tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server_io), service));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::post("/containers/x/wait").header("Host", "d").body(Full::new(Bytes::new())).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["Content-Type"], "application/json");
    assert_eq!(resp.headers()["Transfer-Encoding"], "chunked");
}

#[tokio::test]
async fn image_list_is_json_and_refuses_malformed_filters() {
    let a = send(Method::GET, "/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D", "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), serde_json::json!([]));
    let a = send(Method::GET, "/images/json?filters=%7B", "").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}
