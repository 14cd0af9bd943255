//! The simulated cluster's image registries: OCI distribution (v2) endpoints on 127.0.0.1, so a
//! client resolves images through the same HTTP API (and the same client code) as against a real
//! registry, without internet.
//!
//! - **The public registry** ([`crate::SimCluster::registry_addr`], `<sim-data>/registry`) serves the
//!   built-in [`catalogue`] and stands for Docker Hub: the simulated node pulls `docker.io/...` (and
//!   `registry-1.docker.io/...`) from it, and podshim on `--sim` uses it as its Docker Hub mirror.
//! - **The private registry** ([`crate::SimCluster::private_registry_addr`], `<sim-data>/registry-private`)
//!   asks for HTTP basic authentication on every request, `/v2/` included, as the distribution
//!   registry with `htpasswd` does (user [`PRIVATE_USER`], password [`PRIVATE_PASSWORD`]). It holds
//!   `alpine` (`latest`, `3.20`) and `busybox` (`latest`), the catalogue's images; pods pull from it
//!   with `imagePullSecrets`.
//!
//! Both speak plain HTTP: they listen on loopback only, and Docker and containerd treat loopback
//! registries as insecure (plain HTTP) by default. Tests add images by pushing them through the
//! distribution API's upload endpoints ([`upload`]; `skopeo copy` works too) or with
//! [`Registry::add_image`]. Content lives in memory, capped at [`store::MAX_BYTES`].
//!
//! Files: [`handlers`] (routes, reads), [`upload`] (pushes), [`auth`], [`http`] (response shapes),
//! [`store`] (content), [`image`] (building an image's blobs and manifests), [`resolve`] (a node's
//! platform pick), [`catalogue`] (the built-in images).

mod auth;
pub mod catalogue;
mod cluster;
mod handlers;
mod http;
pub mod image;
mod resolve;
mod store;
#[cfg(test)]
mod tests;
mod upload;

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use auth::Access;
pub(crate) use cluster::start_for_cluster;
pub use image::{sha256, Format, ImageSpec, Platform};
pub use resolve::{ResolveError, Resolved};

/// The private registry's user.
pub const PRIVATE_USER: &str = "podshim";
/// The private registry's password (a test registry on loopback with stand-in images).
pub const PRIVATE_PASSWORD: &str = "podshim-sim-secret";
/// The realm of the private registry's `Basic` challenge.
pub const PRIVATE_REALM: &str = "podshim-sim-registry";

/// A registry: its content, uploads in progress and who may use it. Clones share everything.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: store::Store,
    uploads: upload::Uploads,
    access: Access,
}

impl Registry {
    /// An empty registry.
    pub fn new(access: Access) -> Registry {
        Registry { inner: Arc::new(Inner { store: Default::default(), uploads: Default::default(), access }) }
    }

    /// A registry holding the built-in [`catalogue`].
    pub fn with_catalogue(access: Access) -> io::Result<Registry> {
        let registry = Registry::new(access);
        for entry in catalogue::builtin() {
            registry.add_image(entry.repository, entry.tags, &entry.spec)?;
        }
        Ok(registry)
    }

    /// The private registry: basic authentication, and `alpine` and `busybox` from the catalogue.
    pub fn private() -> io::Result<Registry> {
        let users = vec![(PRIVATE_USER.to_string(), PRIVATE_PASSWORD.to_string())];
        let registry = Registry::new(Access::Basic { realm: PRIVATE_REALM.to_string(), users });
        for entry in catalogue::builtin() {
            match (entry.repository, entry.tags.first()) {
                ("library/alpine", Some(&"latest")) => {
                    registry.add_image("alpine", &["latest", "3.20"], &entry.spec)?
                }
                ("library/busybox", _) => registry.add_image("busybox", &["latest"], &entry.spec)?,
                _ => continue,
            };
        }
        Ok(registry)
    }

    /// Adds an image to `repository` under `tags`; returns the digest the tags point at.
    pub fn add_image(&self, repository: &str, tags: &[&str], spec: &ImageSpec) -> io::Result<String> {
        let built = spec.build()?;
        let store = &self.inner.store;
        for (digest, bytes) in built.blobs {
            if !store.put_blob(repository, &digest, bytes) {
                return Err(io::Error::other("the simulated registry is full"));
            }
        }
        for (digest, manifest) in built.manifests {
            store.put_manifest(repository, None, &digest, manifest).map_err(|e| io::Error::other(format!("{e:?}")))?;
        }
        for tag in tags {
            store.tag(repository, tag, &built.digest);
        }
        Ok(built.digest)
    }

    /// The digest `tag` of `repository` points at.
    pub fn digest_of(&self, repository: &str, tag: &str) -> Option<String> {
        self.inner.store.manifest(repository, tag).map(|(digest, _)| digest)
    }

    /// What a node pulling `reference` (tag or digest) of `repository` for `platform` gets.
    pub fn resolve(&self, repository: &str, reference: &str, platform: &Platform) -> Result<Resolved, ResolveError> {
        resolve::resolve(&self.inner.store, repository, reference, platform)
    }

    pub fn access(&self) -> &Access {
        &self.inner.access
    }

    fn store(&self) -> &store::Store {
        &self.inner.store
    }

    fn uploads(&self) -> &upload::Uploads {
        &self.inner.uploads
    }
}

/// The registries a node can pull from, by the hosts that name them.
#[derive(Clone, Default)]
pub struct Registries {
    entries: Vec<(Vec<String>, Registry)>,
}

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(hosts, _)| hosts)).finish()
    }
}

impl Registries {
    /// `registry` answers for each of `hosts` (`docker.io`, `127.0.0.1:5000`, ...).
    pub fn add(&mut self, hosts: Vec<String>, registry: Registry) {
        self.entries.push((hosts, registry));
    }

    /// The built-in catalogue as Docker Hub, and nothing else (for tests of the node).
    #[cfg(test)]
    pub fn docker_hub_catalogue() -> Registries {
        let mut registries = Registries::default();
        let hub = Registry::with_catalogue(Access::Open).expect("the catalogue builds");
        registries.add(vec!["docker.io".to_string()], hub);
        registries
    }

    /// The registry for a reference's domain.
    pub fn for_host(&self, host: &str) -> Option<&Registry> {
        self.entries.iter().find(|(hosts, _)| hosts.iter().any(|h| h == host)).map(|(_, r)| r)
    }
}

/// Serves `registry` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, registry: Registry, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let registry = registry.clone();
                let shutdown = shutdown.clone();
                let span = tracing::debug_span!("sim_registry_connection", client.addr = %peer);
                tokio::spawn(
                    async move {
                        let service = service_fn(move |req: Request<Incoming>| {
                            let registry = registry.clone();
                            async move { Ok::<_, Infallible>(handlers::handle(&registry, req).await) }
                        });
                        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = shutdown.cancelled() => {}
                        }
                    }
                    .instrument(span),
                );
            }
            Err(error) => {
                tracing::warn!(%error, "registry accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
