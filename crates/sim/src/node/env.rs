//! A container's environment: the defaults, `envFrom`, `env` with `$(VAR)` expansion and
//! `valueFrom` (fieldRef, configMapKeyRef, secretKeyRef, resourceFieldRef).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::cluster::Cluster;

/// The default `PATH` of a container (the one containerd gives an image without its own).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An ordered environment (later entries replace earlier ones with the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: Vec<(String, String)>,
}

impl Environment {
    pub fn set(&mut self, name: &str, value: String) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.to_string(), value)),
        }
    }

    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    fn as_map(&self) -> HashMap<&str, &str> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }
}

/// Kubernetes' `$(VAR)` expansion: `$(NAME)` becomes the variable's value when it is defined and
/// stays as written otherwise; `$$` is an escaped `$`.
pub fn expand(text: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match vars.get(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Expands every argument with the container's environment.
pub fn expand_all(args: &[String], env: &Environment) -> Vec<String> {
    let map = env.as_map();
    args.iter().map(|a| expand(a, &map)).collect()
}

/// The value of a `fieldRef` (the node's address is 127.0.0.1; a pod's is its own, or 127.0.0.1 on this machine's
/// network).
pub fn field_value(pod: &Pod, path: &str) -> String {
    let meta = &pod.metadata;
    for (prefix, map) in [("metadata.labels['", &meta.labels), ("metadata.annotations['", &meta.annotations)] {
        if let Some(key) = path.strip_prefix(prefix).and_then(|k| k.strip_suffix("']")) {
            return map.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default();
        }
    }
    let spec = pod.spec.as_ref();
    match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        // The pod's own address on the node's pod network (set by the node before the container starts).
        "status.podIP" | "status.podIPs" => {
            pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_else(|| "127.0.0.1".to_string())
        }
        "status.hostIP" | "status.hostIPs" => "127.0.0.1".to_string(),
        _ => String::new(),
    }
}

/// Builds the environment of `container` over its image's `Env` (as containerd: the default `PATH`,
/// `HOSTNAME`, the image's variables, then the pod's); the error is the kubelet's
/// `CreateContainerConfigError` message.
pub async fn build(
    pod: &Pod,
    container: &Container,
    image_env: &[(String, String)],
    cluster: &dyn Cluster,
) -> Result<Environment, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut env = Environment::default();
    env.set("PATH", DEFAULT_PATH.to_string());
    env.set("HOSTNAME", pod.metadata.name.clone().unwrap_or_default());
    for (name, value) in image_env {
        env.set(name, value.clone());
    }
    if !env.vars.iter().any(|(n, _)| n == "HOME") {
        // The image's layers are not unpacked, so its /etc/passwd is unknown: root's home, as for uid 0.
        env.set("HOME", "/root".to_string());
    }
    if container.tty == Some(true) {
        env.set("TERM", "xterm".to_string());
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match cluster.config_map(&namespace, &r.name).await? {
                Some(cm) => {
                    for (k, v) in cm.data.unwrap_or_default() {
                        env.set(&format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap {:?} not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match cluster.secret(&namespace, &r.name).await? {
                Some(secret) => {
                    for (k, v) in secret.data.unwrap_or_default() {
                        env.set(&format!("{prefix}{k}"), String::from_utf8_lossy(&v.0).into_owned());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret {:?} not found", r.name)),
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            expand(value, &env.as_map())
        } else if let Some(from) = &var.value_from {
            if let Some(field) = &from.field_ref {
                field_value(pod, &field.field_path)
            } else if let Some(r) = &from.config_map_key_ref {
                let found = cluster.config_map(&namespace, &r.name).await?;
                match found.map(|cm| cm.data.unwrap_or_default().remove(&r.key)) {
                    Some(Some(v)) => v,
                    _ if r.optional == Some(true) => continue,
                    Some(None) => {
                        return Err(format!("couldn't find key {} in ConfigMap {namespace}/{}", r.key, r.name))
                    }
                    None => return Err(format!("configmap {:?} not found", r.name)),
                }
            } else if let Some(r) = &from.secret_key_ref {
                let found = cluster.secret(&namespace, &r.name).await?;
                match found.map(|s| s.data.unwrap_or_default().remove(&r.key)) {
                    Some(Some(v)) => String::from_utf8_lossy(&v.0).into_owned(),
                    _ if r.optional == Some(true) => continue,
                    Some(None) => return Err(format!("couldn't find key {} in Secret {namespace}/{}", r.key, r.name)),
                    None => return Err(format!("secret {:?} not found", r.name)),
                }
            } else {
                // resourceFieldRef: the sim enforces no resources.
                "0".to_string()
            }
        } else {
            String::new()
        };
        env.set(&var.name, value);
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::cluster::FakeCluster;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use k8s_openapi::ByteString;

    fn vars() -> HashMap<&'static str, &'static str> {
        HashMap::from([("A", "1"), ("B", "two")])
    }

    #[test]
    fn expand_replaces_defined_and_keeps_undefined() {
        assert_eq!(expand("x$(A)y$(B)", &vars()), "x1ytwo");
        assert_eq!(expand("$(C) stays", &vars()), "$(C) stays");
        assert_eq!(expand("$$(A) is escaped, $$ too", &vars()), "$(A) is escaped, $ too");
        assert_eq!(expand("$A $( unclosed", &vars()), "$A $( unclosed");
    }

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n", "containers": containers},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn env_resolves_values_fields_and_refs() {
        let mut cluster = FakeCluster::default();
        cluster.config_maps.insert(
            "cm".into(),
            ConfigMap { data: Some([("k".to_string(), "cmv".to_string())].into()), ..Default::default() },
        );
        cluster.secrets.insert(
            "s".into(),
            Secret { data: Some([("pw".to_string(), ByteString(b"hunter2".to_vec()))].into()), ..Default::default() },
        );
        let p = pod(serde_json::json!([{"name": "c", "env": [
            {"name": "X", "value": "x-$(HOSTNAME)"},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "pw", "optional": true}}},
        ], "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}]}]));
        let container = &p.spec.as_ref().unwrap().containers[0];
        let env = build(&p, container, &[], &cluster).await.unwrap();
        assert_eq!(env.get("X"), Some("x-p"));
        assert_eq!(env.get("APP"), Some("web"));
        assert_eq!(env.get("IP"), Some("127.0.0.1"));
        assert_eq!(env.get("CM"), Some("cmv"));
        assert_eq!(env.get("PW"), Some("hunter2"));
        assert_eq!(env.get("P_k"), Some("cmv"));
        assert_eq!(env.get("OPT"), None);
        assert_eq!(env.get("PATH"), Some(DEFAULT_PATH));
    }

    #[tokio::test]
    async fn missing_required_config_map_is_the_kubelet_message() {
        let p = pod(serde_json::json!([{"name": "c", "env": [
            {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}},
        ]}]));
        let container = &p.spec.as_ref().unwrap().containers[0];
        let err = build(&p, container, &[], &FakeCluster::default()).await.unwrap_err();
        assert_eq!(err, "configmap \"x\" not found");
    }
}
