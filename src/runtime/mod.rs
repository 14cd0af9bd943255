//! Kubernetes side effects through `kube::Api`: the shared caches, the registry and the container lifecycle.
//!
//! What podshim knows about a container lives on two kinds of Kubernetes objects it owns (see
//! `docs/lifecycle.md` for the why):
//! - the **record**, a ConfigMap created at `docker create` and deleted at `docker rm`: the container exists
//!   exactly as long as its record does. It carries the id, the name and the create body (annotations from
//!   [`podshim_translate::labels`]).
//! - the **pod**, created at `docker start` with an ownerReference to the record (so the garbage collector
//!   removes it with the record), carrying the same annotations so it answers inspect on its own.
//!
//! The API handlers use only this file's surface: [`Runtime`] and the types next to it. Behind it:
//! - [`cache`]: the two shared watches (records, pods), one change signal, and catching up with a write;
//!   [`registry`]: the container index built from them (newest pod per record, lookup by id, prefix or name);
//!   [`image_index`]: the image records in it.
//! - `containers/`: one file per operation on a container (`create`, `rename`, `start`, `stop` with kill and
//!   restart, `remove` with prune, `wait`), and `pods` (a container's pods).
//! - `streams/`: `logs`, `attach` (output), `attach_stdin` (stdin, terminal resize), `start_handshake` (an
//!   attached run's output from its first byte, stdout and stderr apart) and `exec`.
//! - `archive/`: `docker cp` (`before_start`: files kept in the record; `helper`: the helper pod that reaches
//!   the volumes of a container that is not running; `overwrite_check`: the `noOverwriteDirNonDir` check).
//! - `ports/`: published ports (`-p`, `-P`): podshim's own listeners, forwarding to the pods, and the supervisor
//!   that keeps them in step with the containers.
//! - `events` (container events from the watches), `reaper` (auto-remove), `kube_error` (Kubernetes error
//!   classes), `ids` (fresh ids).
//! - [`images`]: pulled images (image records, the image index, registries, pull Secrets).
//! - [`binds`]: bind mounts of the caller's paths: onto claims (`--bind-map`) or copied in at start and back
//!   after the container exits.
//! - `volumes/`: Docker volumes, one PersistentVolumeClaim each (create, ensure, inspect, list, remove, prune,
//!   volume events).

mod archive;
pub mod binds;
pub mod cache;
mod containers;
mod events;
mod ids;
pub mod image_index;
pub mod images;
mod kube_error;
pub mod ports;
mod reaper;
pub mod registry;
mod streams;
mod volumes;

use containers::{create, remove, rename, start, stop, wait};
use streams::{attach, attach_stdin, exec, logs, start_handshake};

pub use exec::ExecStart;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerPruneResponse, EventMessage, ExecConfig,
    ExecInspectResponse, Volume, VolumeCreateRequest, VolumePruneResponse,
};
use bytes::Bytes;
use futures::Stream;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use archive::{ArchiveStream, PutOptions, UploadStream};
pub use registry::Container;

use crate::error::Error;
use podshim_translate::files::PathStat;
use podshim_translate::list_filters::ListFilters;

/// Settings of the lifecycle.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// How long `start` waits for the pod to run (image pull, scheduling) before failing.
    pub start_timeout: Duration,
    /// Read stdout and stderr as separate log streams (`pods/log?stream=Stdout|Stderr`, Kubernetes 1.32+ with
    /// the `PodLogsQuerySplitStreams` feature). A server without it silently ignores the parameter, so this
    /// is off unless switched on; off, both streams arrive merged as stdout.
    pub split_log_streams: bool,
    /// When an attached run's pod waits for its output to be attached before the program runs (see
    /// `docs/streams.md`).
    pub start_handshake: podshim_translate::start_handshake::Policy,
    /// Published ports: where podshim listens, the port range, how it reaches the pods.
    pub ports: ports::PortOptions,
    /// Where images are pulled from, and the pull Secrets every pod lists.
    pub registry: images::RegistryConfig,
    /// The size and storage class of a volume whose create does not name them (`--volume-size`,
    /// `--volume-storage-class`).
    pub volumes: podshim_translate::volume::VolumeDefaults,
    /// The image of the helper pod that reads (and writes) the volumes of a container that is not running
    /// (`--helper-image`; it needs `sleep` and `tar`; see `docs/interactive.md`).
    pub helper_image: String,
    /// Bind mounts: onto claims (`--bind-map`, pinned to `--node-name` when ReadWriteOnce), or copied in and back
    /// (at most `--bind-copy-limit` bytes).
    pub binds: binds::BindOptions,
}

/// The `condition` of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// The body of a finished wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOutcome {
    pub status_code: i64,
    pub error: Option<String>,
}

/// Which part of a container's output to read, after Docker's `GET /containers/{id}/logs` query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// `tail`: the last N lines; `None` for all.
    pub tail: Option<u64>,
    pub since: Option<jiff::Timestamp>,
    pub until: Option<jiff::Timestamp>,
}

/// One piece of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogChunk {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// Output as it arrives; ends when the output ends (or, following, when the container stops).
pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogChunk, Error>> + Send>>;

/// The stdin of an attach, as the client writes it; the stream's end is the client's stdin EOF.
pub type StdinStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// A stdin sink at work: resolves when it is done with the client's input.
pub type StdinFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;
/// Takes the client's stdin (the stream's end is its EOF) and delivers it to the process.
pub type StdinSink = Box<dyn FnOnce(StdinStream) -> StdinFuture + Send>;

/// An attach: the output to send, and where the client's stdin goes when it was asked for.
pub struct Attachment {
    pub output: LogStream,
    pub stdin: Option<StdinSink>,
}

/// A wait in progress: resolves when the condition is met.
pub type WaitFuture = Pin<Box<dyn Future<Output = WaitOutcome> + Send>>;

/// The client's input to a running exec; dropping it closes the process's stdin.
pub type ExecStdin = Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

/// A started exec: its output (ends once the exit code is recorded), its stdin when it was asked for, and
/// whether it has a TTY (raw output) or not (multiplexed).
pub struct ExecSession {
    pub output: LogStream,
    pub stdin: Option<ExecStdin>,
    pub tty: bool,
}

/// The lifecycle over the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    namespace: String,
    options: RuntimeOptions,
    cache: cache::Cache,
    events: broadcast::Sender<EventMessage>,
    attached: attach::Attached,
    terminals: attach_stdin::Terminals,
    handshakes: start_handshake::Handshakes,
    /// Whether the API server has `v5.channel.k8s.io` (a close signal for stdin), asked once.
    stream_close: tokio::sync::OnceCell<bool>,
    execs: exec::Execs,
    ports: ports::Ports,
    image_events: images::events::Recent,
}

impl Runtime {
    /// Starts the shared watches (records and pods) and the auto-remove reaper; returns once the caches are
    /// complete, so the first request already sees every container.
    pub async fn start(
        client: kube::Client,
        namespace: String,
        options: RuntimeOptions,
        shutdown: CancellationToken,
    ) -> Result<Runtime, Error> {
        let cache = cache::Cache::start(client.clone(), &namespace, shutdown.clone())
            .await
            .map_err(|err| Error::Unavailable(err.to_string()))?;
        let runtime = Runtime::with_cache(client, namespace, options, cache, 1024);
        events::spawn(runtime.clone(), shutdown.clone());
        ports::spawn(runtime.clone(), shutdown.clone());
        binds::spawn_copy_back(runtime.clone(), shutdown.clone());
        reaper::spawn(runtime.clone(), shutdown);
        let sweeper = runtime.clone();
        tokio::spawn(async move { archive::sweep_helpers(&sweeper).await });
        Ok(runtime)
    }

    /// A runtime whose caches are empty and never fill (no watch runs, no reaper, no events): for tests of the
    /// layers above without a cluster. Operations that reach Kubernetes use `client`.
    pub fn unsynced(client: kube::Client, namespace: String, options: RuntimeOptions) -> Runtime {
        Runtime::with_cache(client, namespace, options, cache::Cache::detached(), 16)
    }

    fn with_cache(
        client: kube::Client,
        namespace: String,
        options: RuntimeOptions,
        cache: cache::Cache,
        event_buffer: usize,
    ) -> Runtime {
        let (events, _) = broadcast::channel(event_buffer);
        let ports = ports::Ports::new(options.ports.clone());
        let inner = Inner {
            client,
            namespace,
            options,
            cache,
            events,
            attached: Default::default(),
            terminals: Default::default(),
            handshakes: Default::default(),
            stream_close: Default::default(),
            execs: exec::Execs::default(),
            ports,
            image_events: Default::default(),
        };
        Runtime { inner: Arc::new(inner) }
    }

    /// The namespace the containers live in.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The settings.
    pub fn options(&self) -> &RuntimeOptions {
        &self.inner.options
    }

    /// The Kubernetes client.
    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    /// Whether an attach session can close stdin and keep the output (`v5.channel.k8s.io`, which
    /// Kubernetes serves from 1.30 on); asked of the API server's version once. Unknown: no.
    pub(crate) async fn stream_close(&self) -> bool {
        *self
            .inner
            .stream_close
            .get_or_init(|| async {
                match self.inner.client.apiserver_version().await {
                    Ok(info) => {
                        let number = |s: &str| s.trim_end_matches('+').parse::<u32>().unwrap_or(0);
                        let (major, minor) = (number(&info.major), number(&info.minor));
                        major > 1 || (major == 1 && minor >= 30)
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the API server's version");
                        false
                    }
                }
            })
            .await
    }

    /// This replica's published ports.
    pub fn ports(&self) -> &ports::Ports {
        &self.inner.ports
    }

    /// The shared caches.
    pub(crate) fn cache(&self) -> &cache::Cache {
        &self.inner.cache
    }

    fn records_api(&self) -> kube::Api<ConfigMap> {
        kube::Api::namespaced(self.inner.client.clone(), &self.inner.namespace)
    }

    fn pods_api(&self) -> kube::Api<Pod> {
        kube::Api::namespaced(self.inner.client.clone(), &self.inner.namespace)
    }

    /// A container by full id, unique id prefix, or name (with or without `/`). 404 `No such container`.
    pub fn resolve(&self, id_or_name: &str) -> Result<Container, Error> {
        self.inner.cache.read(|index| index.resolve(id_or_name))
    }

    /// Every container.
    pub fn containers(&self) -> Vec<Container> {
        self.inner.cache.containers()
    }

    /// `POST /containers/create`: validates, translates (400/403 naming the option), writes the record.
    pub async fn create(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, Error> {
        create::create(self, name, body).await
    }

    /// `POST /containers/{id}/start`: creates the pod and waits until it runs (or has already exited), or fails
    /// with a start error naming the image. 304 when already running.
    pub async fn start_container(&self, c: &Container) -> Result<(), Error> {
        start::start(self, c).await
    }

    /// `POST /containers/{id}/stop`: graceful stop within `timeout` seconds (default: the container's
    /// StopTimeout). 304 when not running.
    pub async fn stop(&self, c: &Container, timeout: Option<i64>, signal: Option<&str>) -> Result<(), Error> {
        stop::stop(self, c, timeout, signal).await
    }

    /// `POST /containers/{id}/kill`; `reference` is the container as the client named it.
    pub async fn kill(&self, c: &Container, reference: &str, signal: &str) -> Result<(), Error> {
        stop::kill(self, c, reference, signal).await
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(&self, c: &Container, timeout: Option<i64>, signal: Option<&str>) -> Result<(), Error> {
        stop::restart(self, c, timeout, signal).await
    }

    /// `DELETE /containers/{id}`: 409 for a running container without `force`.
    pub async fn remove(&self, c: &Container, force: bool, volumes: bool) -> Result<(), Error> {
        remove::remove(self, c, force, volumes).await
    }

    /// `POST /containers/{id}/wait`: checks the container exists now (so the handler can answer 404 before it
    /// sends the 200 headers), and returns the wait itself.
    pub fn wait(&self, c: &Container, condition: WaitCondition) -> Result<WaitFuture, Error> {
        wait::wait(self, c, condition)
    }

    /// `POST /containers/{id}/rename`: 409 when the name is taken.
    pub async fn rename(&self, c: &Container, new_name: &str) -> Result<(), Error> {
        rename::rename(self, c, new_name).await
    }

    /// `POST /containers/prune`: removes stopped containers that match.
    pub async fn prune(&self, filters: &ListFilters) -> Result<ContainerPruneResponse, Error> {
        remove::prune(self, filters).await
    }

    /// `GET /containers/{id}/logs`.
    pub async fn logs(&self, c: &Container, options: LogOptions) -> Result<LogStream, Error> {
        logs::logs(self, c, options).await
    }

    /// The output half of `POST /containers/{id}/attach?stream=1`: for a created container it waits for the
    /// start and then delivers everything from the first byte; for a running one, output from now on
    /// (`logs` true: from the beginning). Ends when the container stops.
    pub async fn attach_output(
        &self,
        id_or_name: &str,
        stdout: bool,
        stderr: bool,
        logs: bool,
    ) -> Result<LogStream, Error> {
        Ok(attach::attach(self, id_or_name, stdout, stderr, logs, false).await?.output)
    }

    /// `POST /containers/{id}/attach?stream=1`: the output as [`Runtime::attach_output`] gives it, and with
    /// `stdin` (the container has `OpenStdin`) the sink for the client's stdin. An attach to a created container
    /// takes the start handshake of its next run on this replica when it can (see `docs/streams.md`): the output
    /// then comes from `pods/attach` with stdout and stderr apart, and the client's stdin follows.
    pub async fn attach(
        &self,
        id_or_name: &str,
        stdout: bool,
        stderr: bool,
        logs: bool,
        stdin: bool,
    ) -> Result<Attachment, Error> {
        attach::attach(self, id_or_name, stdout, stderr, logs, stdin).await
    }

    /// The stdin half of `POST /containers/{id}/attach?stdin=1`: delivers `stdin` to the container's process
    /// once it runs (bytes written before `start` included); the stream's end closes the process's stdin
    /// (with `StdinOnce`, for good). Returns when the process has ended; drop it to detach.
    pub async fn attach_stdin(&self, id_or_name: &str, stdin: StdinStream) -> Result<(), Error> {
        attach_stdin::attach_stdin(self, id_or_name, stdin).await
    }

    /// `POST /containers/{id}/resize`: resizes the terminal of the container's live stdin session on this
    /// replica. Without one there is no terminal stream to carry the size (Kubernetes resizes only through
    /// an attach or exec session), so it is accepted and does nothing. 409 when not running, as Docker.
    pub fn resize(&self, id_or_name: &str, height: u16, width: u16) -> Result<(), Error> {
        let c = self.resolve(id_or_name)?;
        if !c.state().is_running() {
            return Err(Error::Conflict(format!("Container {} is not running", c.id)));
        }
        let applied = self.inner.terminals.resize(&c.id, height, width);
        tracing::debug!(container.id = %c.id, applied, "terminal resize");
        Ok(())
    }

    /// `POST /containers/{id}/exec`: the new exec's id. 409 when the container is not running.
    pub fn create_exec(&self, c: &Container, config: ExecConfig) -> Result<String, Error> {
        exec::create(self, c, config)
    }

    /// `POST /exec/{id}/start`: claims the exec (409 when it ran or runs, or the container is not running);
    /// [`ExecStart::attach`] then runs it.
    pub fn start_exec(&self, exec_id: &str) -> Result<ExecStart, Error> {
        exec::start(self, exec_id)
    }

    /// `GET /exec/{id}/json`. 404 `No such exec instance` for an id this process does not know.
    pub fn inspect_exec(&self, exec_id: &str) -> Result<ExecInspectResponse, Error> {
        exec::inspect(self, exec_id)
    }

    /// `POST /exec/{id}/resize`.
    pub fn resize_exec(&self, exec_id: &str, height: u16, width: u16) -> Result<(), Error> {
        exec::resize(self, exec_id, height, width)
    }

    /// `HEAD /containers/{id}/archive`: the stat of a path in the container (404 `Could not find the file`).
    pub async fn archive_stat(&self, c: &Container, path: &str) -> Result<PathStat, Error> {
        archive::stat(self, c, path).await
    }

    /// `GET /containers/{id}/archive`: the stat of a path and a tar stream of it.
    pub async fn archive_get(&self, c: &Container, path: &str) -> Result<(PathStat, ArchiveStream), Error> {
        archive::get(self, c, path).await
    }

    /// `PUT /containers/{id}/archive`: extracts a tar (plain or gzip) into the directory `path`; before start the
    /// regular files are kept in the record and mounted at start.
    pub async fn archive_put(
        &self,
        c: &Container,
        path: &str,
        options: PutOptions,
        body: UploadStream,
    ) -> Result<(), Error> {
        archive::put(self, c, path, options, body).await
    }

    /// `POST /volumes/create`: the volume (an existing one of that name as it is).
    pub async fn volume_create(&self, request: &VolumeCreateRequest) -> Result<Volume, Error> {
        volumes::create(self, request).await
    }

    /// The volume `name`, created when missing, as `docker run -v name:/path` does; the `create` event is sent
    /// only when it was created.
    pub async fn volume_ensure(&self, name: &str) -> Result<Volume, Error> {
        volumes::ensure(self, name).await
    }

    /// A new anonymous volume (64 hex characters; `-v /path`, an image's `Volumes`).
    pub async fn volume_create_anonymous(&self, labels: &HashMap<String, String>) -> Result<Volume, Error> {
        volumes::create_anonymous(self, labels).await
    }

    /// `GET /volumes/{name}`: 404 `get NAME: no such volume`.
    pub async fn volume_inspect(&self, name: &str) -> Result<Volume, Error> {
        volumes::inspect(self, name).await
    }

    /// `GET /volumes`.
    pub async fn volume_list(&self, filters: &podshim_translate::volume::ListFilters) -> Result<Vec<Volume>, Error> {
        volumes::list(self, filters).await
    }

    /// `DELETE /volumes/{name}`: 409 while a container uses it; `force`: a missing volume is no error.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<(), Error> {
        volumes::remove(self, name, force, true).await
    }

    /// Removes a container's own anonymous volume with the container (`rm -v`, `--rm`), without waiting for its
    /// claim to go.
    pub(crate) async fn volume_remove_with_container(&self, name: &str) -> Result<(), Error> {
        volumes::remove(self, name, false, false).await
    }

    /// `POST /volumes/prune`.
    pub async fn volume_prune(
        &self,
        filters: &podshim_translate::volume::PruneFilters,
    ) -> Result<VolumePruneResponse, Error> {
        volumes::prune(self, filters).await
    }

    /// Container events (create, start, die, destroy) as they happen, derived from the shared watches.
    pub fn subscribe_events(&self) -> broadcast::Receiver<EventMessage> {
        self.inner.events.subscribe()
    }

    /// Events that already happened at or after `since` (container events from the objects' timestamps, the
    /// image events this replica sent recently), oldest first.
    pub fn past_events(&self, since: jiff::Timestamp) -> Vec<EventMessage> {
        let mut past = events::past_events(&self.containers(), since);
        past.extend(self.inner.image_events.since(since));
        past.sort_by_key(|e| e.time_nano);
        past
    }
}
