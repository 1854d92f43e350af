//! Starting and stopping a simulator: [`spawn`], [`spawn_on`] and [`SimHandle`].
//!
//! The server is the kit's [`SimServer`] (one worker, no signal handling, on the current tokio
//! runtime), serving the CSC methods, the kit's `/_sim` control API extended with
//! `POST /_sim/tokens/expire`, and a CSC error object for anything else.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use kyso_sim_kit::{ControlError, SimServer, control};
use serde::Deserialize;
use serde_json::json;

use crate::SimError;
use crate::config::SimConfig;
use crate::csc_routes::{self, BASE_PATH};
use crate::sim::{Sim, SimControl};

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
    // Key generation is CPU-bound: keep it off the async executor.
    // The certificates point at this simulator's own CRL and OCSP routes.
    let base_url = kyso_sim_kit::base_url(listener.local_addr()?);
    let sim = tokio::task::spawn_blocking(move || Sim::new(config, base_url))
        .await
        .map_err(|error| SimError::Startup(error.to_string()))??;
    let sim = web::Data::new(sim);
    let data = sim.clone();
    let server = SimServer::start("CSC", listener, move |cfg| {
        cfg.app_data(data.clone())
            .configure(csc_routes::configure)
            .service(control::scope::<Sim>().route("/tokens/expire", web::post().to(expire_tokens)))
            .default_service(web::to(csc_routes::not_found));
    })?;
    tracing::debug!(addr = %server.addr(), "CSC simulator listening");
    Ok(SimHandle {
        sim: sim.into_inner(),
        server,
    })
}

/// The body of `POST /_sim/tokens/expire`; an empty body means `{}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireTokensRequest {
    /// Expire every access token, not only the latest.
    #[serde(default)]
    all: bool,
}

/// `POST /_sim/tokens/expire`: expires the latest (or every) access token; answers
/// `{"expired": bool}`.
async fn expire_tokens(
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> Result<HttpResponse, ControlError> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        ExpireTokensRequest::default()
    } else {
        serde_json::from_slice::<ExpireTokensRequest>(&body)
            .map_err(|error| ControlError::BadRequest(error.to_string()))?
    };
    let control = SimControl::new(sim.into_inner());
    let expired = if request.all {
        control.expire_all_tokens();
        true
    } else {
        control.expire_current_token()
    };
    Ok(HttpResponse::Ok().json(json!({ "expired": expired })))
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
    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The CSC root the adapter's `base_url` takes, e.g. `http://127.0.0.1:40123/csc/v2`.
    pub fn base_url(&self) -> String {
        self.server.url(BASE_PATH)
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
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
