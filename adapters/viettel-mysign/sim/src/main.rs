//! `kyso-sim-viettel`: runs the Viettel MySign simulator with the sandbox subscribers until
//! Ctrl-C.
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`). Nothing secret is logged: the
//! client secret comes from `--client-secret` or `KYSO_SIM_VIETTEL_CLIENT_SECRET` and is never
//! printed.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kyso_sim_viettel::SimConfig;
use tracing_subscriber::EnvFilter;

/// A stateful simulator of Viettel-CA MySign's remote-signing gateway API, with a test PKI.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. The `/_sim` control API is unauthenticated: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The `client_id` the simulator accepts.
    #[arg(
        long,
        env = "KYSO_SIM_VIETTEL_CLIENT_ID",
        default_value = "kyso-sandbox-sp"
    )]
    client_id: String,
    /// The `client_secret` the simulator accepts.
    #[arg(
        long,
        env = "KYSO_SIM_VIETTEL_CLIENT_SECRET",
        hide_env_values = true,
        default_value = "sandbox-sp-secret",
        hide_default_value = true
    )]
    client_secret: String,
    /// The RAS `profile_id` assigned to the client.
    #[arg(
        long,
        env = "KYSO_SIM_VIETTEL_PROFILE_ID",
        default_value = "adss:ras:profile:001"
    )]
    profile_id: String,
    /// Lifetime of the access tokens, in seconds (Viettel's is 3600).
    #[arg(long, default_value_t = 3600)]
    token_lifetime_secs: u64,
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
        client_secret: args.client_secret,
        profile_id: args.profile_id,
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        ..SimConfig::sandbox()
    };
    let citizens: Vec<String> = config
        .citizens
        .iter()
        .map(|c| format!("{} ({})", c.user_id, c.full_name))
        .collect();
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let sim = kyso_sim_viettel::spawn_on(config, listener)
        .await
        .context("starting the simulator")?;
    tracing::info!(
        base_url = %sim.base_url(),
        control = %format!("http://{}/_sim", sim.addr()),
        citizens = %citizens.join(", "),
        "Viettel MySign simulator ready"
    );

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    sim.stop().await;
    Ok(())
}
