//! `kyso-sim-csc`: runs the CSC API v2 simulator with the sandbox citizens until Ctrl-C.
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`). The client secret is read from
//! the environment only (`KYSO_SIM_CSC_CLIENT_SECRET`), so that it never shows in a process
//! list, and is never printed.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context as _;
use clap::Parser;
use kyso_sim_csc::SimConfig;
use tracing_subscriber::EnvFilter;

/// The environment variable holding the client secret `auth/login` accepts.
const SECRET_ENV: &str = "KYSO_SIM_CSC_CLIENT_SECRET";

/// A stateful simulator of a CSC API v2 remote signing service, with a test PKI.
///
/// The client secret `auth/login` accepts comes from the environment variable
/// KYSO_SIM_CSC_CLIENT_SECRET (default: the sandbox secret).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. The `/_sim` control API is unauthenticated: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8094")]
    listen: SocketAddr,
    /// The client id `auth/login` accepts.
    #[arg(
        long,
        env = "KYSO_SIM_CSC_CLIENT_ID",
        default_value = "kyso-sandbox-client"
    )]
    client_id: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();

    let sandbox = SimConfig::sandbox();
    let client_secret = match std::env::var(SECRET_ENV) {
        Ok(secret) if !secret.is_empty() => secret,
        Ok(_) | Err(std::env::VarError::NotPresent) => sandbox.client_secret.clone(),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("{SECRET_ENV} is not valid UTF-8")
        }
    };
    let config = SimConfig {
        client_id: args.client_id,
        client_secret,
        ..sandbox
    };
    let citizens: Vec<String> = config
        .citizens
        .iter()
        .map(|c| format!("{} ({})", c.cccd, c.full_name))
        .collect();
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let sim = kyso_sim_csc::spawn_on(config, listener)
        .await
        .context("starting the simulator")?;
    tracing::info!(
        base_url = %sim.base_url(),
        control = %format!("http://{}/_sim", sim.addr()),
        citizens = %citizens.join(", "),
        "CSC simulator ready"
    );

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    sim.stop().await;
    Ok(())
}
