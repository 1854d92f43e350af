//! The MySign gateway endpoints over HTTP, under `/vtss/service`.
//!
//! Bodies are taken as raw bytes and parsed here (not with actix's extractors) so that every
//! call, even a malformed one, passes the kit's [`CallGate`](kyso_sim_kit::CallGate) (recorded,
//! delayed, meets the injected fault), and a malformed body gets Viettel's error shape instead of
//! actix's default answer.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use kyso_sim_kit::faults::redact;
use kyso_sim_kit::{Fault, wait_out};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sim::{CaError, RecordedRequest, Sim};
use crate::wire::{AuthenticateForm, ErrorBody, ErrorCode, Signatures, TransactionCreated};

/// The base path of Viettel's gateway API.
pub(crate) const BASE_PATH: &str = "/vtss/service";

/// How often a synchronous signHash (`async` 0) looks whether the subscriber answered.
const SYNC_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The body of a [`Fault::Garbage`] answer: what a misconfigured proxy in front of the CA might
/// send.
const GARBAGE_BODY: &str = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>Remote Signing</h1></center><p>The service is temporarily unavailable.</p></body></html>";

/// Registers the CA endpoints.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(BASE_PATH)
            .route("/ras/v1/login", web::post().to(login))
            .route("/ras/v1/authenticate", web::post().to(authenticate))
            .route("/certificates/info", web::post().to(certificates_info))
            .route("/signHash", web::post().to(sign_hash))
            .route("/requests/status", web::post().to(status)),
    );
}

async fn login(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Some(answer) = prelude(&req, sim.gate.parse_body(&body), &sim).await {
        return answer;
    }
    respond(parse(&body).and_then(|request| sim.login(request)))
}

async fn authenticate(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    let form = parse_form(&body);
    let view = match &form {
        Ok(fields) => {
            let mut view = serde_json::to_value(fields).unwrap_or(serde_json::Value::Null);
            redact(&mut view, sim.gate.secret_fields());
            view
        }
        Err(_) => sim.gate.parse_body(&body),
    };
    if let Some(answer) = prelude(&req, view, &sim).await {
        return answer;
    }
    respond(form.and_then(|mut fields| {
        let mut take = |name: &str| {
            fields
                .remove(name)
                .ok_or_else(|| CaError::BadRequest(format!("form field {name} is missing")))
        };
        let form = AuthenticateForm {
            client_id: take("client_id")?,
            client_secret: take("client_secret")?,
            grant_type: take("grant_type")?,
        };
        sim.authenticate(form)
    }))
}

async fn certificates_info(
    req: HttpRequest,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    if let Some(answer) = prelude(&req, sim.gate.parse_body(&body), &sim).await {
        return answer;
    }
    respond(parse(&body).and_then(|request| sim.certificates_info(bearer(&req), request)))
}

async fn sign_hash(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Some(answer) = prelude(&req, sim.gate.parse_body(&body), &sim).await {
        return answer;
    }
    let (transaction_id, mode) =
        match parse(&body).and_then(|request| sim.sign_hash(bearer(&req), request)) {
            Ok(created) => created,
            Err(error) => return error_response(&error),
        };
    if mode != 0 {
        return HttpResponse::Ok().json(TransactionCreated { transaction_id });
    }
    // `async` 0: the call blocks until the subscriber answers or the CA gives up.
    loop {
        match sim.sync_outcome(&transaction_id) {
            None => tokio::time::sleep(SYNC_POLL_INTERVAL).await,
            Some(Ok(signatures)) => return HttpResponse::Ok().json(Signatures { signatures }),
            Some(Err(error)) => return error_response(&error),
        }
    }
}

async fn status(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if let Some(answer) = prelude(&req, sim.gate.parse_body(&body), &sim).await {
        return answer;
    }
    respond(parse(&body).and_then(|request| sim.status(bearer(&req), request)))
}

/// Common start of every CA endpoint: the kit's gate records the call (`body` already redacted)
/// and waits out the delay and an armed hang. `Some` is the answer when an armed fault replaces
/// the call, in Viettel's shape.
async fn prelude(req: &HttpRequest, body: serde_json::Value, sim: &Sim) -> Option<HttpResponse> {
    let (fault, delay) = sim.gate.record(RecordedRequest {
        path: req.path().to_owned(),
        bearer: bearer(req).is_some(),
        body,
    });
    match wait_out(fault, delay).await? {
        Fault::Status(status) => Some(error_response(&CaError::Injected(status))),
        Fault::Garbage => Some(
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(GARBAGE_BODY),
        ),
        _ => None,
    }
}

/// The Bearer token of the request, if any.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, CaError> {
    serde_json::from_slice(body)
        .map_err(|e| CaError::BadRequest(format!("malformed request body: {e}")))
}

/// Parses an `application/x-www-form-urlencoded` body. A repeated field keeps its last value.
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, CaError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| CaError::BadRequest("form body is not UTF-8".to_owned()))?;
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

/// Decodes one form component: `+` is a space, `%XX` a byte.
fn form_decode(component: &str) -> Result<String, CaError> {
    let malformed = || CaError::BadRequest(format!("malformed form encoding in {component:?}"));
    let mut bytes = Vec::with_capacity(component.len());
    let mut input = component.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = input.next().and_then(hex_value).ok_or_else(malformed)?;
                let low = input.next().and_then(hex_value).ok_or_else(malformed)?;
                bytes.push(high << 4 | low);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| malformed())
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

fn respond<T: Serialize>(result: Result<T, CaError>) -> HttpResponse {
    match result {
        Ok(answer) => HttpResponse::Ok().json(answer),
        Err(error) => error_response(&error),
    }
}

/// Viettel's error body with the error's HTTP status; a refused token also gets the RFC 6750
/// `WWW-Authenticate` challenge.
pub(crate) fn error_response(error: &CaError) -> HttpResponse {
    let status = StatusCode::from_u16(error.http_status())
        .ok()
        .filter(|status| status.is_client_error() || status.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = error.body();
    tracing::debug!(status = status.as_u16(), error = %body.error_description, "CA endpoint answers an error");
    let mut response = HttpResponse::build(status);
    if body.error == ErrorCode::Text("invalid_token") {
        response.insert_header((WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
    }
    response.json(body)
}

/// Answer for any path or method the simulator does not serve, in Viettel's error shape.
pub(crate) async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody {
        error: ErrorCode::Text("not_found"),
        error_description: "No such endpoint".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_are_decoded() {
        let fields =
            parse_form(b"client_id=sp+1&client_secret=a%2Bb%3D%26c&grant_type=client_credentials")
                .unwrap();
        assert_eq!(fields["client_id"], "sp 1");
        assert_eq!(fields["client_secret"], "a+b=&c");
        assert_eq!(fields["grant_type"], "client_credentials");
        assert!(parse_form(b"client_id=%G1").is_err());
        assert!(parse_form(b"client_id=%4").is_err());
    }
}
