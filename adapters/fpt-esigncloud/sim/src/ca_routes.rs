//! The eSignCloud functions over HTTP: `POST /eSignCloud/restapi/<function>`.
//!
//! Bodies are taken as raw bytes, because the RP's `signature` header signs those exact bytes,
//! and so that every call, even a malformed one, is recorded and meets the injected fault and
//! the configured delay. Every answer the service itself gives is HTTP 200 with a
//! `SignCloudResp`; only injected faults and unknown functions use other statuses.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use kyso_sim_kit::{Fault, wait_out};

use crate::sim::{CaError, Prepared, Sim};
use crate::wire::{
    FN_AUTHORIZE_COUNTER_SIGNING, FN_CERTIFICATE_DETAIL, FN_PREPARE_HASH_SIGNING,
    FN_REGENERATE_AUTHORIZATION_CODE, FN_SIGNATURE_VALUE, HEADER_SERVICE_NAME, HEADER_SIGNATURE,
    SignCloudReq, SignCloudResp,
};

/// The path under which eSignCloud serves its functions.
pub(crate) const BASE_PATH: &str = "/eSignCloud/restapi";

/// How often a synchronous app authorisation looks at its transaction.
const SYNC_POLL: Duration = Duration::from_millis(50);

/// What a misconfigured proxy in front of the CA might answer.
const GARBAGE_BODY: &str =
    "<html><head><title>eSignCloud</title></head><body><h1>Maintenance</h1></body></html>";

/// Registers the CA functions.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope(BASE_PATH).route("/{function}", web::post().to(function)));
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

async fn function(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    let function = path.into_inner();
    let service_name = header(&req, HEADER_SERVICE_NAME);
    let header_signature = header(&req, HEADER_SIGNATURE);
    // The kit's gate: record (secrets redacted), wait out delay and hang, take the fault.
    let (fault, delay) = sim.begin_call(&function, service_name, header_signature.is_some(), &body);
    match wait_out(fault, delay).await {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return HttpResponse::build(status).json(CaError::Injected(status.as_u16()).response());
        }
        Some(Fault::Garbage) => {
            return HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(GARBAGE_BODY);
        }
        _ => {}
    }
    let known = [
        FN_CERTIFICATE_DETAIL,
        FN_PREPARE_HASH_SIGNING,
        FN_SIGNATURE_VALUE,
        FN_AUTHORIZE_COUNTER_SIGNING,
        FN_REGENERATE_AUTHORIZATION_CODE,
    ];
    if !known.contains(&function.as_str()) {
        return HttpResponse::NotFound()
            .json(CaError::NotSupported(format!("function {function}")).response());
    }
    let request: SignCloudReq = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return answer(Err(CaError::ParameterInvalid(format!(
                "malformed request body: {error}"
            ))));
        }
    };
    if let Err(error) = sim.authenticate(&request, &body, header_signature, service_name) {
        tracing::debug!(function, code = error.code(), "relying party refused");
        return answer(Err(error));
    }
    let result = match function.as_str() {
        FN_CERTIFICATE_DETAIL => sim.certificate_detail(&request),
        FN_PREPARE_HASH_SIGNING => match sim.prepare_hash_signing(&request) {
            Ok(Prepared::Answer(response)) => Ok(*response),
            Ok(Prepared::Wait(bill_code)) => wait_for_decision(&sim, &bill_code).await,
            Err(error) => Err(error),
        },
        FN_SIGNATURE_VALUE => sim.signature_value(&request),
        FN_AUTHORIZE_COUNTER_SIGNING => sim.authorize_counter_signing(&request),
        _ => sim.regenerate_authorization_code(&request),
    };
    answer(result)
}

/// Holds a synchronous app authorisation until the subscriber (or the TTL) decides it.
async fn wait_for_decision(sim: &Sim, bill_code: &str) -> Result<SignCloudResp, CaError> {
    loop {
        if let Some(response) = sim.decided_answer(bill_code)? {
            return Ok(response);
        }
        tokio::time::sleep(SYNC_POLL).await;
    }
}

fn answer(result: Result<SignCloudResp, CaError>) -> HttpResponse {
    HttpResponse::Ok().json(result.unwrap_or_else(|error| error.response()))
}

/// Any other path or method: 404 in eSignCloud's shape.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .json(CaError::NotSupported(format!("{} {}", req.method(), req.path())).response())
}
