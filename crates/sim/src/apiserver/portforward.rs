//! `pods/portforward` over WebSocket (`v4.channel.k8s.io`, or no subprotocol), as a kubelet serves it: for the
//! i-th port of `ports`, channel 2i carries the data and 2i+1 the errors; each channel first carries the port
//! number (two bytes, little-endian). A port that cannot be reached gets the kubelet's message on its error
//! channel. The session ends when every port's connection has ended, or the client leaves.
//!
//! SPDY is not implemented (a request without a WebSocket upgrade gets 400 `Upgrade request required`); kube-rs
//! and kubectl 1.30+ use WebSocket.

use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use super::http::{self, Query, Resp};
use super::router::ResourcePath;
use super::{target, State};
use crate::node::PodRef;
use crate::status::ApiError;

const PROTOCOL: &str = "v4.channel.k8s.io";

/// The `ports` query: repeated or comma-separated, each 1-65535.
fn ports(query: &Query) -> Result<Vec<u16>, ApiError> {
    let mut out = Vec::new();
    for value in query.all("ports") {
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<u16>() {
                Ok(port) if port > 0 => out.push(port),
                _ => return Err(ApiError::bad_request(format!("unable to parse \"{part}\" as a port: invalid port"))),
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request("at least 1 port must be specified"));
    }
    Ok(out)
}

/// The subprotocol to answer with: `v4.channel.k8s.io` when offered, else none (binary channels either way).
fn negotiate(req: &Request<Incoming>) -> Result<Option<&'static str>, ApiError> {
    let upgrade = req.headers().get(UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let offered = req.headers().get_all(SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok());
    let offered: Vec<&str> = offered.flat_map(|v| v.split(',')).map(str::trim).collect();
    if offered.contains(&PROTOCOL) {
        Ok(Some(PROTOCOL))
    } else if offered.is_empty() {
        Ok(None)
    } else if offered.iter().any(|p| p.starts_with("SPDY/")) {
        Err(ApiError::bad_request(
            "the simulated cluster serves port-forward over WebSocket with v4.channel.k8s.io (as kube-rs asks for \
             it), not SPDY tunnelled through a WebSocket (kubectl port-forward)",
        ))
    } else {
        Err(ApiError::bad_request(format!(
            "no supported WebSocket subprotocol in {offered:?}; supported: [{PROTOCOL}]"
        )))
    }
}

pub async fn serve(
    state: &State,
    rp: &ResourcePath,
    query: &Query,
    mut req: Request<Incoming>,
) -> Result<Resp, ApiError> {
    let name = rp.name.as_deref().unwrap_or_default();
    let (pod, pod_ref) = target::pod(&state.store, rp.ns(), name)?;
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if phase != "Running" {
        return Err(ApiError::bad_request(format!("pod {name} is not running; current phase is {phase}")));
    }
    let protocol = negotiate(&req)?;
    let ports = ports(query)?;
    let key = req.headers().get(SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes()));
    let key = key.ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?;
    let upgrade = hyper::upgrade::on(&mut req);
    let node = state.node.clone();
    let span = tracing::debug_span!("portforward", pod = %pod_ref.name, ?ports);
    tokio::spawn(
        async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                    bridge(ws, node, pod_ref, ports).await;
                }
                Err(err) => tracing::debug!(error = %err, "upgrade failed"),
            }
        }
        .instrument(span),
    );
    Ok(http::websocket_accepted(&key, protocol))
}

fn frame(channel: u8, payload: &[u8]) -> Message {
    let mut data = Vec::with_capacity(payload.len() + 1);
    data.push(channel);
    data.extend_from_slice(payload);
    Message::Binary(data.into())
}

/// Connects each port and pumps frames both ways until every port's connection ended or the client left.
async fn bridge<S>(ws: WebSocketStream<S>, node: std::sync::Arc<crate::node::Node>, pod: PodRef, ports: Vec<u16>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(ports.len());
    let mut writers = Vec::with_capacity(ports.len());
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = (2 * i as u8, 2 * i as u8 + 1);
        for channel in [data, error] {
            let _ = out_tx.send(frame(channel, &port.to_le_bytes())).await;
        }
        match node.port_forward(&pod, *port).await {
            Ok(stream) => {
                let (mut read, write) = stream.into_split();
                writers.push(Some(write));
                let (out_tx, done_tx) = (out_tx.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = read.read(&mut buf).await {
                        if n == 0 || out_tx.send(frame(data, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                    let _ = done_tx.send(()).await;
                });
            }
            Err(message) => {
                writers.push(None);
                let _ = out_tx.send(frame(error, message.as_bytes())).await;
                let _ = done_tx.send(()).await;
            }
        }
    }
    drop(done_tx);
    let mut remaining = ports.len();
    loop {
        tokio::select! {
            out = out_rx.recv() => {
                let Some(message) = out else { break };
                if sink.send(message).await.is_err() {
                    return;
                }
            }
            incoming = source.next() => {
                let data = match incoming {
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let Some((&channel, payload)) = data.split_first() else { continue };
                let writer = writers.get_mut(usize::from(channel / 2)).filter(|_| channel % 2 == 0);
                if let Some(slot) = writer {
                    if let Some(write) = slot.as_mut() {
                        if write.write_all(payload).await.is_err() {
                            *slot = None;
                        }
                    }
                }
            }
            finished = done_rx.recv(), if remaining > 0 => {
                if finished.is_some() {
                    remaining -= 1;
                }
                if remaining == 0 {
                    // Whatever the ports sent last goes out before the close.
                    while let Ok(message) = out_rx.try_recv() {
                        let _ = sink.send(message).await;
                    }
                    break;
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = sink.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_repeated_or_comma_separated() {
        assert_eq!(ports(&Query::parse(Some("ports=80%2C1234&ports=5"))).unwrap(), [80, 1234, 5]);
        assert_eq!(ports(&Query::parse(None)).unwrap_err().message, "at least 1 port must be specified");
        assert!(ports(&Query::parse(Some("ports=0"))).is_err());
        assert!(ports(&Query::parse(Some("ports=http"))).is_err());
    }
}
