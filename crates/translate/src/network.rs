//! Name resolution inside the container: Hostname, Domainname, ExtraHosts and Dns/DnsSearch/DnsOptions.
//!
//! Published ports are in [`super::ports`]; networks and links come in a later change and are refused in
//! [`super::refuse`].

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{HostAlias, PodDNSConfig, PodDNSConfigOption};

use super::labels::{is_dns_label, short_id};
use super::TranslateError;

/// The pod's `spec.hostname`. Docker's default hostname is the short id, and so is podshim's.
///
/// Kubernetes requires a DNS-1123 label (lowercase, at most 63 characters, no dots). A hostname Docker itself
/// rejects gets Docker's "invalid hostname format"; one Docker accepts but Kubernetes does not is refused.
pub fn hostname(requested: &str, id: &str) -> Result<String, TranslateError> {
    if requested.is_empty() {
        return Ok(short_id(id).to_string());
    }
    if is_dns_label(requested) {
        return Ok(requested.to_string());
    }
    let docker_valid = requested.len() <= 255
        && requested.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        });
    if !docker_valid {
        return Err(TranslateError::InvalidParameter(format!("invalid hostname format: {requested}")));
    }
    Err(TranslateError::unsupported(
        "Hostname",
        format!(
            "\"{requested}\" is not a Kubernetes hostname (lowercase letters, digits and '-', at most 63, no dots)"
        ),
    ))
}

/// Domainname has no faithful mapping: a pod's domain is `<subdomain>.<namespace>.svc.<cluster domain>`, never an
/// arbitrary name, so any non-empty value is refused.
pub fn check_domainname(domainname: &str) -> Result<(), TranslateError> {
    if domainname.is_empty() {
        return Ok(());
    }
    Err(TranslateError::unsupported(
        "Domainname",
        "a pod's domain is derived from its subdomain, namespace and the cluster domain; it cannot be set",
    ))
}

/// ExtraHosts (`"name:ip"`, or `"name=ip"` as newer CLIs also accept) as hostAliases, one per IP in the order the
/// IPs first appear, with the names in the order given. IPv6 addresses may be bracketed.
///
/// `host-gateway` is, in Docker, the address at which a container reaches the host the daemon runs on. Here it is
/// `host_gateway`, the address at which the pod reaches podshim's side (see docs/network.md); when podshim does
/// not know it, the option is refused rather than pointed somewhere else.
pub fn host_aliases(
    extra_hosts: &[String],
    host_gateway: Option<IpAddr>,
) -> Result<Option<Vec<HostAlias>>, TranslateError> {
    let mut aliases: Vec<HostAlias> = Vec::new();
    for entry in extra_hosts {
        let (name, ip) = entry
            .split_once('=')
            .or_else(|| entry.split_once(':'))
            .ok_or_else(|| TranslateError::InvalidParameter(format!("bad format for add-host: \"{entry}\"")))?;
        let ip = if ip == "host-gateway" {
            let gateway = host_gateway.ok_or_else(|| {
                TranslateError::unsupported(
                    "ExtraHosts host-gateway",
                    "podshim does not know the address at which pods reach it yet (no running container to learn \
                     it from); start podshim with --host-gateway-ip",
                )
            })?;
            gateway.to_string()
        } else {
            ip.trim_start_matches('[').trim_end_matches(']').to_string()
        };
        let ip = ip.as_str();
        if name.is_empty() || ip.parse::<IpAddr>().is_err() {
            return Err(TranslateError::InvalidParameter(format!("invalid IP address in add-host: \"{ip}\"")));
        }
        match aliases.iter_mut().find(|a| a.ip == ip) {
            Some(alias) => alias.hostnames.get_or_insert_with(Vec::new).push(name.to_string()),
            None => aliases.push(HostAlias { ip: ip.to_string(), hostnames: Some(vec![name.to_string()]) }),
        }
    }
    Ok((!aliases.is_empty()).then_some(aliases))
}

/// Dns, DnsSearch and DnsOptions as `(dnsPolicy, dnsConfig)`.
///
/// - With Dns servers: policy `None` and only what was given (servers, search domains, options), as Docker
///   writes its resolv.conf from the flags. At most 3 servers (Kubernetes' limit, also what resolvers read).
/// - Without servers but with search domains or options: the cluster's DNS (`ClusterFirst`) with the given search
///   domains and options added. Docker replaces the search list instead; Kubernetes can only append to it.
/// - Nothing: `None`, the Kubernetes default (ClusterFirst), so the container resolves cluster names.
///
/// An option `"name:value"` becomes `{name, value}`; `"name"` alone becomes `{name}`.
pub fn dns(
    servers: &[String],
    search: &[String],
    options: &[String],
) -> Result<(Option<String>, Option<PodDNSConfig>), TranslateError> {
    if servers.is_empty() && search.is_empty() && options.is_empty() {
        return Ok((None, None));
    }
    if servers.len() > 3 {
        return Err(TranslateError::unsupported("Dns", "Kubernetes allows at most 3 DNS servers"));
    }
    if let Some(bad) = servers.iter().find(|s| s.parse::<IpAddr>().is_err()) {
        return Err(TranslateError::InvalidParameter(format!("{bad} is not an ip address")));
    }
    if search.iter().any(|s| s == ".") {
        return Err(TranslateError::unsupported("DnsSearch", "\".\" (no search domains) cannot be expressed"));
    }
    if let Some(bad) = search.iter().find(|s| !is_dns_subdomain(s.strip_suffix('.').unwrap_or(s))) {
        return Err(TranslateError::unsupported(
            "DnsSearch",
            format!(
                "{bad:?} is not a DNS domain name (lowercase letters, digits, '-' and '.'), which Kubernetes requires"
            ),
        ));
    }
    if let Some(bad) = options.iter().find(|o| {
        let name = o.split_once(':').map_or(o.as_str(), |(name, _)| name);
        name.is_empty() || o.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(TranslateError::InvalidParameter(format!(
            "invalid DnsOptions entry {bad:?}: an option is a name or name:value, without spaces"
        )));
    }
    let options: Vec<PodDNSConfigOption> = options
        .iter()
        .map(|o| match o.split_once(':') {
            Some((name, value)) => PodDNSConfigOption { name: Some(name.to_string()), value: Some(value.to_string()) },
            None => PodDNSConfigOption { name: Some(o.clone()), value: None },
        })
        .collect();
    let config = PodDNSConfig {
        nameservers: (!servers.is_empty()).then(|| servers.to_vec()),
        searches: (!search.is_empty()).then(|| search.to_vec()),
        options: (!options.is_empty()).then_some(options),
    };
    let policy = if servers.is_empty() { "ClusterFirst" } else { "None" };
    Ok((Some(policy.to_string()), Some(config)))
}

/// A DNS-1123 subdomain, as Kubernetes validates `dnsConfig.searches`.
fn is_dns_subdomain(name: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_domains_and_options_kubernetes_cannot_take_are_refused() {
        let search = |s: &[&str]| dns(&[], &strings(s), &[]);
        assert!(search(&["example.com", "svc.cluster.local."]).is_ok());
        for bad in ["bad domain!", "UPPER.example", "-x.com", "a..b", ""] {
            assert!(search(&[bad]).unwrap_err().to_string().starts_with("DnsSearch is not supported"), "{bad}");
        }
        let options = |o: &[&str]| dns(&[], &[], &strings(o));
        assert!(options(&["ndots:2", "rotate"]).is_ok());
        for bad in ["bad option", ":2", "x\ny", ""] {
            assert!(options(&[bad]).unwrap_err().to_string().starts_with("invalid DnsOptions entry"), "{bad}");
        }
    }

    const ID: &str = "f308875b87a7626a4b4e313b36aa4f4bfd5d2c782e6dfc20e2ff68ac5c2838ef";

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_hostname_is_the_short_id() {
        assert_eq!(hostname("", ID).unwrap(), "f308875b87a7");
        assert_eq!(hostname("myhost", ID).unwrap(), "myhost");
    }

    #[test]
    fn hostnames_kubernetes_cannot_take_are_refused_with_400() {
        let err = hostname("MyHost", ID).unwrap_err();
        assert!(err.to_string().starts_with("Hostname is not supported by podshim"), "{err}");
        assert_eq!(err.status_code(), 400);
        let err = hostname("bad_host!", ID).unwrap_err();
        assert_eq!(err, TranslateError::InvalidParameter("invalid hostname format: bad_host!".to_string()));
    }

    #[test]
    fn extra_hosts_are_grouped_by_ip() {
        let aliases =
            host_aliases(&strings(&["a:10.0.0.1", "b=10.0.0.2", "c:10.0.0.1", "v6:::1"]), None).unwrap().unwrap();
        let got: Vec<(&str, Vec<String>)> =
            aliases.iter().map(|a| (a.ip.as_str(), a.hostnames.clone().unwrap_or_default())).collect();
        assert_eq!(got, [("10.0.0.1", strings(&["a", "c"])), ("10.0.0.2", strings(&["b"])), ("::1", strings(&["v6"]))]);
        assert!(host_aliases(&strings(&["x:not-an-ip"]), None).is_err());
    }

    #[test]
    fn host_gateway_is_podshims_address_and_refused_while_unknown() {
        let err = host_aliases(&strings(&["x:host-gateway"]), None).unwrap_err();
        assert!(err.to_string().contains("--host-gateway-ip"), "{err}");
        let aliases = host_aliases(&strings(&["x:host-gateway", "y=10.0.0.1"]), Some("10.213.0.1".parse().unwrap()));
        let aliases = aliases.unwrap().unwrap();
        assert_eq!(aliases[0].ip, "10.213.0.1");
        assert_eq!(aliases[0].hostnames, Some(strings(&["x"])));
    }

    #[test]
    fn dns_servers_replace_cluster_dns_and_search_alone_extends_it() {
        let (policy, config) = dns(&strings(&["1.1.1.1"]), &[], &strings(&["ndots:2", "rotate"])).unwrap();
        assert_eq!(policy.as_deref(), Some("None"));
        let config = config.unwrap();
        assert_eq!(config.nameservers, Some(strings(&["1.1.1.1"])));
        assert_eq!(config.options.unwrap()[1].value, None);
        let (policy, _) = dns(&[], &strings(&["example.com"]), &[]).unwrap();
        assert_eq!(policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(dns(&[], &[], &[]).unwrap(), (None, None));
        assert!(dns(&strings(&["dns.example"]), &[], &[]).is_err());
    }
}
