//! Gateway instances as separate OS processes, for tests that crash them (SIGKILL) or stop
//! them as Kubernetes does (SIGTERM). The program is this crate's `kyso-test-gateway`
//! binary, which is the `kyso-gateway` command line itself, run as
//! `serve --config FILE --api 127.0.0.1:0 --admin 127.0.0.1:0`; an instance's bound
//! addresses are read from its log, which goes to a file of its own.
//!
//! [`GatewayConfig`] writes the YAML configuration every instance of a test shares: one
//! Redis (a server or a Redis Cluster), one VNPT SmartCA simulator, one token-signing key,
//! the sandbox's portal client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kyso_gateway::sandbox;
use kyso_gateway::services::auth::{generate_signing_key_pem, hash_secret};
use serde_json::{Value, json};

/// The longest an instance may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The Redis the instances of a test share.
#[derive(Debug, Clone)]
pub enum SharedRedis {
    /// One server (`redis://127.0.0.1:PORT`): the store kind `redis`.
    Server(String),
    /// The nodes of a Redis Cluster (`redis://127.0.0.1:PORT` each): the store kind
    /// `redis-cluster`.
    Cluster(Vec<String>),
}

/// What the instances of one test are configured with.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The shared Redis.
    pub redis: SharedRedis,
    /// The key prefix in Redis.
    pub key_prefix: String,
    /// The VNPT SmartCA simulator's base URL (`.../sca/sp769`).
    pub ca_base_url: String,
    /// The simulator's root certificate: the provider's trust anchor.
    pub ca_root_pem: String,
    /// The SP credentials the simulator accepts.
    pub sp_id: String,
    /// See `sp_id`.
    pub sp_password: String,
    /// How long citizens have to confirm.
    pub confirmation_timeout_secs: u64,
    /// The timeout of one CA call.
    pub ca_request_ms: u64,
    /// `transactions.follow_lease_ms`.
    pub follow_lease_ms: u64,
    /// `transactions.sweep_interval_ms`.
    pub sweep_interval_ms: u64,
    /// `transactions.poll_initial_ms`.
    pub poll_initial_ms: u64,
    /// `transactions.poll_max_ms`.
    pub poll_max_ms: u64,
}

impl GatewayConfig {
    /// The configuration file's text (YAML). Every call makes a new token-signing key:
    /// write it once and start every instance of a test from the same file.
    pub fn to_yaml(&self) -> String {
        let signing_key = generate_signing_key_pem().expect("a P-256 key");
        let config: Value = json!({
            "listen": {"api": "127.0.0.1:0", "admin": "127.0.0.1:0", "workers": 2},
            "auth": {
                "issuer": sandbox::ISSUER,
                "audience": sandbox::AUDIENCE,
                "token_ttl_secs": 3600,
                "signing_key_pem": signing_key,
                "clients": [{
                    "client_id": sandbox::CLIENT_ID,
                    "secret_hash": hash_secret(sandbox::CLIENT_SECRET).expect("a hash"),
                    "scopes": ["certificates:read", "signatures:write", "signatures:read"],
                }],
            },
            "store": self.store_yaml(),
            // The portal signs for a handful of citizens far more often than admission
            // limits allow: this measures crash safety, not the limits.
            "admission": admission_yaml(),
            "transactions": {
                "poll_initial_ms": self.poll_initial_ms,
                "poll_max_ms": self.poll_max_ms,
                "follow_lease_ms": self.follow_lease_ms,
                "sweep_interval_ms": self.sweep_interval_ms,
            },
            "providers": [{
                "id": "vnpt",
                "kind": "vnpt-smartca",
                "base_url": self.ca_base_url,
                "sp_id": self.sp_id,
                "sp_password": self.sp_password,
                "trust_anchors_pem": self.ca_root_pem,
                "timeouts": {"connect_ms": 1000, "request_ms": self.ca_request_ms},
                "limits": {"confirmation_timeout_secs": self.confirmation_timeout_secs},
            }],
        });
        serde_norway::to_string(&config).expect("YAML")
    }

    /// The `store` section: the shared Redis, under the test's key prefix.
    fn store_yaml(&self) -> Value {
        let mut store = match &self.redis {
            SharedRedis::Server(url) => json!({"kind": "redis", "url": url}),
            SharedRedis::Cluster(urls) => json!({"kind": "redis-cluster", "urls": urls}),
        };
        store["key_prefix"] = json!(self.key_prefix);
        store["timeout_ms"] = json!(500);
        store
    }

    /// Writes [`GatewayConfig::to_yaml`] to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.to_yaml()).expect("configuration file written");
    }
}

/// [`sandbox::unlimited_admission`] as configuration text would write it (the load harness
/// writes it into its gateways' configuration too).
pub fn admission_yaml() -> Value {
    let unlimited = sandbox::unlimited_admission();
    json!({
        "per_client": {
            "requests_per_second": unlimited.per_client.requests_per_second,
            "burst": unlimited.per_client.burst,
        },
        "per_citizen": {
            "max_requests": unlimited.per_citizen.max_requests,
            "window_secs": unlimited.per_citizen.window_secs,
        },
        "max_pending_per_client": unlimited.max_pending_per_client,
    })
}

/// One running gateway process. Killed when dropped, so a failing test leaves none behind.
pub struct GatewayProcess {
    /// A name for reports (`gw-1`).
    pub name: String,
    /// `http://127.0.0.1:PORT` of its portal API.
    pub api: String,
    /// `http://127.0.0.1:PORT` of its admin listener.
    pub admin: String,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
}

impl GatewayProcess {
    /// Starts `program serve --config CONFIG` on free loopback ports, logging to
    /// `LOG_DIR/NAME.log`, and waits until it listens.
    pub async fn start(program: &Path, config: &Path, log_dir: &Path, name: &str) -> Self {
        Self::start_logging(program, config, log_dir, name, "info").await
    }

    /// [`GatewayProcess::start`], logging what `RUST_LOG=filter` lets through (`trace`:
    /// everything, every dependency's included).
    pub async fn start_logging(
        program: &Path,
        config: &Path,
        log_dir: &Path,
        name: &str,
        filter: &str,
    ) -> Self {
        let log = log_dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(program)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--api", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .env("RUST_LOG", filter)
            .env("KYSO_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("the gateway program starts");
        let mut process = Self {
            name: name.to_owned(),
            api: String::new(),
            admin: String::new(),
            log,
            child,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some((api, admin)) = listening_addresses(&process.log) {
                process.api = format!("http://{api}");
                process.admin = format!("http://{admin}");
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!(
                    "{name} exited at start ({status}); its log: {}",
                    process.log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not start listening within {START_TIMEOUT:?}; its log: {}",
                process.log.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash or an OOM kill: no chance to hand anything over.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// SIGTERM, as Kubernetes sends on a rolling deploy, then waits (at most `grace`) for
    /// the process to exit: how long it took, or `None` if it was still running at the end
    /// of `grace` (it is then killed).
    pub async fn terminate(&mut self, grace: Duration) -> Option<Duration> {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.pid().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -s TERM {}", self.pid());
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(started.elapsed());
            }
            if started.elapsed() >= grace {
                self.kill();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The API and admin addresses in the "listening" line of a JSON log, once it is there.
fn listening_addresses(log: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|line| {
            let fields = &line["fields"];
            let message = fields["message"].as_str()?;
            if !message.contains("listening") {
                return None;
            }
            Some((
                fields["api"].as_str()?.to_owned(),
                fields["admin"].as_str()?.to_owned(),
            ))
        })
}
