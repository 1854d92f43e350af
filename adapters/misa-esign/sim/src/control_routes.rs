//! The `/_sim` HTTP control API, for demos and for tests in other processes. Every handler calls
//! the [`SimControl`] method of the same name; nothing here but JSON translation.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `POST /_sim/transactions/{id}/approve` (`reject`, `expire`) | - | decide a pending transaction |
//! | `GET /_sim/transactions` | - | transactions, oldest first |
//! | `POST /_sim/citizens/{cccd}/behaviour` | `{"kind":"approve_after","millis":N}` (`reject_after`, `expire_after`), `{"kind":"manual"}` | change what a citizen does |
//! | `POST /_sim/faults` | `{"kind":"status","status":503}`, `{"kind":"garbage"}`, `{"kind":"hang","millis":N}`, `{"kind":"corrupt_signature"}`, `{"kind":"foreign_key"}` | arm a fault |
//! | `POST /_sim/tokens/expire` | - | expire every access token issued so far; answers `{"expired": n}` |
//! | `POST /_sim/delay` | `{"millis":N}` | latency on every CA answer |
//! | `GET /_sim/citizens` | - | the citizens, with MISA user ids and key aliases |
//! | `GET /_sim/requests` | - | recorded CA calls (secrets masked) |
//! | `GET /_sim/root.pem` | - | the root certificate |
//!
//! Errors answer `{"error": "..."}` with 400 (bad body), 404 (unknown transaction or citizen)
//! or 409 (the transaction is no longer pending). The API is unauthenticated: keep the
//! simulator on loopback.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::SimError;
use crate::config::Behaviour;
use crate::sim::{Fault, Sim, SimControl};

/// A fault as `/_sim/faults` describes it.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum FaultRequest {
    Status { status: u16 },
    Garbage,
    Hang { millis: u64 },
    CorruptSignature,
    ForeignKey,
}

/// A behaviour as `/_sim/citizens/{cccd}/behaviour` describes it.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum BehaviourRequest {
    ApproveAfter { millis: u64 },
    RejectAfter { millis: u64 },
    ExpireAfter { millis: u64 },
    Manual,
}

impl From<BehaviourRequest> for Behaviour {
    fn from(request: BehaviourRequest) -> Self {
        match request {
            BehaviourRequest::ApproveAfter { millis } => {
                Self::ApproveAfter(Duration::from_millis(millis))
            }
            BehaviourRequest::RejectAfter { millis } => {
                Self::RejectAfter(Duration::from_millis(millis))
            }
            BehaviourRequest::ExpireAfter { millis } => {
                Self::ExpireAfter(Duration::from_millis(millis))
            }
            BehaviourRequest::Manual => Self::Manual,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayRequest {
    millis: u64,
}

/// Registers the control endpoints.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let json_config = web::JsonConfig::default().error_handler(|error, _| {
        let response = HttpResponse::BadRequest().json(json!({ "error": error.to_string() }));
        actix_web::error::InternalError::from_response(error, response).into()
    });
    cfg.service(
        web::scope("/_sim")
            .app_data(json_config)
            .route("/transactions", web::get().to(transactions))
            .route(
                "/transactions/{id}/{action}",
                web::post().to(decide_transaction),
            )
            .route(
                "/citizens/{user_id}/behaviour",
                web::post().to(set_behaviour),
            )
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

fn error_response(error: &SimError) -> HttpResponse {
    let body = json!({ "error": error.to_string() });
    match error {
        SimError::UnknownTransaction(_) | SimError::UnknownCitizen(_) => {
            HttpResponse::NotFound().json(body)
        }
        SimError::NotPending { .. } => HttpResponse::Conflict().json(body),
        _ => HttpResponse::InternalServerError().json(body),
    }
}

async fn decide_transaction(
    path: web::Path<(String, String)>,
    sim: web::Data<Sim>,
) -> HttpResponse {
    let (id, action) = path.into_inner();
    let control = control(sim);
    let result = match action.as_str() {
        "approve" => control.approve(&id),
        "reject" => control.reject(&id),
        "expire" => control.expire(&id),
        other => {
            return HttpResponse::NotFound()
                .json(json!({ "error": format!("unknown action {other:?}") }));
        }
    };
    match result {
        Ok(()) => HttpResponse::Ok().json(json!({ "transaction_id": id, "action": action })),
        Err(error) => error_response(&error),
    }
}

async fn transactions(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).transactions())
}

async fn set_behaviour(
    path: web::Path<String>,
    body: web::Json<BehaviourRequest>,
    sim: web::Data<Sim>,
) -> HttpResponse {
    let behaviour = Behaviour::from(body.into_inner());
    match control(sim).set_behaviour(&path, behaviour) {
        Ok(()) => {
            HttpResponse::Ok().json(json!({ "user_id": path.as_str(), "behaviour": behaviour }))
        }
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
            control.fail_next(Fault::Hang(Duration::from_millis(millis)))
        }
        FaultRequest::CorruptSignature => control.corrupt_next_signature(),
        FaultRequest::ForeignKey => control.sign_next_with_foreign_key(),
    }
    HttpResponse::NoContent().finish()
}

async fn expire_tokens(sim: web::Data<Sim>) -> HttpResponse {
    let expired = control(sim).expire_access_tokens();
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
