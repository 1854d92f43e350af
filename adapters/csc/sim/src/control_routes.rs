//! The `/_sim` HTTP control API, for demos and for tests in other processes. Each handler calls
//! the [`SimControl`] method of the same name; nothing here but JSON translation.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `POST /_sim/authorizations/{handle}/approve` (`reject`, `expire`) | - | decide a waiting consent request |
//! | `GET /_sim/authorizations` | - | consent requests, oldest first |
//! | `POST /_sim/citizens/{cccd or userID}/behaviour` | `{"kind":"approve_after","millis":N}` (`reject_after`, `expire_after`), `{"kind":"manual"}` | change how the citizen answers |
//! | `POST /_sim/faults` | `{"kind":"status","status":503}`, `{"kind":"garbage"}`, `{"kind":"hang","millis":N}`, `{"kind":"corrupt_signature"}`, `{"kind":"foreign_key"}` | arm a fault |
//! | `POST /_sim/tokens/expire` | `{"all": false}` (optional) | expire the latest (or every) access token |
//! | `POST /_sim/delay` | `{"millis":N}` | latency on every CSC answer |
//! | `GET /_sim/citizens` | - | the citizens |
//! | `GET /_sim/requests` | - | recorded CSC calls |
//! | `GET /_sim/root.pem` | - | the root CA certificate |
//!
//! Errors answer `{"error": "..."}` with 400 (bad body), 404 (unknown handle or citizen) or 409
//! (the request is no longer waiting). This API is unauthenticated: keep the simulator on
//! loopback.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::SimError;
use crate::config::Behaviour;
use crate::sim::{Fault, Sim, SimControl};

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum FaultRequest {
    Status { status: u16 },
    Garbage,
    Hang { millis: u64 },
    CorruptSignature,
    ForeignKey,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum BehaviourRequest {
    ApproveAfter { millis: u64 },
    RejectAfter { millis: u64 },
    ExpireAfter { millis: u64 },
    Manual,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireTokensRequest {
    #[serde(default)]
    all: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayRequest {
    millis: u64,
}

/// Registers the control endpoints.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let json_config = web::JsonConfig::default().error_handler(|err, _req| {
        let response = HttpResponse::BadRequest().json(json!({ "error": err.to_string() }));
        actix_web::error::InternalError::from_response(err, response).into()
    });
    cfg.service(
        web::scope("/_sim")
            .app_data(json_config)
            .route("/authorizations/{handle}/{action}", web::post().to(decide))
            .route("/authorizations", web::get().to(authorizations))
            .route("/citizens/{id}/behaviour", web::post().to(behaviour))
            .route("/citizens", web::get().to(citizens))
            .route("/faults", web::post().to(fault))
            .route("/tokens/expire", web::post().to(expire_tokens))
            .route("/delay", web::post().to(delay))
            .route("/requests", web::get().to(requests))
            .route("/root.pem", web::get().to(root_pem)),
    );
}

fn control(sim: web::Data<Sim>) -> SimControl {
    SimControl::new(sim.into_inner())
}

async fn decide(path: web::Path<(String, String)>, sim: web::Data<Sim>) -> HttpResponse {
    let (handle, action) = path.into_inner();
    let control = control(sim);
    let result = match action.as_str() {
        "approve" => control.approve(&handle),
        "reject" => control.reject(&handle),
        "expire" => control.expire(&handle),
        other => {
            return HttpResponse::NotFound()
                .json(json!({ "error": format!("unknown action {other:?}") }));
        }
    };
    match result {
        Ok(()) => HttpResponse::Ok().json(json!({ "handle": handle, "action": action })),
        Err(error) => error_response(&error),
    }
}

async fn authorizations(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).authorizations())
}

async fn behaviour(
    path: web::Path<String>,
    body: web::Json<BehaviourRequest>,
    sim: web::Data<Sim>,
) -> HttpResponse {
    let behaviour = match body.into_inner() {
        BehaviourRequest::ApproveAfter { millis } => {
            Behaviour::ApproveAfter(Duration::from_millis(millis))
        }
        BehaviourRequest::RejectAfter { millis } => {
            Behaviour::RejectAfter(Duration::from_millis(millis))
        }
        BehaviourRequest::ExpireAfter { millis } => {
            Behaviour::ExpireAfter(Duration::from_millis(millis))
        }
        BehaviourRequest::Manual => Behaviour::Manual,
    };
    match control(sim).set_behaviour(&path, behaviour) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => error_response(&error),
    }
}

async fn citizens(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).citizens())
}

async fn fault(body: web::Json<FaultRequest>, sim: web::Data<Sim>) -> HttpResponse {
    let control = control(sim);
    match body.into_inner() {
        FaultRequest::Status { status } => {
            if !(100..=999).contains(&status) {
                return HttpResponse::BadRequest()
                    .json(json!({ "error": "status must be an HTTP status code" }));
            }
            control.fail_next(Fault::Status(status));
        }
        FaultRequest::Garbage => control.fail_next(Fault::Garbage),
        FaultRequest::Hang { millis } => {
            control.fail_next(Fault::Hang(Duration::from_millis(millis)));
        }
        FaultRequest::CorruptSignature => control.corrupt_next_signature(),
        FaultRequest::ForeignKey => control.sign_next_with_foreign_key(),
    }
    HttpResponse::NoContent().finish()
}

async fn expire_tokens(body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        ExpireTokensRequest::default()
    } else {
        match serde_json::from_slice::<ExpireTokensRequest>(&body) {
            Ok(request) => request,
            Err(error) => {
                return HttpResponse::BadRequest().json(json!({ "error": error.to_string() }));
            }
        }
    };
    let control = control(sim);
    let expired = if request.all {
        control.expire_all_tokens();
        true
    } else {
        control.expire_current_token()
    };
    HttpResponse::Ok().json(json!({ "expired": expired }))
}

async fn delay(body: web::Json<DelayRequest>, sim: web::Data<Sim>) -> HttpResponse {
    control(sim).set_delay(Duration::from_millis(body.millis));
    HttpResponse::NoContent().finish()
}

async fn requests(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).requests())
}

async fn root_pem(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(control(sim).root_certificate_pem())
}

fn error_response(error: &SimError) -> HttpResponse {
    let body = json!({ "error": error.to_string() });
    match error {
        SimError::UnknownAuthorization(_) | SimError::UnknownCitizen(_) => {
            HttpResponse::NotFound().json(body)
        }
        SimError::NotWaiting { .. } => HttpResponse::Conflict().json(body),
        _ => HttpResponse::InternalServerError().json(body),
    }
}
