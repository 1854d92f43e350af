//! Real Redis processes for tests: a standalone server or a three-node Redis Cluster on free
//! loopback ports, each in its own temporary directory, stopped when dropped.
//! `scripts/test` installs `redis-server` and `redis-tools` when they are missing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A new empty directory under the system's temporary directory, named after `label`.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kyso-{label}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Runs `redis-cli -p PORT ARGS...` and returns its output.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    redis_cli_with(port, &[], args)
}

fn redis_cli_with(port: u16, connection: &[String], args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(connection)
        .args(args)
        .output()
        .expect("redis-cli is installed by scripts/test");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One `redis-server` process.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    /// Extra `redis-cli` arguments to reach it (TLS).
    cli_connection: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A server that keeps nothing on disk.
    pub fn start() -> Self {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// A server that writes every change to its append-only file, so a restart keeps the
    /// data (as a production Redis for the gateway is configured).
    pub fn start_persistent() -> Self {
        Self::start_with(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
    }

    /// A server that only speaks TLS, with a certificate for 127.0.0.1 from a CA of its
    /// own ([`RedisServer::tls_ca_pem`]).
    pub fn start_tls() -> Self {
        let dir = scratch_dir("redis-tls");
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .current_dir(&dir)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl is installed by scripts/test");
            assert!(status.success(), "openssl {args:?}");
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=Kyso Test Redis CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ]);
        let tls_port = free_port();
        let path = |name: &str| dir.join(name).display().to_string();
        let mut server = Self {
            port: tls_port,
            extra: vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                tls_port.to_string(),
                "--tls-cert-file".into(),
                path("server.pem"),
                "--tls-key-file".into(),
                path("server.key"),
                "--tls-ca-cert-file".into(),
                path("ca.pem"),
                "--tls-auth-clients".into(),
                "no".into(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
            ],
            cli_connection: vec!["--tls".into(), "--cacert".into(), path("ca.pem")],
            dir,
            child: None,
        };
        server.launch();
        server
    }

    /// The CA certificate of a TLS server.
    pub fn tls_ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.pem")).expect("a TLS server")
    }

    fn start_with(extra: &[&str]) -> Self {
        let mut server = Self {
            port: free_port(),
            dir: scratch_dir("redis"),
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            cli_connection: Vec::new(),
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let port_args = if self.cli_connection.is_empty() {
            vec!["--port".to_owned(), self.port.to_string()]
        } else {
            Vec::new()
        };
        let child = Command::new("redis-server")
            .args(&port_args)
            .args(["--bind", "127.0.0.1", "--dir"])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed by scripts/test");
        self.child = Some(child);
        wait_until("redis-server", || self.cli(&["ping"]) == "PONG");
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.cli_connection.is_empty() {
            "redis"
        } else {
            "rediss"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL: no chance to save anything it had not written).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Runs `redis-cli` against it.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli_with(self.port, &self.cli_connection, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// A three-master Redis Cluster.
pub struct RedisCluster {
    /// The nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers and joins them into one cluster.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        redis_cli(nodes[0].port, &args);
        let ports: Vec<u16> = nodes.iter().map(|node| node.port).collect();
        wait_until("redis cluster", || {
            ports
                .iter()
                .all(|port| redis_cli(*port, &["cluster", "info"]).contains("cluster_state:ok"))
        });
        Self { nodes }
    }

    /// The URL of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Runs `redis-cli -c` (following redirections) against the first node.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["-c"];
        all.extend_from_slice(args);
        redis_cli(self.nodes[0].port, &all)
    }
}
