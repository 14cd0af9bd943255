//! The pod's `/etc/hosts`, as a kubelet writes it for a pod with a network of its own: localhost, the pod's own
//! address and host name, then `spec.hostAliases`. Bound over each container's `/etc/hosts` (in a root of the
//! container's own; without one the container sees this machine's file).

use k8s_openapi::api::core::v1::Pod;

/// The file's text for `pod` at address `ip`.
pub fn hosts_file(pod: &Pod, ip: &str) -> String {
    let spec = pod.spec.as_ref();
    let hostname = spec.and_then(|s| s.hostname.clone()).or_else(|| pod.metadata.name.clone()).unwrap_or_default();
    let mut text = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    text.push_str(&format!("{ip}\t{hostname}\n"));
    let aliases = spec.and_then(|s| s.host_aliases.as_ref()).filter(|a| !a.is_empty());
    if let Some(aliases) = aliases {
        text.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            let names = alias.hostnames.clone().unwrap_or_default().join("\t");
            text.push_str(&format!("{}\t{names}\n", alias.ip));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_file_is_the_kubelets() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"hostname": "web", "containers": [],
                "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a", "b"]}]},
        }))
        .unwrap();
        let text = hosts_file(&pod, "10.213.0.2");
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), "{text}");
        assert!(text.ends_with("10.213.0.2\tweb\n\n# Entries added by HostAliases.\n1.2.3.4\ta\tb\n"), "{text}");
    }
}
