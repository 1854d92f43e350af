//! The processes a load run measures, each started on free loopback ports and stopped when
//! dropped:
//!
//! * [`Simulator`]: the VNPT SmartCA simulator, in this process but on server threads of its
//!   own (`--sim-workers`), with P-256 citizens who approve (signing costs it ~0.1 ms, not
//!   RSA's ~2 ms) and an RSA-2048 one who never answers (whose pending transactions are
//!   weighed in Redis, so their certificate is the size a real citizen's is);
//! * [`Nginx`]: `nginx` as a child process, `proxy_pass` to the simulator through an
//!   `upstream` with `keepalive`, from a generated configuration;
//! * [`Gateway`]: the `kyso-gateway` program as a child process (`serve --config`), from a
//!   generated configuration, with the memory store or a Redis (started by
//!   `kyso_tests::redis_server`, as the end-to-end tests start theirs);
//! * [`ensure_installed`]: what runs them, from Debian's packages when missing.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kyso_gateway::sandbox;
use kyso_gateway::services::auth::{generate_signing_key_pem, hash_secret};
use kyso_sim_vnpt::{
    Behaviour, CitizenSpec, DEFAULT_TRANSACTION_TTL, SignatureScheme, SimConfig, SimHandle,
};
use kyso_tests::gateway_process::{GatewayProcess, admission_yaml};
use kyso_tests::redis_server::{free_port, scratch_dir};
use serde_json::json;

/// The SP credentials this harness's simulator accepts.
pub(crate) const SP_ID: &str = "kyso-load-sp";
pub(crate) const SP_PASSWORD: &str = "kyso-load-sp-secret";
/// The provider id the gateway is configured with.
pub(crate) const PROVIDER: &str = "vnpt";
/// Citizens who approve every request at once, so that a flow is as fast as the gateway.
const APPROVING_CITIZENS: u32 = 8;
/// Longest a child process may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything that can go wrong setting the processes up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StackError {
    #[error("installing {packages} failed: {reason}")]
    Install { packages: String, reason: String },
    #[error("the VNPT simulator did not start")]
    Simulator(#[from] kyso_sim_vnpt::SimError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} did not accept connections within {START_TIMEOUT:?}")]
    NotListening(String),
    #[error("making the gateway's configuration: {0}")]
    GatewayConfig(String),
    #[error(
        "no gateway program at {0}: build it first (cargo build [--release] -p kyso-gateway \
         --bin kyso-gateway, with the same target directory and profile) or pass --gateway-bin"
    )]
    NoGatewayProgram(PathBuf),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StackError {
    let what = what.into();
    move |source| StackError::Io { what, source }
}

/// Installs the Debian packages whose programs are missing: `(program, package)` pairs.
pub(crate) fn ensure_installed(programs: &[(&str, &str)]) -> Result<(), StackError> {
    let missing: Vec<&str> = programs
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages = missing.join(" ");
    let failed = |reason: String| StackError::Install {
        packages: packages.clone(),
        reason,
    };
    eprintln!("kyso-load: installing {packages} from Debian's packages");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .map_err(|error| failed(error.to_string()))
            .and_then(|status| {
                if status.success() {
                    Ok(())
                } else {
                    Err(failed(format!("apt-get {}: {status}", args.join(" "))))
                }
            })
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
            || Path::new("/usr/sbin").join(program).is_file()
    })
}

/// Waits until something accepts TCP connections at `addr`.
fn wait_listening(what: &str, addr: SocketAddr) -> Result<(), StackError> {
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() >= deadline {
            return Err(StackError::NotListening(what.to_owned()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The simulated CA, and the citizens the load signs for.
pub(crate) struct Simulator {
    pub(crate) handle: SimHandle,
    /// Citizens who approve at once (ECDSA P-256).
    pub(crate) approving: Vec<String>,
    /// A citizen who never answers: transactions for them stay pending. RSA-2048, as
    /// Vietnamese CAs issue to citizens: the certificate a pending transaction keeps is a
    /// real one's size (a P-256 one is about 200 bytes smaller).
    pub(crate) silent: String,
}

impl Simulator {
    /// Starts the simulator with `workers` server threads.
    pub(crate) async fn start(workers: usize) -> Result<Self, StackError> {
        let at_once = Behaviour::ApproveAfter(Duration::ZERO);
        let mut citizens: Vec<CitizenSpec> = (1..=APPROVING_CITIZENS)
            .map(|n| {
                CitizenSpec::new(
                    format!("0010992000{n:02}"),
                    format!("Công Dân Tải {n}"),
                    SignatureScheme::EcdsaDer,
                    at_once,
                )
            })
            .collect();
        let approving = citizens.iter().map(|c| c.user_id.clone()).collect();
        let silent = "001099200099".to_owned();
        citizens.push(CitizenSpec::new(
            &silent,
            "Công Dân Im Lặng",
            SignatureScheme::RsaPkcs1v15,
            Behaviour::Manual,
        ));
        let handle = kyso_sim_vnpt::spawn_with_workers(
            SimConfig {
                sp_id: SP_ID.to_owned(),
                sp_password: SP_PASSWORD.to_owned(),
                citizens,
                transaction_ttl: DEFAULT_TRANSACTION_TTL,
            },
            workers,
        )
        .await?;
        Ok(Self {
            handle,
            approving,
            silent,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }
}

/// nginx in front of the simulator.
pub(crate) struct Nginx {
    pub(crate) addr: SocketAddr,
    /// Its worker processes, as configured.
    pub(crate) workers: usize,
    dir: PathBuf,
    child: Child,
}

impl Nginx {
    /// Starts nginx with `workers` worker processes, proxying every path to `upstream`.
    pub(crate) fn start(upstream: SocketAddr, workers: usize) -> Result<Self, StackError> {
        let dir = scratch_dir("load-nginx");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let config = nginx_config(&dir, addr, upstream, workers);
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).map_err(io("writing nginx.conf"))?;
        let log = std::fs::File::create(dir.join("stderr.log")).map_err(io("nginx's log"))?;
        let child = Command::new(if on_path("nginx") {
            "nginx"
        } else {
            "/usr/sbin/nginx"
        })
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(io("starting nginx"))?;
        let nginx = Self {
            addr,
            workers,
            dir,
            child,
        };
        wait_listening("nginx", addr)?;
        Ok(nginx)
    }

    /// The master process's id (its workers are its children).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The configuration of an nginx that proxies everything to `upstream` over kept-alive
/// HTTP/1.1 connections, logging errors only (the gateway logs no request either).
fn nginx_config(dir: &Path, listen: SocketAddr, upstream: SocketAddr, workers: usize) -> String {
    let dir = dir.display();
    format!(
        "# Generated by kyso-load: nginx proxy_pass in front of the VNPT simulator.
daemon off;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # As many requests per client connection as a run sends (the default closes every 1000).
    keepalive_requests 10000000;
    upstream simulator {{
        server {upstream};
        # Idle connections each worker keeps open to the simulator.
        keepalive 256;
        keepalive_requests 10000000;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://simulator;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
    )
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGKILL reaches the master only; its workers notice it is gone and exit.
        let _ = Command::new("kill")
            .args(["-s", "QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where a gateway keeps its transactions.
#[derive(Debug, Clone)]
pub(crate) enum StoreChoice {
    Memory,
    /// A Redis at this URL (`redis://127.0.0.1:PORT`), keys under `kyso:`.
    Redis(String),
}

impl StoreChoice {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis(_) => "Redis",
        }
    }
}

/// How a gateway is configured beyond its store.
#[derive(Debug, Clone)]
pub(crate) struct GatewayOptions {
    pub(crate) store: StoreChoice,
    /// API worker threads; `None` is the gateway's default, one per core.
    pub(crate) workers: Option<usize>,
    /// `transactions.poll_initial_ms` and `poll_max_ms`; `None` keeps the production defaults.
    pub(crate) polling: Option<(u64, u64)>,
    /// `RUST_LOG` of the gateway.
    pub(crate) log_filter: String,
}

/// A `kyso-gateway` process in front of the simulator.
pub(crate) struct Gateway {
    pub(crate) process: GatewayProcess,
    pub(crate) options: GatewayOptions,
    dir: PathBuf,
}

impl Gateway {
    /// Writes the configuration and starts `program serve --config` on free ports.
    pub(crate) async fn start(
        program: &Path,
        sim: &Simulator,
        options: GatewayOptions,
        name: &str,
    ) -> Result<Self, StackError> {
        if !program.is_file() {
            return Err(StackError::NoGatewayProgram(program.to_owned()));
        }
        let dir = scratch_dir(&format!("load-{name}"));
        let config = dir.join("gateway.yaml");
        std::fs::write(&config, gateway_yaml(sim, &options)?)
            .map_err(io("writing the gateway's configuration"))?;
        let process =
            GatewayProcess::start_logging(program, &config, &dir, name, &options.log_filter).await;
        Ok(Self {
            process,
            options,
            dir,
        })
    }

    /// `http://127.0.0.1:PORT` of its API.
    pub(crate) fn api(&self) -> &str {
        &self.process.api
    }

    /// Its API's socket address.
    pub(crate) fn api_addr(&self) -> Result<SocketAddr, StackError> {
        let text = self.api().trim_start_matches("http://");
        text.parse().map_err(|_| {
            StackError::GatewayConfig(format!("the gateway's API address {text} is not one"))
        })
    }

    /// Its resident set size now, in bytes (`VmRSS` of `/proc/PID/status`).
    pub(crate) fn rss_bytes(&self) -> Option<u64> {
        resident_bytes(self.process.pid())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The process is killed by `GatewayProcess`'s own drop, after this one.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Clock ticks per second of the CPU times in `/proc` (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The parent and the CPU time (user and system, in ticks) of process `pid`, from
/// `/proc/PID/stat`.
fn parent_and_ticks(pid: &str) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state, ppid, ... utime (the 14th field of the line), stime (the 15th).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, user + system))
}

/// CPU seconds (user and system) used so far by process `pid` and its children (nginx's
/// workers), every thread included.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let (_, own) = parent_and_ticks(&pid.to_string())?;
    let children: u64 = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| parent_and_ticks(&entry.file_name().to_string_lossy()))
        .filter(|(parent, _)| *parent == pid)
        .map(|(_, ticks)| ticks)
        .sum();
    Some((own + children) as f64 / clock_ticks())
}

/// `VmRSS` of process `pid`, in bytes.
pub(crate) fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The gateway's configuration: the sandbox's portal client and token settings, one provider
/// `vnpt` on the simulator, admission limits no load reaches.
fn gateway_yaml(sim: &Simulator, options: &GatewayOptions) -> Result<String, StackError> {
    let fail = |error: &dyn std::fmt::Display| StackError::GatewayConfig(error.to_string());
    let store = match &options.store {
        StoreChoice::Memory => json!({"kind": "memory"}),
        StoreChoice::Redis(url) => json!({"kind": "redis", "url": url, "key_prefix": "kyso"}),
    };
    let mut transactions = json!({});
    if let Some((initial, max)) = options.polling {
        transactions = json!({"poll_initial_ms": initial, "poll_max_ms": max});
    }
    let mut listen = json!({"api": "127.0.0.1:0", "admin": "127.0.0.1:0"});
    if let Some(workers) = options.workers {
        listen["workers"] = json!(workers);
    }
    let config = json!({
        "listen": listen,
        "auth": {
            "issuer": sandbox::ISSUER,
            "audience": sandbox::AUDIENCE,
            "token_ttl_secs": 3600,
            "signing_key_pem": generate_signing_key_pem().map_err(|e| fail(&e))?,
            "clients": [{
                "client_id": sandbox::CLIENT_ID,
                "secret_hash": hash_secret(sandbox::CLIENT_SECRET).map_err(|e| fail(&e))?,
                "scopes": ["certificates:read", "signatures:write", "signatures:read"],
            }],
        },
        "store": store,
        // One portal signing for a handful of citizens, far more often than admission limits
        // allow: lifted, this measures the gateway's own cost.
        "admission": admission_yaml(),
        "transactions": transactions,
        "providers": [{
            "id": PROVIDER,
            "kind": "vnpt-smartca",
            "base_url": sim.handle.base_url(),
            "sp_id": SP_ID,
            "sp_password": SP_PASSWORD,
            "trust_anchors_pem": sim.handle.root_certificate_pem(),
            "limits": {
                "hash_algorithms": ["sha256", "sha384", "sha512"],
                "key_algorithms": ["rsa", "ecdsa_p256"],
                "confirmation_timeout_secs": 300,
            },
        }],
    });
    serde_norway::to_string(&config).map_err(|e| fail(&e))
}

/// The gateway program: `--gateway-bin`, else `kyso-gateway` beside this program (the same
/// target directory and profile).
pub(crate) fn gateway_program(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("kyso-gateway")))
            .unwrap_or_else(|| PathBuf::from("kyso-gateway"))
    })
}
