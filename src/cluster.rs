//! Connects to Kubernetes: the simulated cluster (`--sim`), a kubeconfig, or the in-cluster service account.
//!
//! Whatever the source, podshim ends up with one `kube::Client` speaking HTTP to an API server: the rest of
//! podshim cannot tell the simulator from a real cluster.

use std::path::PathBuf;

use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::ClusterSource;
use crate::metrics::{CountLayer, RequestCounter};

/// A connected cluster. Keeps the simulated cluster (if any) alive for as long as it lives.
pub struct Connected {
    pub client: kube::Client,
    pub namespace: String,
    /// The running simulated cluster, when `--sim` was given.
    pub sim: Option<Simulated>,
}

/// The simulated cluster podshim started (`--sim`); stopping it kills its pods' processes.
#[cfg(feature = "sim")]
pub type Simulated = podshim_sim::SimCluster;

/// A build without the `sim` feature has no simulated cluster to hold.
#[cfg(not(feature = "sim"))]
pub enum Simulated {}

impl Connected {
    /// The simulated cluster's registry, when `--sim` started one.
    pub fn sim_registry(&self) -> Option<std::net::SocketAddr> {
        #[cfg(feature = "sim")]
        return self.sim.as_ref().map(|sim| sim.registry_addr());
        #[cfg(not(feature = "sim"))]
        None
    }

    /// Stops the simulated cluster, if any, killing its pods' processes in order.
    pub async fn stop_sim(self) {
        #[cfg(feature = "sim")]
        if let Some(sim) = self.sim {
            sim.stop().await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("starting the simulated cluster: {0}")]
    Sim(#[source] std::io::Error),
    #[error("--sim: this podshim was built without the simulated cluster (cargo feature `sim`)")]
    SimNotBuilt,
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig { path: PathBuf, source: kube::config::KubeconfigError },
    #[error("loading the Kubernetes configuration: {0}")]
    Config(#[source] kube::config::InferConfigError),
    #[error("using the kubeconfig: {0}")]
    Options(#[source] kube::config::KubeconfigError),
    #[error("creating the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// Builds the client (and starts the simulated cluster first when asked to); every request it sends is
/// counted in `counter`.
pub async fn connect(source: &ClusterSource, counter: RequestCounter) -> Result<Connected, ClusterError> {
    match source {
        #[cfg(not(feature = "sim"))]
        ClusterSource::Simulated { .. } => Err(ClusterError::SimNotBuilt),
        #[cfg(feature = "sim")]
        ClusterSource::Simulated { data_dir, namespace } => {
            let options = podshim_sim::SimOptions::new(data_dir.clone());
            let sim = podshim_sim::SimCluster::start(options).await.map_err(ClusterError::Sim)?;
            let path = sim.kubeconfig_path().to_path_buf();
            let (client, default_ns) = from_kubeconfig(&path, &None, counter).await?;
            let namespace = namespace.clone().unwrap_or(default_ns);
            Ok(Connected { client, namespace, sim: Some(sim) })
        }
        ClusterSource::Kubeconfig { path: Some(path), context, namespace } => {
            let (client, default_ns) = from_kubeconfig(path, context, counter).await?;
            Ok(Connected { client, namespace: namespace.clone().unwrap_or(default_ns), sim: None })
        }
        ClusterSource::Kubeconfig { path: None, context, namespace } => {
            let config = match context {
                // An explicit context only makes sense in a kubeconfig: no in-cluster fallback.
                Some(context) => {
                    let options = KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
                    kube::Config::from_kubeconfig(&options).await.map_err(ClusterError::Options)?
                }
                None => kube::Config::infer().await.map_err(ClusterError::Config)?,
            };
            let default_ns = config.default_namespace.clone();
            let client = counted_client(config, counter)?;
            Ok(Connected { client, namespace: namespace.clone().unwrap_or(default_ns), sim: None })
        }
    }
}

fn counted_client(config: kube::Config, counter: RequestCounter) -> Result<kube::Client, ClusterError> {
    let builder = ClientBuilder::try_from(config).map_err(ClusterError::Client)?;
    Ok(builder.with_layer(&CountLayer(counter)).build())
}

async fn from_kubeconfig(
    path: &PathBuf,
    context: &Option<String>,
    counter: RequestCounter,
) -> Result<(kube::Client, String), ClusterError> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|source| ClusterError::Kubeconfig { path: path.clone(), source })?;
    let options = KubeConfigOptions { context: context.clone(), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(ClusterError::Options)?;
    let default_ns = config.default_namespace.clone();
    Ok((counted_client(config, counter)?, default_ns))
}
