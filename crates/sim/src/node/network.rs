//! Pod networking: each pod gets a network namespace of its own, shared by all its containers (as a real pod's
//! sandbox), with `lo` and an `eth0` on a bridge of the node's, and an address of a private subnet that exists
//! only on this machine. So two pods can both listen on port 80, reach each other by IP, and the host (podshim)
//! reaches every pod at its IP.
//!
//! - The node's bridge is `podshim<k>` with `10.213.<k>.1/24` (the first `k` whose name is free and whose subnet
//!   no route of this machine overlaps, so several simulated clusters can run at once; the real node's `cni0` is
//!   `10.244.0.0/24`). Its alias names the process that made it, so a bridge left by a node that died is removed
//!   at the next start.
//! - A pod: a namespace (made by a thread that unshares its network namespace and keeps only a file descriptor of
//!   it: nothing is mounted under `/run/netns`), a veth pair whose host end `psv<k>x<n>` is on the bridge and whose
//!   other end is the pod's `eth0` with `10.213.<k>.<n>/24` and a default route through the bridge address (which
//!   is what `host-gateway` should name). Nothing is forwarded off the bridge: the host's `ip_forward`, iptables
//!   and other interfaces are left alone.
//! - Teardown: the pod's host veth is deleted (its other end goes with it) and the namespace ends with its last
//!   process and descriptor; the bridge is deleted when the node stops.
//!
//! All netlink work runs on a short-lived thread of its own, with its own netlink socket in the namespace it
//! works on (a thread's network namespace is its own to change; a thread of the async runtime's pools must never
//! change it).
//!
//! Without root (CAP_NET_ADMIN and CAP_SYS_ADMIN) the node says so once and pods share this machine's network,
//! with the pod IP `127.0.0.1`, as before.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

/// The private range of the simulated pod networks: `10.213.<k>.0/24` per node.
const SUBNETS: [u8; 2] = [10, 213];
/// Bridge names: `podshim<k>`.
const BRIDGE_PREFIX: &str = "podshim";
/// The prefix of the bridge alias that records its owner: `podshim-sim pid=<pid> start=<start time>`.
const OWNER_ALIAS: &str = "podshim-sim";

fn netlink_error(err: rtnetlink::Error) -> io::Error {
    match err {
        rtnetlink::Error::NetlinkError(message) => message.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

fn exists(err: &rtnetlink::Error) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -nix::libc::EEXIST)
}

/// Deletes the link `index`; one that is gone already is no error (another node starting at the same time removed
/// the same stale bridge, or the kernel removed a veth with its namespace).
async fn delete_index(handle: &Handle, index: u32) -> io::Result<()> {
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -nix::libc::ENODEV => Ok(()),
        Err(err) => Err(netlink_error(err)),
    }
}

/// Runs `work` with a netlink handle of the namespace `netns` (the host's when `None`); on the calling thread,
/// which must be one of its own (see the module doc).
fn run<T, W, F>(netns: Option<Arc<OwnedFd>>, work: W) -> io::Result<T>
where
    W: FnOnce(Handle) -> F,
    F: std::future::Future<Output = io::Result<T>>,
{
    if let Some(ns) = &netns {
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    runtime.block_on(async move {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let connection = tokio::spawn(connection);
        let result = work(handle).await;
        connection.abort();
        result
    })
}

/// [`run`] on a new thread, waited for (the node's start, which is brief and happens once).
fn on_thread_blocking<T, W, F>(netns: Option<Arc<OwnedFd>>, work: W) -> io::Result<T>
where
    T: Send + 'static,
    W: FnOnce(Handle) -> F + Send + 'static,
    F: std::future::Future<Output = io::Result<T>>,
{
    let thread = std::thread::Builder::new().name("sim-netlink".into()).spawn(move || run(netns, work))?;
    thread.join().unwrap_or_else(|_| Err(io::Error::other("the netlink thread panicked")))
}

/// [`run`] on a new thread, awaited.
async fn on_thread_async<T, W, F>(netns: Option<Arc<OwnedFd>>, work: W) -> io::Result<T>
where
    T: Send + 'static,
    W: FnOnce(Handle) -> F + Send + 'static,
    F: std::future::Future<Output = io::Result<T>>,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("sim-netlink".into()).spawn(move || {
        let _ = tx.send(run(netns, work));
    })?;
    rx.await.unwrap_or_else(|_| Err(io::Error::other("the netlink thread ended")))
}

async fn link_index(handle: &Handle, name: &str) -> io::Result<u32> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await.map_err(netlink_error)? {
        Some(link) => Ok(link.header.index),
        None => Err(io::Error::new(io::ErrorKind::NotFound, format!("no link {name}"))),
    }
}

/// `<pid> <start time>` of this process, to tell a live owner from a dead one.
fn owner() -> String {
    let pid = std::process::id();
    let start = super::process::start_time(pid).unwrap_or(0);
    format!("{OWNER_ALIAS} pid={pid} start={start}")
}

/// Whether the owner an alias names is gone.
fn owner_gone(alias: &str) -> bool {
    let mut pid = None;
    let mut start = None;
    for field in alias.split_whitespace() {
        if let Some(v) = field.strip_prefix("pid=") {
            pid = v.parse::<u32>().ok();
        } else if let Some(v) = field.strip_prefix("start=") {
            start = v.parse::<u64>().ok();
        }
    }
    match (pid, start) {
        (Some(pid), Some(start)) => super::process::start_time(pid) != Some(start),
        _ => false,
    }
}

/// Deletes bridges `podshim<k>` whose owner process is gone (a node that was killed), and the pods' veths on them
/// (the pods' processes may outlive such a node, and with them their namespaces).
async fn remove_stale_bridges(handle: &Handle) -> io::Result<()> {
    let mut links = handle.link().get().execute();
    let mut stale = Vec::new();
    let mut ports: Vec<(u32, u32)> = Vec::new();
    while let Some(link) = links.try_next().await.map_err(netlink_error)? {
        let mut name = None;
        let mut alias = None;
        for attribute in &link.attributes {
            match attribute {
                LinkAttribute::IfName(n) => name = Some(n.clone()),
                LinkAttribute::IfAlias(a) => alias = Some(a.clone()),
                LinkAttribute::Controller(bridge) => ports.push((link.header.index, *bridge)),
                _ => {}
            }
        }
        let ours = name.as_deref().is_some_and(|n| n.starts_with(BRIDGE_PREFIX));
        if ours && alias.as_deref().is_some_and(|a| a.starts_with(OWNER_ALIAS) && owner_gone(a)) {
            stale.push((link.header.index, name.unwrap_or_default()));
        }
    }
    for (index, name) in stale {
        tracing::info!(bridge = %name, "removing a pod network bridge left by a simulated node that stopped");
        for (port, _) in ports.iter().filter(|(_, bridge)| *bridge == index) {
            delete_index(handle, *port).await?;
        }
        delete_index(handle, index).await?;
    }
    Ok(())
}

/// The IPv4 routes' destinations (prefix, length) of this machine, to keep out of their way.
async fn routes(handle: &Handle) -> io::Result<Vec<(Ipv4Addr, u8)>> {
    let mut out = Vec::new();
    let mut dump = handle.route().get(RouteMessageBuilder::<Ipv4Addr>::new().build()).execute();
    while let Some(route) = dump.try_next().await.map_err(netlink_error)? {
        let length = route.header.destination_prefix_length;
        for attribute in &route.attributes {
            if let RouteAttribute::Destination(RouteAddress::Inet(ip)) = attribute {
                out.push((*ip, length));
            }
        }
    }
    Ok(out)
}

/// Whether `a/la` and `b/lb` share an address (a default route, length 0, shares nothing here).
fn overlaps((a, la): (Ipv4Addr, u8), (b, lb): (Ipv4Addr, u8)) -> bool {
    if la == 0 || lb == 0 {
        return false;
    }
    let length = la.min(lb).min(32);
    let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
    (u32::from(a) & mask) == (u32::from(b) & mask)
}

/// The node's pod network: its bridge, subnet and the addresses in use.
pub struct Network {
    k: u8,
    bridge: String,
    /// Host numbers 2..=254 of the subnet in use.
    used: Mutex<[bool; 256]>,
    removed: std::sync::atomic::AtomicBool,
}

impl Network {
    /// Makes the node's bridge; `Err` says why pods keep this machine's network.
    pub fn create() -> io::Result<Arc<Network>> {
        let k = on_thread_blocking(None, |handle| async move {
            remove_stale_bridges(&handle).await?;
            let taken = routes(&handle).await?;
            for k in 0..=255u8 {
                let subnet = (Ipv4Addr::new(SUBNETS[0], SUBNETS[1], k, 0), 24);
                if taken.iter().any(|r| overlaps(*r, subnet)) {
                    continue;
                }
                let name = format!("{BRIDGE_PREFIX}{k}");
                match handle.link().add(LinkBridge::new(&name).build()).execute().await {
                    Ok(()) => {}
                    Err(err) if exists(&err) => continue,
                    Err(err) => return Err(netlink_error(err)),
                }
                let index = link_index(&handle, &name).await?;
                let set = LinkUnspec::new_with_index(index).alias(owner()).up().build();
                handle.link().set(set).execute().await.map_err(netlink_error)?;
                let gateway = Ipv4Addr::new(SUBNETS[0], SUBNETS[1], k, 1);
                handle.address().add(index, IpAddr::V4(gateway), 24).execute().await.map_err(netlink_error)?;
                return Ok(k);
            }
            Err(io::Error::other("no free pod subnet in 10.213.0.0/16"))
        })?;
        let bridge = format!("{BRIDGE_PREFIX}{k}");
        tracing::info!(%bridge, subnet = %format!("10.213.{k}.0/24"), "pod network ready");
        let removed = std::sync::atomic::AtomicBool::new(false);
        Ok(Arc::new(Network { k, bridge, used: Mutex::new([false; 256]), removed }))
    }

    /// The bridge's address: where pods reach this machine.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(SUBNETS[0], SUBNETS[1], self.k, 1)
    }

    fn take_host(&self) -> Option<u8> {
        let mut used = self.used.lock().ok()?;
        let n = (2..=254u8).find(|n| !used[usize::from(*n)])?;
        used[usize::from(n)] = true;
        Some(n)
    }

    fn release_host(&self, n: u8) {
        if let Ok(mut used) = self.used.lock() {
            used[usize::from(n)] = false;
        }
    }

    /// A pod's namespace, veth pair and address.
    pub async fn attach(self: &Arc<Self>) -> io::Result<PodNetwork> {
        let n = self.take_host().ok_or_else(|| io::Error::other("no free address on the pod network"))?;
        match self.make_pod(n).await {
            Ok(pod) => Ok(pod),
            Err(err) => {
                self.release_host(n);
                let host_veth = format!("psv{}x{n}", self.k);
                let _ =
                    on_thread_async(None, move |handle| async move { delete_link(&handle, &host_veth).await }).await;
                Err(err)
            }
        }
    }

    async fn make_pod(self: &Arc<Self>, n: u8) -> io::Result<PodNetwork> {
        let netns = Arc::new(new_namespace().await?);
        let (host_veth, peer) = (format!("psv{}x{n}", self.k), format!("psp{}x{n}", self.k));
        let (bridge, fd, host_name, peer_name) = (self.bridge.clone(), netns.clone(), host_veth.clone(), peer.clone());
        on_thread_async(None, move |handle| async move {
            match handle.link().add(LinkVeth::new(&host_name, &peer_name).build()).execute().await {
                Ok(()) => {}
                // A pod of an earlier bridge with this number (removed since) left its veth: it is stale.
                Err(err) if exists(&err) => {
                    delete_link(&handle, &host_name).await?;
                    let veth = LinkVeth::new(&host_name, &peer_name).build();
                    handle.link().add(veth).execute().await.map_err(netlink_error)?;
                }
                Err(err) => return Err(netlink_error(err)),
            }
            let peer_index = link_index(&handle, &peer_name).await?;
            let moved = LinkUnspec::new_with_index(peer_index).setns_by_fd(fd.as_raw_fd()).build();
            handle.link().set(moved).execute().await.map_err(netlink_error)?;
            let (bridge_index, host_index) =
                (link_index(&handle, &bridge).await?, link_index(&handle, &host_name).await?);
            let attached = LinkUnspec::new_with_index(host_index).controller(bridge_index).up().build();
            handle.link().set(attached).execute().await.map_err(netlink_error)
        })
        .await?;
        let ip = Ipv4Addr::new(SUBNETS[0], SUBNETS[1], self.k, n);
        let gateway = self.gateway();
        on_thread_async(Some(netns.clone()), move |handle| async move {
            let lo = link_index(&handle, "lo").await?;
            handle.link().set(LinkUnspec::new_with_index(lo).up().build()).execute().await.map_err(netlink_error)?;
            let eth = link_index(&handle, &peer).await?;
            let renamed = LinkUnspec::new_with_index(eth).name("eth0").build();
            handle.link().set(renamed).execute().await.map_err(netlink_error)?;
            handle.address().add(eth, IpAddr::V4(ip), 24).execute().await.map_err(netlink_error)?;
            handle.link().set(LinkUnspec::new_with_index(eth).up().build()).execute().await.map_err(netlink_error)?;
            let default = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway).build();
            handle.route().add(default).execute().await.map_err(netlink_error)
        })
        .await?;
        Ok(PodNetwork { network: self.clone(), n, ip, host_veth, netns })
    }

    /// Deletes the bridge (at the node's stop, after its pods; or when the node is dropped without stopping).
    pub async fn remove(&self) {
        if self.removed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let bridge = self.bridge.clone();
        let result = on_thread_async(None, move |handle| async move { delete_link(&handle, &bridge).await }).await;
        self.removed_with(result);
    }

    fn removed_with(&self, result: io::Result<()>) {
        match result {
            Ok(()) => tracing::info!(bridge = %self.bridge, "pod network removed"),
            Err(err) => tracing::warn!(bridge = %self.bridge, error = %err, "cannot remove the pod network bridge"),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if self.removed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let bridge = self.bridge.clone();
        let result = on_thread_blocking(None, move |handle| async move { delete_link(&handle, &bridge).await });
        self.removed_with(result);
    }
}

/// Deletes a link of this namespace by name; one that is gone already is fine.
async fn delete_link(handle: &Handle, name: &str) -> io::Result<()> {
    match link_index(handle, name).await {
        Ok(index) => delete_index(handle, index).await,
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// A new network namespace, held by a descriptor only (made by a thread that then ends).
async fn new_namespace() -> io::Result<OwnedFd> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("sim-netns".into()).spawn(move || {
        let made = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(io::Error::from)
            .and_then(|()| File::open("/proc/thread-self/ns/net"))
            .map(OwnedFd::from);
        let _ = tx.send(made);
    })?;
    rx.await.unwrap_or_else(|_| Err(io::Error::other("the namespace thread ended")))
}

/// One pod's network: released (veth deleted, address freed) by [`PodNetwork::release`].
pub struct PodNetwork {
    network: Arc<Network>,
    n: u8,
    pub ip: Ipv4Addr,
    host_veth: String,
    /// The namespace, for the pod's processes to join.
    pub netns: Arc<OwnedFd>,
}

impl PodNetwork {
    /// Deletes the host end of the veth pair (the pod's `eth0` goes with it) and frees the address.
    pub async fn release(self) {
        let host_veth = self.host_veth.clone();
        let deleted = on_thread_async(None, move |handle| async move { delete_link(&handle, &host_veth).await }).await;
        if let Err(err) = deleted {
            tracing::warn!(veth = %self.host_veth, error = %err, "cannot delete a pod's veth");
        }
        self.network.release_host(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_overlap_only_when_they_share_addresses() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(overlaps((ip("10.213.0.0"), 24), (ip("10.213.0.0"), 24)));
        assert!(overlaps((ip("10.0.0.0"), 8), (ip("10.213.5.0"), 24)));
        assert!(!overlaps((ip("10.244.0.0"), 24), (ip("10.213.0.0"), 24)));
        assert!(!overlaps((ip("0.0.0.0"), 0), (ip("10.213.0.0"), 24)));
        assert!(overlaps((ip("10.213.0.7"), 32), (ip("10.213.0.0"), 24)));
    }

    #[test]
    fn an_owner_alias_names_a_live_or_a_gone_process() {
        assert!(!owner_gone(&owner()));
        assert!(owner_gone("podshim-sim pid=4194304 start=1"));
        assert!(!owner_gone("something else"));
    }
}
