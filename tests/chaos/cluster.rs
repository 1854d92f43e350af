//! The gateway instances of a chaos test: real processes started from one configuration
//! file, and the routes a portal spreads its calls over (the live instances, as a load
//! balancer would know them).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use kyso_tests::gateway_process::{GatewayConfig, GatewayProcess};
use kyso_tests::redis_server::scratch_dir;

/// The `kyso-gateway` program, built by this crate.
pub(crate) const PROGRAM: &str = env!("CARGO_BIN_EXE_kyso-test-gateway");

/// The API addresses of the instances that take traffic, shared with the portal.
#[derive(Clone, Default)]
pub(crate) struct Routes(Arc<RwLock<Vec<String>>>);

impl Routes {
    /// The `n`-th live instance's API (round-robin), if any instance is live.
    pub(crate) fn pick(&self, n: usize) -> Option<String> {
        let routes = self.0.read().unwrap();
        (!routes.is_empty()).then(|| routes[n % routes.len()].clone())
    }

    fn add(&self, api: &str) {
        self.0.write().unwrap().push(api.to_owned());
    }

    fn remove(&self, api: &str) {
        self.0.write().unwrap().retain(|route| route != api);
    }
}

/// Live gateway instances sharing one configuration file, their logs in one directory.
pub(crate) struct Cluster {
    /// Where the configuration and every instance's log are.
    pub(crate) dir: PathBuf,
    /// The configuration file every instance was started from.
    pub(crate) config: PathBuf,
    instances: Vec<GatewayProcess>,
    started: usize,
    /// Where a portal sends its calls.
    pub(crate) routes: Routes,
}

impl Cluster {
    /// Writes `config` and starts `count` instances.
    pub(crate) async fn start(config: &GatewayConfig, count: usize) -> Self {
        let dir = scratch_dir("chaos");
        let config_path = dir.join("gateway.yaml");
        config.write(&config_path);
        let mut cluster = Self {
            dir,
            config: config_path,
            instances: Vec::new(),
            started: 0,
            routes: Routes::default(),
        };
        for _ in 0..count {
            cluster.add_instance().await;
        }
        cluster
    }

    /// Starts one more instance and routes traffic to it.
    pub(crate) async fn add_instance(&mut self) -> &GatewayProcess {
        self.started += 1;
        let name = format!("gw-{}", self.started);
        let instance =
            GatewayProcess::start(Path::new(PROGRAM), &self.config, &self.dir, &name).await;
        self.routes.add(&instance.api);
        self.instances.push(instance);
        self.instances.last().expect("just added")
    }

    /// Takes the `index`-th live instance out of the routes and hands it to the caller (to
    /// kill or stop it).
    pub(crate) fn take_instance(&mut self, index: usize) -> GatewayProcess {
        let instance = self.instances.remove(index);
        self.routes.remove(&instance.api);
        instance
    }

    /// The `index`-th live instance.
    pub(crate) fn instance(&self, index: usize) -> &GatewayProcess {
        &self.instances[index]
    }

    /// Stops every instance and removes the directory with the logs (for a passing test; a
    /// failing one keeps them for inspection, and so does any with `KYSO_TEST_KEEP_LOGS` set).
    pub(crate) fn clean_up(mut self) {
        self.instances.clear();
        if std::env::var_os("KYSO_TEST_KEEP_LOGS").is_none() {
            std::fs::remove_dir_all(&self.dir).ok();
        }
    }
}
