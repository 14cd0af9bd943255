//! Image pulls, as the kubelet and containerd make them, from the simulated [`crate::registry`]:
//! a reference pulls only when a registry the node reaches holds it; the node then knows the
//! image's config (what runs), its ID and references (what the container status shows).
//!
//! - A reference that does not parse -> `InvalidImageName` with the kubelet's message.
//! - Pull policy: `Never` runs only an image already on the node (else `ErrImageNeverPull`),
//!   `IfNotPresent` pulls when it is not, `Always` pulls every time.
//! - Not in the registry -> `ErrImagePull` with containerd's "not found", then `ImagePullBackOff`.
//! - A registry with basic authentication and no matching `imagePullSecrets` -> containerd's `401`.
//! - Registries the node does not reach (anything but Docker Hub's names and the simulated registries'
//!   own addresses: there is no internet) -> the lookup error of a node without one. Names under
//!   [`FAILING_REGISTRY`] fail as not found.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::cluster::Cluster;
use super::pull_secrets;
use crate::reference::Reference;
use crate::registry::{Platform, Registries, ResolveError};

/// Images from this registry never pull (the `.test` TLD is reserved, so nothing real is hidden).
pub const FAILING_REGISTRY: &str = "invalid.registry.test";

/// Why a pull failed: the waiting reason's kind and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullError {
    /// `InvalidImageName`: retrying does not help.
    InvalidName(String),
    /// `ErrImagePull`: retried with back-off.
    Failed(String),
    /// `ErrImageNeverPull`.
    NeverPull(String),
}

/// A pulled image as a container status shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// The first of the image's tagged references (containerd's `repoTags[0]`), else its ID.
    pub image: String,
    /// The first of its digested references (`repoDigests[0]`), else its ID.
    pub image_id: String,
    /// The config's `config` object (`Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `User`, ...).
    pub config: Value,
}

/// The node's images: where it pulls from, and what it has pulled (by image ID).
pub struct Images {
    registries: Registries,
    platform: Platform,
    pulled: Mutex<BTreeMap<String, Pulled>>,
}

struct Pulled {
    config: Value,
    references: BTreeSet<String>,
}

impl Images {
    pub fn new(registries: Registries) -> Images {
        Images { registries, platform: Platform::host(), pulled: Mutex::new(BTreeMap::new()) }
    }

    /// Makes `image` present on the node as `policy` says, reading the pod's pull secrets when the
    /// registry asks for credentials.
    pub async fn ensure(
        &self,
        image: &str,
        policy: &str,
        pod: &Pod,
        cluster: &dyn Cluster,
    ) -> Result<ImageInfo, PullError> {
        let reference = Reference::parse(image).map_err(|why| {
            PullError::InvalidName(format!(
                "Failed to apply default image tag {image:?}: couldn't parse image reference {image:?}: {why}"
            ))
        })?;
        let qualified = reference.qualified();
        let present = self.present(&qualified);
        match (policy, present) {
            ("Never", None) => {
                return Err(PullError::NeverPull(format!(
                    "Container image {image:?} is not present with pull policy of Never"
                )))
            }
            ("Never" | "IfNotPresent", Some(info)) => return Ok(info),
            _ => {}
        }
        self.pull(&reference, pod, cluster).await.map_err(PullError::Failed)
    }

    async fn pull(&self, reference: &Reference, pod: &Pod, cluster: &dyn Cluster) -> Result<ImageInfo, String> {
        let qualified = reference.qualified();
        let failed = |code: &str, why: String| {
            format!("rpc error: code = {code} desc = failed to pull and unpack image \"{qualified}\": {why}")
        };
        let unresolved = |why: String| format!("failed to resolve reference \"{qualified}\": {why}");
        let not_found = || failed("NotFound", unresolved(format!("{qualified}: not found")));
        if reference.domain == FAILING_REGISTRY {
            return Err(not_found());
        }
        let Some(registry) = self.registries.for_host(&reference.domain) else {
            return Err(failed("Unknown", unresolved(unreachable(reference))));
        };
        if !registry.access().is_open() {
            let credentials = pull_secrets::credentials(pod, cluster, &reference.domain).await;
            if !credentials.iter().any(|(user, password)| registry.access().admits(user, password)) {
                let why = format!(
                    "pulling from host {} failed with status code [manifests {}]: 401 Unauthorized",
                    reference.domain,
                    reference.reference()
                );
                return Err(failed("Unknown", unresolved(why)));
            }
        }
        let resolved = match registry.resolve(&reference.path, reference.reference(), &self.platform) {
            Ok(resolved) => resolved,
            Err(ResolveError::NotFound) => return Err(not_found()),
            Err(ResolveError::NoMatchingPlatform { .. }) => {
                return Err(failed("NotFound", "no match for platform in manifest: not found".to_string()))
            }
            Err(ResolveError::Invalid(why)) => return Err(failed("Unknown", why)),
        };
        let mut pulled = self.pulled.lock().map_err(|_| failed("Unknown", "image store lock poisoned".into()))?;
        // A tag moves to the image it now names, as in containerd's image store.
        for image in pulled.values_mut() {
            image.references.remove(&qualified);
        }
        let entry = pulled
            .entry(resolved.config_digest.clone())
            .or_insert_with(|| Pulled { config: resolved.config["config"].clone(), references: BTreeSet::new() });
        entry.references.insert(qualified.clone());
        entry.references.insert(format!("{}@{}", reference.name(), resolved.digest));
        Ok(info(&resolved.config_digest, entry))
    }

    /// The image a reference names, when the node has it.
    fn present(&self, qualified: &str) -> Option<ImageInfo> {
        let pulled = self.pulled.lock().ok()?;
        pulled.iter().find(|(_, image)| image.references.contains(qualified)).map(|(id, image)| info(id, image))
    }
}

fn info(id: &str, image: &Pulled) -> ImageInfo {
    let first = |digested: bool| image.references.iter().find(|r| r.contains('@') == digested).cloned();
    ImageInfo {
        image: first(false).unwrap_or_else(|| id.to_string()),
        image_id: first(true).unwrap_or_else(|| id.to_string()),
        config: image.config.clone(),
    }
}

/// containerd's error for a registry it cannot reach, on a node without internet: a name does not
/// resolve; an address refuses the connection.
fn unreachable(reference: &Reference) -> String {
    let domain = &reference.domain;
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port),
        _ => (domain.as_str(), "443"),
    };
    let request = format!("Head \"https://{domain}/v2/{}/manifests/{}\"", reference.path, reference.reference());
    let is_address = host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>().is_ok();
    if is_address {
        format!("failed to do request: {request}: dial tcp {host}:{port}: connect: connection refused")
    } else {
        format!("failed to do request: {request}: dial tcp: lookup {host}: no such host")
    }
}

/// The `Back-off pulling image` message of `ImagePullBackOff`.
pub fn back_off_message(image: &str) -> String {
    format!("Back-off pulling image {image:?}")
}
