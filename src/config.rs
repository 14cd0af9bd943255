//! Command-line flags (each also readable from `PODSHIM_<FLAG>`) and the validated [`Config`] they resolve to.
//!
//! Tests build a [`Config`] directly; only `main` parses [`Flags`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::runtime::binds::BindOptions;
use crate::runtime::images::{Endpoint, RegistryConfig};
use crate::runtime::ports::options::{ephemeral_range, host_name, loopback, parse_range, ForwardMode, PortOptions};
use podshim_translate::binds::BindMap;
use podshim_translate::start_handshake::Policy;
use podshim_translate::volume::VolumeDefaults;

/// The flags as typed. `--listen` may repeat; in the environment, separate listeners with commas.
#[derive(Debug, Parser)]
#[command(name = "podshim", version, about = "Docker Engine API server that runs every container as a Kubernetes pod")]
pub struct Flags {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where to serve the Docker API: unix:///path or tcp://host:port (repeatable).
    #[arg(long, env = "PODSHIM_LISTEN", value_delimiter = ',', default_value = "unix:///var/run/podshim.sock")]
    pub listen: Vec<String>,
    /// Where to serve /metrics (Prometheus text) and /healthz: unix:///path or tcp://host:port.
    #[arg(long, env = "PODSHIM_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Group of the unix sockets (mode 0660), a name or a gid (default: "docker" if it exists, else podshim's own).
    #[arg(long, env = "PODSHIM_SOCKET_GROUP")]
    pub socket_group: Option<String>,
    /// With --sim, allow a tcp:// Docker API listener, which every local user can connect to.
    #[arg(long, env = "PODSHIM_INSECURE_TCP")]
    pub insecure_tcp: bool,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else the in-cluster service account).
    #[arg(long, env = "PODSHIM_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, env = "PODSHIM_CONTEXT")]
    pub context: Option<String>,
    /// Namespace for the pods (default: the context's namespace, else "default").
    #[arg(long, env = "PODSHIM_NAMESPACE")]
    pub namespace: Option<String>,
    /// Start the built-in simulated cluster and use it (for trying and testing: its containers are processes on
    /// this machine, with a copy-on-write root of their own only when podshim runs as root).
    #[arg(long, env = "PODSHIM_SIM")]
    pub sim: bool,
    /// Directory for the simulated cluster's kubeconfig, logs and volumes (made with mode 0700; refused if it
    /// belongs to another user).
    #[arg(long, env = "PODSHIM_SIM_DATA")]
    pub sim_data: Option<PathBuf>,
    /// How long `docker start` waits for the pod to run (image pull, scheduling), e.g. 2m, 90s.
    #[arg(long, env = "PODSHIM_START_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub start_timeout: Duration,
    /// Read stdout and stderr as separate log streams (`pods/log?stream=...`). Needs Kubernetes 1.32+ with the
    /// PodLogsQuerySplitStreams feature gate: a server without it silently ignores the parameter and would send
    /// both streams twice. Default: on with --sim (the simulated cluster has it), off otherwise.
    #[arg(long, env = "PODSHIM_SPLIT_LOG_STREAMS")]
    pub split_log_streams: Option<bool>,
    /// When an attached run's command waits for its output to be attached (`pods/attach`, stdout and stderr
    /// apart on any Kubernetes): `auto` when the image shows it has /bin/sh, `always`, or `never` (attached
    /// runs read pods/log). See docs/streams.md.
    #[arg(long, env = "PODSHIM_START_HANDSHAKE", default_value = "auto", value_parser = parse_policy)]
    pub start_handshake: Policy,
    /// A mirror of Docker Hub, as dockerd's: http://host:port or https://host (repeatable, tried in order).
    /// A mirror's answer is final; Docker Hub itself is asked only when no mirror can be reached. With --sim,
    /// the simulated cluster's registry unless given.
    #[arg(long = "registry-mirror", env = "PODSHIM_REGISTRY_MIRROR", value_delimiter = ',')]
    pub registry_mirrors: Vec<String>,
    /// A registry (host[:port]) reached without TLS verification, or over plain HTTP when TLS fails
    /// (repeatable). Loopback registries always are, as in dockerd.
    #[arg(long = "insecure-registry", env = "PODSHIM_INSECURE_REGISTRY", value_delimiter = ',')]
    pub insecure_registries: Vec<String>,
    /// A pull Secret (kubernetes.io/dockerconfigjson, in podshim's namespace) every pod lists in
    /// imagePullSecrets (repeatable).
    #[arg(long = "image-pull-secret", env = "PODSHIM_IMAGE_PULL_SECRET", value_delimiter = ',')]
    pub image_pull_secrets: Vec<String>,
    /// Log output format.
    #[arg(long, env = "PODSHIM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where published ports listen when the client names no host address (repeatable). Default: where clients
    /// reach podshim: loopback (127.0.0.1 and ::1) for a unix socket, the address of each tcp:// listener.
    #[arg(long, env = "PODSHIM_PUBLISHED_IP", value_delimiter = ',')]
    pub published_ip: Vec<IpAddr>,
    /// Host ports chosen for -p with no host port and for -P, as LOW-HIGH. Default: the kernel's ephemeral range
    /// (/proc/sys/net/ipv4/ip_local_port_range).
    #[arg(long, env = "PODSHIM_PUBLISHED_PORT_RANGE", value_parser = parse_range)]
    pub published_port_range: Option<RangeInclusive<u16>>,
    /// How published ports reach the pods: straight to the pod IP (direct), through the API server's
    /// pods/portforward (portforward, TCP only), or direct when the pod IP answers and portforward otherwise (auto).
    #[arg(long, env = "PODSHIM_PORT_FORWARD_MODE", value_enum, default_value_t = ForwardMode::Auto)]
    pub port_forward_mode: ForwardMode,
    /// This replica's name, written on the pods whose published ports it listens on; a restarted podshim with the
    /// same name opens them again. Default: the host name (a pod's name, for a sidecar).
    #[arg(long, env = "PODSHIM_REPLICA_NAME")]
    pub replica_name: Option<String>,
    /// The address of Docker's `host-gateway` (--add-host NAME:host-gateway): where a container reaches podshim's
    /// side. Default: learned from the pod network (podshim's own address toward a running pod).
    #[arg(long, env = "PODSHIM_HOST_GATEWAY_IP")]
    pub host_gateway_ip: Option<IpAddr>,
    /// The storage a volume's PersistentVolumeClaim requests when `docker volume create` gives no `-o size=`
    /// (a Kubernetes quantity such as 1Gi, or a Docker size such as 1g; see docs/volumes.md).
    #[arg(long, env = "PODSHIM_VOLUME_SIZE", default_value = "1Gi", value_parser = parse_volume_size)]
    pub volume_size: String,
    /// The storage class of a volume's claim when `docker volume create` gives no `-o storageClass=`. Unset: the
    /// claim names none, so the cluster's default storage class applies.
    #[arg(long, env = "PODSHIM_VOLUME_STORAGE_CLASS", value_parser = parse_storage_class)]
    pub volume_storage_class: Option<String>,
    /// The image of the short-lived helper pod that reads a stopped or exited container's volumes for `docker cp`
    /// (its filesystem is gone with its pod), and of the containers that copy bind mounts in and back: it needs
    /// `sleep`, `tar`, `head`, `mkfifo` and `/bin/sh`, and the nodes must be able to pull it.
    #[arg(long, env = "PODSHIM_HELPER_IMAGE", default_value = "busybox", value_parser = parse_helper_image)]
    pub helper_image: String,
    /// Bind mounts onto a claim, HOSTPREFIX=CLAIM[/SUBPATH] (repeatable, or comma-separated): a bind source under
    /// HOSTPREFIX is that claim's directory SUBPATH/<the rest of the path> (the sidecar deployment: the caller's
    /// work directory is itself on the claim). A bind no map covers is copied in and back (docs/binds.md).
    #[arg(long = "bind-map", env = "PODSHIM_BIND_MAP", value_delimiter = ',', value_parser = parse_bind_map)]
    pub bind_maps: Vec<BindMap>,
    /// The node podshim runs on (the downward API's spec.nodeName): pods mounting a ReadWriteOnce claim of
    /// --bind-map are pinned to it, where the caller has that claim mounted.
    #[arg(long, env = "PODSHIM_NODE_NAME")]
    pub node_name: Option<String>,
    /// The most a container's copied binds may hold, in and back (bytes, or with k, m, g: 512m); a copy in over it
    /// fails the start with a 400 naming it.
    #[arg(long, env = "PODSHIM_BIND_COPY_LIMIT", default_value = "1g", value_parser = podshim_translate::binds::parse_size)]
    pub bind_copy_limit: u64,
}

/// Other things the binary can do besides serving the Docker API.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run only the simulated cluster, until SIGINT/SIGTERM, and write <sim-data>/kubeconfig. Lets tests stop
    /// and restart podshim (`--kubeconfig <sim-data>/kubeconfig`) while the cluster and its pods keep running.
    SimCluster {
        /// Directory for the kubeconfig, logs and volumes.
        #[arg(long, env = "PODSHIM_SIM_DATA")]
        sim_data: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// One Docker API listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// Where the Kubernetes cluster comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// The built-in simulated cluster, keeping its files under `data_dir`.
    Simulated { data_dir: PathBuf, namespace: Option<String> },
    /// A kubeconfig file (or, with `path: None`, what kubectl would pick), else in-cluster.
    Kubeconfig { path: Option<PathBuf>, context: Option<String>, namespace: Option<String> },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<ListenAddr>,
    pub admin_listen: Option<ListenAddr>,
    /// The group asked for with `--socket-group` (None: dockerd's default, see [`crate::server::SocketGroup`]).
    pub socket_group: Option<String>,
    pub start_timeout: Duration,
    pub split_log_streams: bool,
    pub start_handshake: Policy,
    pub cluster: ClusterSource,
    pub log_format: LogFormat,
    pub ports: PortOptions,
    /// Registry mirrors, insecure registries and pull Secrets (with --sim and no mirror, the caller adds the
    /// simulated cluster's registry).
    pub registry: RegistryConfig,
    /// A volume's size and storage class when its create does not say.
    pub volumes: VolumeDefaults,
    /// The helper pod's image (`--helper-image`).
    pub helper_image: String,
    /// Bind mounts: `--bind-map`, `--node-name`, `--bind-copy-limit`.
    pub binds: BindOptions,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid --listen {0:?}: expected unix:///path or tcp://host:port")]
    BadListen(String),
    #[error("--listen {0}: with --sim podshim only listens on unix sockets and loopback addresses, because the simulated cluster runs containers as plain processes on this machine")]
    SimNeedsLocalListener(String),
    #[error("--listen {0}: with --sim, every local user could connect to a TCP listener, even on loopback, and run processes as the user podshim runs as; use a unix socket (mode 0660), or add --insecure-tcp to accept that")]
    SimTcpNeedsInsecure(String),
    #[error("--sim cannot be combined with --kubeconfig or --context")]
    SimWithKubeconfig,
    #[error("--sim-data needs --sim")]
    SimDataWithoutSim,
    #[error("--registry-mirror: {0}")]
    BadMirror(String),
    #[error("--insecure-registry {0:?}: expected host[:port]")]
    BadInsecureRegistry(String),
    #[error("--image-pull-secret {0:?}: not a Secret name")]
    BadPullSecret(String),
}

impl Config {
    pub fn from_flags(flags: Flags) -> Result<Config, ConfigError> {
        let listen = flags.listen.iter().map(|raw| parse_listen(raw)).collect::<Result<Vec<_>, _>>()?;
        let admin_listen = flags.admin_listen.as_deref().map(parse_listen).transpose()?;
        let cluster = if flags.sim {
            if flags.kubeconfig.is_some() || flags.context.is_some() {
                return Err(ConfigError::SimWithKubeconfig);
            }
            let all = flags.listen.iter().zip(&listen).chain(flags.admin_listen.iter().zip(&admin_listen));
            for (raw, addr) in all {
                if let ListenAddr::Tcp(sock) = addr {
                    if !sock.ip().is_loopback() {
                        return Err(ConfigError::SimNeedsLocalListener(raw.clone()));
                    }
                }
            }
            // The admin endpoint only reads counters; the Docker API runs processes.
            let tcp = flags.listen.iter().zip(&listen).find(|(_, addr)| matches!(addr, ListenAddr::Tcp(_)));
            if let Some((raw, _)) = tcp.filter(|_| !flags.insecure_tcp) {
                return Err(ConfigError::SimTcpNeedsInsecure(raw.clone()));
            }
            ClusterSource::Simulated {
                data_dir: flags.sim_data.unwrap_or_else(default_sim_data),
                namespace: flags.namespace,
            }
        } else {
            if flags.sim_data.is_some() {
                return Err(ConfigError::SimDataWithoutSim);
            }
            ClusterSource::Kubeconfig { path: flags.kubeconfig, context: flags.context, namespace: flags.namespace }
        };
        let split_log_streams = flags.split_log_streams.unwrap_or(flags.sim);
        let addresses =
            if flags.published_ip.is_empty() { published_addresses(&listen) } else { flags.published_ip.clone() };
        let ports = PortOptions {
            addresses,
            range: flags.published_port_range.clone().unwrap_or_else(ephemeral_range),
            mode: flags.port_forward_mode,
            replica: flags.replica_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(host_name),
            host_gateway: flags.host_gateway_ip,
        };
        let registry = registry_config(&flags.registry_mirrors, &flags.insecure_registries, &flags.image_pull_secrets)?;
        Ok(Config {
            ports,
            listen,
            admin_listen,
            socket_group: flags.socket_group,
            start_timeout: flags.start_timeout,
            split_log_streams,
            start_handshake: flags.start_handshake,
            cluster,
            log_format: flags.log_format,
            registry,
            volumes: VolumeDefaults {
                size: flags.volume_size,
                storage_class: flags.volume_storage_class.filter(|c| !c.is_empty()),
            },
            helper_image: flags.helper_image,
            binds: BindOptions {
                maps: flags.bind_maps,
                node_name: flags.node_name.filter(|n| !n.is_empty()),
                copy_limit: flags.bind_copy_limit,
            },
        })
    }
}

/// Where clients reach podshim, so where published ports listen by default: loopback for a unix socket, the
/// listener's address for TCP (in the order given, without repeats).
pub fn published_addresses(listen: &[ListenAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for addr in listen {
        let ips = match addr {
            ListenAddr::Unix(_) => loopback(),
            ListenAddr::Tcp(sock) => vec![sock.ip()],
        };
        for ip in ips {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// The registry flags, checked.
fn registry_config(mirrors: &[String], insecure: &[String], secrets: &[String]) -> Result<RegistryConfig, ConfigError> {
    let mirrors = mirrors
        .iter()
        .filter(|m| !m.is_empty())
        .map(|m| Endpoint::parse_url(m).map_err(ConfigError::BadMirror))
        .collect::<Result<Vec<_>, _>>()?;
    let mut hosts = Vec::new();
    for raw in insecure.iter().filter(|h| !h.is_empty()) {
        let host = raw.strip_prefix("http://").or_else(|| raw.strip_prefix("https://")).unwrap_or(raw);
        let host = host.trim_end_matches('/');
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err(ConfigError::BadInsecureRegistry(raw.clone()));
        }
        hosts.push(host.to_string());
    }
    for name in secrets.iter().filter(|s| !s.is_empty()) {
        if name.len() > 253 || !name.split('.').all(podshim_translate::labels::is_dns_label) {
            return Err(ConfigError::BadPullSecret(name.clone()));
        }
    }
    Ok(RegistryConfig {
        mirrors,
        insecure: hosts,
        pull_secrets: secrets.iter().filter(|s| !s.is_empty()).cloned().collect(),
    })
}

/// `--start-handshake`: `auto`, `always` or `never`.
fn parse_policy(raw: &str) -> Result<Policy, String> {
    raw.parse()
}

/// `--volume-size`: a size as `docker volume create -o size=` reads it, as a Kubernetes quantity.
fn parse_volume_size(raw: &str) -> Result<String, String> {
    podshim_translate::volume::parse_size(raw)
        .ok_or_else(|| format!("invalid volume size {raw:?}: expected e.g. 1Gi, 500Mi, 10g"))
}

/// `--helper-image`: an image reference as Docker parses them.
fn parse_bind_map(raw: &str) -> Result<BindMap, String> {
    podshim_translate::binds::parse_bind_map(raw)
}

fn parse_helper_image(raw: &str) -> Result<String, String> {
    podshim_translate::image_ref::check_reference(raw)
        .map(|_| raw.to_string())
        .map_err(|e| format!("invalid helper image {raw:?}: {e}"))
}

/// `--volume-storage-class`: a StorageClass name (a DNS subdomain); empty means none.
fn parse_storage_class(raw: &str) -> Result<String, String> {
    let ok = raw.is_empty() || podshim_translate::labels::is_dns_subdomain(raw);
    if ok {
        Ok(raw.to_string())
    } else {
        Err(format!("invalid storage class {raw:?}: a StorageClass name (lowercase letters, digits, '-' and '.')"))
    }
}

/// A duration like `2m`, `90s`, `1500ms` or plain seconds (`30`).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("invalid duration {raw:?}: expected e.g. 2m, 90s, 1500ms"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("invalid duration {raw:?}: expected e.g. 2m, 90s, 1500ms")),
    }
}

/// `<temp dir>/podshim-sim`: writable without root, and the same path on every start so a restarted
/// podshim finds its volumes again.
pub fn default_sim_data() -> PathBuf {
    std::env::temp_dir().join("podshim-sim")
}

/// Parses `unix:///path` or `tcp://host:port` (host may be a name that resolves, e.g. `localhost`).
pub fn parse_listen(raw: &str) -> Result<ListenAddr, ConfigError> {
    let bad = || ConfigError::BadListen(raw.to_string());
    if let Some(path) = raw.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(bad());
        }
        return Ok(ListenAddr::Unix(PathBuf::from(path)));
    }
    let hostport = raw.strip_prefix("tcp://").ok_or_else(bad)?;
    if let Ok(sock) = hostport.parse::<SocketAddr>() {
        return Ok(ListenAddr::Tcp(sock));
    }
    let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(ListenAddr::Tcp(SocketAddr::new(ip, port)));
    }
    let resolved = (host, port).to_socket_addrs().map_err(|_| bad())?;
    resolved.into_iter().next().map(ListenAddr::Tcp).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::parse_from(std::iter::once("podshim").chain(args.iter().copied()))
    }

    #[test]
    fn volume_defaults_come_from_flags_and_environment_checked() {
        let config = Config::from_flags(flags(&[])).unwrap();
        assert_eq!(config.volumes, VolumeDefaults { size: "1Gi".into(), storage_class: None });
        let config =
            Config::from_flags(flags(&["--volume-size", "1.5g", "--volume-storage-class", "fast.ssd"])).unwrap();
        assert_eq!(config.volumes, VolumeDefaults { size: "1536Mi".into(), storage_class: Some("fast.ssd".into()) });
        let config = Config::from_flags(flags(&["--volume-storage-class", ""])).unwrap();
        assert_eq!(config.volumes.storage_class, None, "empty is the cluster default");
        let parse = |args: &[&str]| Flags::try_parse_from(std::iter::once("podshim").chain(args.iter().copied()));
        let err = parse(&["--volume-size", "lots"]).unwrap_err().to_string();
        assert!(err.contains("invalid volume size \"lots\""), "{err}");
        assert!(parse(&["--volume-storage-class", "Fast_SSD"]).is_err());
    }

    #[test]
    fn the_helper_image_defaults_to_busybox_and_must_be_a_reference() {
        assert_eq!(Config::from_flags(flags(&[])).unwrap().helper_image, "busybox");
        let config = Config::from_flags(flags(&["--helper-image", "registry.example:5000/tools/tar:1"])).unwrap();
        assert_eq!(config.helper_image, "registry.example:5000/tools/tar:1");
        let parse = |args: &[&str]| Flags::try_parse_from(std::iter::once("podshim").chain(args.iter().copied()));
        let err = parse(&["--helper-image", "Bad Image"]).unwrap_err().to_string();
        assert!(err.contains("invalid helper image \"Bad Image\""), "{err}");
    }

    #[test]
    fn listen_accepts_unix_and_tcp() {
        assert_eq!(parse_listen("unix:///tmp/p.sock"), Ok(ListenAddr::Unix("/tmp/p.sock".into())));
        assert_eq!(parse_listen("tcp://127.0.0.1:2375"), Ok(ListenAddr::Tcp("127.0.0.1:2375".parse().unwrap())));
        assert_eq!(parse_listen("tcp://[::1]:2375"), Ok(ListenAddr::Tcp("[::1]:2375".parse().unwrap())));
    }

    #[test]
    fn listen_rejects_other_schemes_and_relative_paths() {
        for raw in ["http://x:1", "unix://tmp/p.sock", "tcp://127.0.0.1", "tcp://127.0.0.1:notaport", "/tmp/s"] {
            assert_eq!(parse_listen(raw), Err(ConfigError::BadListen(raw.to_string())), "{raw}");
        }
    }

    #[test]
    fn sim_refuses_a_non_loopback_listener() {
        let err = Config::from_flags(flags(&["--sim", "--listen", "tcp://0.0.0.0:2375"])).unwrap_err();
        assert_eq!(err, ConfigError::SimNeedsLocalListener("tcp://0.0.0.0:2375".into()));
    }

    #[test]
    fn sim_refuses_a_loopback_tcp_listener_without_insecure_tcp() {
        let err = Config::from_flags(flags(&["--sim", "--listen", "tcp://127.0.0.1:2375"])).unwrap_err();
        assert_eq!(err, ConfigError::SimTcpNeedsInsecure("tcp://127.0.0.1:2375".into()));
        assert!(err.to_string().contains("every local user could connect"), "{err}");
        let admin = flags(&["--sim", "--listen", "unix:///tmp/x.sock", "--admin-listen", "tcp://127.0.0.1:0"]);
        assert!(Config::from_flags(admin).is_ok(), "the admin endpoint runs nothing");
        assert!(Config::from_flags(flags(&["--listen", "tcp://127.0.0.1:2375"])).is_ok(), "a real cluster has RBAC");
    }

    #[test]
    fn sim_accepts_loopback_with_insecure_tcp_and_unix_listeners() {
        let config = Config::from_flags(flags(&[
            "--sim",
            "--insecure-tcp",
            "--listen",
            "tcp://127.0.0.1:0",
            "--listen",
            "unix:///tmp/x.sock",
        ]))
        .unwrap();
        assert_eq!(config.listen.len(), 2);
        assert!(matches!(config.cluster, ClusterSource::Simulated { .. }));
    }

    #[test]
    fn default_listener_is_the_podshim_socket() {
        let config = Config::from_flags(flags(&[])).unwrap();
        assert_eq!(config.listen, vec![ListenAddr::Unix("/var/run/podshim.sock".into())]);
        assert_eq!(config.cluster, ClusterSource::Kubeconfig { path: None, context: None, namespace: None });
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn split_log_streams_default_follows_sim() {
        assert!(Config::from_flags(flags(&["--sim"])).unwrap().split_log_streams);
        assert!(!Config::from_flags(flags(&[])).unwrap().split_log_streams);
        let off = Config::from_flags(flags(&["--sim", "--split-log-streams", "false"])).unwrap();
        assert!(!off.split_log_streams);
    }

    #[test]
    fn the_start_handshake_is_auto_unless_told() {
        assert_eq!(Config::from_flags(flags(&[])).unwrap().start_handshake, Policy::Auto);
        let never = Config::from_flags(flags(&["--start-handshake", "never"])).unwrap();
        assert_eq!(never.start_handshake, Policy::Never);
        assert!(Flags::try_parse_from(["podshim", "--start-handshake", "sometimes"]).is_err());
    }

    #[test]
    fn published_ports_listen_where_clients_reach_podshim() {
        let config = Config::from_flags(flags(&["--listen", "unix:///tmp/x.sock"])).unwrap();
        assert_eq!(config.ports.addresses, loopback());
        let config =
            Config::from_flags(flags(&["--listen", "tcp://10.1.2.3:2375", "--listen", "unix:///tmp/x.sock"])).unwrap();
        let want: Vec<IpAddr> = ["10.1.2.3", "127.0.0.1", "::1"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(config.ports.addresses, want);
        let config = Config::from_flags(flags(&[
            "--published-ip",
            "0.0.0.0",
            "--published-port-range",
            "40000-40010",
            "--port-forward-mode",
            "portforward",
            "--replica-name",
            "r1",
        ]))
        .unwrap();
        assert_eq!(config.ports.addresses, vec!["0.0.0.0".parse::<IpAddr>().unwrap()]);
        assert_eq!(config.ports.range, 40000..=40010);
        assert_eq!(config.ports.mode, ForwardMode::Portforward);
        assert_eq!(config.ports.replica, "r1");
        assert!(Flags::try_parse_from(["podshim", "--published-port-range", "9-3"]).is_err());
    }

    #[test]
    fn registry_flags_repeat_and_are_checked() {
        let config = Config::from_flags(flags(&[
            "--registry-mirror",
            "http://127.0.0.1:5000",
            "--insecure-registry",
            "reg.example:5000",
            "--image-pull-secret",
            "a",
            "--image-pull-secret",
            "b",
        ]))
        .unwrap();
        assert_eq!(config.registry.mirrors, vec![Endpoint { host: "127.0.0.1:5000".into(), http: true }]);
        assert_eq!(config.registry.insecure, vec!["reg.example:5000"]);
        assert_eq!(config.registry.pull_secrets, vec!["a", "b"]);
        assert!(matches!(
            Config::from_flags(flags(&["--registry-mirror", "127.0.0.1:5000"])),
            Err(ConfigError::BadMirror(_))
        ));
        assert!(matches!(
            Config::from_flags(flags(&["--image-pull-secret", "Bad_Name"])),
            Err(ConfigError::BadPullSecret(_))
        ));
    }

    #[test]
    fn sim_data_without_sim_is_refused() {
        let err = Config::from_flags(flags(&["--sim-data", "/tmp/x"])).unwrap_err();
        assert_eq!(err, ConfigError::SimDataWithoutSim);
    }
}
