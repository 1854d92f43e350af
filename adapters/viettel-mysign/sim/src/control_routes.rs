//! The `/_sim` HTTP control API, for demos and for tests in other processes. Every handler calls
//! the [`SimControl`] method of the same name; there is no logic here beyond JSON translation.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `POST /_sim/transactions/{id}/approve` (`reject`, `expire`) | - | decide a waiting transaction |
//! | `POST /_sim/citizens/{user_id}/behaviour` | `{"kind":"approve_after","after_millis":N}` (`reject_after`, `expire_after`), `{"kind":"manual"}` | how the subscriber answers from now on |
//! | `POST /_sim/faults` | `{"kind":"status","status":503}`, `{"kind":"garbage"}`, `{"kind":"hang","millis":N}`, `{"kind":"corrupt_signature"}`, `{"kind":"foreign_key"}` | arm a fault |
//! | `POST /_sim/tokens/expire` | `{"which":"current"}` or `{"which":"all"}` | the CA refuses the last (or every) token |
//! | `POST /_sim/delay` | `{"millis":N}` | latency on every CA answer |
//! | `GET /_sim/transactions` | - | transactions, oldest first |
//! | `GET /_sim/citizens` | - | the known subscribers |
//! | `GET /_sim/tokens` | - | the issued tokens (without their values) |
//! | `GET /_sim/requests` | - | recorded CA-endpoint calls (secrets redacted) |
//! | `GET /_sim/root.pem` | - | the root CA certificate |
//!
//! Errors answer `{"error": "..."}` with 400 (bad body), 404 (unknown transaction or citizen) or
//! 409 (the transaction is no longer waiting). This API is unauthenticated: bind the simulator to
//! loopback.

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

/// A behaviour as the `/_sim/citizens/{user_id}/behaviour` body describes it.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum BehaviourRequest {
    ApproveAfter { after_millis: u64 },
    RejectAfter { after_millis: u64 },
    ExpireAfter { after_millis: u64 },
    Manual,
}

impl From<BehaviourRequest> for Behaviour {
    fn from(request: BehaviourRequest) -> Self {
        match request {
            BehaviourRequest::ApproveAfter { after_millis } => {
                Self::ApproveAfter(Duration::from_millis(after_millis))
            }
            BehaviourRequest::RejectAfter { after_millis } => {
                Self::RejectAfter(Duration::from_millis(after_millis))
            }
            BehaviourRequest::ExpireAfter { after_millis } => {
                Self::ExpireAfter(Duration::from_millis(after_millis))
            }
            BehaviourRequest::Manual => Self::Manual,
        }
    }
}

/// Which tokens `/_sim/tokens/expire` expires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireTokensRequest {
    which: WhichTokens,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WhichTokens {
    Current,
    All,
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
            .route("/tokens/expire", web::post().to(expire_tokens))
            .route("/tokens", web::get().to(tokens))
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

async fn transactions(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).transactions())
}

async fn set_behaviour(
    path: web::Path<String>,
    body: web::Json<BehaviourRequest>,
    sim: web::Data<Sim>,
) -> HttpResponse {
    let user_id = path.into_inner();
    match control(sim).set_behaviour(&user_id, body.into_inner().into()) {
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
            if !(400..=599).contains(&status) {
                return HttpResponse::BadRequest()
                    .json(json!({ "error": "status must be an HTTP error status (400-599)" }));
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

async fn expire_tokens(body: web::Json<ExpireTokensRequest>, sim: web::Data<Sim>) -> HttpResponse {
    let control = control(sim);
    match body.into_inner().which {
        WhichTokens::Current => HttpResponse::Ok()
            .json(json!({ "expired": usize::from(control.expire_current_token()) })),
        WhichTokens::All => {
            HttpResponse::Ok().json(json!({ "expired": control.expire_all_tokens() }))
        }
    }
}

async fn tokens(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(control(sim).issued_tokens())
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
        SimError::UnknownTransaction(_) => HttpResponse::NotFound().json(body),
        SimError::NotWaiting { .. } => HttpResponse::Conflict().json(body),
        _ => HttpResponse::InternalServerError().json(body),
    }
}
