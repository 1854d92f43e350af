//! `kyso-sim-vnpt`: runs the VNPT SmartCA simulator with the sandbox citizens until Ctrl-C.
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`). Nothing secret is logged: the SP
//! password comes from `--sp-password` or `KYSO_SIM_SP_PASSWORD` and is never printed.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context as _;
use clap::Parser;
use kyso_sim_vnpt::SimConfig;
use tracing_subscriber::EnvFilter;

/// A stateful simulator of VNPT SmartCA's sp769 remote-signing API, with a test PKI.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. The `/_sim` control API is unauthenticated: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// The `sp_id` the simulator accepts.
    #[arg(long, env = "KYSO_SIM_SP_ID", default_value = "kyso-sandbox-sp")]
    sp_id: String,
    /// The `sp_password` the simulator accepts.
    #[arg(
        long,
        env = "KYSO_SIM_SP_PASSWORD",
        hide_env_values = true,
        default_value = "sandbox-sp-secret",
        hide_default_value = true
    )]
    sp_password: String,
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
        sp_id: args.sp_id,
        sp_password: args.sp_password,
        ..SimConfig::sandbox()
    };
    let citizens: Vec<String> = config
        .citizens
        .iter()
        .map(|c| format!("{} ({})", c.user_id, c.full_name))
        .collect();
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let sim = kyso_sim_vnpt::spawn_on(config, listener)
        .await
        .context("starting the simulator")?;
    tracing::info!(
        base_url = %sim.base_url(),
        control = %format!("http://{}/_sim", sim.addr()),
        citizens = %citizens.join(", "),
        "VNPT SmartCA simulator ready"
    );

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    sim.stop().await;
    Ok(())
}
