//! `kyso-sim-fpt`: runs the FPT eSignCloud simulator with the sandbox subscribers until Ctrl-C.
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`). Nothing secret is logged: the
//! RP password and static signature come from flags or the environment and are never printed.
//! Without `--rp-public-key-file` the simulator issues the RP a key pair; `--rp-key-out` writes
//! its private key (PKCS#8 PEM, mode 0600) for the adapter, and `GET /_sim/relying-party-key.pem`
//! serves it too.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use kyso_sim_fpt::{
    RelyingPartySpec, RpKey, SANDBOX_RELYING_PARTY, SANDBOX_RP_PASSWORD, SANDBOX_RP_SIGNATURE,
    SANDBOX_RP_USER, SimConfig,
};
use tracing_subscriber::EnvFilter;

/// A stateful simulator of FPT-CA's eSignCloud remote-signing API, with a test PKI.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. The `/_sim` control API is unauthenticated: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8092")]
    listen: SocketAddr,
    /// The `relyingParty` name accepted.
    #[arg(long, env = "KYSO_SIM_FPT_RELYING_PARTY", default_value = SANDBOX_RELYING_PARTY)]
    relying_party: String,
    /// The `credentialData.username` accepted.
    #[arg(long, env = "KYSO_SIM_FPT_RP_USER", default_value = SANDBOX_RP_USER)]
    rp_user: String,
    /// The `credentialData.password` accepted.
    #[arg(
        long,
        env = "KYSO_SIM_FPT_RP_PASSWORD",
        hide_env_values = true,
        default_value = SANDBOX_RP_PASSWORD,
        hide_default_value = true
    )]
    rp_password: String,
    /// The static `credentialData.signature` accepted.
    #[arg(
        long,
        env = "KYSO_SIM_FPT_RP_SIGNATURE",
        hide_env_values = true,
        default_value = SANDBOX_RP_SIGNATURE,
        hide_default_value = true
    )]
    rp_signature: String,
    /// The RP's public key or certificate (PEM); without it the simulator issues a key pair.
    #[arg(long, env = "KYSO_SIM_FPT_RP_PUBLIC_KEY_FILE")]
    rp_public_key_file: Option<PathBuf>,
    /// Where to write the issued RP private key (PKCS#8 PEM).
    #[arg(long, env = "KYSO_SIM_FPT_RP_KEY_OUT")]
    rp_key_out: Option<PathBuf>,
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
    if args.rp_public_key_file.is_some() && args.rp_key_out.is_some() {
        anyhow::bail!("--rp-key-out needs an issued key: drop --rp-public-key-file");
    }

    let key = match &args.rp_public_key_file {
        Some(path) => RpKey::Provided(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => RpKey::Generate,
    };
    let config = SimConfig {
        relying_party: RelyingPartySpec {
            name: args.relying_party,
            user: args.rp_user,
            password: args.rp_password,
            signature: args.rp_signature,
            key,
        },
        ..SimConfig::sandbox()
    };
    let citizens: Vec<String> = config
        .citizens
        .iter()
        .map(|c| {
            format!(
                "{} ({}, agreement {})",
                c.user_id, c.full_name, c.agreement_uuid
            )
        })
        .collect();
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let sim = kyso_sim_fpt::spawn_on(config, listener)
        .await
        .context("starting the simulator")?;
    if let (Some(path), Some(pem)) = (&args.rp_key_out, sim.relying_party_key_pem()) {
        write_private(path, &pem).with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "relying party key written");
    }
    tracing::info!(
        base_url = %sim.base_url(),
        control = %format!("http://{}/_sim", sim.addr()),
        citizens = %citizens.join(", "),
        "FPT eSignCloud simulator ready"
    );

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("stopping");
    sim.stop().await;
    Ok(())
}

/// Writes a private key readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}
