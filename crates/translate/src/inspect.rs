//! `GET /containers/{id}/json` (operation ContainerInspect): a pod becomes Docker's container inspect answer
//! ([`pod_to_inspect`]). The parts that `GET /containers/json` shares (the create body read back from the pod, the
//! command, the network) are here too and used by [`super::summary`].
//!
//! Everything is read from the pod: the id, name and create body from podshim's annotations ([`super::labels`]),
//! the state from its status ([`super::state`]). The caller merges the image's config into the body
//! ([`super::image_merge`]) before, so `Config`, `Path` and `Args` are what Docker shows.

use std::collections::{BTreeSet, HashMap};

use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig,
    HostConfigCgroupnsModeEnum, HostConfigLogConfig, NetworkSettings, RestartPolicy, RestartPolicyNameEnum,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value};

use super::image_ref::reference_to_image_id;
use super::labels::{short_id, CONFIG_ANNOTATION, ID_ANNOTATION, IMAGE_ID_ANNOTATION, NAME_ANNOTATION};
use super::mounts::ContainerMount;
use super::ports::{exposed, port_map, published_from_pod, PortKey, Published};
use super::state::{pod_to_state, DockerState, StartFailure, Status};

/// The storage driver inspect reports. containerd's default snapshotter on Kubernetes nodes is overlayfs, which is
/// what Docker calls `overlay2`; clients only print it. `GraphDriver` is left out: its paths are on a node.
pub const DRIVER: &str = "overlay2";
/// The one network every podshim container is on: the pod network, shown under Docker's default network name so
/// clients that look up `NetworkSettings.Networks["bridge"]` (testcontainers) find the pod IP.
pub const NETWORK: &str = "bridge";
/// Docker's default `/dev/shm` size, which is also containerd's default for a pod's shm.
const SHM_SIZE: i64 = 64 * 1024 * 1024;

/// The view of one container that inspect and list show: what podshim knows about it, read from its pod (or its
/// record, before the first start) once and shared by both. ("Record" is only ever the ConfigMap.)
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub id: String,
    /// The Docker name without the leading `/`.
    pub name: String,
    /// The create body from [`CONFIG_ANNOTATION`]; when that is missing or unreadable, the image and command
    /// from the pod spec (a pod podshim did not write this way; it is still shown, never a panic).
    pub body: ContainerCreateBody,
    pub state: DockerState,
    /// The pod's creationTimestamp, else the time the caller gives for a record not yet stored.
    pub created: Option<Timestamp>,
    /// The pod IP while the container is running. Docker shows no address for a container that is created,
    /// restarting or exited (checked with Docker 20.10), although a pod keeps its IP in its status throughout.
    pub ip: Option<String>,
    /// The published ports ([`super::labels::PORTS_ANNOTATION`] of the pod) while the container is running; `None` otherwise,
    /// as Docker shows no ports for a container that does not run.
    pub published: Option<Vec<Published>>,
    /// `Gateway` while the container runs: the address at which the caller's side reaches the published ports
    /// (the caller's side chooses it; see docs/network.md). `None`: empty, as before podshim knew one.
    pub gateway: Option<String>,
    /// The id of the image the container was created from (`sha256:` of its config); `None` for a container
    /// written before podshim resolved images, which shows [`reference_to_image_id`] instead.
    pub image_id: Option<String>,
    /// The container's volumes and tmpfs mounts ([`crate::mounts::MOUNTS_ANNOTATION`]); empty when it has none or
    /// they are unreadable.
    pub mounts: Vec<ContainerMount>,
    /// The namespace of the container's objects (inspect names its volumes' claims in it).
    pub namespace: String,
}

impl ContainerView {
    /// The record for a pod. `created` is used when the pod has no creationTimestamp (a pod built by
    /// [`super::pod::create_to_pod`] that the API server has not stored yet).
    pub fn from_pod(pod: &Pod, created: Option<Timestamp>) -> Self {
        let annotations = pod.metadata.annotations.as_ref();
        let annotation = |key: &str| annotations.and_then(|a| a.get(key)).cloned();
        let body = annotation(CONFIG_ANNOTATION)
            .and_then(|json| serde_json::from_str::<ContainerCreateBody>(&json).ok())
            .unwrap_or_else(|| body_from_spec(pod));
        let state = pod_to_state(Some(pod));
        ContainerView {
            id: annotation(ID_ANNOTATION).unwrap_or_default(),
            name: annotation(NAME_ANNOTATION).or_else(|| pod.metadata.name.clone()).unwrap_or_default(),
            body,
            ip: pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .filter(|ip| !ip.is_empty() && matches!(state.status, Status::Running | Status::Paused)),
            published: matches!(state.status, Status::Running | Status::Paused).then(|| published_from_pod(pod)),
            gateway: None,
            state,
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0).or(created),
            image_id: annotation(IMAGE_ID_ANNOTATION),
            mounts: crate::mounts::from_annotations(annotations).unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        }
    }

    /// The container's exposed ports (its ExposedPorts and published ports; the image's EXPOSE is not known).
    pub fn exposed(&self) -> BTreeSet<PortKey> {
        exposed(&self.body, &[]).unwrap_or_default()
    }

    /// The image reference as the create body gave it.
    pub fn image(&self) -> String {
        self.body.image.clone().unwrap_or_default()
    }

    /// The image id inspect's `Image` and ps's `ImageID` show.
    pub fn image_id(&self) -> String {
        self.image_id.clone().unwrap_or_else(|| reference_to_image_id(&self.image()))
    }

    /// Docker's `Path` and `Args`: the first element of Entrypoint + Cmd and the rest (moby
    /// daemon.getEntrypointAndArgs), from the body with the image's config merged in. An empty Entrypoint (`[]` or
    /// `[""]`) is no entrypoint.
    pub fn path_and_args(&self) -> (String, Vec<String>) {
        let entrypoint = self.body.entrypoint.as_deref().unwrap_or_default();
        let entrypoint = if entrypoint.iter().all(String::is_empty) { &[][..] } else { entrypoint };
        let mut all = entrypoint.iter().chain(self.body.cmd.as_deref().unwrap_or_default()).cloned();
        let path = all.next().unwrap_or_default();
        (path, all.collect())
    }

    /// Docker's `State.Error`: the state's own error, else why the start did not get the program running.
    pub fn state_error(&self) -> String {
        if !self.state.error.is_empty() {
            return self.state.error.clone();
        }
        match &self.state.start_failure {
            None => String::new(),
            Some(StartFailure::ImagePull { image, reason, message }) => {
                join(&format!("image {image} could not be pulled: {reason}"), message)
            }
            Some(StartFailure::Unschedulable { message }) => join("no node can run the container", message),
            Some(StartFailure::Container { reason, message }) => join(reason, message),
        }
    }

    /// `HostConfig.NetworkMode`: `bridge` for Docker's `default` or none, as API 1.44+ daemons report it
    /// (Docker 20.10 still echoes `default`). Any other mode was refused at create, so it is echoed as given.
    pub fn network_mode(&self) -> String {
        let mode = self.body.host_config.as_ref().and_then(|h| h.network_mode.as_deref()).unwrap_or("");
        if mode.is_empty() || mode == "default" {
            NETWORK.to_string()
        } else {
            mode.to_string()
        }
    }

    /// `NetworkSettings.Networks`: the pod network under [`NETWORK`], with the pod IP once known and the
    /// gateway (see [`ContainerView::gateway`]) while it runs. Prefix length and MAC address belong to the
    /// node's CNI and are left empty.
    pub fn networks(&self) -> HashMap<String, EndpointSettings> {
        let endpoint = EndpointSettings {
            ip_address: Some(self.ip.clone().unwrap_or_default()),
            ip_prefix_len: Some(0),
            gateway: Some(self.running_gateway()),
            mac_address: Some(String::new()),
            network_id: Some(String::new()),
            endpoint_id: Some(String::new()),
            ipv6_gateway: Some(String::new()),
            global_ipv6_address: Some(String::new()),
            global_ipv6_prefix_len: Some(0),
            ..Default::default()
        };
        HashMap::from([(NETWORK.to_string(), endpoint)])
    }
}

impl ContainerView {
    /// [`ContainerView::gateway`] while the container has an address, else empty (as Docker shows it).
    pub fn running_gateway(&self) -> String {
        self.ip.as_ref().and(self.gateway.clone()).unwrap_or_default()
    }
}

fn join(head: &str, message: &str) -> String {
    if message.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {message}")
    }
}

/// A create body from the pod spec alone: image, and command/args as Entrypoint/Cmd (the inverse of
/// [`super::process::command_and_args`]).
fn body_from_spec(pod: &Pod) -> ContainerCreateBody {
    let container = pod.spec.as_ref().and_then(|s| s.containers.first());
    ContainerCreateBody {
        image: container.and_then(|c| c.image.clone()),
        entrypoint: container.and_then(|c| c.command.clone()),
        cmd: container.and_then(|c| c.args.clone()),
        ..Default::default()
    }
}

/// The inspect answer for a container's pod. `created` stands in for a missing creationTimestamp (see
/// [`ContainerView::from_pod`]); a pod without status is a created container.
///
/// - `Image` is the image id ([`ContainerView::image_id`]); `Config.Image` the reference as the client gave it.
/// - `Created` is RFC 3339 with as many fraction digits as needed, as Go prints RFC3339Nano (Kubernetes keeps
///   whole seconds); a record with no time at all shows Go's zero time.
/// - `Mounts` lists the volumes and the `--mount type=tmpfs` mounts ([`crate::mounts::inspect_mounts`]). `NetworkSettings.Ports` shows the published ports while
///   the container runs ([`port_map`]).
pub fn pod_to_inspect(pod: &Pod, created: Option<Timestamp>) -> ContainerInspectResponse {
    view_to_inspect(&ContainerView::from_pod(pod, created))
}

/// [`pod_to_inspect`] for a record already read.
pub fn view_to_inspect(view: &ContainerView) -> ContainerInspectResponse {
    let (path, args) = view.path_and_args();
    let mut state = view.state.to_model();
    state.error = Some(view.state_error());
    ContainerInspectResponse {
        id: Some(view.id.clone()),
        created: Some(view.created.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.to_string())),
        path: Some(path),
        args: Some(args),
        state: Some(state),
        image: Some(view.image_id()),
        resolv_conf_path: Some(String::new()),
        hostname_path: Some(String::new()),
        hosts_path: Some(String::new()),
        log_path: Some(String::new()),
        name: Some(format!("/{}", view.name)),
        restart_count: Some(view.state.restart_count),
        driver: Some(DRIVER.to_string()),
        platform: Some("linux".to_string()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(String::new()),
        exec_ids: None,
        host_config: Some(host_config(view)),
        mounts: Some(crate::mounts::inspect_mounts(&view.mounts, &view.namespace)),
        config: Some(config(view)),
        network_settings: Some(NetworkSettings {
            sandbox_id: Some(String::new()),
            sandbox_key: Some(String::new()),
            ports: Some(port_map(&view.exposed(), view.published.as_deref())),
            networks: Some(view.networks()),
        }),
        ..Default::default()
    }
}

/// The create body's HostConfig with the defaults a Docker daemon fills in, for the fields clients read:
/// NetworkMode (see [`ContainerView::network_mode`]), RestartPolicy `no`, LogConfig `json-file` (`docker logs`
/// works, through the kubelet), IpcMode `private`, CgroupnsMode `private` (what Docker and the kubelet give on a
/// cgroup v2 node) and ShmSize 64 MiB (what a pod gets), PortBindings as asked (empty when none), empty DNS
/// lists and ConsoleSize, and
/// `false`/`0` for the flags and limits a client tests. Fields Docker shows as `null` are left out: bollard's
/// models skip `None` when serialising.
fn host_config(view: &ContainerView) -> HostConfig {
    let mut hc = view.body.host_config.clone().unwrap_or_default();
    hc.network_mode = Some(view.network_mode());
    let policy = hc.restart_policy.get_or_insert_with(RestartPolicy::default);
    if matches!(policy.name, None | Some(RestartPolicyNameEnum::EMPTY)) {
        policy.name = Some(RestartPolicyNameEnum::NO);
    }
    policy.maximum_retry_count.get_or_insert(0);
    let log = hc.log_config.get_or_insert_with(HostConfigLogConfig::default);
    if log.typ.as_deref().unwrap_or("").is_empty() {
        log.typ = Some("json-file".to_string());
    }
    log.config.get_or_insert_with(HashMap::new);
    if hc.ipc_mode.as_deref().unwrap_or("").is_empty() {
        hc.ipc_mode = Some("private".to_string());
    }
    if matches!(hc.cgroupns_mode, None | Some(HostConfigCgroupnsModeEnum::EMPTY)) {
        hc.cgroupns_mode = Some(HostConfigCgroupnsModeEnum::PRIVATE);
    }
    if hc.shm_size.unwrap_or(0) == 0 {
        hc.shm_size = Some(SHM_SIZE);
    }
    hc.port_bindings.get_or_insert_with(HashMap::new);
    hc.console_size.get_or_insert_with(|| vec![0, 0]);
    for list in [&mut hc.dns, &mut hc.dns_options, &mut hc.dns_search] {
        list.get_or_insert_with(Vec::new);
    }
    for flag in [&mut hc.auto_remove, &mut hc.privileged, &mut hc.publish_all_ports, &mut hc.readonly_rootfs] {
        flag.get_or_insert(false);
    }
    for limit in [&mut hc.memory, &mut hc.nano_cpus, &mut hc.cpu_shares, &mut hc.cpu_quota, &mut hc.cpu_period] {
        limit.get_or_insert(0);
    }
    hc
}

/// The create body's Config part (with the image's config merged in by the caller) as Docker shows it: Hostname
/// defaults to the short id, strings to `""`, flags to `false`, `Env` to `[]` and `Labels` to `{}`.
fn config(view: &ContainerView) -> ContainerConfig {
    let b = &view.body;
    let text = |s: &Option<String>| Some(s.clone().unwrap_or_default());
    let flag = |f: Option<bool>| Some(f.unwrap_or(false));
    let hostname = b.hostname.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| short_id(&view.id).to_string());
    ContainerConfig {
        hostname: Some(hostname),
        domainname: text(&b.domainname),
        user: text(&b.user),
        attach_stdin: flag(b.attach_stdin),
        attach_stdout: flag(b.attach_stdout),
        attach_stderr: flag(b.attach_stderr),
        exposed_ports: b.exposed_ports.clone(),
        tty: flag(b.tty),
        open_stdin: flag(b.open_stdin),
        stdin_once: flag(b.stdin_once),
        env: Some(b.env.clone().unwrap_or_default()),
        cmd: b.cmd.clone(),
        healthcheck: b.healthcheck.clone(),
        args_escaped: b.args_escaped,
        image: Some(view.image()),
        volumes: b.volumes.clone(),
        working_dir: text(&b.working_dir),
        entrypoint: b.entrypoint.clone(),
        network_disabled: b.network_disabled,
        on_build: b.on_build.clone(),
        labels: Some(b.labels.clone().unwrap_or_default()),
        stop_signal: b.stop_signal.clone(),
        stop_timeout: b.stop_timeout,
        shell: b.shell.clone(),
    }
}

/// The deprecated top-level `NetworkSettings` fields of API 1.50 (`IPAddress`, `Gateway`, ...), which
/// bollard's model no longer has but older clients still read (docker-py `attrs['NetworkSettings']['IPAddress']`).
/// The handler merges them into the serialised `NetworkSettings` object.
pub fn legacy_network_fields(view: &ContainerView) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("IPAddress".into(), Value::String(view.ip.clone().unwrap_or_default()));
    m.insert("IPPrefixLen".into(), Value::from(0));
    m.insert("Gateway".into(), Value::String(view.running_gateway()));
    for key in ["MacAddress", "EndpointID", "GlobalIPv6Address", "IPv6Gateway", "Bridge"] {
        m.insert(key.into(), Value::String(String::new()));
    }
    m.insert("GlobalIPv6PrefixLen".into(), Value::from(0));
    m.insert("HairpinMode".into(), Value::Bool(false));
    m
}

#[cfg(test)]
#[path = "inspect_golden_tests.rs"]
mod golden_tests;
