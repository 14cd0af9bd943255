//! Published ports (`-p`, `-P`): podshim opens the host side itself and forwards each connection to the pod.
//!
//! - [`options`]: where podshim listens, the port range, how pods are reached, this replica's name.
//! - [`allocate`]: choosing the host ports and binding them, with Docker's errors.
//! - [`forward`]: the traffic: TCP to the pod IP or through `pods/portforward`, UDP to the pod IP.
//! - [`supervisor`]: follows the container index's change log: opens the listeners again for this replica's
//!   running containers after a restart, closes them when a container stops or goes.
//!
//! Kubernetes is the database: the bindings chosen at start are written on the pod (`podshim.io/ports`), with
//! the replica that listens (`podshim.io/ports-replica`), when the pod is created. This table only says which
//! sockets this process holds.

pub mod allocate;
pub mod forward;
pub mod options;
mod supervisor;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use allocate::{BindError, Binding, Bound, Cursor, Taken};
use bollard_stubs::models::{ContainerCreateBody, ImageConfig};
use forward::{Reach, Target};
use k8s_openapi::api::core::v1::Pod;
pub use options::{ForwardMode, PortOptions};
use podshim_translate::labels::{PORTS_ANNOTATION, PORTS_REPLICA_ANNOTATION};
use podshim_translate::ports::{published_to_annotation, PortRequest, Proto, Published};

use super::Runtime;
use crate::error::Error;

pub(super) use supervisor::spawn;

/// How long closing a mapping waits for its listeners to let go of their sockets.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The published ports this replica listens on. Cheap to clone.
#[derive(Clone)]
pub struct Ports {
    inner: Arc<Inner>,
}

struct Inner {
    options: PortOptions,
    state: Mutex<State>,
    /// `host-gateway` once learned from the pod network.
    gateway: Mutex<Option<IpAddr>>,
}

#[derive(Default)]
struct State {
    /// By container id.
    mappings: HashMap<String, Mapping>,
    cursor: Cursor,
}

/// One container's listeners.
struct Mapping {
    /// The pod they forward to; `None` while the start that reserved them has not created its pod.
    pod: Option<String>,
    published: Vec<Published>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// The bindings of every mapping, which the allocator must not hand out again.
struct Held<'a>(&'a HashMap<String, Mapping>);

impl Taken for Held<'_> {
    fn is_taken(&self, proto: Proto, ip: IpAddr, port: u16) -> bool {
        self.0.values().flat_map(|m| &m.published).any(|p| {
            let same_proto = p.key().is_some_and(|k| k.proto == proto);
            let stored: Option<IpAddr> = p.host_ip.parse().ok();
            let clash = stored.is_some_and(|s| {
                s == ip || (s.is_ipv4() == ip.is_ipv4() && (s.is_unspecified() || ip.is_unspecified()))
            });
            same_proto && p.host_port == port && clash
        })
    }
}

/// Ports bound for a start that has not created its pod yet. Dropped without [`Reservation::activate`] (the
/// pod could not be created), it closes them.
pub struct Reservation {
    ports: Ports,
    id: String,
    bindings: Vec<Binding>,
    stop: CancellationToken,
}

impl Reservation {
    /// Writes the bindings and this replica's name on the pod about to be created.
    pub fn annotate(&self, pod: &mut Pod) {
        let published: Vec<Published> = self.bindings.iter().map(|b| b.published.clone()).collect();
        let annotations = pod.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(PORTS_ANNOTATION.to_string(), published_to_annotation(&published));
        annotations.insert(PORTS_REPLICA_ANNOTATION.to_string(), self.ports.inner.options.replica.clone());
    }

    /// The pod exists: serve the ports, forwarding to it.
    pub fn activate(mut self, rt: &Runtime, pod_name: &str) {
        let bindings = std::mem::take(&mut self.bindings);
        let target = self.ports.target(rt, pod_name);
        let tasks = serve(bindings, &target, &self.stop);
        if let Ok(mut state) = self.ports.inner.state.lock() {
            if let Some(m) = state.mappings.get_mut(&self.id).filter(|m| m.stop == self.stop) {
                m.pod = Some(pod_name.to_string());
                m.tasks = tasks;
                return;
            }
        }
        // Closed meanwhile (the container went): nothing may listen.
        self.stop.cancel();
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bindings.is_empty() {
            return;
        }
        self.stop.cancel();
        if let Ok(mut state) = self.ports.inner.state.lock() {
            if state.mappings.get(&self.id).is_some_and(|m| m.stop == self.stop) {
                state.mappings.remove(&self.id);
            }
        }
    }
}

/// Spawns the serving task of each binding.
fn serve(bindings: Vec<Binding>, target: &Target, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for binding in bindings {
        let (target, stop, port) = (target.clone(), stop.clone(), binding.key.port);
        let span = tracing::info_span!("published", pod = %target.pod_name, port = %binding.published.port,
            host = %format!("{}:{}", binding.published.host_ip, binding.published.host_port));
        let task = match binding.socket {
            Bound::Tcp(listener) => match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => tokio::spawn(tracing::Instrument::instrument(
                    forward::serve_tcp(listener, target, port, stop),
                    span,
                )),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot serve a published port");
                    continue;
                }
            },
            Bound::Udp(socket) => match tokio::net::UdpSocket::from_std(socket) {
                Ok(socket) => {
                    tokio::spawn(tracing::Instrument::instrument(forward::serve_udp(socket, target, port, stop), span))
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot serve a published port");
                    continue;
                }
            },
        };
        tasks.push(task);
    }
    tasks
}

impl Ports {
    pub fn new(options: PortOptions) -> Ports {
        let gateway = Mutex::new(options.host_gateway);
        Ports { inner: Arc::new(Inner { options, state: Mutex::default(), gateway }) }
    }

    pub fn options(&self) -> &PortOptions {
        &self.inner.options
    }

    fn target(&self, rt: &Runtime, pod_name: &str) -> Target {
        Target {
            cache: rt.cache().clone(),
            pods: rt.pods_api(),
            pod_name: pod_name.to_string(),
            mode: self.inner.options.mode,
            reach: Arc::new(Mutex::new(Reach::Unknown)),
        }
    }

    /// Binds the ports a start publishes (closing what this container still held from an earlier run first).
    /// `None` when it publishes nothing. The error is Docker's start error for `name`/`id`.
    pub async fn reserve(&self, id: &str, name: &str, requests: &[PortRequest]) -> Result<Option<Reservation>, Error> {
        self.close(id).await;
        if requests.is_empty() {
            return Ok(None);
        }
        let mut state = self.inner.state.lock().map_err(|_| Error::Internal("port table poisoned".into()))?;
        let State { mappings, cursor } = &mut *state;
        let bindings = allocate::allocate(requests, &self.inner.options, &Held(mappings), cursor)
            .map_err(|err: BindError| err.into_error(name, id))?;
        let stop = CancellationToken::new();
        let published = bindings.iter().map(|b| b.published.clone()).collect();
        mappings.insert(id.to_string(), Mapping { pod: None, published, stop: stop.clone(), tasks: Vec::new() });
        Ok(Some(Reservation { ports: self.clone(), id: id.to_string(), bindings, stop }))
    }

    /// Opens the stored bindings of a running container again (podshim restarted): the same addresses and
    /// ports. One that cannot be bound now (something else took it) is logged and left out.
    fn reopen(&self, rt: &Runtime, id: &str, pod_name: &str, published: &[Published]) {
        let mut bindings = Vec::new();
        for p in published {
            let (Some(key), Ok(ip)) = (p.key(), p.host_ip.parse::<IpAddr>()) else { continue };
            match allocate::bind(key.proto, SocketAddr::new(ip, p.host_port)) {
                Ok(socket) => bindings.push(Binding { key, published: p.clone(), socket }),
                Err(err) => tracing::warn!(container.id = %id, port = %p.port, host_ip = %p.host_ip,
                    host_port = p.host_port, error = %err, "cannot open a published port again"),
            }
        }
        let stop = CancellationToken::new();
        let tasks = serve(bindings, &self.target(rt, pod_name), &stop);
        let mapping = Mapping { pod: Some(pod_name.to_string()), published: published.to_vec(), stop, tasks };
        if let Ok(mut state) = self.inner.state.lock() {
            if let Some(old) = state.mappings.insert(id.to_string(), mapping) {
                old.stop.cancel();
            }
        }
        tracing::info!(container.id = %id, pod = %pod_name, "published ports opened again");
    }

    /// Closes a container's listeners (and its forwarded connections); returns once they let go of the ports.
    pub async fn close(&self, id: &str) {
        let removed = self.inner.state.lock().ok().and_then(|mut s| s.mappings.remove(id));
        let Some(mapping) = removed else { return };
        mapping.stop.cancel();
        let tasks = futures::future::join_all(mapping.tasks);
        if tokio::time::timeout(CLOSE_WAIT, tasks).await.is_err() {
            tracing::warn!(container.id = %id, "published ports did not close in time");
        }
    }

    /// What inspect shows as a running container's `Gateway`: where a client reaches the published ports, the
    /// first address they listen on (loopback for an unspecified one). Docker's gateway is both where
    /// containers reach the host and where a client in a container reaches published ports (testcontainers'
    /// gateway mode reads it for that); on a cluster the two differ, and clients read it for the second.
    pub fn client_gateway(&self) -> Option<String> {
        let first = self.inner.options.addresses.first()?;
        let ip = match first {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            other => *other,
        };
        Some(ip.to_string())
    }

    /// The pod a container's active listeners forward to (`Some(None)`: reserved by a start in progress).
    fn mapped_pod(&self, id: &str) -> Option<Option<String>> {
        self.inner.state.lock().ok().and_then(|s| s.mappings.get(id).map(|m| m.pod.clone()))
    }

    /// What a create body publishes (the requests of [`podshim_translate::ports::requests`], `-P` with the
    /// image's `EXPOSE` too), refused with 400 when it cannot be forwarded the way this podshim reaches pods (UDP
    /// through `pods/portforward`).
    pub fn requests(&self, body: &ContainerCreateBody, image: Option<&ImageConfig>) -> Result<Vec<PortRequest>, Error> {
        let image_exposed = podshim_translate::ports::image_exposed(image);
        let requests = podshim_translate::ports::requests(body, &image_exposed)?;
        if self.inner.options.mode == ForwardMode::Portforward {
            if let Some(udp) = requests.iter().find(|r| r.key.proto == Proto::Udp) {
                return Err(udp_unsupported(&udp.key.to_string()));
            }
        }
        Ok(requests)
    }

    /// In `auto` mode, published UDP needs the pod IP to answer from here (a port-forward cannot carry UDP): a
    /// started pod that does not is a 400 for its start.
    pub async fn check_udp_reach(&self, rt: &Runtime, requests: &[PortRequest], pod_name: &str) -> Result<(), Error> {
        let Some(udp) = requests.iter().find(|r| r.key.proto == Proto::Udp) else { return Ok(()) };
        if self.inner.options.mode != ForwardMode::Auto {
            return Ok(());
        }
        let ip = rt.cache().read(|index| {
            let pod = index.pod(pod_name)?;
            pod.status.as_ref()?.pod_ip.as_deref()?.parse::<IpAddr>().ok()
        });
        match ip {
            Some(ip) if forward::reachable(ip, udp.key.port).await => Ok(()),
            // Exited before it had an address: nothing to forward to anyway.
            None => Ok(()),
            Some(_) => Err(udp_unsupported(&udp.key.to_string())),
        }
    }

    /// Docker's `host-gateway` for a body that asks for it (`--add-host NAME:host-gateway`), else `None`.
    pub fn host_gateway_for(&self, rt: &Runtime, body: &ContainerCreateBody) -> Option<IpAddr> {
        let hosts = body.host_config.as_ref().and_then(|h| h.extra_hosts.as_ref());
        let asks =
            hosts.is_some_and(|h| h.iter().any(|e| e.ends_with(":host-gateway") || e.ends_with("=host-gateway")));
        asks.then(|| self.host_gateway(rt)).flatten()
    }

    /// Docker's `host-gateway` for a new pod: `--host-gateway-ip`, else the address this side has toward the
    /// pod network, learned from a running pod's IP (the route's source address; nothing is sent).
    pub fn host_gateway(&self, rt: &Runtime) -> Option<IpAddr> {
        if let Some(known) = self.inner.gateway.lock().ok().and_then(|g| *g) {
            return Some(known);
        }
        let ips: Vec<IpAddr> = rt.cache().read(|index| {
            index
                .containers()
                .filter(|c| c.state().is_running())
                .filter_map(|c| c.pod.as_ref()?.status.as_ref()?.pod_ip.as_deref()?.parse().ok())
                .take(4)
                .collect()
        });
        let learned = ips.into_iter().find_map(source_address)?;
        if let Ok(mut slot) = self.inner.gateway.lock() {
            *slot = Some(learned);
        }
        tracing::info!(host_gateway = %learned, "learned the address pods reach podshim at");
        Some(learned)
    }
}

fn udp_unsupported(port: &str) -> Error {
    Error::Unsupported {
        option: format!("publishing {port}"),
        why: "podshim reaches this pod through pods/portforward, which carries TCP only; UDP needs a podshim \
              that reaches pod IPs (a sidecar, or a host on the pod network)"
            .into(),
    }
}

/// The local address the routing table picks to reach `ip` (a UDP socket's connect sends nothing).
fn source_address(ip: IpAddr) -> Option<IpAddr> {
    let local: SocketAddr =
        if ip.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = std::net::UdpSocket::bind(local).ok()?;
    socket.connect(SocketAddr::new(ip, 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}
