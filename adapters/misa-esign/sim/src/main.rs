//! `kyso-sim-misa`: serves the MISA eSign simulator with the sandbox citizens until Ctrl-C.
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`). Secrets are never printed: the
//! client key and the service account's password come from the command line or, better, from
//! `KYSO_SIM_MISA_CLIENT_KEY` and `KYSO_SIM_MISA_PASSWORD`.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context as _;
use clap::Parser;
use kyso_sim_misa::SimConfig;
use tracing_subscriber::EnvFilter;

/// A stateful simulator of MISA eSign's RemoteSigning API, with a test PKI.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. The `/_sim` control API is unauthenticated: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8091")]
    listen: SocketAddr,
    /// The `x-clientId` the simulator accepts.
    #[arg(
        long,
        env = "KYSO_SIM_MISA_CLIENT_ID",
        default_value = "kyso-sandbox-client"
    )]
    client_id: String,
    /// The `x-clientKey` the simulator accepts.
    #[arg(
        long,
        env = "KYSO_SIM_MISA_CLIENT_KEY",
        hide_env_values = true,
        default_value = "sandbox-client-key",
        hide_default_value = true
    )]
    client_key: String,
    /// The integrator's MISAID service account.
    #[arg(
        long,
        env = "KYSO_SIM_MISA_USERNAME",
        default_value = "kyso-sandbox-integrator"
    )]
    username: String,
    /// The service account's password.
    #[arg(
        long,
        env = "KYSO_SIM_MISA_PASSWORD",
        hide_env_values = true,
        default_value = "sandbox-integrator-password",
        hide_default_value = true
    )]
    password: String,
    /// Require two-factor authentication of the service account, with this one-time code.
    #[arg(long, env = "KYSO_SIM_MISA_OTP_CODE", hide_env_values = true)]
    otp_code: Option<String>,
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

    let config = SimConfig {
        client_id: args.client_id,
        client_key: args.client_key,
        username: args.username,
        password: args.password,
        otp_code: args.otp_code,
        ..SimConfig::sandbox()
    };
    let citizens: Vec<String> = config
        .citizens
        .iter()
        .map(|citizen| format!("{} ({})", citizen.user_id, citizen.full_name))
        .collect();
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let sim = kyso_sim_misa::spawn_on(config, listener)
        .await
        .context("starting the simulator")?;
    tracing::info!(
        base_url = %sim.base_url(),
        control = %format!("{}/_sim", sim.base_url()),
        citizens = %citizens.join(", "),
        "MISA eSign simulator ready"
    );

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    sim.stop().await;
    Ok(())
}
