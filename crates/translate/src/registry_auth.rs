//! Registry credentials: the `X-Registry-Auth` header and `POST /auth` body a Docker client sends, and the
//! `kubernetes.io/dockerconfigjson` Secret the kubelet reads them from.
//!
//! Credentials are never written anywhere but that Secret's data: not in labels, annotations, image records, events
//! or logs ([`Credentials`] does not print its password).

use std::fmt;

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::image_ref::DOCKER_HUB;

/// The key Docker's tools use for Docker Hub in a config file (`docker login` without a server).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// What a client sends: moby's `registry.AuthConfig`.
#[derive(Default, Deserialize)]
struct AuthConfigJson {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// `base64(username:password)`, sent by some clients instead of the two fields.
    #[serde(default)]
    auth: String,
    #[serde(default)]
    serveraddress: String,
    /// A bearer token for the registry.
    #[serde(default)]
    registrytoken: String,
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The registry as the client named it (`127.0.0.1:5001`, `https://index.docker.io/v1/`); may be empty.
    pub server: String,
    pub secret: Secret,
}

/// A username and password, or a bearer token.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Basic { username: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).finish_non_exhaustive()
            }
            Secret::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = match &self.secret {
            Secret::Basic { username, .. } => username.as_str(),
            Secret::Bearer(_) => "<token>",
        };
        f.debug_struct("Credentials").field("server", &self.server).field("user", &user).finish()
    }
}

impl Credentials {
    /// The user name, or `""` for a token.
    pub fn username(&self) -> &str {
        match &self.secret {
            Secret::Basic { username, .. } => username,
            Secret::Bearer(_) => "",
        }
    }
}

/// Decodes the `X-Registry-Auth` header (URL-safe base64 of the JSON, padded or not). As moby, a header that does
/// not decode, or carries no credentials (`{}`, what the CLI sends without a login), means anonymous.
pub fn decode_header(header: &str) -> Option<Credentials> {
    let header = header.trim();
    if header.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(header))
        .ok()?;
    parse_json(&bytes)
}

/// The body of `POST /auth` (the same JSON, not encoded). `None` without credentials.
pub fn parse_json(bytes: &[u8]) -> Option<Credentials> {
    let config: AuthConfigJson = serde_json::from_slice(bytes).ok()?;
    let (mut username, mut password) = (config.username, config.password);
    if username.is_empty() && !config.auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD.decode(config.auth.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        (username, password) = (u.to_string(), p.to_string());
    }
    let secret = if !username.is_empty() {
        Secret::Basic { username, password }
    } else if !config.registrytoken.is_empty() {
        Secret::Bearer(config.registrytoken)
    } else {
        return None;
    };
    Some(Credentials { server: config.serveraddress, secret })
}

/// The registry host a server address names: `https://index.docker.io/v1/` and `index.docker.io` are Docker Hub
/// (`docker.io`), `http://127.0.0.1:5001/` is `127.0.0.1:5001`; an empty address is Docker Hub, as `docker login`
/// without a server.
pub fn registry_host(server: &str) -> String {
    let s = server.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// The key of a registry in a dockerconfigjson: Docker Hub's URL for Docker Hub (what the kubelet's keyring
/// matches `docker.io/...` images with), else the host.
pub fn config_key(host: &str) -> String {
    if host == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// The `.dockerconfigjson` of a pull Secret for `host`.
pub fn dockerconfigjson(host: &str, credentials: &Credentials) -> String {
    let entry = match &credentials.secret {
        Secret::Basic { username, password } => {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            json!({"username": username, "password": password, "auth": auth})
        }
        Secret::Bearer(token) => json!({"registrytoken": token}),
    };
    json!({"auths": {config_key(host): entry}}).to_string()
}

/// The name of the pull Secret for a registry and user: `podshim-pull-` and 16 hex characters of a SHA-256 of both
/// (so one user's Secret is updated by their next login, and names carry neither).
pub fn secret_name(host: &str, username: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{host}\n{username}").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("podshim-pull-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    #[test]
    fn headers_decode_like_moby() {
        let c =
            decode_header(&encode(r#"{"username":"u","password":"p+/?","serveraddress":"127.0.0.1:5001"}"#)).unwrap();
        assert_eq!(c.server, "127.0.0.1:5001");
        assert_eq!(c.secret, Secret::Basic { username: "u".into(), password: "p+/?".into() });
        assert!(decode_header(&encode("{}")).is_none());
        assert!(decode_header("not base64 !").is_none());
        assert!(decode_header("").is_none());
        let auth = base64::engine::general_purpose::STANDARD.encode("u:p");
        let c = decode_header(&encode(&format!(r#"{{"auth":"{auth}"}}"#))).unwrap();
        assert_eq!(c.username(), "u");
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = parse_json(br#"{"username":"u","password":"hunter2"}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn registry_hosts_and_config_keys() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host(""), "docker.io");
        assert_eq!(registry_host("http://127.0.0.1:5001/"), "127.0.0.1:5001");
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        let c = parse_json(br#"{"username":"u","password":"p"}"#).unwrap();
        let v: serde_json::Value = serde_json::from_str(&dockerconfigjson("127.0.0.1:5001", &c)).unwrap();
        assert_eq!(v["auths"]["127.0.0.1:5001"]["auth"], "dTpw");
    }

    #[test]
    fn secret_names_are_object_names_without_the_user() {
        let name = secret_name("127.0.0.1:5001", "alice");
        assert!(crate::labels::is_dns_label(&name), "{name}");
        assert!(!name.contains("alice"));
        assert_ne!(name, secret_name("127.0.0.1:5001", "bob"));
    }
}
