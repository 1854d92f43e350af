//! Starting and stopping a simulator: [`spawn`], [`spawn_on`] and [`SimHandle`].
//!
//! The server is the kit's [`SimServer`] (one worker, no signal handling, on the caller's tokio
//! runtime), serving MISA's endpoints, the kit's `/_sim` control API extended with MISA's
//! `/_sim/tokens/expire`, and a 404 in MISA's error shape.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use kyso_sim_kit::{SimServer, control};
use serde_json::json;

use crate::SimError;
use crate::ca_routes;
use crate::config::SimConfig;
use crate::sim::{Sim, SimControl};

/// Generates the PKI for `config` and serves the simulator on `127.0.0.1`, on a free port.
///
/// # Errors
/// An invalid configuration, a PKI failure, or a socket error.
pub async fn spawn(config: SimConfig) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    spawn_on(config, listener).await
}

/// Like [`spawn`], on a listener the caller bound (for a fixed address).
///
/// # Errors
/// An invalid configuration, a PKI failure, or a socket error.
pub async fn spawn_on(config: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    // RSA key generation is CPU-bound: keep it off the async executor.
    // The certificates point at this simulator's own CRL and OCSP routes.
    let base_url = kyso_sim_kit::base_url(listener.local_addr()?);
    let sim = tokio::task::spawn_blocking(move || Sim::new(config, base_url))
        .await
        .map_err(|error| SimError::Startup(error.to_string()))??;
    let sim = web::Data::new(sim);
    let data = sim.clone();
    let server = SimServer::start("MISA eSign", listener, move |cfg| {
        cfg.app_data(data.clone())
            .configure(ca_routes::configure)
            .service(control::scope::<Sim>().route("/tokens/expire", web::post().to(expire_tokens)))
            .default_service(web::to(ca_routes::not_found));
    })?;
    tracing::debug!(addr = %server.addr(), "MISA eSign simulator listening");
    Ok(SimHandle {
        sim: sim.into_inner(),
        server,
    })
}

/// `POST /_sim/tokens/expire`: expires every access token issued so far; answers
/// `{"expired": n}` (how many were live).
async fn expire_tokens(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "expired": sim.expire_access_tokens() }))
}

/// A running simulator. Dropping it stops the server without waiting; [`SimHandle::stop`]
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
    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// MISA's "APIUrl": the host root, e.g. `http://127.0.0.1:40123`. Every path of MISA's
    /// guide is relative to it.
    pub fn base_url(&self) -> String {
        self.server.url("")
    }

    /// The root certificate, PEM: the trust anchor to give the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }

    /// A control handle sharing this simulator's state.
    pub fn control(&self) -> SimControl {
        SimControl::new(Arc::clone(&self.sim))
    }

    /// Stops the server gracefully (requests in flight get up to 2 s) and waits for it.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
