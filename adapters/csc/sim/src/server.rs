//! Starting and stopping a simulator: [`spawn`], [`spawn_on`] and [`SimHandle`].
//!
//! The actix-web server runs with one worker and without signal handling, driven by a
//! `tokio::spawn`ed task, so it runs inside any tokio runtime (a `#[tokio::test]`, the gateway's
//! sandbox mode, the `kyso-sim-csc` binary).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;

use crate::SimError;
use crate::config::SimConfig;
use crate::control_routes;
use crate::csc_routes::{self, BASE_PATH};
use crate::sim::{Sim, SimControl};

/// Seconds a graceful stop gives requests in flight.
const GRACEFUL_STOP_SECS: u64 = 2;

/// Generates the PKI for `config` and serves the simulator on `127.0.0.1`, on a free port.
///
/// # Errors
/// An invalid configuration, a PKI generation failure or a socket error.
pub async fn spawn(config: SimConfig) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    spawn_on(config, listener).await
}

/// Like [`spawn`], on a listener the caller bound (for a fixed address).
///
/// # Errors
/// An invalid configuration, a PKI generation failure or a socket error.
pub async fn spawn_on(config: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    let addr = listener.local_addr()?;
    // Key generation is CPU-bound: keep it off the async executor.
    let sim = tokio::task::spawn_blocking(move || Sim::new(config))
        .await
        .map_err(|error| SimError::Startup(error.to_string()))??;
    let sim = Arc::new(sim);
    let data = web::Data::from(Arc::clone(&sim));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(csc_routes::configure)
            .configure(control_routes::configure)
            .default_service(web::to(csc_routes::not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(GRACEFUL_STOP_SECS)
    .listen(listener)?
    .run();
    let server_handle = server.handle();
    let task = tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "the CSC simulator's server failed");
        }
    });
    tracing::debug!(%addr, "CSC simulator listening");
    Ok(SimHandle {
        addr,
        sim,
        server: server_handle,
        task: Some(task),
    })
}

/// A running simulator. Dropping it stops the server without waiting; [`SimHandle::stop`]
/// stops it gracefully and waits.
pub struct SimHandle {
    addr: SocketAddr,
    sim: Arc<Sim>,
    server: ServerHandle,
    /// `None` once stopped.
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CSC root the adapter's `base_url` takes, e.g. `http://127.0.0.1:40123/csc/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}{BASE_PATH}", self.addr)
    }

    /// The root CA certificate in PEM: the trust anchor to give the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }

    /// A control handle on this simulator's state.
    pub fn control(&self) -> SimControl {
        SimControl::new(Arc::clone(&self.sim))
    }

    /// Stops the server gracefully (requests in flight get up to 2 s) and waits for it.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(%error, "the CSC simulator's server task failed");
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if self.task.take().is_some() {
            // `stop` sends the command when called; the future only waits for the result, so
            // dropping it still stops the server and needs no runtime.
            drop(self.server.stop(false));
        }
    }
}
