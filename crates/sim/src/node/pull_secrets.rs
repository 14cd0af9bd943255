//! Registry credentials from a pod's `imagePullSecrets`, as the kubelet reads them:
//! `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`, `{"auths": {...}}`) and the older
//! `kubernetes.io/dockercfg` (`.dockercfg`, the `auths` map itself). A key matches a registry host
//! with or without a scheme and a path (`https://127.0.0.1:5000/v1/` matches `127.0.0.1:5000`);
//! Docker Hub's keys (`https://index.docker.io/v1/`, `docker.io`, ...) match `docker.io`.

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::cluster::Cluster;

/// The (user, password) pairs the pod's pull secrets hold for `host`. Secrets that are missing or
/// unreadable are skipped, as the kubelet does (it pulls without them).
pub async fn credentials(pod: &Pod, cluster: &dyn Cluster, host: &str) -> Vec<(String, String)> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let names = pod.spec.as_ref().and_then(|s| s.image_pull_secrets.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for name in names.iter().take(64) {
        let Ok(Some(secret)) = cluster.secret(&namespace, &name.name).await else { continue };
        let data = secret.data.unwrap_or_default();
        let auths = if let Some(json) = data.get(".dockerconfigjson") {
            serde_json::from_slice::<Value>(&json.0).ok().map(|v| v["auths"].clone())
        } else {
            data.get(".dockercfg").and_then(|json| serde_json::from_slice::<Value>(&json.0).ok())
        };
        let Some(Value::Object(auths)) = auths else { continue };
        for (key, entry) in &auths {
            if key_host(key) == canonical(host) {
                out.extend(entry_credentials(entry));
            }
        }
    }
    out
}

/// An entry's `auth` (base64 `user:password`), or its `username` and `password`.
fn entry_credentials(entry: &Value) -> Option<(String, String)> {
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        return Some((user.to_string(), password.to_string()));
    }
    Some((entry["username"].as_str()?.to_string(), entry["password"].as_str()?.to_string()))
}

/// The host a config key names: scheme and path dropped, Docker Hub's names made one.
fn key_host(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    canonical(rest.split('/').next().unwrap_or(rest))
}

fn canonical(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_string(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_hosts_as_the_kubelet_does() {
        assert_eq!(key_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(key_host("http://127.0.0.1:5001"), "127.0.0.1:5001");
        assert_eq!(key_host("127.0.0.1:5001/v2/"), "127.0.0.1:5001");
        assert_eq!(
            entry_credentials(&serde_json::json!({"auth": base64::engine::general_purpose::STANDARD.encode("u:p:w")})),
            Some(("u".to_string(), "p:w".to_string()))
        );
        assert_eq!(
            entry_credentials(&serde_json::json!({"username": "u", "password": "p"})),
            Some(("u".to_string(), "p".to_string()))
        );
    }
}
