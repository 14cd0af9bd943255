//! Wiring only: parse the configuration, start telemetry, connect to the cluster, bind, serve.

use std::process::ExitCode;

use clap::Parser;
use podshim::admin::Admin;
use podshim::config::{Config, Flags};
use podshim::metrics::RequestCounter;
use podshim::runtime::{Runtime, RuntimeOptions};
use podshim::{api, cluster, server, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_flags(Flags::parse()) {
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
    let listeners = server::bind_all(&config.listen).await?;
    if let Some(addr) = &config.admin_listen {
        let admin = server::bind_all(std::slice::from_ref(addr)).await?;
        tokio::spawn(server::serve("admin endpoint", admin, Admin { counter }, shutdown.clone()));
    }
    let options = RuntimeOptions { start_timeout: config.start_timeout, split_log_streams: config.split_log_streams };
    let runtime =
        Runtime::start(connected.client.clone(), connected.namespace.clone(), options, shutdown.clone()).await?;
    let state = api::AppState::new(runtime);
    tokio::spawn(server::cancel_on_signal(shutdown.clone()));
    server::serve("Docker API", listeners, state, shutdown).await;
    drop(connected);
    Ok(())
}
