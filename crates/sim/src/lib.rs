//! The built-in simulated Kubernetes cluster (`podshim --sim`), for trying and testing podshim anywhere.
//!
//! - [`apiserver`]: the Kubernetes REST API over HTTPS on 127.0.0.1.
//! - [`access`]: only its owner may use it: a bearer token and the server's certificate authority, in a
//!   kubeconfig only the owner can read.
//! - [`node`]: the kubelet that runs each pod's containers as processes on this machine.
//! - [`registry`]: image registries (OCI distribution API) the node pulls from: a public one with a
//!   built-in catalogue that stands for Docker Hub, and a private one behind basic authentication.
//! - [`status`]: `metav1.Status` error bodies.
//! - [`resources`]: pods' resource requests, for the node's fit check and the namespaces' ResourceQuotas.
//!
//! Images are pulled from the simulated registries (their configs decide what runs), but their layers
//! are not unpacked: commands run with this machine's own binaries. As root, each container gets a
//! copy-on-write root of its own over this machine's (see `node`); it is not a security boundary.
//! Nothing outside this module knows it is there: podshim reaches it through the kubeconfig it writes.

pub mod access;
pub mod apiserver;
pub mod node;
pub mod reference;
pub mod registry;
pub mod resources;
pub mod status;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Where the simulated cluster keeps its files.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub data_dir: PathBuf,
}

impl SimOptions {
    pub fn new(data_dir: PathBuf) -> Self {
        SimOptions { data_dir }
    }
}

/// A running simulated cluster; dropping it stops the API server and kills the pods' processes.
pub struct SimCluster {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    registry_addr: SocketAddr,
    private_registry_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl SimCluster {
    /// Starts the API server on a free loopback port and the node, and writes `<data_dir>/kubeconfig`
    /// (the only place its credentials are written). The data directory must be this user's own.
    pub async fn start(options: SimOptions) -> io::Result<SimCluster> {
        access::private_dir(&options.data_dir)?;
        let credentials = access::Credentials::generate()?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let (registries, registry_addr, private_registry_addr) =
            registry::start_for_cluster(&options.data_dir, &mut tasks, &shutdown).await?;
        let node = node::Node::new(node::NodeConfig {
            name: node::NODE_NAME.to_string(),
            data_dir: options.data_dir.clone(),
            registries,
        });
        tasks.spawn(apiserver::serve(listener, node.clone(), credentials.clone(), shutdown.clone()));
        let kubeconfig = options.data_dir.join("kubeconfig");
        access::write_kubeconfig(&kubeconfig, addr, &credentials)?;
        let client = client_for(&kubeconfig).await?;
        tasks.spawn(node.run(client, shutdown.clone()));
        Ok(SimCluster { addr, kubeconfig, registry_addr, private_registry_addr, shutdown, tasks })
    }

    /// The API server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The public registry's address (also in `<data_dir>/registry`): the catalogue, Docker Hub's stand-in.
    pub fn registry_addr(&self) -> SocketAddr {
        self.registry_addr
    }

    /// The private registry's address (also in `<data_dir>/registry-private`): basic authentication with
    /// [`registry::PRIVATE_USER`] and [`registry::PRIVATE_PASSWORD`].
    pub fn private_registry_addr(&self) -> SocketAddr {
        self.private_registry_addr
    }

    /// The kubeconfig that reaches this cluster (kubectl works with it).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Stops the cluster and waits for the node to kill its processes.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn client_for(kubeconfig: &Path) -> io::Result<kube::Client> {
    let loaded = kube::config::Kubeconfig::read_from(kubeconfig).map_err(io::Error::other)?;
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default()).await.map_err(io::Error::other)?;
    kube::Client::try_from(config).map_err(io::Error::other)
}
