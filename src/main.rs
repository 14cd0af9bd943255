//! Wiring only: parse the configuration, start telemetry, connect to the cluster, bind, serve.

use std::process::ExitCode;

use clap::Parser;
use podshim::config::{Config, Flags};
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
    let connected = cluster::connect(&config.cluster).await?;
    let listeners = server::bind_all(&config.listen).await?;
    let state = api::AppState::new(connected.client.clone(), connected.namespace.clone());
    tokio::spawn(server::cancel_on_signal(shutdown.clone()));
    server::serve(listeners, state, shutdown).await;
    drop(connected);
    Ok(())
}
