//! The `kyso-gateway` command line: run the gateway from a configuration file, run the
//! sandbox, hash a client secret for the configuration, or work with the audit trail
//! (verify a trail, export the store's, compute a citizen's pseudonym). It lives in the library so that
//! other binaries can be the very same program (the end-to-end tests run it as separate
//! processes); `src/bin/kyso-gateway.rs` only calls [`main`].

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::audit::Pseudonymiser;
use crate::audit::verifier::{self, Expectations};
use crate::config::Settings;
#[cfg(feature = "sandbox")]
use crate::sandbox;
use crate::services::auth::{generate_secret, hash_secret};
use crate::startup::{Application, build_store};
use anyhow::{Context as _, anyhow};
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};

/// The shortest client secret `hash-secret --stdin` hashes: secrets are machine-made, not
/// passwords (the ones it makes have 43).
const MIN_SECRET_CHARS: usize = 32;

#[derive(Parser)]
#[command(
    name = "kyso-gateway",
    version,
    about = "One signing API for portals, routed to every Vietnamese CA"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from a YAML configuration file.
    Serve {
        /// The configuration file.
        #[arg(long, env = "KYSO_CONFIG", default_value = "config/production.yaml")]
        config: PathBuf,
        /// Listen here for the portal API instead of the file's `listen.api`.
        #[arg(long)]
        api: Option<SocketAddr>,
        /// Listen here for metrics and health instead of the file's `listen.admin`.
        #[arg(long)]
        admin: Option<SocketAddr>,
    },
    /// Run a self-contained sandbox: a simulator of every supported CA and a time-stamping
    /// authority in-process, an in-memory store and a demo client.
    ///
    /// Its providers: vnpt (VNPT SmartCA), viettel (Viettel MySign), misa (MISA eSign), fpt
    /// (FPT-CA eSignCloud), bkav (a QĐ 769 CA), neac-fpt and neac-ca2 (CAs reached through
    /// the NEAC gateway) and csc (a CSC API v2 service). Once it is up it prints its
    /// addresses, the demo client's credentials and the sandbox citizens.
    #[cfg(feature = "sandbox")]
    Sandbox {
        /// The portal API's address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        api: SocketAddr,
        /// The admin (metrics, health) address.
        #[arg(long, default_value = "127.0.0.1:9090")]
        admin: SocketAddr,
    },
    /// Make a new client secret and print it with the argon2id hash the configuration
    /// stores (`secret_hash`).
    HashSecret {
        /// Hash the secret read from standard input (one line) instead of making one: turns
        /// an existing client's secret into a `secret_hash`, e.g. to replace a deprecated
        /// `secret_sha256` without giving the portal a new secret.
        #[arg(long)]
        stdin: bool,
    },
    /// The audit trail: verify one, export the store's, compute a citizen's pseudonym.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check a trail of JSON lines (one chain or several). Exits non-zero at the first
    /// broken record, naming its sequence number and why.
    Verify {
        /// The trail; `-` reads standard input.
        file: PathBuf,
        /// The anchored head's sequence number (its record count), e.g. as `GET /audit/head`
        /// gave it: the trail must reach it.
        #[arg(long, visible_alias = "count")]
        seq: Option<u64>,
        /// The anchored head's hash: the trail's record at `--seq` must have it (or, without
        /// `--seq`, some record).
        #[arg(long)]
        head: Option<String>,
        /// The chain the anchor belongs to, when the trail holds several.
        #[arg(long)]
        chain: Option<String>,
        /// The trail may start after sequence number 1 (an export of the store's window).
        #[arg(long)]
        partial: bool,
    },
    /// Print the trail the store keeps as JSON lines on standard output, up to its head,
    /// which goes to standard error.
    Export {
        /// The configuration file naming the store.
        #[arg(long, env = "KYSO_CONFIG", default_value = "config/production.yaml")]
        config: PathBuf,
        /// From this sequence number on.
        #[arg(long, default_value_t = 1)]
        from: u64,
    },
    /// Print a citizen's pseudonym as records show it, under the key held by an environment
    /// variable (never on the command line).
    Pseudonym {
        /// The citizen's id (CCCD).
        citizen: String,
        /// The environment variable holding `audit.pseudonym_key`.
        #[arg(long, default_value = "KYSO_AUDIT_PSEUDONYM_KEY")]
        key_env: String,
    },
}

/// Logs to stderr, filtered by `RUST_LOG` or else `default_filter`; colours only on a
/// terminal, so that redirected logs hold no escape codes.
fn init_tracing(default_filter: &str) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("KYSO_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Parses the command line and runs the command it names.
#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::HashSecret { stdin } => {
            let mut out = std::io::stdout().lock();
            if stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let secret = SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned());
                if secret.expose_secret().len() < MIN_SECRET_CHARS {
                    anyhow::bail!(
                        "a client secret needs at least {MIN_SECRET_CHARS} characters \
                         (run hash-secret without --stdin to make one)"
                    );
                }
                let hash = hash_secret(secret.expose_secret()).context("hashing the secret")?;
                writeln!(out, "secret_hash: {hash}")?;
            } else {
                let secret = generate_secret();
                let hash = hash_secret(&secret).context("hashing the secret")?;
                writeln!(out, "client_secret: {secret}")?;
                writeln!(out, "secret_hash: {hash}")?;
            }
            Ok(())
        }
        Command::Audit { command } => audit(command).await,
        Command::Serve { config, api, admin } => {
            init_tracing("info");
            let mut settings = Settings::load(&config)?;
            settings.listen.api = api.unwrap_or(settings.listen.api);
            settings.listen.admin = admin.unwrap_or(settings.listen.admin);
            let app = Application::build(settings).context("cannot start the gateway")?;
            tracing::info!(api = %app.api_addr(), admin = %app.admin_addr(), "kyso gateway listening");
            app.run_until_stopped().await?;
            Ok(())
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox { api, admin } => {
            // Warnings only: the banner is what a newcomer needs to see, not every request.
            init_tracing("warn");
            let (simulators, settings) = sandbox::start(api, admin).await?;
            let app = Application::build(settings).context("cannot start the sandbox")?;
            let banner = sandbox_banner(app.api_addr(), app.admin_addr(), &simulators.simulators());
            let api_addr = app.api_addr();
            // The banner comes once the API accepts connections, after anything the servers
            // print while starting.
            let announce = async {
                for _ in 0..100 {
                    if tokio::net::TcpStream::connect(api_addr).await.is_ok() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                let mut out = std::io::stdout().lock();
                out.write_all(banner.as_bytes())?;
                out.flush()
            };
            let (served, announced) = tokio::join!(app.run_until_stopped(), announce);
            served?;
            announced?;
            simulators.stop().await;
            Ok(())
        }
    }
}

/// Runs an `audit` subcommand.
async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        AuditCommand::Verify {
            file,
            seq,
            head,
            chain,
            partial,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let expectations = Expectations {
                chain,
                head_seq: seq,
                head_hash: head,
                partial,
            };
            let lines = text
                .lines()
                .enumerate()
                .map(|(index, line)| (index + 1, line));
            let chains =
                verifier::verify(lines, &expectations).map_err(|broken| anyhow!("{broken}"))?;
            if chains.is_empty() {
                anyhow::bail!("the trail holds no record");
            }
            for chain in chains {
                writeln!(
                    out,
                    "chain {}: records {} to {} verified; head {}",
                    chain.chain, chain.first_seq, chain.last_seq, chain.head_hash
                )?;
            }
            Ok(())
        }
        AuditCommand::Export { config, from } => {
            let settings = Settings::load(&config)?;
            let store = build_store(&settings.store)?;
            let Some(head) = store.audit_head().await? else {
                eprintln_head("the trail is empty")?;
                return Ok(());
            };
            let mut next = from.max(1);
            while next <= head.seq {
                let lines = store.audit_records(next, EXPORT_PAGE).await?;
                let mut advanced = false;
                for line in lines {
                    let seq = serde_json::from_str::<serde_json::Value>(&line)?["seq"]
                        .as_u64()
                        .context("a stored record has no seq")?;
                    if seq > head.seq {
                        break;
                    }
                    writeln!(out, "{line}")?;
                    next = seq + 1;
                    advanced = true;
                }
                if !advanced {
                    break;
                }
            }
            eprintln_head(&format!(
                "head: chain {} seq {} hash {}",
                head.chain, head.seq, head.hash
            ))
        }
        AuditCommand::Pseudonym { citizen, key_env } => {
            let key = std::env::var(&key_env)
                .with_context(|| format!("the environment variable {key_env} is not set"))?;
            let pseudonymiser = Pseudonymiser::new(&key.into())?;
            writeln!(out, "{}", pseudonymiser.pseudonym(&citizen))?;
            Ok(())
        }
    }
}

/// How many records `audit export` reads from the store at once.
const EXPORT_PAGE: usize = 1000;

/// Writes a line about the exported trail to standard error, apart from the records.
fn eprintln_head(text: &str) -> anyhow::Result<()> {
    writeln!(std::io::stderr().lock(), "{text}")?;
    Ok(())
}

#[cfg(feature = "sandbox")]
fn sandbox_banner(api: SocketAddr, admin: SocketAddr, simulators: &[(&str, String)]) -> String {
    let simulators: String = simulators
        .iter()
        .map(|(name, url)| format!("\n    {name:<18} {url}"))
        .collect();
    format!(
        "\nkyso sandbox is running (Ctrl-C to stop)\n\
         \n  API        http://{api}\
         \n  admin      http://{admin}/metrics  /healthz  /readyz\
         \n\n  demo client_id      {client_id}\
         \n  demo client_secret  {client_secret}\
         \n\n  providers: vnpt, viettel, misa, fpt, bkav, neac-fpt, neac-ca2, csc (GET /v1/providers)\
         \n  simulators (control endpoints under /_sim):{simulators}\
         \n\n  sandbox citizens:\
         \n    001099000001  holds a certificate at every provider; approves after ~2 s\
         \n    001099000002  rejects after ~2 s (vnpt, viettel, misa, fpt, bkav, neac-fpt, csc)\
         \n    001099000003  never answers (vnpt, viettel, misa, fpt, bkav, csc; expires after 120 s)\
         \n    001099000004  approves after ~2 s with ECDSA P-256 (vnpt, csc)\
         \n    001099000005  approves after ~2 s with RSA-PSS (vnpt)\
         \n\n  logs: warnings only (RUST_LOG=info shows every request)\n\n",
        client_id = sandbox::CLIENT_ID,
        client_secret = sandbox::CLIENT_SECRET,
    )
}
