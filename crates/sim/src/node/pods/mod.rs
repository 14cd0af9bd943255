//! One pod on this node: its directory, its containers' records and attempts, the supervisor task
//! that runs init containers then containers, the status pusher, and stopping (graceful deletion).

mod container;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};
use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::attempt::Attempt;
use super::cluster::{Cluster, PatchOutcome};
use super::mounts;
use super::network::{Network, PodNetwork};
use super::process::{self, ProcessTable};
use super::status::{self, ContainerReport, PodSnapshot};
use super::volumes::{self, Volumes};

/// What every pod shares: the node's settings and its process table.
pub struct NodeContext {
    pub data_dir: PathBuf,
    pub procs: Arc<ProcessTable>,
    /// Root with CAP_SYS_ADMIN: tmpfs volumes are mounted (detected once at node start).
    pub can_mount: bool,
    /// Each container gets a root of its own and its volumes bound in (root, and overlayfs works).
    pub isolated: bool,
    /// First restart back-off; it doubles per failure up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The pod network (a namespace per pod); `None`: pods share this machine's network.
    pub network: Option<Arc<Network>>,
    /// What the node has pulled, and from where it pulls.
    pub images: super::image::Images,
}

impl NodeContext {
    /// The directory of a pod: `<data_dir>/pods/<ns>_<name>_<uid>`.
    pub fn pod_dir(&self, namespace: &str, name: &str, uid: &str) -> PathBuf {
        self.data_dir.join("pods").join(format!("{namespace}_{name}_{uid}"))
    }
}

/// One container of the pod.
pub struct ContainerRuntime {
    pub spec: Container,
    pub init: bool,
    pub record: Mutex<ContainerReport>,
    pub attempts: Mutex<Vec<Arc<Attempt>>>,
    pub dir: PathBuf,
}

impl ContainerRuntime {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn update(&self, change: impl FnOnce(&mut ContainerReport)) {
        if let Ok(mut record) = self.record.lock() {
            change(&mut record);
        }
    }

    pub fn record(&self) -> Option<ContainerReport> {
        self.record.lock().ok().map(|r| r.clone())
    }

    pub fn last_attempt(&self) -> Option<Arc<Attempt>> {
        self.attempts.lock().ok().and_then(|a| a.last().cloned())
    }

    pub fn attempts(&self) -> Vec<Arc<Attempt>> {
        self.attempts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// A pod this node runs.
pub struct PodRuntime {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub dir: PathBuf,
    pub restart_policy: String,
    start_time: Timestamp,
    pod: Mutex<Pod>,
    pub inits: Vec<Arc<ContainerRuntime>>,
    pub containers: Vec<Arc<ContainerRuntime>>,
    pub ctx: Arc<NodeContext>,
    pub cluster: Arc<dyn Cluster>,
    pub volumes: Mutex<Volumes>,
    volume_error: Mutex<Option<String>>,
    /// The pod's network namespace and address, once made (see [`Network::attach`]).
    network: Mutex<Option<PodNetwork>>,
    /// Why the pod network could not be made (the pod waits, as a kubelet's FailedCreatePodSandBox).
    network_error: Mutex<Option<String>>,
    /// Cancelled when the pod is stopping: no more (re)starts.
    pub stopping: CancellationToken,
    changed: Notify,
    gone: AtomicBool,
    /// The supervisor task, until `stop` has waited for it.
    supervisor: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl PodRuntime {
    /// Creates the pod's directories and starts its supervisor and status pusher.
    pub fn start(pod: Pod, ctx: Arc<NodeContext>, cluster: Arc<dyn Cluster>) -> std::io::Result<Arc<PodRuntime>> {
        let meta = &pod.metadata;
        let (uid, namespace, name) = (
            meta.uid.clone().unwrap_or_default(),
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let dir = ctx.pod_dir(&namespace, &name, &uid);
        std::fs::create_dir_all(&dir)?;
        let spec = pod.spec.clone().unwrap_or_default();
        let make = |c: &Container, init: bool| -> std::io::Result<Arc<ContainerRuntime>> {
            let cdir = dir.join(&c.name);
            std::fs::create_dir_all(&cdir)?;
            Ok(Arc::new(ContainerRuntime {
                record: Mutex::new(ContainerReport::new(&c.name, c.image.as_deref().unwrap_or(""), init)),
                spec: c.clone(),
                init,
                attempts: Mutex::new(Vec::new()),
                dir: cdir,
            }))
        };
        let inits = spec.init_containers.iter().flatten().map(|c| make(c, true)).collect::<std::io::Result<_>>()?;
        let containers = spec.containers.iter().map(|c| make(c, false)).collect::<std::io::Result<_>>()?;
        let runtime = Arc::new(PodRuntime {
            restart_policy: spec.restart_policy.clone().unwrap_or_else(|| "Always".to_string()),
            start_time: Timestamp::now(),
            pod: Mutex::new(pod),
            uid,
            namespace,
            name,
            dir,
            inits,
            containers,
            ctx,
            cluster,
            volumes: Mutex::new(Volumes::default()),
            volume_error: Mutex::new(None),
            network: Mutex::new(None),
            network_error: Mutex::new(None),
            stopping: CancellationToken::new(),
            changed: Notify::new(),
            gone: AtomicBool::new(false),
            supervisor: tokio::sync::Mutex::new(None),
        });
        let span = tracing::info_span!("pod", pod.namespace = %runtime.namespace, pod.name = %runtime.name);
        tokio::spawn(runtime.clone().push_loop().instrument(span.clone()));
        let supervisor = tokio::spawn(runtime.clone().supervise().instrument(span));
        if let Ok(mut slot) = runtime.supervisor.try_lock() {
            *slot = Some(supervisor);
        }
        Ok(runtime)
    }

    /// The latest pod object (for fieldRefs).
    pub fn pod(&self) -> Pod {
        self.pod.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn set_pod(&self, pod: Pod) {
        if let Ok(mut slot) = self.pod.lock() {
            *slot = pod;
        }
    }

    /// Asks the pusher to report the status.
    pub fn notify(&self) {
        self.changed.notify_one();
    }

    pub fn container(&self, name: &str) -> Option<Arc<ContainerRuntime>> {
        self.inits.iter().chain(self.containers.iter()).find(|c| c.name() == name).cloned()
    }

    /// The pod's IP: its own on the pod network once made, `127.0.0.1` without one; `None` while it is made.
    pub fn pod_ip(&self) -> Option<String> {
        if self.ctx.network.is_none() {
            return Some(status::HOST_IP.to_string());
        }
        self.network.lock().ok()?.as_ref().map(|n| n.ip.to_string())
    }

    /// The pod's `/etc/hosts` (written once its network is made).
    pub fn hosts_path(&self) -> PathBuf {
        self.dir.join("etc-hosts")
    }

    /// The pod's network namespace, for its processes to join (`None`: this machine's network).
    pub fn netns(&self) -> Option<Arc<std::os::fd::OwnedFd>> {
        self.network.lock().ok()?.as_ref().map(|n| n.netns.clone())
    }

    /// The status as it would be reported now.
    pub fn status(&self) -> Value {
        let inits: Vec<ContainerReport> = self.inits.iter().filter_map(|c| c.record()).collect();
        let containers: Vec<ContainerReport> = self.containers.iter().filter_map(|c| c.record()).collect();
        let volume_error = self.volume_error.lock().ok().and_then(|e| e.clone());
        let network_error = self.network_error.lock().ok().and_then(|e| e.clone());
        let pod_ip = self.pod_ip();
        status::compute(&PodSnapshot {
            restart_policy: &self.restart_policy,
            start_time: self.start_time,
            inits: &inits,
            containers: &containers,
            volume_error: volume_error.as_deref().or(network_error.as_deref()),
            pod_ip: pod_ip.as_deref(),
        })
    }

    /// Makes the pod's network (retrying every 2 s, as a kubelet retries a sandbox); false if the pod started
    /// stopping meanwhile.
    async fn attach_network(&self) -> bool {
        let Some(network) = self.ctx.network.clone() else { return true };
        loop {
            match network.attach().await {
                Ok(made) => {
                    tracing::debug!(ip = %made.ip, "pod network ready");
                    let hosts = super::hosts::hosts_file(&self.pod(), &made.ip.to_string());
                    if let Err(error) = std::fs::write(self.hosts_path(), hosts) {
                        tracing::warn!(%error, "cannot write the pod's hosts file");
                    }
                    if let Ok(mut slot) = self.network.lock() {
                        *slot = Some(made);
                    }
                    if let Ok(mut e) = self.network_error.lock() {
                        *e = None;
                    }
                    // Stopped meanwhile: nothing will release it later.
                    if self.stopping.is_cancelled() {
                        self.release_network().await;
                        return false;
                    }
                    return true;
                }
                Err(err) => {
                    let why = format!("failed to create pod sandbox: setting up the pod network: {err}");
                    tracing::warn!(error = %why, "pod network not ready");
                    if let Ok(mut e) = self.network_error.lock() {
                        *e = Some(why);
                    }
                    self.notify();
                    if container::sleep_or_stop(&self.stopping, Duration::from_secs(2)).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Gives the pod's network back (its veth deleted, its address freed); the namespace ends with its last
    /// process.
    pub async fn release_network(&self) {
        let taken = self.network.lock().ok().and_then(|mut n| n.take());
        if let Some(network) = taken {
            network.release().await;
        }
    }

    pub fn phase(&self) -> String {
        self.status()["phase"].as_str().unwrap_or("Pending").to_string()
    }

    /// The network, volumes, then init containers in order, then all containers at once.
    async fn supervise(self: Arc<Self>) {
        self.notify();
        if !self.attach_network().await {
            return;
        }
        self.notify();
        loop {
            let pod = self.pod();
            match volumes::prepare(&pod, &self.dir, self.cluster.as_ref(), self.ctx.can_mount).await {
                Ok(prepared) => {
                    if let Ok(mut v) = self.volumes.lock() {
                        *v = prepared;
                    }
                    if let Ok(mut e) = self.volume_error.lock() {
                        *e = None;
                    }
                    break;
                }
                Err(why) => {
                    tracing::info!(error = %why, "volumes not ready");
                    for c in self.inits.iter().chain(self.containers.iter()) {
                        c.update(|r| r.state = status::State::waiting("ContainerCreating", Some(why.clone())));
                    }
                    if let Ok(mut e) = self.volume_error.lock() {
                        *e = Some(why);
                    }
                    self.notify();
                    if container::sleep_or_stop(&self.stopping, Duration::from_secs(2)).await {
                        return;
                    }
                }
            }
        }
        if !self.inits.is_empty() {
            for c in &self.containers {
                c.update(|r| r.state = status::State::waiting("PodInitializing", None));
            }
        }
        for init in &self.inits {
            let code = container::supervise(&self, init).await;
            if self.stopping.is_cancelled() || code != Some(0) {
                self.notify();
                return;
            }
        }
        let runs = self.containers.iter().map(|c| container::supervise(&self, c));
        futures::future::join_all(runs).await;
        self.notify();
    }

    /// Reports the status whenever it changes, until the pod is gone.
    async fn push_loop(self: Arc<Self>) {
        let mut last = Value::Null;
        loop {
            self.changed.notified().await;
            if self.gone.load(Ordering::SeqCst) {
                return;
            }
            let status = self.status();
            if status == last {
                continue;
            }
            match self.push(status.clone()).await {
                PatchOutcome::Gone => {
                    self.gone.store(true, Ordering::SeqCst);
                    return;
                }
                PatchOutcome::Done => last = status,
                PatchOutcome::Failed(_) => {}
            }
        }
    }

    /// One status patch, retried a few times.
    pub async fn push(&self, status: Value) -> PatchOutcome {
        let mut outcome = PatchOutcome::Failed(String::new());
        for attempt in 0..3u64 {
            outcome = self.cluster.patch_pod_status(&self.namespace, &self.name, &self.uid, status.clone()).await;
            match &outcome {
                PatchOutcome::Failed(error) => {
                    tracing::warn!(%error, "status patch failed");
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
                _ => break,
            }
        }
        outcome
    }

    /// Process ids of running attempts.
    fn running_pids(&self) -> Vec<u32> {
        self.inits
            .iter()
            .chain(self.containers.iter())
            .filter_map(|c| c.last_attempt())
            .filter_map(|a| a.running_pid())
            .collect()
    }

    /// Stops the pod: no more restarts, SIGTERM to each container's main process, SIGKILL to every
    /// process group after `grace`; returns once the supervisor has recorded the final states.
    ///
    /// In a real container the main process is PID 1 of its PID namespace, and the kernel does not
    /// deliver a signal to PID 1 that it has no handler for: `sleep` as a container's command ignores
    /// SIGTERM and is killed when the grace period ends (exit code 137), while a shell that traps TERM
    /// gets it. The processes here are not PID 1, so the node asks the kernel which signals the main
    /// process catches and sends SIGTERM only to one that catches it.
    pub async fn stop(&self, grace: Duration) {
        self.stopping.cancel();
        for pid in self.running_pids() {
            if process::catches_signal(pid, Signal::SIGTERM) {
                process::signal_process(pid, Signal::SIGTERM);
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.running_pids().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for pid in self.running_pids() {
            process::signal_group(pid, Signal::SIGKILL);
        }
        // Holding the lock while waiting makes a concurrent `stop` wait for the same end.
        let mut supervisor = self.supervisor.lock().await;
        if let Some(handle) = supervisor.as_mut() {
            if tokio::time::timeout(Duration::from_secs(5), handle).await.is_err() {
                tracing::warn!("pod supervisor did not end in time");
            }
            supervisor.take();
        }
    }

    /// After the pod is gone: no more status reports; tmpfs volumes unmounted. The network is given back by
    /// [`PodRuntime::release_network`], after the processes are gone.
    pub fn forget(&self) {
        self.gone.store(true, Ordering::SeqCst);
        self.stopping.cancel();
        self.notify();
        let tmpfs = self.volumes.lock().map(|v| v.tmpfs.clone()).unwrap_or_default();
        mounts::cleanup(&tmpfs);
    }

    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }
}
