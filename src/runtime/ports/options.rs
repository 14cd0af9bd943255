//! How podshim publishes ports: where it listens, which host ports it may choose, how it reaches the pods, and
//! which replica it is. Resolved once from the flags (see `config.rs`).

use std::net::IpAddr;
use std::ops::RangeInclusive;

/// How a published port reaches the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardMode {
    /// Straight to the pod IP (podshim is on the pod network: a sidecar, or a node that routes to its pods).
    Direct,
    /// Through the API server's `pods/portforward`, a fresh stream per connection (TCP only).
    Portforward,
    /// Straight to the pod IP when a connection to it succeeds (or is refused: the pod answers) within
    /// [`super::forward::DIRECT_PROBE`], else through `pods/portforward`; decided once per pod.
    Auto,
}

/// The settings of published ports.
#[derive(Debug, Clone)]
pub struct PortOptions {
    /// Where a binding without `HostIp` listens: the addresses at which clients reach podshim.
    pub addresses: Vec<IpAddr>,
    /// Host ports chosen for `HostPort` 0 or empty.
    pub range: RangeInclusive<u16>,
    pub mode: ForwardMode,
    /// This replica's name, written on the pods whose ports it listens on.
    pub replica: String,
    /// Docker's `host-gateway`; `None`: learned from the pod network (the address podshim's side has toward a
    /// running pod).
    pub host_gateway: Option<IpAddr>,
}

impl Default for PortOptions {
    /// Loopback (podshim serving a unix socket), the kernel's ephemeral range, auto mode, this host's name.
    fn default() -> PortOptions {
        PortOptions {
            addresses: loopback(),
            range: ephemeral_range(),
            mode: ForwardMode::Auto,
            replica: host_name(),
            host_gateway: None,
        }
    }
}

/// `127.0.0.1` and `::1`.
pub fn loopback() -> Vec<IpAddr> {
    vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]
}

/// The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`), else Linux's default.
pub fn ephemeral_range() -> RangeInclusive<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| parse_range(&text.split_whitespace().collect::<Vec<_>>().join("-")).ok())
        .unwrap_or(32768..=60999)
}

/// `LOW-HIGH` (1-65535, LOW <= HIGH).
pub fn parse_range(raw: &str) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("invalid port range {raw:?}: expected LOW-HIGH, e.g. 32768-60999");
    let (low, high) = raw.trim().split_once('-').ok_or_else(bad)?;
    let low: u16 = low.trim().parse().map_err(|_| bad())?;
    let high: u16 = high.trim().parse().map_err(|_| bad())?;
    if low == 0 || low > high {
        return Err(bad());
    }
    Ok(low..=high)
}

/// This machine's host name (a pod's name, for a sidecar), else `podshim`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "podshim".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_the_kernels_is_read() {
        assert_eq!(parse_range("32768-60999"), Ok(32768..=60999));
        assert_eq!(parse_range(" 1000 - 1000 "), Ok(1000..=1000));
        for bad in ["", "5", "0-10", "20-10", "a-b", "1-70000"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        let range = ephemeral_range();
        assert!(range.start() <= range.end() && *range.start() > 0);
    }
}
