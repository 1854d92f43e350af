//! The three CA endpoints over HTTP, at the configured paths.
//!
//! Bodies are taken as raw bytes and parsed here (not with actix's `Json` extractor) so that
//! every call, even a malformed one, is recorded, meets the armed fault and the configured
//! delay, and a malformed body gets the 769 `400` envelope instead of actix's default error.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use kyso_sim_kit::Fault;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{SignMode, SimPaths};
use crate::sim::{CaError, Sim};
use crate::wire::{Envelope, MSG_SUCCESS};

/// The body of a [`Fault::Garbage`] answer: what a misconfigured proxy in front of a CA sends.
const GARBAGE_BODY: &str = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>";

/// How often a synchronous sign call looks whether the citizen has decided.
const SYNC_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Registers the CA endpoints at `paths`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, paths: &SimPaths) {
    cfg.route(&paths.get_certificate, web::post().to(get_certificate))
        .route(&paths.sign, web::post().to(sign))
        .route(&paths.status, web::post().to(status));
}

async fn get_certificate(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(response) = frame(&req, &body, &sim).await {
        return response;
    }
    respond(
        &req,
        parse(&body)
            .and_then(|request| sim.get_certificate(request))
            .map(|data| (MSG_SUCCESS, data)),
    )
}

async fn sign(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(response) = frame(&req, &body, &sim).await {
        return response;
    }
    let accepted = match parse(&body).and_then(|request| sim.sign(request)) {
        Ok(accepted) => accepted,
        Err(error) => return respond::<()>(&req, Err(error)),
    };
    match sim.sign_mode() {
        SignMode::Async => respond(&req, Ok(Sim::accepted_answer(accepted))),
        SignMode::Sync => {
            // Hold the call until the citizen decides; the TTL bounds the wait.
            let id = accepted.transaction_id;
            loop {
                match sim.is_waiting(&id) {
                    Ok(true) => tokio::time::sleep(SYNC_POLL_INTERVAL).await,
                    Ok(false) => break,
                    Err(error) => return respond::<()>(&req, Err(error)),
                }
            }
            respond(&req, sim.report(&id))
        }
    }
}

async fn status(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Err(response) = frame(&req, &body, &sim).await {
        return response;
    }
    let path_id = req.match_info().get("transaction_id").map(str::to_owned);
    // No body at all is read as `{}`: it then lacks the credentials.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    respond(
        &req,
        parse(body).and_then(|request| sim.status(path_id.as_deref(), request)),
    )
}

/// Common start of every CA endpoint: the kit's gate (record, delay, fault). `Err` is the
/// answer to send instead of handling the call: an armed fault, in the 769 envelope.
async fn frame(req: &HttpRequest, body: &[u8], sim: &Sim) -> Result<(), HttpResponse> {
    match sim.gate.enter(req.path(), body).await {
        Some(Fault::Status(status)) => Err(error_response(&CaError::Injected(status))),
        Some(Fault::Garbage) => Err(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(GARBAGE_BODY)),
        _ => Ok(()),
    }
}

fn respond<T: Serialize>(
    req: &HttpRequest,
    result: Result<(&'static str, T), CaError>,
) -> HttpResponse {
    match result {
        Ok((message, data)) => HttpResponse::Ok().json(Envelope {
            status_code: 200,
            message: message.to_owned(),
            data: Some(data),
        }),
        Err(error) => {
            tracing::debug!(path = req.path(), error = %error.message(), "CA endpoint answers an error");
            error_response(&error)
        }
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, CaError> {
    serde_json::from_slice(body)
        .map_err(|e| CaError::BadRequest(format!("malformed request body: {e}")))
}

/// The 769 error envelope, the HTTP status mirroring `status_code`.
pub(crate) fn error_response(error: &CaError) -> HttpResponse {
    let (status, code, message) = match StatusCode::from_u16(error.status_code()) {
        Ok(status) => (status, error.status_code(), error.message()),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            CaError::Internal.message(),
        ),
    };
    HttpResponse::build(status).json(Envelope::<()> {
        status_code: code,
        message,
        data: None,
    })
}

/// Answer for any other path or method, in the same envelope.
pub(crate) async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(Envelope::<()> {
        status_code: 404,
        message: "NOT_FOUND".to_owned(),
        data: None,
    })
}
