//! MISA's RemoteSigning endpoints over HTTP, at the paths of MISA's guide (relative to the API
//! URL, which is the host root).
//!
//! Bodies are read as raw bytes and parsed here rather than with actix's extractors, so that
//! every call, even a malformed one, is recorded, meets the armed fault and the delay, and gets
//! MISA's own error shape instead of actix's.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use kyso_sim_kit::{Fault, wait_out};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sim::{CaError, LoginFailure, Sim};
use crate::wire::{
    LoginEnvelope, LoginStatus, ResendOtpData, ResendOtpResponse, ResendOtpUser, TokenData,
};

/// The auth API as production serves it (host root).
const AUTH: &str = "/api/auth/api/v1/auth";
/// The auth API as MISA's sandbox serves it (under `/webdev`); refresh and resend-OTP live only
/// here, in production too.
const WEBDEV_AUTH: &str = "/webdev/api/auth/api/v1/auth";
/// The certificate endpoints.
const CERTIFICATES: &str = "/external/esrm/service/general/api/v1/Certificates";
/// The document helper endpoints (not simulated).
const DOCUMENTS: &str = "/external/esrm/service/document/api/v1/documents";
/// The signing endpoints.
const SIGNING: &str = "/external/esrm/service/signing/api/v1/Signing";

/// The body of a [`Fault::Garbage`] answer: what a misconfigured proxy in front of the CA
/// might send.
const GARBAGE_BODY: &str = "<!DOCTYPE html><html><head><title>MISA eSign</title></head>\
<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>";

/// Registers the CA endpoints.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    for base in [AUTH, WEBDEV_AUTH] {
        cfg.route(&format!("{base}/login-api"), web::post().to(login))
            .route(
                &format!("{base}/two-factor-auth"),
                web::post().to(two_factor),
            )
            .route(
                &format!("{base}/resend-otp-auth"),
                web::post().to(resend_otp),
            );
    }
    cfg.route(
        &format!("{WEBDEV_AUTH}/refreshtoken"),
        web::post().to(refresh),
    )
    .route(
        &format!("{CERTIFICATES}/by-userId"),
        web::get().to(certificates_by_user),
    )
    .route(
        &format!("{CERTIFICATES}/by-certId"),
        web::get().to(certificate_by_id),
    )
    .route(&format!("{DOCUMENTS}/hash"), web::post().to(documents_hash))
    .route(
        &format!("{DOCUMENTS}/attachment"),
        web::post().to(documents_attachment),
    )
    .route(&format!("{SIGNING}/hash"), web::post().to(sign_hash))
    .route(
        &format!("{SIGNING}/status/{{transaction_id}}"),
        web::get().to(status),
    );
}

/// Common frame of every CA endpoint: the kit's gate (record with method and query, delay,
/// fault), then `op`.
async fn frame(
    req: &HttpRequest,
    body: &[u8],
    sim: &Sim,
    op: impl FnOnce(&Sim) -> HttpResponse,
) -> HttpResponse {
    let (fault, delay) =
        sim.begin_call(req.method().as_str(), req.path(), req.query_string(), body);
    match wait_out(fault, delay).await {
        Some(Fault::Status(status)) => error_response(&CaError::Injected(status)),
        Some(Fault::Garbage) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(GARBAGE_BODY),
        _ => op(sim),
    }
}

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

fn check_client(req: &HttpRequest, sim: &Sim) -> Result<(), CaError> {
    sim.check_client(header(req, "x-clientid"), header(req, "x-clientkey"))
}

/// Client headers and access token, as every eSign endpoint wants.
fn check_caller(req: &HttpRequest, sim: &Sim) -> Result<(), CaError> {
    check_client(req, sim)?;
    sim.check_token(header(req, "authorizationrm"))
}

/// A query parameter, matched case-insensitively as .NET does.
fn query_param(req: &HttpRequest, name: &str) -> Result<Option<String>, CaError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|error| CaError::BadRequest(format!("malformed query string: {error}")))?;
    Ok(pairs
        .into_inner()
        .into_iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|error| format!("malformed request body: {error}"))
}

fn ok_json<T: Serialize>(value: &T) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// MISA's `ResponseError` with the error's HTTP status.
pub(crate) fn error_response(error: &CaError) -> HttpResponse {
    // An injected status that is not an HTTP status is answered as 500 (see `Fault::Status`).
    let (status, error) = match StatusCode::from_u16(error.status()) {
        Ok(status) => (status, error.clone()),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, CaError::Internal),
    };
    tracing::debug!(status = status.as_u16(), code = %error.body().error_code, "CA endpoint answers an error");
    HttpResponse::build(status).json(error.body())
}

fn login_success(data: TokenData) -> HttpResponse {
    ok_json(&LoginEnvelope {
        status: LoginStatus {
            kind: "success",
            code: 200,
            message: "Success".to_owned(),
            error: false,
            error_code: None,
            dev_msg: None,
            user_msg: None,
        },
        data: Some(data),
    })
}

fn login_failure_status(failure: &LoginFailure) -> (StatusCode, LoginStatus) {
    let (status, code, message) = failure.parts();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        LoginStatus {
            kind: "fail",
            code: status.as_u16(),
            message: message.clone(),
            error: true,
            error_code: Some(code),
            dev_msg: Some(format!("{failure:?}")),
            user_msg: Some(message),
        },
    )
}

fn login_failure(failure: &LoginFailure) -> HttpResponse {
    let (status, login_status) = login_failure_status(failure);
    HttpResponse::build(status).json(LoginEnvelope {
        status: login_status,
        data: None,
    })
}

async fn login(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        if let Err(error) = check_client(&req, sim) {
            return error_response(&error);
        }
        let result = parse(&body)
            .map_err(LoginFailure::BadRequest)
            .and_then(|request| sim.login(&request));
        match result {
            Ok(data) => login_success(data),
            Err(failure) => login_failure(&failure),
        }
    })
    .await
}

async fn two_factor(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        if let Err(error) = check_client(&req, sim) {
            return error_response(&error);
        }
        let result = parse(&body)
            .map_err(LoginFailure::BadRequest)
            .and_then(|request| sim.two_factor(&request));
        match result {
            Ok(data) => login_success(data),
            Err(failure) => login_failure(&failure),
        }
    })
    .await
}

async fn resend_otp(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        if let Err(error) = check_client(&req, sim) {
            return error_response(&error);
        }
        let result = parse(&body)
            .map_err(LoginFailure::BadRequest)
            .and_then(|request| sim.resend_otp(&request));
        match result {
            Ok(username) => ok_json(&ResendOtpResponse {
                status: LoginStatus {
                    kind: "success",
                    code: 200,
                    message: "Success".to_owned(),
                    error: false,
                    error_code: None,
                    dev_msg: None,
                    user_msg: None,
                },
                data: ResendOtpData {
                    user: ResendOtpUser { username },
                },
            }),
            Err(failure) => login_failure(&failure),
        }
    })
    .await
}

async fn refresh(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        let result = check_client(&req, sim)
            .and_then(|()| parse(&body).map_err(CaError::BadRequest))
            .and_then(|request| sim.refresh(&request));
        match result {
            Ok(answer) => ok_json(&answer),
            Err(error) => error_response(&error),
        }
    })
    .await
}

async fn certificates_by_user(
    req: HttpRequest,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        let result = check_caller(&req, sim)
            .and_then(|()| query_param(&req, "userId"))
            .map(|user| sim.certificates_of(user.as_deref()));
        match result {
            Ok(certificates) => ok_json(&certificates),
            Err(error) => error_response(&error),
        }
    })
    .await
}

async fn certificate_by_id(
    req: HttpRequest,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        let result = check_caller(&req, sim)
            .and_then(|()| query_param(&req, "certAlias"))
            .and_then(|alias| {
                alias
                    .filter(|alias| !alias.trim().is_empty())
                    .ok_or_else(|| CaError::BadRequest("certAlias is required".into()))
            })
            .and_then(|alias| sim.certificate_by_alias(&alias));
        match result {
            Ok(certificate) => ok_json(&certificate),
            Err(error) => error_response(&error),
        }
    })
    .await
}

async fn sign_hash(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        let result = check_caller(&req, sim)
            .and_then(|()| parse(&body).map_err(CaError::BadRequest))
            .and_then(|request| sim.sign_hash(request));
        match result {
            Ok(answer) => ok_json(&answer),
            Err(error) => error_response(&error),
        }
    })
    .await
}

async fn status(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        let result = check_caller(&req, sim).and_then(|()| sim.status(&path));
        match result {
            Ok(answer) => ok_json(&answer),
            Err(error) => error_response(&error),
        }
    })
    .await
}

async fn documents_hash(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        let error = check_client(&req, sim)
            .err()
            .unwrap_or(CaError::NotSimulated("the document hash helper"));
        error_response(&error)
    })
    .await
}

async fn documents_attachment(
    req: HttpRequest,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    frame(&req, &body, &sim, |sim| {
        let error = check_caller(&req, sim)
            .err()
            .unwrap_or(CaError::NotSimulated("the signature attachment helper"));
        error_response(&error)
    })
    .await
}

/// Any other path or method: 404 in MISA's error shape.
pub(crate) async fn not_found() -> HttpResponse {
    error_response(&CaError::NotFound)
}
