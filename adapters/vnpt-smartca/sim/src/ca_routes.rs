//! The three sp769 v1 endpoints over HTTP, under `/sca/sp769`.
//!
//! Bodies are taken as raw bytes and parsed here (not with actix's `Json` extractor) so that
//! every call, even a malformed one, is recorded, meets the injected fault and the configured
//! delay, and a malformed body gets VNPT's `400` error envelope instead of actix's default error.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde::de::DeserializeOwned;

use kyso_sim_kit::Fault;

use crate::sim::{CaError, Sim};
use crate::wire::{Envelope, MSG_SIG_WAIT, MSG_SUCCESS};

/// The base path of VNPT's sp769 API.
pub(crate) const BASE_PATH: &str = "/sca/sp769";

/// The body of a [`Fault::Garbage`] answer: what a misconfigured proxy in front of the CA might
/// send.
const GARBAGE_BODY: &str = "<html><head><title>SmartCA</title></head><body><h1>Service temporarily unavailable</h1></body></html>";

/// Registers the CA endpoints.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    // `{tran_id}` is a plain string, so extraction cannot really fail; should it, answer in the
    // VNPT envelope all the same.
    let path_config = web::PathConfig::default().error_handler(|err, _req| {
        let response = error_response(&CaError::BadRequest(err.to_string()));
        actix_web::error::InternalError::from_response(err, response).into()
    });
    cfg.service(
        web::scope(BASE_PATH)
            .app_data(path_config)
            .route(
                "/v1/credentials/get_certificate",
                web::post().to(get_certificate),
            )
            .route("/v1/signatures/sign", web::post().to(sign))
            .route(
                "/v1/signatures/sign/{tran_id}/status",
                web::post().to(status),
            ),
    );
}

async fn get_certificate(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    handle(&req, &body, &sim, |sim| {
        let request = parse(&body)?;
        sim.get_certificate(request).map(|data| (MSG_SUCCESS, data))
    })
    .await
}

async fn sign(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    handle(&req, &body, &sim, |sim| {
        let request = parse(&body)?;
        sim.sign(request).map(|data| (MSG_SIG_WAIT, data))
    })
    .await
}

async fn status(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    handle(&req, &body, &sim, |sim| {
        // VNPT's samples send `{}`; accept an empty body too, but not a malformed one.
        if !body.iter().all(u8::is_ascii_whitespace) {
            parse::<serde_json::Value>(&body)?;
        }
        sim.status(&path)
    })
    .await
}

/// Common frame of every CA endpoint: the kit's gate (record, delay, fault), then `op`.
async fn handle<T: Serialize>(
    req: &HttpRequest,
    body: &[u8],
    sim: &Sim,
    op: impl FnOnce(&Sim) -> Result<(&'static str, T), CaError>,
) -> HttpResponse {
    match sim.gate.enter(req.path(), body).await {
        Some(Fault::Status(status)) => return error_response(&CaError::Injected(status)),
        Some(Fault::Garbage) => {
            return HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(GARBAGE_BODY);
        }
        _ => {}
    }
    match op(sim) {
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

/// The VNPT error envelope, with the HTTP status mirroring `status_code`.
pub(crate) fn error_response(error: &CaError) -> HttpResponse {
    // An injected status that is not a valid HTTP status is answered as 500 (documented on
    // `Fault::Status`).
    let (status, code) = match StatusCode::from_u16(error.status_code()) {
        Ok(status) => (status, error.status_code()),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, 500),
    };
    let message = if code == error.status_code() {
        error.message()
    } else {
        CaError::Internal.message()
    };
    HttpResponse::build(status).json(Envelope::<()> {
        status_code: code,
        message,
        data: None,
    })
}

/// Answer for any path or method the simulator does not serve, in the same envelope.
pub(crate) async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(Envelope::<()> {
        status_code: 404,
        message: "NOT_FOUND".to_owned(),
        data: None,
    })
}
