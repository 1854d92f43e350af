//! `kyso-sim-qd769`: runs the 769 simulator, as a direct CA (`--mode 769`, the sandbox BKAV-CA)
//! or as the NEAC gateway (`--mode neac`, FPT-CA and CA2 behind it), until Ctrl-C.
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`). Secrets are read from the
//! environment only, never from the command line (where `ps` would show them), and never
//! printed: `KYSO_SIM_SP_PASSWORD` and, for NEAC, `KYSO_SIM_TOKEN`. Unset, the sandbox's public
//! values apply.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpListener};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use kyso_sim_qd769::{ChainLayout, FileOptionsLayout, HashEncoding, SignMode, SimConfig};
use tracing_subscriber::EnvFilter;

/// The role to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// A direct QĐ 769 CA (the sandbox BKAV-CA).
    #[value(name = "769")]
    Qd769,
    /// The NEAC eSign gateway (`/sign_v2`, routed by `ca_name`).
    Neac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Encoding {
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Layout {
    Flat,
    Nested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Chain {
    Array,
    Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Signing {
    Async,
    Sync,
}

/// A stateful simulator of a QĐ 769 CA or of the NEAC eSign gateway, with a test PKI.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. The `/_sim` control API is unauthenticated: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The role to play.
    #[arg(long, value_enum, default_value = "769")]
    mode: Mode,
    /// The `sp_id` accepted (default: the sandbox's for the mode). The password comes from
    /// `KYSO_SIM_SP_PASSWORD`, a NEAC token from `KYSO_SIM_TOKEN`.
    #[arg(long, env = "KYSO_SIM_SP_ID")]
    sp_id: Option<String>,
    /// Digest encoding of a direct CA (NEAC's CAs keep the sandbox's: FPT-CA base64, CA2 hex).
    #[arg(long, value_enum)]
    hash_encoding: Option<Encoding>,
    /// Where `file_type`/`sign_type` must be.
    #[arg(long, value_enum)]
    file_options: Option<Layout>,
    /// How `chain_data` is rendered.
    #[arg(long, value_enum)]
    chain_data: Option<Chain>,
    /// Whether `sign` answers at once or when the citizen has decided.
    #[arg(long, value_enum)]
    sign_mode: Option<Signing>,
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

    let mut config = match args.mode {
        Mode::Qd769 => SimConfig::sandbox_bkav(),
        Mode::Neac => SimConfig::sandbox_neac(),
    };
    if let Some(sp_id) = args.sp_id {
        config.sp_id = sp_id;
    }
    if let Some(password) = secret_from_env("KYSO_SIM_SP_PASSWORD")? {
        config.sp_password = password;
    }
    if let Some(token) = secret_from_env("KYSO_SIM_TOKEN")? {
        anyhow::ensure!(
            args.mode == Mode::Neac,
            "KYSO_SIM_TOKEN is for --mode neac only"
        );
        config.token = Some(token);
    }
    if let Some(encoding) = args.hash_encoding {
        anyhow::ensure!(
            args.mode == Mode::Qd769,
            "--hash-encoding is for --mode 769; NEAC's CAs keep their own"
        );
        for ca in &mut config.cas {
            ca.hash_encoding = match encoding {
                Encoding::Hex => HashEncoding::Hex,
                Encoding::Base64 => HashEncoding::Base64,
            };
        }
    }
    if let Some(layout) = args.file_options {
        config.file_options = match layout {
            Layout::Flat => FileOptionsLayout::Flat,
            Layout::Nested => FileOptionsLayout::Nested,
        };
    }
    if let Some(chain) = args.chain_data {
        config.chain_data = match chain {
            Chain::Array => ChainLayout::Array,
            Chain::Object => ChainLayout::Object,
        };
    }
    if let Some(signing) = args.sign_mode {
        config.sign_mode = match signing {
            Signing::Async => SignMode::Async,
            Signing::Sync => SignMode::Sync,
        };
    }

    let cas: Vec<String> = config
        .cas
        .iter()
        .map(|ca| {
            let citizens: Vec<&str> = ca.citizens.iter().map(|c| c.user_id.as_str()).collect();
            format!(
                "{} [{:?}]: {}",
                ca.name,
                ca.hash_encoding,
                citizens.join(" ")
            )
        })
        .collect();
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let sim = kyso_sim_qd769::spawn_on(config, listener)
        .await
        .context("starting the simulator")?;
    tracing::info!(
        mode = ?sim.mode(),
        base_url = %sim.base_url(),
        control = %format!("http://{}/_sim", sim.addr()),
        cas = %cas.join("; "),
        "769 simulator ready"
    );

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    sim.stop().await;
    Ok(())
}

/// A secret from the environment: `None` when unset, an error when not Unicode.
fn secret_from_env(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("{name} is not valid Unicode")
        }
    }
}
