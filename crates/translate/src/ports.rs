//! Published and exposed ports: `-p`, `-P`, `--expose` and docker-py's `ports=` as the create body carries them
//! (`HostConfig.PortBindings`, `HostConfig.PublishAllPorts`, `Config.ExposedPorts`), and what inspect and list
//! show of them.
//!
//! - [`requests`]: what the client asked to publish, validated with Docker's words ([`PortRequest`]: container
//!   port and protocol, an optional host address, an optional host port or range). The runtime chooses the host
//!   addresses and free ports, opens the listeners and writes what it chose on the pod ([`PORTS_ANNOTATION`]).
//! - [`Published`]: one chosen binding, as stored on the pod and read back by [`published_from_pod`].
//! - [`port_map`] (inspect `NetworkSettings.Ports`) and [`port_summaries`] (`docker ps` `Ports`): Docker shows
//!   them only while the container runs; an exposed port that is not published is `null` in the map and a bare
//!   `{PrivatePort, Type}` entry in the list.
//!
//! [`PORTS_ANNOTATION`]: super::labels::PORTS_ANNOTATION

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use bollard_stubs::models::{ContainerCreateBody, ImageConfig, PortBinding, PortMap, PortSummary, PortSummaryTypeEnum};
use k8s_openapi::api::core::v1::{ContainerPort, Pod};
use serde::{Deserialize, Serialize};

use super::labels::PORTS_ANNOTATION;
use super::TranslateError;

/// The protocols podshim can forward. SCTP is refused at create: neither a port-forward nor podshim's
/// listeners carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// Docker's spelling (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A container port and its protocol: Docker's `80/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

impl PortKey {
    /// Parses `80`, `80/tcp` or `53/udp` (protocol in any case; none means tcp), with Docker's errors.
    pub fn parse(key: &str) -> Result<PortKey, TranslateError> {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let proto = match proto.to_ascii_lowercase().as_str() {
            "" | "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "sctp" => {
                return Err(TranslateError::unsupported(
                    format!("port {key}"),
                    "SCTP cannot be forwarded: podshim publishes TCP and UDP ports",
                ))
            }
            _ => return Err(TranslateError::InvalidParameter(format!("invalid proto: {proto}"))),
        };
        let port = parse_port(port).filter(|p| *p != 0);
        let port = port.ok_or_else(|| invalid_spec(key.split_once('/').map_or(key, |(p, _)| p)))?;
        Ok(PortKey { port, proto })
    }
}

/// One port the client asked to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub key: PortKey,
    /// `HostIp`; `None` when empty: the runtime's default addresses.
    pub host_ip: Option<IpAddr>,
    /// `HostPort`: one port, a range to choose from (`8000-8010`), or `None` (empty or `0`): any free port.
    pub host_ports: Option<RangeInclusive<u16>>,
}

fn invalid_spec(value: &str) -> TranslateError {
    TranslateError::InvalidParameter(format!("invalid port specification: \"{value}\""))
}

fn parse_port(s: &str) -> Option<u16> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// A `HostPort`: empty or `0` is any port; `N` or `N-M`.
fn host_ports(value: &str) -> Result<Option<RangeInclusive<u16>>, TranslateError> {
    if value.is_empty() {
        return Ok(None);
    }
    let (low, high) = value.split_once('-').unwrap_or((value, value));
    match (parse_port(low), parse_port(high)) {
        (Some(0), Some(0)) => Ok(None),
        (Some(low), Some(high)) if low != 0 && low <= high => Ok(Some(low..=high)),
        _ => Err(invalid_spec(value)),
    }
}

/// A `HostIp`: empty is none; brackets around an IPv6 address are accepted, as the CLI sends them.
fn host_ip(value: &str) -> Result<Option<IpAddr>, TranslateError> {
    let bare = value.trim_start_matches('[').trim_end_matches(']');
    if bare.is_empty() {
        return Ok(None);
    }
    bare.parse().map(Some).map_err(|_| TranslateError::InvalidParameter(format!("invalid IP address: {value}")))
}

/// The ports the container exposes: `Config.ExposedPorts` and the keys of `HostConfig.PortBindings` (Docker
/// exposes every published port), plus `image_exposed`, the image's `EXPOSE` (the caller passes what it knows of
/// the image; the create body's ports are merged with it here).
pub fn exposed(create: &ContainerCreateBody, image_exposed: &[PortKey]) -> Result<BTreeSet<PortKey>, TranslateError> {
    let mut keys: BTreeSet<PortKey> = image_exposed.iter().copied().collect();
    for key in create.exposed_ports.iter().flatten() {
        keys.insert(PortKey::parse(key)?);
    }
    let bindings = create.host_config.as_ref().and_then(|h| h.port_bindings.as_ref());
    for key in bindings.into_iter().flat_map(HashMap::keys) {
        keys.insert(PortKey::parse(key)?);
    }
    Ok(keys)
}

/// The ports an image's config exposes (`EXPOSE`), for `-P`; a key the image got wrong is left out (the client
/// did not write it, and the image's other ports still publish).
pub fn image_exposed(image: Option<&ImageConfig>) -> Vec<PortKey> {
    let keys = image.and_then(|i| i.exposed_ports.as_ref());
    keys.into_iter().flatten().filter_map(|k| PortKey::parse(k).ok()).collect()
}

/// What to publish, validated: every binding of `HostConfig.PortBindings` (a key with no bindings publishes
/// nothing), and with `PublishAllPorts` (`-P`) every exposed port without one, on any free port. Ordered by
/// container port, so the same body always allocates in the same order.
pub fn requests(create: &ContainerCreateBody, image_exposed: &[PortKey]) -> Result<Vec<PortRequest>, TranslateError> {
    let hc = create.host_config.as_ref();
    let mut by_key: BTreeMap<PortKey, Vec<PortRequest>> = BTreeMap::new();
    for (key, bindings) in hc.and_then(|h| h.port_bindings.as_ref()).into_iter().flatten() {
        let key = PortKey::parse(key)?;
        for binding in bindings.iter().flatten() {
            let request = PortRequest {
                key,
                host_ip: host_ip(binding.host_ip.as_deref().unwrap_or(""))?,
                host_ports: host_ports(binding.host_port.as_deref().unwrap_or(""))?,
            };
            by_key.entry(key).or_default().push(request);
        }
    }
    let exposed = exposed(create, image_exposed)?;
    if hc.and_then(|h| h.publish_all_ports) == Some(true) {
        for key in exposed {
            by_key.entry(key).or_default();
            if let Some(list) = by_key.get_mut(&key).filter(|l| l.is_empty()) {
                list.push(PortRequest { key, host_ip: None, host_ports: None });
            }
        }
    }
    Ok(by_key.into_values().flatten().collect())
}

/// The container's ports for its pod spec (`containerPort` and protocol, no `hostPort`): informative, as
/// Kubernetes asks of a pod, and what `kubectl port-forward` lists.
pub fn container_ports(create: &ContainerCreateBody) -> Result<Option<Vec<ContainerPort>>, TranslateError> {
    let ports: Vec<ContainerPort> = exposed(create, &[])?
        .into_iter()
        .map(|k| ContainerPort {
            container_port: i32::from(k.port),
            protocol: Some(k.proto.as_str().to_ascii_uppercase()),
            ..Default::default()
        })
        .collect();
    Ok((!ports.is_empty()).then_some(ports))
}

/// One published port as podshim opened it: stored on the pod as JSON in [`PORTS_ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// `80/tcp`.
    pub port: String,
    /// The address podshim listens on.
    #[serde(rename = "hostIp")]
    pub host_ip: String,
    #[serde(rename = "hostPort")]
    pub host_port: u16,
}

impl Published {
    /// The container port, when the stored key reads back (someone edited the annotation: skipped).
    pub fn key(&self) -> Option<PortKey> {
        PortKey::parse(&self.port).ok()
    }
}

/// The annotation's value for a list of bindings.
pub fn published_to_annotation(published: &[Published]) -> String {
    serde_json::to_string(published).unwrap_or_else(|_| "[]".to_string())
}

/// The bindings stored on a pod (empty when none or unreadable).
pub fn published_from_pod(pod: &Pod) -> Vec<Published> {
    let raw = pod.metadata.annotations.as_ref().and_then(|a| a.get(PORTS_ANNOTATION));
    raw.and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

/// Inspect's `NetworkSettings.Ports`: `{}` unless the container runs (`published` is `None`); else every exposed
/// port, with its bindings or `null`. A binding's `HostIp` is the address podshim listens on.
pub fn port_map(exposed: &BTreeSet<PortKey>, published: Option<&[Published]>) -> PortMap {
    let Some(published) = published else { return HashMap::new() };
    let mut map: PortMap = exposed.iter().map(|k| (k.to_string(), None)).collect();
    for p in published {
        let Some(key) = p.key() else { continue };
        let binding = PortBinding { host_ip: Some(p.host_ip.clone()), host_port: Some(p.host_port.to_string()) };
        map.entry(key.to_string()).or_insert(None).get_or_insert_with(Vec::new).push(binding);
    }
    map
}

/// `docker ps`'s `Ports`: `[]` unless the container runs; else one entry per binding and a bare entry per
/// exposed port that is not published, ordered by container port.
pub fn port_summaries(exposed: &BTreeSet<PortKey>, published: Option<&[Published]>) -> Vec<PortSummary> {
    let Some(published) = published else { return Vec::new() };
    let typ = |proto: Proto| match proto {
        Proto::Tcp => PortSummaryTypeEnum::TCP,
        Proto::Udp => PortSummaryTypeEnum::UDP,
    };
    let mut entries: Vec<(PortKey, PortSummary)> = published
        .iter()
        .filter_map(|p| {
            let key = p.key()?;
            let summary = PortSummary {
                ip: Some(p.host_ip.clone()),
                private_port: key.port,
                public_port: Some(p.host_port),
                typ: Some(typ(key.proto)),
            };
            Some((key, summary))
        })
        .collect();
    let bound: BTreeSet<PortKey> = entries.iter().map(|(k, _)| *k).collect();
    for key in exposed.iter().filter(|k| !bound.contains(k)) {
        let summary = PortSummary { ip: None, private_port: key.port, public_port: None, typ: Some(typ(key.proto)) };
        entries.push((*key, summary));
    }
    entries.sort_by_key(|(k, _)| *k);
    entries.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use bollard_stubs::models::HostConfig;

    use super::*;

    /// A container port and its bindings as (HostIp, HostPort); `None` is a `null` list.
    type Bindings<'a> = (&'a str, Option<Vec<(&'a str, &'a str)>>);

    fn body(bindings: &[Bindings], exposed: &[&str], all: bool) -> ContainerCreateBody {
        let port_bindings: PortMap = bindings
            .iter()
            .map(|(k, list)| {
                let list = list.as_ref().map(|l| {
                    l.iter()
                        .map(|(ip, port)| PortBinding {
                            host_ip: Some(ip.to_string()),
                            host_port: Some(port.to_string()),
                        })
                        .collect()
                });
                (k.to_string(), list)
            })
            .collect();
        ContainerCreateBody {
            image: Some("busybox".into()),
            exposed_ports: (!exposed.is_empty()).then(|| exposed.iter().map(|s| s.to_string()).collect()),
            host_config: Some(HostConfig {
                port_bindings: Some(port_bindings),
                publish_all_ports: Some(all),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn tcp(port: u16) -> PortKey {
        PortKey { port, proto: Proto::Tcp }
    }

    #[test]
    fn keys_parse_as_docker_writes_them() {
        assert_eq!(PortKey::parse("80").unwrap(), tcp(80));
        assert_eq!(PortKey::parse("53/UDP").unwrap(), PortKey { port: 53, proto: Proto::Udp });
        assert_eq!(PortKey::parse("8080/tcp").unwrap().to_string(), "8080/tcp");
        assert_eq!(PortKey::parse("abc/tcp").unwrap_err().to_string(), "invalid port specification: \"abc\"");
        assert_eq!(PortKey::parse("70000").unwrap_err().to_string(), "invalid port specification: \"70000\"");
        assert_eq!(PortKey::parse("80/foo").unwrap_err().to_string(), "invalid proto: foo");
        assert_eq!(PortKey::parse("80/sctp").unwrap_err().status_code(), 400);
    }

    #[test]
    fn bindings_become_requests_in_port_order() {
        let b = body(
            &[
                ("90/tcp", Some(vec![("", "9090")])),
                ("80/tcp", Some(vec![("", ""), ("127.0.0.1", "8000-8010")])),
                ("81/udp", Some(vec![("[::1]", "0")])),
                ("82/tcp", None),
            ],
            &[],
            false,
        );
        let got = requests(&b, &[]).unwrap();
        let want = vec![
            PortRequest { key: tcp(80), host_ip: None, host_ports: None },
            PortRequest { key: tcp(80), host_ip: Some("127.0.0.1".parse().unwrap()), host_ports: Some(8000..=8010) },
            PortRequest {
                key: PortKey { port: 81, proto: Proto::Udp },
                host_ip: Some("::1".parse().unwrap()),
                host_ports: None,
            },
            PortRequest { key: tcp(90), host_ip: None, host_ports: Some(9090..=9090) },
        ];
        assert_eq!(got, want);
        let bad = body(&[("80", Some(vec![("", "abc")]))], &[], false);
        assert_eq!(requests(&bad, &[]).unwrap_err().to_string(), "invalid port specification: \"abc\"");
        let bad = body(&[("80", Some(vec![("nope", "1")]))], &[], false);
        assert_eq!(requests(&bad, &[]).unwrap_err().to_string(), "invalid IP address: nope");
        let bad = body(&[("80", Some(vec![("", "9-3")]))], &[], false);
        assert!(requests(&bad, &[]).is_err());
    }

    #[test]
    fn publish_all_adds_every_exposed_port_without_a_binding() {
        let b = body(&[("80/tcp", Some(vec![("", "8080")]))], &["80/tcp", "7000/tcp"], true);
        let got = requests(&b, &[PortKey { port: 53, proto: Proto::Udp }]).unwrap();
        let keys: Vec<String> = got.iter().map(|r| format!("{} {:?}", r.key, r.host_ports)).collect();
        assert_eq!(keys, ["53/udp None", "80/tcp Some(8080..=8080)", "7000/tcp None"]);
        let off = body(&[], &["7000/tcp"], false);
        assert!(requests(&off, &[]).unwrap().is_empty(), "exposing publishes nothing without -P");
    }

    #[test]
    fn inspect_and_list_show_bindings_only_while_running() {
        let exposed: BTreeSet<PortKey> = [tcp(80), tcp(7000)].into();
        let published = vec![
            Published { port: "80/tcp".into(), host_ip: "127.0.0.1".into(), host_port: 32768 },
            Published { port: "80/tcp".into(), host_ip: "::1".into(), host_port: 32768 },
        ];
        assert!(port_map(&exposed, None).is_empty());
        assert!(port_summaries(&exposed, None).is_empty());
        let map = serde_json::to_value(port_map(&exposed, Some(&published))).unwrap();
        assert_eq!(
            map,
            serde_json::json!({"7000/tcp": null, "80/tcp": [
                {"HostIp": "127.0.0.1", "HostPort": "32768"}, {"HostIp": "::1", "HostPort": "32768"}]})
        );
        let list = serde_json::to_value(port_summaries(&exposed, Some(&published))).unwrap();
        assert_eq!(
            list,
            serde_json::json!([
                {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
                {"IP": "::1", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
                {"PrivatePort": 7000, "Type": "tcp"}])
        );
    }

    #[test]
    fn the_annotation_round_trips() {
        let published = vec![Published { port: "81/udp".into(), host_ip: "127.0.0.1".into(), host_port: 4569 }];
        let json = published_to_annotation(&published);
        assert_eq!(json, r#"[{"port":"81/udp","hostIp":"127.0.0.1","hostPort":4569}]"#);
        let mut pod = Pod::default();
        pod.metadata.annotations = Some([(PORTS_ANNOTATION.to_string(), json)].into());
        assert_eq!(published_from_pod(&pod), published);
    }
}
