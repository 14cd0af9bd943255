//! The simulated cluster's API server: the Kubernetes REST API over plain HTTP on 127.0.0.1.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::node::Node;

/// Serves the API on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, node: Arc<Node>, shutdown: CancellationToken) {
    let _ = (listener, node);
    shutdown.cancelled().await;
}
