//! The `/_sim` HTTP control API, for demos and for tests in other processes. Every handler calls
//! the [`SimControl`] method of the same name; there is no logic here beyond JSON translation.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `POST /_sim/transactions/{id}/approve` (`reject`, `expire`) | - | decide a waiting transaction |
//! | `POST /_sim/citizens/{user_id}/behaviour` | `{"kind":"approve_after","after_millis":N}` (`reject_after`, `expire_after`), `{"kind":"manual"}` | how the citizen answers from now on |
//! | `POST /_sim/faults` | `{"kind":"status","status":503}`, `{"kind":"garbage"}`, `{"kind":"hang","millis":N}`, `{"kind":"corrupt_signature"}`, `{"kind":"foreign_key"}` | arm a fault |
//! | `POST /_sim/delay` | `{"millis":N}` | latency on every CA answer |
//! | `GET /_sim/transactions` | - | transactions, oldest first |
//! | `GET /_sim/citizens` | - | the citizens' certificates, CA by CA |
//! | `GET /_sim/requests` | - | recorded CA-endpoint calls (credentials redacted) |
//! | `GET /_sim/root.pem` | - | the root CA certificate |
//!
//! Errors answer `{"error": "..."}` with 400 (bad body), 404 (unknown transaction or citizen) or
//! 409 (the transaction is no longer waiting). This API is unauthenticated: bind the simulator
//! to loopback.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::SimError;
use crate::config::Behaviour;
use crate::sim::{Fault, Sim, SimControl};

/// A fault as the `/_sim/faults` body describes it.
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
            .route(
                "/transactions/{id}/{action}",
                web::post().to(decide_transaction),
            )
            .route("/transactions", web::get().to(transactions))
            .route(
                "/citizens/{user_id}/behaviour",
                web::post().to(set_behaviour),
            )
            .route("/citizens", web::get().to(citizens))
            .route("/faults", web::post().to(fault))
            .route("/delay", web::post().to(delay))
            .route("/requests", web::get().to(requests))
            .route("/root.pem", web::get().to(root_pem)),
    );
}

fn control(sim: web::Data<Sim>) -> SimControl {
    SimControl::new(sim.into_inner())
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

async fn set_behaviour(
    path: web::Path<String>,
    body: web::Json<Behaviour>,
    sim: web::Data<Sim>,
) -> HttpResponse {
    let user_id = path.into_inner();
    match control(sim).set_behaviour(&user_id, body.into_inner()) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => error_response(&error),
    }
}

async fn transactions(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).transactions())
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

async fn citizens(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).citizens())
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
        SimError::UnknownTransaction(_) | SimError::UnknownCitizen(_) => {
            HttpResponse::NotFound().json(body)
        }
        SimError::NotWaiting { .. } => HttpResponse::Conflict().json(body),
        _ => HttpResponse::InternalServerError().json(body),
    }
}
