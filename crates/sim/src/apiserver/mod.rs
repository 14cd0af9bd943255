//! The simulated cluster's API server: the Kubernetes REST API over HTTPS on 127.0.0.1. Every request
//! must carry the cluster's bearer token (see [`crate::access`]); without it the answer is the real
//! server's `401 Unauthorized`, whatever the path.
//!
//! - [`router`]: which document or resource a path names.
//! - [`store`]: the objects, the resourceVersion counter and the change history.
//! - [`crud`], [`objects`], [`kinds`], [`defaults`], [`validate`], [`fieldvalidation`], [`patch`], [`pods`],
//!   [`protobuf`]: the verbs and per-kind rules.
//! - [`watch`], [`selector`]: watches and label/field selectors.
//! - [`logs`], [`remotecommand`], [`portforward`], [`target`]: what a real server proxies to the kubelet, here the
//!   in-process node.
//! - [`render`], [`table`]: Table and PartialObjectMetadata answers (`kubectl get`, metadata watches).
//! - [`discovery`]: `/api`, `/api/v1`, `/apis`, `/version`, `/openapi/v3`.
//! - [`gc`]: the garbage collector (objects whose owners are gone are deleted).
//! - [`volumes`]: the default StorageClass, its provisioner and the binding of claims to volumes.

mod crud;
mod defaults;
mod discovery;
mod fieldvalidation;
mod gc;
mod http;
mod kinds;
mod logs;
mod objects;
mod patch;
mod pods;
mod portforward;
mod protobuf;
mod remotecommand;
mod render;
mod router;
mod selector;
mod store;
mod table;
mod target;
#[cfg(test)]
mod tests;
mod validate;
mod volumes;
mod watch;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::http::{Query, Resp};
use self::objects::UpdateTarget;
use self::remotecommand::Mode;
use self::router::{Doc, ResourcePath, Route};
use self::store::Store;
use super::access::{Credentials, Token};
use super::node::Node;
use super::status::ApiError;

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

/// The namespaces a new cluster has.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// What every request handler shares.
#[derive(Clone)]
pub(crate) struct State {
    token: Arc<Token>,
    store: Arc<Store>,
    node: Arc<Node>,
    shutdown: CancellationToken,
    bookmark_interval: Duration,
    recent_stream_errors: Arc<remotecommand::RecentErrors>,
}

impl State {
    fn new(
        token: Token,
        store: Arc<Store>,
        node: Arc<Node>,
        shutdown: CancellationToken,
        bookmark_interval: Duration,
    ) -> State {
        let token = Arc::new(token);
        State { token, store, node, shutdown, bookmark_interval, recent_stream_errors: Default::default() }
    }
}

/// Serves the API over TLS on `listener` to clients that present the token, until `shutdown`.
pub async fn serve(listener: TcpListener, node: Arc<Node>, credentials: Credentials, shutdown: CancellationToken) {
    let store = Arc::new(Store::new(store::HISTORY_LEN));
    for ns in INITIAL_NAMESPACES {
        let mut object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        defaults::apply("namespaces", &mut object);
        let _ = store.create("namespaces", "", object);
        crud::create_default_service_account(&store, ns);
    }
    volumes::create_default_class(&store);
    // Like a server whose etcd was compacted after bootstrap: `resourceVersion=1` is too old to watch from.
    store.compact();
    let state = State::new(credentials.token, store, node, shutdown.clone(), BOOKMARK_INTERVAL);
    let acceptor = tokio_rustls::TlsAcceptor::from(credentials.tls);
    tokio::spawn(gc::run(state.clone()).instrument(tracing::debug_span!("sim_gc")));
    tokio::spawn(volumes::run(state.clone()).instrument(tracing::debug_span!("sim_volumes")));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "simulated API server listening");
    }
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let span = tracing::debug_span!("sim_connection", client.addr = %peer);
                let (acceptor, state) = (acceptor.clone(), state.clone());
                let connection = async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_connection(TokioIo::new(tls), state).await,
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                };
                tokio::spawn(connection.instrument(span));
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(io: TokioIo<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>, state: State) {
    let shutdown = state.shutdown.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(state, req).await) }
    });
    let conn = http1::Builder::new().serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => conn.as_mut().graceful_shutdown(),
    }
}

async fn handle(state: State, req: Request<Incoming>) -> Resp {
    let span = tracing::debug_span!("sim_request", http.method = %req.method(), http.path = %req.uri().path(), http.status = tracing::field::Empty);
    async move {
        let routed = if state.token.authorizes(req.headers()) {
            route_request(&state, req).await
        } else {
            Err(ApiError::unauthorized())
        };
        let resp = match routed {
            Ok(resp) => resp,
            Err(err) => http::error(&err),
        };
        tracing::Span::current().record("http.status", resp.status().as_u16());
        resp
    }
    .instrument(span)
    .await
}

fn not_allowed() -> ApiError {
    ApiError::method_not_allowed("the server does not allow this method on the requested resource")
}

async fn route_request(state: &State, req: Request<Incoming>) -> Result<Resp, ApiError> {
    match router::route(req.uri().path()) {
        Route::Doc(doc) if req.method() == Method::GET => Ok(document(doc)),
        Route::Doc(_) => Err(not_allowed()),
        Route::NotFound => Ok(http::text(404, "404 page not found\n")),
        Route::UnknownResource => Err(unknown_resource()),
        Route::Resource(rp) => resource(state, rp, req).await,
    }
}

fn unknown_resource() -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound",
        message: "the server could not find the requested resource".into(),
        details: Some(json!({})),
    }
}

fn document(doc: Doc) -> Resp {
    match doc {
        Doc::ApiVersions => http::json(200, &discovery::api_versions()),
        Doc::ApiResources => http::json(200, &discovery::api_resource_list()),
        Doc::ApiGroups => http::json(200, &discovery::api_group_list()),
        Doc::Version => http::json(200, &discovery::version()),
        Doc::Health => http::text(200, "ok"),
        Doc::OpenApiV3Root => http::json(200, &discovery::openapi_v3_root()),
        Doc::OpenApiV3Core => http::json(200, &discovery::openapi_v3_core()),
        Doc::OpenApiV3Storage => http::json(200, &discovery::openapi_v3_storage()),
        Doc::StorageGroup => http::json(200, &discovery::storage_group()),
        Doc::StorageResources => http::json(200, &discovery::storage_resource_list()),
    }
}

async fn resource(state: &State, rp: ResourcePath, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let query = Query::parse(req.uri().query());
    let method = req.method().clone();
    let content_type =
        req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let render = render::Render::from_request(accept, &query);
    let is_pod = rp.info.name == "pods";
    match (rp.name.is_some(), rp.sub.as_deref()) {
        (true, Some("exec" | "attach")) if is_pod && (method == Method::GET || method == Method::POST) => {
            let mode = if rp.sub.as_deref() == Some("exec") { Mode::Exec } else { Mode::Attach };
            return remotecommand::serve(state, &rp, &query, mode, req).await;
        }
        (true, Some("log")) if is_pod && method == Method::GET => return logs::logs(state, &rp, &query).await,
        (true, Some("portforward")) if is_pod && (method == Method::GET || method == Method::POST) => {
            return portforward::serve(state, &rp, &query, req).await;
        }
        _ => {}
    }
    let mut body = http::read_body(req.into_body()).await?;
    if !body.is_empty() && method != Method::PATCH {
        if content_type.starts_with(protobuf::CONTENT_TYPE) {
            body = serde_json::to_vec(&protobuf::decode(&body)?).unwrap_or_default().into();
        } else {
            http::check_json_content_type(&content_type)?;
        }
    }
    match (rp.name.is_some(), rp.sub.as_deref(), method) {
        (_, None, Method::GET) if query.flag("watch") => watch::watch(state, &rp, &query, render),
        (false, None, Method::GET) => crud::list(state, &rp, &query, &render),
        (false, None, Method::POST) => crud::create(state, &rp, &query, &body),
        (false, None, Method::DELETE) => crud::delete_collection(state, &rp, &query, &body),
        (true, None, Method::GET) => crud::get(state, &rp, &render),
        (true, None, Method::PUT) => crud::update(state, &rp, &query, &body, UpdateTarget::Main),
        (true, None, Method::PATCH) => crud::patch(state, &rp, &query, &content_type, &body, UpdateTarget::Main),
        (true, None, Method::DELETE) => crud::delete(state, &rp, &query, &body),
        (true, Some("status"), Method::GET) if objects::has_status_subresource(rp.info.name) => {
            crud::get(state, &rp, &render)
        }
        (true, Some("status"), Method::PUT) if objects::has_status_subresource(rp.info.name) => {
            crud::update(state, &rp, &query, &body, UpdateTarget::Status)
        }
        (true, Some("status"), Method::PATCH) if objects::has_status_subresource(rp.info.name) => {
            crud::patch(state, &rp, &query, &content_type, &body, UpdateTarget::Status)
        }
        (true, Some("binding"), Method::POST) if is_pod => crud::bind(state, &rp, &body),
        (true, Some("status" | "binding" | "log" | "exec" | "attach" | "portforward"), _) => Err(not_allowed()),
        (true, Some(_), _) => Err(unknown_resource()),
        _ => Err(not_allowed()),
    }
}
