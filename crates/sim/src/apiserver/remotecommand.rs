//! `pods/exec` and `pods/attach` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`): checks the
//! request, asks the node for the process's streams, answers 101 and bridges frames to them.
//!
//! SPDY is not implemented: a request without a WebSocket upgrade gets 400 `Upgrade request required`,
//! as a server without SPDY support answers (or the node's error of the WebSocket attempt just before,
//! see [`RecentErrors`]); kubectl 1.32 and kube-rs use WebSocket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use super::http::{self, Query, Resp};
use super::router::ResourcePath;
use super::{target, State};
use crate::node::{ExitOutcome, Output, ProcessStreams, StdinEvent, StreamOptions, TerminalSize};
use crate::status::ApiError;

const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// How long a node error is kept for the SPDY retry that follows a failed WebSocket request.
const RECENT_ERROR_TTL: Duration = Duration::from_secs(10);

/// The node's errors of recent WebSocket requests, by (pod uid, container, mode).
///
/// kubectl falls back to SPDY whenever its WebSocket request gets no 101, and shows the SPDY
/// request's error. Without SPDY, the retry would only say `Upgrade request required`; answering it
/// with the node's error from the WebSocket attempt shows the user the real reason.
#[derive(Default)]
pub struct RecentErrors(Mutex<HashMap<StreamKey, (Instant, ApiError)>>);

/// (pod uid, container, mode)
type StreamKey = (String, String, Mode);

impl RecentErrors {
    fn put(&self, key: StreamKey, err: ApiError) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < RECENT_ERROR_TTL);
        map.insert(key, (Instant::now(), err));
    }

    fn take(&self, key: &StreamKey) -> Option<ApiError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key).filter(|(at, _)| at.elapsed() < RECENT_ERROR_TTL).map(|(_, err)| err)
    }
}

/// Exec or attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Exec,
    Attach,
}

/// The WebSocket subprotocol to use from the client's offer.
fn negotiate(req: &Request<Incoming>) -> Result<&'static str, ApiError> {
    let upgrade = req.headers().get(UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let offered: Vec<&str> = req
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    PROTOCOLS.iter().find(|p| offered.contains(p)).copied().ok_or_else(|| {
        ApiError::bad_request(format!("no supported WebSocket subprotocol in {offered:?}; supported: {PROTOCOLS:?}"))
    })
}

pub async fn serve(
    state: &State,
    rp: &ResourcePath,
    query: &Query,
    mode: Mode,
    mut req: Request<Incoming>,
) -> Result<Resp, ApiError> {
    let name = rp.name.as_deref().unwrap_or_default();
    let (pod, pod_ref) = target::pod(&state.store, rp.ns(), name)?;
    let container = target::container(&pod, query.get("container"))?;
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if matches!(phase, "Succeeded" | "Failed") {
        let verb = if mode == Mode::Exec { "exec into" } else { "attach" };
        return Err(ApiError::bad_request(format!(
            "cannot {verb} a container in a completed pod; current phase is {phase}"
        )));
    }
    let flag = |a: &str, b: &str| query.flag(a) || query.flag(b);
    // With a TTY there is no separate stderr: the kubelet drops it rather than failing.
    let options = StreamOptions {
        container,
        stdin: flag("stdin", "input"),
        stdout: flag("stdout", "output"),
        stderr: flag("stderr", "error") && !query.flag("tty"),
        tty: query.flag("tty"),
    };
    if !(options.stdin || options.stdout || options.stderr) {
        return Err(ApiError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
    }
    let command = query.all("command");
    if mode == Mode::Exec && command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let recent_key = (pod_ref.uid.clone(), options.container.clone(), mode);
    let protocol = match negotiate(&req) {
        Ok(protocol) => protocol,
        Err(err) => return Err(state.recent_stream_errors.take(&recent_key).unwrap_or(err)),
    };
    let key = req.headers().get(SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes()));
    let key = key.ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?;
    let started = match mode {
        Mode::Exec => state.node.exec(&pod_ref, options, command.clone()).await,
        Mode::Attach => state.node.attach(&pod_ref, options).await,
    };
    let streams = started.inspect_err(|err| state.recent_stream_errors.put(recent_key, err.clone()))?;
    let upgrade = hyper::upgrade::on(&mut req);
    let span = tracing::debug_span!("remotecommand", pod = %pod_ref.name, ?mode, protocol);
    tokio::spawn(
        async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                    bridge(ws, streams, protocol == "v5.channel.k8s.io", command).await;
                }
                Err(err) => tracing::debug!(error = %err, "upgrade failed"),
            }
        }
        .instrument(span),
    );
    Ok(http::websocket_accepted(&key, Some(protocol)))
}

/// The status sent on channel 3 when the process has ended.
pub fn exit_status(outcome: &ExitOutcome, command: &[String]) -> Value {
    match outcome {
        ExitOutcome::Exited(0) => json!({"metadata": {}, "status": "Success"}),
        ExitOutcome::Exited(code) => json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        ExitOutcome::Error(text) => json!({"metadata": {}, "status": "Failure", "message": text}),
    }
}

fn frame(channel: u8, payload: &[u8]) -> Message {
    let mut data = Vec::with_capacity(payload.len() + 1);
    data.push(channel);
    data.extend_from_slice(payload);
    Message::Binary(data.into())
}

/// Pumps client frames to stdin/resize and output to the client; after the output's end, sends the
/// status and closes.
async fn bridge<S>(ws: WebSocketStream<S>, streams: ProcessStreams, v5: bool, command: Vec<String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ProcessStreams { stdin, mut output, resize, exit } = streams;
    let (mut sink, mut source) = ws.split();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = source.next().await {
            let data = match message {
                Message::Binary(data) => data,
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&channel, payload)) = data.split_first() else { continue };
            match channel {
                0 => {
                    if let Some(stdin) = &stdin {
                        let _ = stdin.send(StdinEvent::Data(Bytes::copy_from_slice(payload))).await;
                    }
                }
                4 => {
                    let size: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
                    let (w, h) = (size["Width"].as_u64(), size["Height"].as_u64());
                    if let (Some(resize), Some(w), Some(h)) = (&resize, w, h) {
                        let size = TerminalSize {
                            width: w.min(u16::MAX as u64) as u16,
                            height: h.min(u16::MAX as u64) as u16,
                        };
                        let _ = resize.send(size).await;
                    }
                }
                255 if v5 && payload.first() == Some(&0) => {
                    if let Some(stdin) = &stdin {
                        let _ = stdin.send(StdinEvent::Close).await;
                    }
                }
                _ => {}
            }
        }
        if let Some(stdin) = &stdin {
            let _ = stdin.send(StdinEvent::Close).await;
        }
    });
    // Until the process's output ends; a client that goes away (its frames end, or a send fails) ends the
    // session early and drops the streams, so the node sees nobody is listening.
    let mut reader = reader;
    loop {
        tokio::select! {
            out = output.recv() => {
                let message = match out {
                    Some(Output::Stdout(b)) => frame(1, &b),
                    Some(Output::Stderr(b)) => frame(2, &b),
                    None => break,
                };
                if sink.send(message).await.is_err() {
                    reader.abort();
                    return;
                }
            }
            _ = &mut reader => {
                tracing::debug!("client closed the stream before the process ended");
                return;
            }
        }
    }
    let outcome = exit.await.unwrap_or_else(|_| ExitOutcome::Error("the process's status was lost".into()));
    let status = http::status_json(&exit_status(&outcome, &command));
    let _ = sink.send(frame(3, status.as_bytes())).await;
    let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
    let _ = sink.send(Message::Close(Some(close))).await;
    let _ = sink.flush().await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses() {
        let cmd = vec!["sh".to_string(), "-c".to_string(), "exit 3".to_string()];
        assert_eq!(exit_status(&ExitOutcome::Exited(0), &cmd), json!({"metadata": {}, "status": "Success"}));
        let failed = exit_status(&ExitOutcome::Exited(3), &cmd);
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        assert_eq!(failed["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
    }

    #[tokio::test]
    async fn a_client_that_leaves_ends_the_session() {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let (out_tx, out_rx) = tokio::sync::mpsc::channel(8);
        let (_exit_tx, exit_rx) = tokio::sync::oneshot::channel();
        let streams = ProcessStreams { stdin: None, output: out_rx, resize: None, exit: exit_rx };
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let task = tokio::spawn(bridge(server, streams, true, vec!["sleep".into()]));
        drop(client_io);
        tokio::time::timeout(std::time::Duration::from_secs(5), task).await.unwrap().unwrap();
        assert!(out_tx.is_closed());
    }

    #[tokio::test]
    async fn bridge_sends_all_output_then_status_and_close() {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let (stdin_tx, mut stdin_rx) = tokio::sync::mpsc::channel(8);
        let (out_tx, out_rx) = tokio::sync::mpsc::channel(8);
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
        let streams = ProcessStreams { stdin: Some(stdin_tx), output: out_rx, resize: None, exit: exit_rx };
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let task = tokio::spawn(bridge(server, streams, true, vec!["cat".into()]));
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        client.send(frame(0, b"hi")).await.unwrap();
        client.send(frame(255, &[0])).await.unwrap();
        assert_eq!(stdin_rx.recv().await, Some(StdinEvent::Data(Bytes::from_static(b"hi"))));
        assert_eq!(stdin_rx.recv().await, Some(StdinEvent::Close));
        out_tx.send(Output::Stdout(Bytes::from_static(b"out"))).await.unwrap();
        out_tx.send(Output::Stderr(Bytes::from_static(b"err"))).await.unwrap();
        drop(out_tx);
        exit_tx.send(ExitOutcome::Exited(0)).unwrap();
        let mut got = Vec::new();
        while let Some(Ok(m)) = client.next().await {
            got.push(m);
        }
        task.await.unwrap();
        assert_eq!(got[0], frame(1, b"out"));
        assert_eq!(got[1], frame(2, b"err"));
        assert_eq!(got[2], frame(3, br#"{"metadata":{},"status":"Success"}"#));
        assert!(matches!(got[3], Message::Close(_)));
    }
}
