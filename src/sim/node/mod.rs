//! The simulated cluster's node (its kubelet): runs each pod's containers as processes on this machine.
//!
//! The node is a client of the simulated API server like a real kubelet is of a real one: it watches
//! pods through `kube::Client`, binds unscheduled pods to itself, runs them, reports
//! `pods/status`, and finishes graceful deletions. The API server calls into it (in process) for what
//! a real API server proxies to the kubelet: `pods/log`, `pods/exec` and `pods/attach`.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::status::ApiError;

/// The node's name, as it appears in `spec.nodeName`.
pub const NODE_NAME: &str = "podshim-sim";

/// Node settings.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's name.
    pub name: String,
    /// Root for pod directories (logs, emptyDirs) and persistentVolumeClaim directories.
    pub data_dir: PathBuf,
}

/// Which pod a request is for (the API server has checked that it exists and resolved the container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Which streams of a container's log to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogStreamSelector {
    #[default]
    All,
    Stdout,
    Stderr,
}

/// The `pods/log` query, already parsed and validated by the API server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    pub container: String,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
    /// From `sinceSeconds` or `sinceTime`.
    pub since: Option<jiff::Timestamp>,
    pub stream: LogStreamSelector,
}

/// The body of a `pods/log` response.
pub type LogStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Which streams an exec or attach wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    pub container: String,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Input for the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinEvent {
    Data(Bytes),
    /// The client closed its stdin (v5 close frame, or the connection's end with stdinOnce).
    Close,
}

/// Output of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// A terminal size for the resize channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// How an exec'd process or attached container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitOutcome {
    /// Exit code (128+signal for a signal).
    Exited(i32),
    /// It could not run or the stream broke; the text goes into the Status on the error channel.
    Error(String),
}

/// The live ends of an exec or attach session. The API server bridges them to the WebSocket.
/// `output` ends (returns `None`) after the last output; `exit` resolves after that.
pub struct ProcessStreams {
    pub stdin: Option<mpsc::Sender<StdinEvent>>,
    pub output: mpsc::Receiver<Output>,
    pub resize: Option<mpsc::Sender<TerminalSize>>,
    pub exit: oneshot::Receiver<ExitOutcome>,
}

/// The node.
pub struct Node {
    config: NodeConfig,
}

impl Node {
    pub fn new(config: NodeConfig) -> Arc<Node> {
        Arc::new(Node { config })
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Registers the node, then runs pods until `shutdown`; on shutdown kills every process it started.
    pub async fn run(self: Arc<Self>, client: kube::Client, shutdown: CancellationToken) {
        let _ = client;
        shutdown.cancelled().await;
    }

    /// `pods/log` for one container.
    pub async fn logs(&self, pod: &PodRef, query: LogQuery) -> Result<LogStream, ApiError> {
        let _ = query;
        Err(ApiError::bad_request(format!("pod {} has no logs yet", pod.name)))
    }

    /// `pods/exec`: starts `command` in the container.
    pub async fn exec(
        &self,
        pod: &PodRef,
        options: StreamOptions,
        command: Vec<String>,
    ) -> Result<ProcessStreams, ApiError> {
        let _ = (options, command);
        Err(ApiError::bad_request(format!("pod {} cannot exec yet", pod.name)))
    }

    /// `pods/attach`: connects to the running container's stdio.
    pub async fn attach(&self, pod: &PodRef, options: StreamOptions) -> Result<ProcessStreams, ApiError> {
        let _ = options;
        Err(ApiError::bad_request(format!("pod {} cannot attach yet", pod.name)))
    }
}
