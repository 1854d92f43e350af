//! Starting and stopping a simulator: [`spawn`], [`spawn_on`] and [`SimHandle`].
//!
//! The server is the kit's [`SimServer`] (one worker, no signal handling, on the current tokio
//! runtime), serving eSignCloud's functions, the kit's `/_sim` control API extended with
//! eSignCloud's two extra downloads (`/_sim/issuing-ca.pem`, `/_sim/relying-party-key.pem`),
//! and an eSignCloud-shaped 404.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use kyso_sim_kit::{SimServer, control};
use serde_json::json;

use crate::SimError;
use crate::ca_routes::{self, BASE_PATH};
use crate::config::SimConfig;
use crate::sim::{Sim, SimControl};

/// Generates keys and PKI for `config` and serves the simulator on `127.0.0.1` at a free port.
///
/// # Errors
/// An invalid configuration, a key or PKI generation failure, or a socket error.
pub async fn spawn(config: SimConfig) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    spawn_on(config, listener).await
}

/// Like [`spawn`], on a listener the caller bound (for a fixed address).
///
/// # Errors
/// An invalid configuration, a key or PKI generation failure, or a socket error.
pub async fn spawn_on(config: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    // RSA key generation is CPU-bound: keep it off the async executor.
    // The certificates point at this simulator's own CRL and OCSP routes.
    let base_url = kyso_sim_kit::base_url(listener.local_addr()?);
    let sim = tokio::task::spawn_blocking(move || Sim::new(config, base_url))
        .await
        .map_err(|error| SimError::Startup(error.to_string()))??;
    let sim = web::Data::new(sim);
    let data = sim.clone();
    let server = SimServer::start("FPT eSignCloud", listener, move |cfg| {
        cfg.app_data(data.clone())
            .configure(ca_routes::configure)
            .service(
                control::scope::<Sim>()
                    .route("/issuing-ca.pem", web::get().to(issuing_ca_pem))
                    .route(
                        "/relying-party-key.pem",
                        web::get().to(relying_party_key_pem),
                    ),
            )
            .default_service(web::to(ca_routes::not_found));
    })?;
    tracing::debug!(addr = %server.addr(), "FPT eSignCloud simulator listening");
    Ok(SimHandle {
        sim: sim.into_inner(),
        server,
    })
}

fn pem_response(pem: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(pem)
}

/// `GET /_sim/issuing-ca.pem`: the issuing CA certificate.
async fn issuing_ca_pem(sim: web::Data<Sim>) -> HttpResponse {
    pem_response(sim.ca_pem().to_owned())
}

/// `GET /_sim/relying-party-key.pem`: the RP private key the simulator issued; 404 if it was
/// configured.
async fn relying_party_key_pem(sim: web::Data<Sim>) -> HttpResponse {
    match sim.rp_private_pem() {
        Some(pem) => pem_response(pem.to_owned()),
        None => HttpResponse::NotFound()
            .json(json!({ "error": "the relying party key was configured, not issued here" })),
    }
}

/// A running simulator. Dropping it stops the server without waiting; [`SimHandle::stop`]
/// stops it gracefully.
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

    /// The REST base URL the functions hang off, e.g.
    /// `http://127.0.0.1:40123/eSignCloud/restapi` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.server.url(BASE_PATH)
    }

    /// The root CA certificate (PEM): the trust anchor to give the gateway.
    pub fn root_certificate_pem(&self) -> String {
        self.sim.root_pem().to_owned()
    }

    /// The issuing CA certificate (PEM), for the adapter's `issuer_certificates_pem`:
    /// eSignCloud sends subscriber certificates without their chain.
    pub fn issuing_ca_pem(&self) -> String {
        self.sim.ca_pem().to_owned()
    }

    /// The issuing CA then the root (PEM): the chain FPT's demo client pins ("FPT
    /// Certification Authority" and the national root) and the adapter's
    /// `issuer_certificates_pem` should hold. eSignCloud's answers carry the subscriber's
    /// certificate alone (the reference shows no chain field), so the chain comes from here.
    pub fn pinned_chain_pem(&self) -> String {
        format!("{}{}", self.sim.ca_pem(), self.sim.root_pem())
    }

    /// The relying party's private key (PKCS#8 PEM) when the simulator issued it
    /// ([`crate::RpKey::Generate`], as in [`SimConfig::sandbox`]); `None` when the
    /// configuration provided the RP's public key.
    pub fn relying_party_key_pem(&self) -> Option<String> {
        self.sim.rp_private_pem().map(str::to_owned)
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
