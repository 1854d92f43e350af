//! The `/_sim` HTTP control API, for demos and for tests in other processes. Every handler
//! calls the [`SimControl`] method of the same purpose; there is no logic here beyond JSON.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `POST /_sim/transactions/{billCode}/approve` (`reject`, `expire`) | - | decide a waiting transaction |
//! | `POST /_sim/citizens/{user_id}/behaviour` | `{"kind":"approve_after","millis":N}` (`reject_after`, `expire_after`), `{"kind":"manual"}` | steer a subscriber |
//! | `POST /_sim/faults` | `{"kind":"status","status":503}`, `{"kind":"garbage"}`, `{"kind":"hang","millis":N}`, `{"kind":"corrupt_signature"}`, `{"kind":"foreign_key"}` | arm a fault |
//! | `POST /_sim/delay` | `{"millis":N}` | latency on every CA answer |
//! | `GET /_sim/transactions` | - | transactions, oldest first (with the OTPs "sent") |
//! | `GET /_sim/citizens` | - | the subscribers |
//! | `GET /_sim/requests` | - | recorded CA calls, secrets blanked |
//! | `GET /_sim/root.pem` | - | the root CA certificate |
//! | `GET /_sim/issuing-ca.pem` | - | the issuing CA certificate |
//! | `GET /_sim/relying-party-key.pem` | - | the RP private key the simulator issued (404 if it was configured) |
//!
//! Errors answer `{"error": "..."}` with 400 (bad body), 404 (unknown transaction or
//! subscriber) or 409 (transaction no longer waiting). This API is unauthenticated and hands
//! out the sandbox RP key: bind the simulator to loopback.

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
            .route("/transactions/{bill}/{action}", web::post().to(decide))
            .route("/transactions", web::get().to(transactions))
            .route("/citizens/{user_id}/behaviour", web::post().to(behaviour))
            .route("/citizens", web::get().to(citizens))
            .route("/faults", web::post().to(fault))
            .route("/delay", web::post().to(delay))
            .route("/requests", web::get().to(requests))
            .route("/root.pem", web::get().to(root_pem))
            .route("/issuing-ca.pem", web::get().to(issuing_ca_pem))
            .route("/relying-party-key.pem", web::get().to(rp_key_pem)),
    );
}

fn control(sim: web::Data<Sim>) -> SimControl {
    SimControl::new(sim.into_inner())
}

async fn decide(path: web::Path<(String, String)>, sim: web::Data<Sim>) -> HttpResponse {
    let (bill, action) = path.into_inner();
    let control = control(sim);
    let result = match action.as_str() {
        "approve" => control.approve(&bill),
        "reject" => control.reject(&bill),
        "expire" => control.expire(&bill),
        other => {
            return HttpResponse::NotFound()
                .json(json!({ "error": format!("unknown action {other:?}") }));
        }
    };
    match result {
        Ok(()) => HttpResponse::Ok().json(json!({ "bill_code": bill, "action": action })),
        Err(error) => error_response(&error),
    }
}

async fn transactions(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).transactions())
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
        Err(error) => HttpResponse::NotFound().json(json!({ "error": error.to_string() })),
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

async fn delay(body: web::Json<DelayRequest>, sim: web::Data<Sim>) -> HttpResponse {
    control(sim).set_delay(Duration::from_millis(body.millis));
    HttpResponse::NoContent().finish()
}

async fn requests(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).requests())
}

fn pem_response(pem: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(pem)
}

async fn root_pem(sim: web::Data<Sim>) -> HttpResponse {
    pem_response(control(sim).root_certificate_pem())
}

async fn issuing_ca_pem(sim: web::Data<Sim>) -> HttpResponse {
    pem_response(control(sim).issuing_ca_pem())
}

async fn rp_key_pem(sim: web::Data<Sim>) -> HttpResponse {
    match control(sim).relying_party_key_pem() {
        Some(pem) => pem_response(pem),
        None => HttpResponse::NotFound()
            .json(json!({ "error": "the relying party key was configured, not issued here" })),
    }
}

fn error_response(error: &SimError) -> HttpResponse {
    let body = json!({ "error": error.to_string() });
    match error {
        SimError::UnknownTransaction(_) => HttpResponse::NotFound().json(body),
        SimError::NotWaiting { .. } => HttpResponse::Conflict().json(body),
        _ => HttpResponse::InternalServerError().json(body),
    }
}
