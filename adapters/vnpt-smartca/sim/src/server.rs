//! Starting and stopping a simulator: [`spawn`], [`spawn_on`] and [`SimHandle`].
//!
//! The server is the kit's [`SimServer`] (one worker unless [`spawn_with_workers`] asks for more,
//! no signal handling, on the current tokio runtime), serving VNPT's endpoints, the kit's `/_sim`
//! control API and a VNPT-shaped 404.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::web;
use kyso_sim_kit::{SimServer, control};

use crate::SimError;
use crate::ca_routes::{self, BASE_PATH};
use crate::config::SimConfig;
use crate::sim::{Sim, SimControl};

/// Generates the PKI for `config` and serves the simulator on `127.0.0.1` with a free port.
///
/// # Errors
/// An invalid config, a PKI generation failure, or a socket error.
pub async fn spawn(config: SimConfig) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    spawn_on(config, listener).await
}

/// Like [`spawn`], with `workers` server threads instead of one: for load runs, where one
/// worker would make the simulator the ceiling of whatever is measured in front of it.
///
/// # Errors
/// An invalid config, a PKI generation failure, or a socket error.
pub async fn spawn_with_workers(config: SimConfig, workers: usize) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    serve(config, listener, workers).await
}

/// Like [`spawn`], on a listener the caller has bound (for a fixed address).
///
/// # Errors
/// An invalid config, a PKI generation failure, or a socket error.
pub async fn spawn_on(config: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    serve(config, listener, 1).await
}

/// Generates the PKI and serves the simulator on `listener` with `workers` server threads.
async fn serve(
    config: SimConfig,
    listener: TcpListener,
    workers: usize,
) -> Result<SimHandle, SimError> {
    // RSA key generation is CPU-bound; keep it off the async executor.
    // The certificates point at this simulator's own CRL and OCSP routes.
    let base_url = kyso_sim_kit::base_url(listener.local_addr()?);
    let sim = tokio::task::spawn_blocking(move || Sim::new(config, base_url))
        .await
        .map_err(|e| SimError::Startup(e.to_string()))??;
    let sim = web::Data::new(sim);
    let data = sim.clone();
    let server = SimServer::start_with_workers("VNPT SmartCA", listener, workers, move |cfg| {
        cfg.app_data(data.clone())
            .configure(ca_routes::configure)
            .service(control::scope::<Sim>())
            .default_service(web::to(ca_routes::not_found));
    })?;
    tracing::debug!(addr = %server.addr(), "VNPT SmartCA simulator listening");
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
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The sp769 base URL, e.g. `http://127.0.0.1:40123/sca/sp769`.
    pub fn base_url(&self) -> String {
        self.server.url(BASE_PATH)
    }

    /// The root CA certificate in PEM: the trust anchor to give the gateway.
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
