//! Starting and stopping a simulator: [`spawn`], [`spawn_on`] and [`SimHandle`].
//!
//! The server is the kit's [`SimServer`] (one worker, no signal handling, on the current tokio
//! runtime), serving the 769 endpoints at the configured paths, the kit's `/_sim` control API
//! and a 769-shaped 404.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::web;
use kyso_sim_kit::{SimServer, control};

use crate::SimError;
use crate::ca_routes;
use crate::config::{SimConfig, SimMode};
use crate::sim::{Sim, SimControl};

/// Generates the PKI for `config` and serves the simulator on `127.0.0.1` with a free port.
///
/// # Errors
/// An invalid config, a PKI generation failure, or a socket error.
pub async fn spawn(config: SimConfig) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    spawn_on(config, listener).await
}

/// Like [`spawn`], on a listener the caller has bound (for a fixed address).
///
/// # Errors
/// An invalid config, a PKI generation failure, or a socket error.
pub async fn spawn_on(config: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    // RSA key generation is CPU-bound; keep it off the async executor.
    // The certificates point at this simulator's own CRL and OCSP routes.
    let base_url = kyso_sim_kit::base_url(listener.local_addr()?);
    let sim = tokio::task::spawn_blocking(move || Sim::new(config, base_url))
        .await
        .map_err(|e| SimError::Startup(e.to_string()))??;
    let sim = web::Data::new(sim);
    let data = sim.clone();
    let paths = sim.paths().clone();
    let server = SimServer::start("QĐ 769", listener, move |cfg| {
        cfg.app_data(data.clone())
            .configure(|cfg| ca_routes::configure(cfg, &paths))
            .service(control::scope::<Sim>())
            .default_service(web::to(ca_routes::not_found));
    })?;
    tracing::debug!(addr = %server.addr(), mode = ?sim.mode(), "769 simulator listening");
    Ok(SimHandle {
        sim: sim.into_inner(),
        server,
    })
}

/// A running simulator. Dropping it stops the server (without waiting); [`SimHandle::stop`]
/// stops it gracefully and waits.
pub struct SimHandle {
    sim: Arc<Sim>,
    server: SimServer,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.server.addr())
            .field("mode", &self.sim.mode())
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The role the simulator plays.
    pub fn mode(&self) -> SimMode {
        self.sim.mode()
    }

    /// The base URL to configure the adapter with, e.g. `http://127.0.0.1:40123`: the
    /// configured paths (by default `/get_certificate`..., or `/sign_v2/...` for NEAC) hang
    /// directly under it.
    pub fn base_url(&self) -> String {
        self.server.url("")
    }

    /// The root CA certificate in PEM: the trust anchor to give the gateway (one root for every
    /// CA the simulator serves).
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }

    /// A control handle sharing this simulator's state.
    pub fn control(&self) -> SimControl {
        SimControl::new(Arc::clone(&self.sim))
    }

    /// Stops the server gracefully (requests in flight get up to 2 s) and waits until it is down.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
