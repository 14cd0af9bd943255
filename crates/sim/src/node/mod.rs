//! The simulated cluster's node (its kubelet): runs each pod's containers as processes on this machine.
//!
//! The node is a client of the simulated API server like a real kubelet is of a real one: it watches
//! pods through `kube::Client`, binds unscheduled pods to itself, runs them, reports
//! `pods/status`, and finishes graceful deletions. The API server calls into it (in process) for what
//! a real API server proxies to the kubelet: `pods/log`, `pods/exec` and `pods/attach`.
//!
//! Files: [`sync`] (pod watch, binding, graceful deletion), [`register`] (the Node object),
//! [`pods`] (one pod: supervisor, status reports, stopping), [`container`] (one container: image
//! pull, restarts), [`process`] (spawning: pty, setsid, uid/gid, mount namespace), [`volumes`],
//! [`env`], [`image`] (pulls from the simulated registries), [`image_config`] (what an image's config
//! decides), [`pull`] (waiting while a pull fails), [`pull_secrets`], [`attempt`] and [`logfile`] (one run's CRI log),
//! [`logs`] (`pods/log`), [`streams`] (exec/attach), [`status`] (pure status computation),
//! [`mounts`] (a container's bind mounts), [`rootfs`] (a container's copy-on-write root),
//! [`network`] (each pod's network namespace on the node's bridge), [`portforward`] (`pods/portforward`
//! connections), [`hosts`] (the pod's `/etc/hosts`).
//!
//! Images are pulled from the simulated registries (a pod's image must be there, as on a node
//! without internet), but their layers are not unpacked: a container runs the command its pod spec
//! and its image's config name with this machine's binaries, as root unless `runAsUser` or the
//! image's `User` says otherwise. A command this machine does not have fails to start as on a real
//! node (`StartError`, exit code 128, runc's `exec: "/hello": stat /hello: no such file or directory`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::status::ApiError;

mod attempt;
mod cluster;
mod env;
mod hosts;
mod image;
mod image_config;
mod logfile;
mod logs;
mod mounts;
mod network;
mod pods;
mod portforward;
mod process;
mod pull_secrets;
mod register;
mod rootfs;
mod status;
mod streams;
mod sync;
mod volumes;

#[cfg(test)]
mod tests;

use cluster::KubeCluster;
use pods::{ContainerRuntime, NodeContext, PodRuntime};
use process::ProcessTable;

/// The node's name, as it appears in `spec.nodeName`.
pub const NODE_NAME: &str = "podshim-sim";

/// Node settings.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's name.
    pub name: String,
    /// Root for pod directories (logs, emptyDirs) and, under `pv/`, the provisioned volumes' directories.
    pub data_dir: PathBuf,
    /// The registries the node pulls images from, by host.
    pub registries: crate::registry::Registries,
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
    ctx: Arc<NodeContext>,
    /// The pods this node runs, by uid.
    pods: Mutex<HashMap<String, Arc<PodRuntime>>>,
    /// Pods with a binding in flight / a graceful deletion in progress (by uid).
    binding: Mutex<HashSet<String>>,
    deleting: Mutex<HashSet<String>>,
    /// Pods that do not fit on the node, by uid: tried again when a pod ends.
    unschedulable: Mutex<HashMap<String, k8s_openapi::api::core::v1::Pod>>,
    /// The claims the scheduler knows (from its watch), by namespace and name; None until the watch has listed.
    claims: Mutex<Option<HashMap<(String, String), k8s_openapi::api::core::v1::PersistentVolumeClaim>>>,
}

impl Node {
    pub fn new(config: NodeConfig) -> Arc<Node> {
        Node::with_backoff(config, Duration::from_secs(1), Duration::from_secs(10))
    }

    /// A node whose restart back-off starts at `backoff` and is capped at `max_backoff`.
    fn with_backoff(config: NodeConfig, backoff: Duration, max_backoff: Duration) -> Arc<Node> {
        let can_mount = process::can_mount();
        let isolation =
            if can_mount { rootfs::probe(&config.data_dir) } else { Err("not root with CAP_SYS_ADMIN".to_string()) };
        if let Err(why) = &isolation {
            tracing::warn!(
                "{why}: containers are NOT isolated from this machine: they run on its own root filesystem, so \
                 what they write, change or delete (/tmp, /etc, ...) is written to, changed or deleted from this \
                 machine, with the rights of the user podshim runs as; pods with volume mounts fail"
            );
        }
        let network = if can_mount { network::Network::create() } else { Err(std::io::Error::other("not root")) };
        if let Err(why) = &network {
            tracing::warn!(
                "{why}: pods share this machine's network: every pod IP is 127.0.0.1, two containers cannot \
                 listen on the same port, and containers reach this machine's loopback services"
            );
        }
        let ctx = Arc::new(NodeContext {
            data_dir: config.data_dir.clone(),
            procs: Arc::new(ProcessTable::default()),
            can_mount,
            isolated: isolation.is_ok(),
            backoff,
            max_backoff,
            network: network.ok(),
            images: image::Images::new(config.registries.clone()),
        });
        Arc::new(Node {
            config,
            ctx,
            pods: Mutex::new(HashMap::new()),
            binding: Mutex::new(HashSet::new()),
            deleting: Mutex::new(HashSet::new()),
            unschedulable: Mutex::new(HashMap::new()),
            claims: Mutex::new(None),
        })
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Registers the node, then runs pods until `shutdown`; on shutdown kills every process it started.
    pub async fn run(self: Arc<Self>, client: kube::Client, shutdown: CancellationToken) {
        mounts::remove_stale_pod_dirs(&self.ctx.data_dir.join("pods"));
        let cluster: Arc<dyn cluster::Cluster> = Arc::new(KubeCluster { client: client.clone() });
        let register = tokio::spawn(register::maintain(client.clone(), self.config.name.clone(), shutdown.clone()));
        sync::watch_pods(self.clone(), client, cluster, shutdown.clone()).await;
        shutdown.cancelled().await;
        let _ = register.await;
        self.shut_down().await;
    }

    /// Kills every process group the node started and waits (a few seconds at most) for them to be reaped.
    async fn shut_down(&self) {
        let runtimes: Vec<Arc<PodRuntime>> =
            self.pods.lock().map(|p| p.values().cloned().collect()).unwrap_or_default();
        for runtime in &runtimes {
            runtime.stopping.cancel();
        }
        let killed = self.ctx.procs.close_and_kill();
        tracing::info!(processes = killed, "node stopping");
        let stops = runtimes.iter().map(|r| r.stop(Duration::ZERO));
        let _ = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(stops)).await;
        for runtime in &runtimes {
            runtime.forget();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.ctx.procs.live() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let releases = runtimes.iter().map(|r| r.release_network());
        let _ = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(releases)).await;
        if let Some(network) = &self.ctx.network {
            network.remove().await;
        }
    }

    fn pod_runtime(&self, uid: &str) -> Option<Arc<PodRuntime>> {
        self.pods.lock().ok().and_then(|p| p.get(uid).cloned())
    }

    fn insert(&self, uid: String, runtime: Arc<PodRuntime>) {
        if let Ok(mut pods) = self.pods.lock() {
            pods.insert(uid, runtime);
        }
    }

    fn pod_uids(&self) -> Vec<String> {
        self.pods.lock().map(|p| p.keys().cloned().collect()).unwrap_or_default()
    }

    /// Marks `uid` in `set`; false when it already was.
    fn begin(&self, set: &Mutex<HashSet<String>>, uid: &str) -> bool {
        set.lock().map(|mut s| s.insert(uid.to_string())).unwrap_or(false)
    }

    fn end(&self, set: &Mutex<HashSet<String>>, uid: &str) {
        if let Ok(mut s) = set.lock() {
            s.remove(uid);
        }
    }

    /// The pod is gone from the API: kill what still runs, clean up, and remove its directory after [`sync::KEEP_LOGS`].
    fn forget(&self, uid: &str) {
        self.end(&self.deleting, uid);
        let Some(runtime) = self.pods.lock().ok().and_then(|mut p| p.remove(uid)) else { return };
        tokio::spawn(async move {
            runtime.stop(Duration::ZERO).await;
            runtime.forget();
            runtime.release_network().await;
            tokio::time::sleep(sync::KEEP_LOGS).await;
            if let Err(error) = tokio::fs::remove_dir_all(&runtime.dir).await {
                tracing::debug!(%error, dir = %runtime.dir.display(), "cannot remove pod directory");
            }
        });
    }

    fn find(&self, pod: &PodRef, container: &str) -> Result<(Arc<PodRuntime>, Arc<ContainerRuntime>), ApiError> {
        let runtime = self
            .pod_runtime(&pod.uid)
            .ok_or_else(|| ApiError::bad_request(format!("pod {} does not have a host assigned", pod.name)))?;
        let c = runtime
            .container(container)
            .ok_or_else(|| ApiError::bad_request(format!("container {container} is not valid for pod {}", pod.name)))?;
        Ok((runtime, c))
    }

    /// `pods/log` for one container.
    pub async fn logs(&self, pod: &PodRef, query: LogQuery) -> Result<LogStream, ApiError> {
        let pod_dir = self.ctx.pod_dir(&pod.namespace, &pod.name, &pod.uid);
        logs::open(self.pod_runtime(&pod.uid).as_deref(), &pod_dir, &pod.name, query)
    }

    /// `pods/exec`: starts `command` in the container.
    pub async fn exec(
        &self,
        pod: &PodRef,
        options: StreamOptions,
        command: Vec<String>,
    ) -> Result<ProcessStreams, ApiError> {
        let (runtime, c) = self.find(pod, &options.container)?;
        streams::exec(&runtime, &c, options, command).await
    }

    /// `pods/portforward`: a connection to `port` on the pod's loopback, in its network namespace. The error is
    /// the kubelet's message for the error channel.
    pub async fn port_forward(&self, pod: &PodRef, port: u16) -> Result<tokio::net::TcpStream, String> {
        let runtime = self.pod_runtime(&pod.uid);
        let runtime = runtime.ok_or_else(|| format!("pod {} does not have a host assigned", pod.name))?;
        portforward::connect(runtime.netns(), port).await.map_err(|err| {
            format!(
                "error forwarding port {port} to pod {}, uid : failed to connect to localhost:{port} inside \
                 namespace of the pod: {err}",
                pod.name
            )
        })
    }

    /// `pods/attach`: connects to the running container's stdio.
    pub async fn attach(&self, pod: &PodRef, options: StreamOptions) -> Result<ProcessStreams, ApiError> {
        let (runtime, c) = self.find(pod, &options.container)?;
        streams::attach(&runtime, &c, options).await
    }
}
