//! Talking to registries through `oci-client`: resolve a reference to its manifest (an index: the platform's
//! manifest) and config blob, and check credentials (`docker login`). Where to go and how (mirrors of Docker Hub,
//! plain HTTP for insecure registries) is [`RegistryConfig`]; registry answers become Docker's error texts here.
//!
//! A fresh `oci_client::Client` serves each operation: the client keeps the first credentials it sees per
//! registry, so a shared one would hand one user's credentials to another's pull.

use std::net::IpAddr;
use std::sync::Once;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::error::Error;
use podshim_translate::image::Layer;
use podshim_translate::image_ref::{ImageRef, DOCKER_HUB};
use podshim_translate::registry_auth::{Credentials, Secret};

/// How long connecting to a registry may take, and reading one answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A registry endpoint: a host (`127.0.0.1:5000`) and whether it speaks plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub http: bool,
}

impl Endpoint {
    /// Parses a mirror URL as dockerd takes it (`http://127.0.0.1:5000`, `https://mirror.example/`): a scheme, a
    /// host, an optional port, no path.
    pub fn parse_url(url: &str) -> Result<Endpoint, String> {
        let (http, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (false, rest)
        } else {
            return Err(format!("invalid mirror: unsupported scheme in {url:?} (use http:// or https://)"));
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("invalid mirror: {url:?} must be scheme://host[:port] without a path"));
        }
        Ok(Endpoint { host: host.to_string(), http })
    }
}

/// Where images come from.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Mirrors of Docker Hub, tried in order before Docker Hub itself (`--registry-mirror`).
    pub mirrors: Vec<Endpoint>,
    /// Registries (`host[:port]`) reached without TLS verification, or over plain HTTP (`--insecure-registry`).
    /// Loopback registries are insecure without being listed, as in dockerd.
    pub insecure: Vec<String>,
    /// Secrets every pod lists in `imagePullSecrets` (`--image-pull-secret`).
    pub pull_secrets: Vec<String>,
}

impl RegistryConfig {
    /// Whether `host` is reached without TLS verification (and over HTTP when TLS fails).
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure.iter().any(|h| h == host) || is_loopback(host)
    }

    /// The endpoints to try for a registry, in order: for Docker Hub the mirrors, then Docker Hub; for another
    /// registry itself, first over TLS and, for an insecure one, then over HTTP.
    fn endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if domain == DOCKER_HUB {
            out.extend(self.mirrors.iter().cloned());
        }
        out.push(Endpoint { host: domain.to_string(), http: false });
        if self.is_insecure(domain) {
            out.push(Endpoint { host: domain.to_string(), http: true });
        }
        out
    }
}

/// True for `localhost` and loopback addresses, with or without a port.
fn is_loopback(host: &str) -> bool {
    let bare = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let bare = bare.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The platform images are resolved for (an index's entry is chosen by it): `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// Go's GOOS values that Docker accepts in a platform.
const OSES: [&str; 14] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
];

impl Platform {
    /// podshim's own: linux and the architecture podshim was built for (a cluster's nodes usually share it).
    pub fn native() -> Platform {
        Platform { os: "linux".into(), architecture: podshim_translate::platform::go_arch().to_string(), variant: None }
    }

    /// Docker's `platform` parameter (`linux`, `linux/arm64`, `linux/arm/v7`); 400 with containerd's words
    /// otherwise.
    pub fn parse(raw: &str) -> Result<Platform, Error> {
        let bad = || {
            Error::InvalidParameter(format!("\"{raw}\": unknown operating system or architecture: invalid argument"))
        };
        let mut parts = raw.split('/');
        let os = parts.next().filter(|os| OSES.contains(os)).ok_or_else(bad)?;
        let native = Platform::native();
        let architecture = parts.next().map_or(native.architecture, str::to_string);
        let variant = parts.next().map(str::to_string);
        if parts.next().is_some() || architecture.is_empty() {
            return Err(bad());
        }
        Ok(Platform { os: os.to_string(), architecture, variant })
    }

    fn pick(&self, entries: &[ImageIndexEntry]) -> Option<String> {
        let fits = |e: &&ImageIndexEntry| {
            e.platform.as_ref().is_some_and(|p| {
                p.os.to_string() == self.os
                    && p.architecture.to_string() == self.architecture
                    && self.variant.as_ref().is_none_or(|v| p.variant.as_ref() == Some(v))
            })
        };
        entries.iter().find(fits).map(|e| e.digest.clone())
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What a reference resolved to.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The digest the reference names (an index's when it is one): the repo digest Docker records.
    pub digest: String,
    /// The config blob exactly as served.
    pub config: String,
    pub layers: Vec<Layer>,
}

fn auth_of(credentials: Option<&Credentials>) -> RegistryAuth {
    match credentials.map(|c| &c.secret) {
        Some(Secret::Basic { username, password }) => RegistryAuth::Basic(username.clone(), password.clone()),
        Some(Secret::Bearer(token)) => RegistryAuth::Bearer(token.clone()),
        None => RegistryAuth::Anonymous,
    }
}

/// A client for one endpoint.
fn client_for(endpoint: &Endpoint, insecure: bool, platform: Option<Platform>) -> Result<Client, Error> {
    static CRYPTO: Once = Once::new();
    CRYPTO.call_once(|| {
        // kube installs nothing process-wide; the registry client needs a provider. Another one installed
        // first is fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let config = ClientConfig {
        protocol: if endpoint.http { ClientProtocol::Http } else { ClientProtocol::Https },
        accept_invalid_certificates: insecure,
        platform_resolver: platform.map(|p| {
            Box::new(move |entries: &[ImageIndexEntry]| p.pick(entries))
                as Box<dyn Fn(&[ImageIndexEntry]) -> Option<String> + Send + Sync>
        }),
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: concat!("podshim/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    };
    Client::try_from(config).map_err(|e| Error::Registry(format!("creating the registry client: {e}")))
}

/// The `oci-client` reference for a reference at an endpoint (a mirror serves Docker Hub's repositories).
fn oci_reference(reference: &ImageRef, endpoint: &Endpoint) -> Result<Reference, Error> {
    let mut r: Reference =
        reference.full().parse().map_err(|e| Error::InvalidParameter(format!("invalid reference format: {e}")))?;
    if endpoint.host != reference.domain {
        r.set_mirror_registry(endpoint.host.clone());
    }
    Ok(r)
}

/// True for an error that says nothing about the image: the endpoint could not be reached (try the next one).
fn unreachable(err: &OciDistributionError) -> bool {
    matches!(err, OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() || e.is_request())
}

/// Resolves `reference` (a tag or digest) to its config blob, as the node will pull it: through the mirrors for
/// Docker Hub (a mirror's answer is final; Docker Hub is asked only when no mirror can be reached), else the
/// registry itself.
pub async fn fetch(
    config: &RegistryConfig,
    reference: &ImageRef,
    credentials: Option<&Credentials>,
    platform: &Platform,
) -> Result<Fetched, Error> {
    let auth = auth_of(credentials);
    let mut last = None;
    for endpoint in config.endpoints(&reference.domain) {
        let client = client_for(&endpoint, config.is_insecure(&endpoint.host), Some(platform.clone()))?;
        let oci = oci_reference(reference, &endpoint)?;
        match client.pull_manifest_and_config_and_list_digest(&oci, &auth).await {
            Ok((manifest, digest, blob, list_digest)) => {
                let layers = manifest.layers.iter().map(|l| Layer { digest: l.digest.clone(), size: l.size }).collect();
                return Ok(Fetched { digest: list_digest.unwrap_or(digest), config: blob, layers });
            }
            Err(err) if unreachable(&err) => {
                tracing::debug!(registry = %endpoint.host, error = %chain(&err), "registry unreachable; trying the next");
                last = Some((err, endpoint));
            }
            Err(err) => return Err(pull_error(&client, &oci, &auth, reference, &endpoint, platform, err).await),
        }
    }
    Err(match last {
        Some((err, endpoint)) => Error::Registry(transport_text(&err, &endpoint)),
        None => Error::Registry(format!("no registry to pull {} from", reference.familiar())),
    })
}

/// Docker's text for a failed pull (moby distribution/errors.go), and its class: not found (404) or other (500).
async fn pull_error(
    client: &Client,
    oci: &Reference,
    auth: &RegistryAuth,
    reference: &ImageRef,
    endpoint: &Endpoint,
    platform: &Platform,
    err: OciDistributionError,
) -> Error {
    let denied = |cause: &str| {
        Error::ImageNotFound(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {cause}",
            reference.familiar_name()
        ))
    };
    match &err {
        OciDistributionError::RegistryError { envelope, .. } => {
            let Some(first) = envelope.errors.first() else { return Error::Registry(chain(&err)) };
            let message = &first.message;
            match first.code {
                OciErrorCode::ManifestUnknown => {
                    // Docker Hub answers a repository that does not exist with "denied"; a registry standing in
                    // for it (a mirror) answers "manifest unknown" for both a missing tag and a missing repository.
                    if reference.domain == DOCKER_HUB && repository_missing(client, oci, auth).await {
                        return denied("denied: requested access to the resource is denied");
                    }
                    Error::ImageNotFound(format!(
                        "manifest for {} not found: manifest unknown: {message}",
                        reference.familiar()
                    ))
                }
                OciErrorCode::NameUnknown if reference.domain == DOCKER_HUB => {
                    denied("denied: requested access to the resource is denied")
                }
                OciErrorCode::NameUnknown => Error::ImageNotFound(format!(
                    "repository {} not found: name unknown: {message}",
                    reference.familiar_name()
                )),
                OciErrorCode::Denied => denied(&format!("denied: {message}")),
                OciErrorCode::Unauthorized => Error::Registry(format!("unauthorized: {message}")),
                _ => Error::Registry(format!("{}: {message}", code_text(&first.code))),
            }
        }
        OciDistributionError::UnauthorizedError { url } => match auth {
            RegistryAuth::Anonymous => Error::Registry(format!("Head \"{url}\": no basic auth credentials")),
            _ => Error::Registry("unauthorized: authentication required".into()),
        },
        OciDistributionError::AuthenticationFailure(_) => {
            Error::Registry("unauthorized: incorrect username or password".into())
        }
        OciDistributionError::ImageManifestNotFoundError(_) => {
            Error::ImageNotFound(format!("no matching manifest for {platform} in the manifest list entries"))
        }
        OciDistributionError::RequestError(_) => Error::Registry(transport_text(&err, endpoint)),
        _ => Error::Registry(chain(&err)),
    }
}

/// Whether the repository itself is missing: its tag list is `NAME_UNKNOWN` (or 404).
async fn repository_missing(client: &Client, oci: &Reference, auth: &RegistryAuth) -> bool {
    match client.list_tags(oci, auth, Some(1), None).await {
        Err(OciDistributionError::RegistryError { envelope, .. }) => {
            envelope.errors.iter().any(|e| e.code == OciErrorCode::NameUnknown)
        }
        Err(OciDistributionError::ServerError { code: 404, .. }) => true,
        _ => false,
    }
}

/// The distribution error code as Docker words it (`manifest unknown`).
fn code_text(code: &OciErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.to_ascii_lowercase().replace('_', " ")))
        .unwrap_or_else(|| "registry error".into())
}

/// A transport failure in Docker's shape: `Get "https://host/v2/": <cause>`.
fn transport_text(err: &OciDistributionError, endpoint: &Endpoint) -> String {
    let scheme = if endpoint.http { "http" } else { "https" };
    let cause = match err {
        OciDistributionError::RequestError(e) => {
            let mut cause = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                cause = s.to_string();
                source = s.source();
            }
            cause
        }
        other => other.to_string(),
    };
    format!("Get \"{scheme}://{}/v2/\": {cause}", endpoint.host)
}

/// An error with its causes, `: `-joined.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `docker login`: checks `credentials` against the registry `host` (Docker Hub for `docker.io`): a token
/// registry checks them at its token endpoint, a basic-auth registry on an authenticated request. 401 with
/// Docker's sentence when refused.
pub async fn login(config: &RegistryConfig, host: &str, credentials: &Credentials) -> Result<(), Error> {
    let auth = auth_of(Some(credentials));
    let probe = ImageRef {
        domain: host.to_string(),
        path: "library/podshim-login".into(),
        tag: Some("latest".into()),
        digest: None,
    };
    let mut endpoints = vec![Endpoint { host: host.to_string(), http: false }];
    if config.is_insecure(host) {
        endpoints.push(Endpoint { host: host.to_string(), http: true });
    }
    let mut last = None;
    for endpoint in endpoints {
        let scheme = if endpoint.http { "http" } else { "https" };
        let client = client_for(&endpoint, config.is_insecure(host), None)?;
        let oci = oci_reference(&probe, &endpoint)?;
        let refused = || {
            Error::LoginFailed(format!("login attempt to {scheme}://{host}/v2/ failed with status: 401 Unauthorized"))
        };
        match client.auth(&oci, &auth, RegistryOperation::Pull).await {
            // A token was issued for these credentials.
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {}
            Err(OciDistributionError::AuthenticationFailure(_)) => return Err(refused()),
            Err(err) if unreachable(&err) => {
                last = Some((err, endpoint));
                continue;
            }
            Err(err) => return Err(Error::Registry(chain(&err))),
        }
        // Basic authentication (or none): an authenticated request tells.
        return match client.catalog(&oci, &auth, Some(1), None).await {
            Ok(_) => Ok(()),
            Err(OciDistributionError::UnauthorizedError { .. }) => Err(refused()),
            Err(OciDistributionError::RegistryError { envelope, .. })
                if envelope.errors.iter().any(|e| e.code == OciErrorCode::Unauthorized) =>
            {
                Err(refused())
            }
            Err(err) if unreachable(&err) => {
                last = Some((err, endpoint));
                continue;
            }
            // The registry accepted the credentials but has no catalog for them.
            Err(_) => Ok(()),
        };
    }
    Err(match last {
        Some((err, endpoint)) => Error::Registry(transport_text(&err, &endpoint)),
        None => Error::Registry(format!("cannot reach registry {host}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls_parse_as_dockerd_takes_them() {
        assert_eq!(
            Endpoint::parse_url("http://127.0.0.1:5000"),
            Ok(Endpoint { host: "127.0.0.1:5000".into(), http: true })
        );
        assert_eq!(
            Endpoint::parse_url("https://mirror.example/"),
            Ok(Endpoint { host: "mirror.example".into(), http: false })
        );
        assert!(Endpoint::parse_url("127.0.0.1:5000").is_err());
        assert!(Endpoint::parse_url("http://h/path").is_err());
    }

    #[test]
    fn loopback_registries_are_insecure_by_default() {
        let config = RegistryConfig { insecure: vec!["reg.example:5000".into()], ..Default::default() };
        for host in ["127.0.0.1:5000", "localhost:5001", "localhost", "[::1]:5000", "127.9.9.9", "reg.example:5000"] {
            assert!(config.is_insecure(host), "{host}");
        }
        assert!(!config.is_insecure("quay.io"));
        assert!(!config.is_insecure("reg.example"));
    }

    #[test]
    fn docker_hub_goes_to_the_mirrors_first() {
        let config = RegistryConfig {
            mirrors: vec![Endpoint { host: "127.0.0.1:5000".into(), http: true }],
            ..Default::default()
        };
        let hosts: Vec<String> = config.endpoints("docker.io").into_iter().map(|e| e.host).collect();
        assert_eq!(hosts, ["127.0.0.1:5000", "docker.io"]);
        let local = config.endpoints("127.0.0.1:5001");
        assert_eq!(local.iter().map(|e| e.http).collect::<Vec<_>>(), [false, true]);
    }

    #[test]
    fn platforms_parse_with_dockers_error() {
        assert_eq!(Platform::parse("linux/arm64").unwrap().to_string(), "linux/arm64");
        assert_eq!(Platform::parse("linux/arm/v7").unwrap().variant.as_deref(), Some("v7"));
        let err = Platform::parse("foobar").unwrap_err();
        assert_eq!(err.to_string(), "\"foobar\": unknown operating system or architecture: invalid argument");
    }
}
