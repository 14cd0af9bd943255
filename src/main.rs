//! Wiring only: parse the configuration, start telemetry, connect to the cluster, bind, serve.

use std::process::ExitCode;

use clap::Parser;
use podshim::admin::Admin;
use podshim::config::{default_sim_data, Command, Config, Flags};
use podshim::metrics::RequestCounter;
use podshim::runtime::{Runtime, RuntimeOptions};
use podshim::{api, cluster, server, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let flags = Flags::parse();
    if let Some(Command::SimCluster { sim_data }) = flags.command {
        telemetry::init(flags.log_format);
        let data_dir = sim_data.unwrap_or_else(default_sim_data);
        return match run_sim_cluster(data_dir).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("podshim: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_flags(flags) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("podshim: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "podshim stopped");
            eprintln!("podshim: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let shutdown = CancellationToken::new();
    let counter = RequestCounter::default();
    let connected = cluster::connect(&config.cluster, counter.clone()).await?;
    let group = server::SocketGroup::resolve(config.socket_group.as_deref())?;
    let listeners = server::bind_all(&config.listen, &group).await?;
    let limits = server::Limits::default();
    if let Some(addr) = &config.admin_listen {
        let admin = server::bind_all(std::slice::from_ref(addr), &group).await?;
        tokio::spawn(server::serve("admin endpoint", admin, Admin { counter }, limits, shutdown.clone()));
    }
    let mut registry = config.registry.clone();
    if registry.mirrors.is_empty() {
        // The simulated cluster has no internet: Docker Hub is its registry.
        if let Some(addr) = connected.sim_registry() {
            registry.mirrors.push(podshim::runtime::images::Endpoint { host: addr.to_string(), http: true });
        }
    }
    let options = RuntimeOptions {
        start_timeout: config.start_timeout,
        split_log_streams: config.split_log_streams,
        start_handshake: config.start_handshake,
        ports: config.ports.clone(),
        registry,
        volumes: config.volumes.clone(),
        helper_image: config.helper_image.clone(),
        binds: config.binds.clone(),
    };
    let runtime =
        Runtime::start(connected.client.clone(), connected.namespace.clone(), options, shutdown.clone()).await?;
    let state = api::AppState::new(runtime);
    tokio::spawn(server::cancel_on_signal(shutdown.clone()));
    server::serve("Docker API", listeners, state, limits, shutdown).await;
    // Kills the simulated pods' processes in order before podshim exits.
    connected.stop_sim().await;
    Ok(())
}

/// `podshim sim-cluster`: the simulated cluster alone, until a signal.
#[cfg(feature = "sim")]
async fn run_sim_cluster(data_dir: std::path::PathBuf) -> std::io::Result<()> {
    let cluster = podshim_sim::SimCluster::start(podshim_sim::SimOptions::new(data_dir)).await?;
    tracing::info!(kubeconfig = %cluster.kubeconfig_path().display(), "simulated cluster running");
    let shutdown = CancellationToken::new();
    server::cancel_on_signal(shutdown.clone()).await;
    cluster.stop().await;
    Ok(())
}

#[cfg(not(feature = "sim"))]
async fn run_sim_cluster(_data_dir: std::path::PathBuf) -> std::io::Result<()> {
    Err(std::io::Error::other("this podshim was built without the simulated cluster (cargo feature `sim`)"))
}
