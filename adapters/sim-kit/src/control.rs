//! The `/_sim` HTTP control API every simulator serves, for demos and for tests in other
//! processes. A simulator implements [`ControlTarget`] for its state, registers that state as
//! `web::Data<S>` and mounts [`scope::<S>()`](scope) (extended with its own routes if it has
//! more, e.g. `/tokens/expire`). The handlers only translate JSON to [`ControlTarget`] and
//! [`CallGate`] calls.
//!
//! | method and path | body | effect |
//! |---|---|---|
//! | `POST /_sim/transactions/{id}/approve` (`reject`, `expire`) | - | decide a waiting transaction ([`ControlTarget::decide`]) |
//! | `POST /_sim/citizens/{id}/behaviour` | a [`Behaviour`]: `{"kind":"approve_after","after_millis":N}` (`reject_after`, `expire_after`; `millis` accepted too), `{"kind":"manual"}` | how the citizen answers from now on |
//! | `POST /_sim/faults` | `{"kind":"status","status":503}`, `{"kind":"garbage"}`, `{"kind":"hang","millis":N}`, `{"kind":"corrupt_signature"}`, `{"kind":"foreign_key"}` | arm a fault |
//! | `POST /_sim/delay` | `{"millis":N}` | latency on every CA answer |
//! | `GET /_sim/transactions` | - | transactions, oldest first |
//! | `GET /_sim/citizens` | - | the known citizens |
//! | `GET /_sim/requests` | - | recorded CA-endpoint calls (secrets redacted) |
//! | `GET /_sim/root.pem` | - | the root CA certificate |
//! | `POST /_sim/citizens/{id}/revoke` | optional [`Revoke`]: `{"reason": "keyCompromise", "revoked_at": "<RFC 3339>", "serial_number": "<hex>"}` | revoke the citizen's certificates (default: all, now, `unspecified`); answers the [`RevokedCertificate`]s |
//! | `GET /_sim/pki/crl/{ca}.crl` | - | the CA's current CRL, DER (`application/pkix-crl`); `{ca}` is `root`, `ca-0`, ... |
//! | `POST /_sim/pki/ocsp` | a DER OCSPRequest (`application/ocsp-request`) | the OCSP response (`application/ocsp-response`) |
//! | `GET /_sim/pki/ca/{ca}.pem` | - | a CA's certificate |
//! | `POST /_sim/pki/switches` | [`RevocationSwitches`], each member optional | set the OCSP signer, stale answers, outages (`GET` reads them) |
//!
//! (`transactions` is [`ControlTarget::TRANSACTIONS`], which a simulator may rename, e.g.
//! `authorizations`.) Errors answer `{"error": "..."}` with 400 (bad body), 404 (unknown
//! transaction, citizen or action) or 409 (the transaction is no longer waiting, the certificate
//! is already revoked); see [`ControlError`]. The CRL and OCSP routes are the ones the PKI's
//! certificates point at (see [`crate::revocation`]); an outage switched on answers them 503, or
//! late. This API is unauthenticated: bind simulators to loopback.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, Scope, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::behaviour::{Behaviour, Decision};
use crate::faults::{CallGate, Fault};
use crate::revocation::{
    Outage, Revocation, RevocationError, RevocationSwitches, Revoke, RevokedCertificate,
};

/// What the `/_sim` routes need from a simulator.
pub trait ControlTarget: Send + Sync + 'static {
    /// The record type of the simulator's request log.
    type Record: Serialize + Clone + Send + 'static;

    /// The path segment of the transaction collection (`/_sim/<TRANSACTIONS>`).
    const TRANSACTIONS: &'static str = "transactions";

    /// The simulator's fault switches, delay and request log.
    fn gate(&self) -> &CallGate<Self::Record>;

    /// The root CA certificate in PEM.
    fn root_pem(&self) -> String;

    /// The citizens, as `GET /_sim/citizens` lists them.
    fn citizens(&self) -> impl Serialize;

    /// The transactions, oldest first, as `GET /_sim/transactions` lists them (resolved against
    /// the clock first).
    fn transactions(&self) -> impl Serialize;

    /// Decides a waiting transaction.
    ///
    /// # Errors
    /// [`ControlError::NotFound`] for an unknown transaction, [`ControlError::Conflict`] if it is
    /// no longer waiting, [`ControlError::Internal`] if signing fails.
    fn decide(&self, transaction: &str, decision: Decision) -> Result<(), ControlError>;

    /// From now on the citizen `citizen` answers as `behaviour`.
    ///
    /// # Errors
    /// [`ControlError::NotFound`] for an unknown citizen.
    fn set_behaviour(&self, citizen: &str, behaviour: Behaviour) -> Result<(), ControlError>;

    /// The revocation side of the simulator's test PKI.
    fn revocation(&self) -> &Revocation;

    /// The serials of the citizen's certificates, `None` for an unknown citizen. By default the
    /// certificates whose subject names the citizen as `UID=CCCD:<citizen>`
    /// ([`Revocation::citizen_serials`]); a simulator that knows citizens by other ids too
    /// overrides it.
    fn certificate_serials(&self, citizen: &str) -> Option<Vec<[u8; 16]>> {
        self.revocation().citizen_serials(citizen)
    }

    /// Revokes the citizen's certificates as `revoke` says: the one with `revoke.serial_number`,
    /// or else every one not revoked yet.
    ///
    /// # Errors
    /// [`RevocationError::UnknownCitizen`], [`RevocationError::UnknownSerial`] (no certificate of
    /// the citizen has that serial), [`RevocationError::AlreadyRevoked`] (nothing left to revoke),
    /// [`RevocationError::FutureRevocation`].
    fn revoke_citizen(
        &self,
        citizen: &str,
        revoke: &Revoke,
    ) -> Result<Vec<RevokedCertificate>, RevocationError> {
        let serials = self
            .certificate_serials(citizen)
            .ok_or_else(|| RevocationError::UnknownCitizen(citizen.to_owned()))?;
        self.revocation().revoke_among(&serials, revoke)
    }
}

/// A failed control call: the HTTP status and the `{"error": ...}` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// 400: the request is unusable.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such transaction, citizen or action.
    #[error("{0}")]
    NotFound(String),
    /// 409: the transaction is no longer waiting.
    #[error("{0}")]
    Conflict(String),
    /// 500: the simulator failed.
    #[error("{0}")]
    Internal(String),
}

impl ResponseError for ControlError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(json!({ "error": self.to_string() }))
    }
}

impl From<RevocationError> for ControlError {
    fn from(error: RevocationError) -> Self {
        let message = error.to_string();
        match error {
            RevocationError::UnknownSerial(_)
            | RevocationError::UnknownAuthority(_)
            | RevocationError::UnknownCitizen(_) => Self::NotFound(message),
            RevocationError::AlreadyRevoked { .. } => Self::Conflict(message),
            RevocationError::FutureRevocation(_) => Self::BadRequest(message),
            _ => Self::Internal(message),
        }
    }
}

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

/// The `/_sim` scope with the common routes, for a simulator whose state `S` is registered as
/// `web::Data<S>`. Add the simulator's own routes with `.route(..)` before mounting it.
pub fn scope<S: ControlTarget>() -> Scope {
    let json_config = web::JsonConfig::default().error_handler(|err, _req| {
        let response = ControlError::BadRequest(err.to_string()).error_response();
        actix_web::error::InternalError::from_response(err, response).into()
    });
    web::scope("/_sim")
        .app_data(json_config)
        .route(
            &format!("/{}/{{id}}/{{action}}", S::TRANSACTIONS),
            web::post().to(decide::<S>),
        )
        .route(
            &format!("/{}", S::TRANSACTIONS),
            web::get().to(transactions::<S>),
        )
        .route("/citizens/{id}/behaviour", web::post().to(behaviour::<S>))
        .route("/citizens", web::get().to(citizens::<S>))
        .route("/faults", web::post().to(fault::<S>))
        .route("/delay", web::post().to(delay::<S>))
        .route("/requests", web::get().to(requests::<S>))
        .route("/root.pem", web::get().to(root_pem::<S>))
        .route("/citizens/{id}/revoke", web::post().to(revoke::<S>))
        .route("/pki/crl/{file}", web::get().to(crl::<S>))
        .route("/pki/ca/{file}", web::get().to(ca_pem::<S>))
        .route("/pki/ocsp", web::post().to(ocsp::<S>))
        .route("/pki/switches", web::get().to(switches::<S>))
        .route("/pki/switches", web::post().to(set_switches::<S>))
}

/// Mounts [`scope::<S>()`](scope) as is.
pub fn configure<S: ControlTarget>(cfg: &mut web::ServiceConfig) {
    cfg.service(scope::<S>());
}

async fn decide<S: ControlTarget>(
    path: web::Path<(String, String)>,
    sim: web::Data<S>,
) -> Result<HttpResponse, ControlError> {
    let (id, action) = path.into_inner();
    let decision = Decision::from_action(&action)
        .ok_or_else(|| ControlError::NotFound(format!("unknown action {action:?}")))?;
    sim.decide(&id, decision)?;
    Ok(HttpResponse::Ok().json(json!({ "transaction_id": id, "action": action })))
}

async fn transactions<S: ControlTarget>(sim: web::Data<S>) -> HttpResponse {
    HttpResponse::Ok().json(sim.transactions())
}

async fn behaviour<S: ControlTarget>(
    path: web::Path<String>,
    body: web::Json<Behaviour>,
    sim: web::Data<S>,
) -> Result<HttpResponse, ControlError> {
    sim.set_behaviour(&path, body.into_inner())?;
    Ok(HttpResponse::NoContent().finish())
}

async fn citizens<S: ControlTarget>(sim: web::Data<S>) -> HttpResponse {
    HttpResponse::Ok().json(sim.citizens())
}

async fn fault<S: ControlTarget>(
    body: web::Json<FaultRequest>,
    sim: web::Data<S>,
) -> Result<HttpResponse, ControlError> {
    let gate = sim.gate();
    match body.into_inner() {
        FaultRequest::Status { status } => {
            if !(100..=999).contains(&status) {
                return Err(ControlError::BadRequest(
                    "status must be an HTTP status code".to_owned(),
                ));
            }
            gate.fail_next(Fault::Status(status));
        }
        FaultRequest::Garbage => gate.fail_next(Fault::Garbage),
        FaultRequest::Hang { millis } => gate.fail_next(Fault::Hang(Duration::from_millis(millis))),
        FaultRequest::CorruptSignature => gate.corrupt_next_signature(),
        FaultRequest::ForeignKey => gate.sign_next_with_foreign_key(),
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn delay<S: ControlTarget>(body: web::Json<DelayRequest>, sim: web::Data<S>) -> HttpResponse {
    sim.gate().set_delay(Duration::from_millis(body.millis));
    HttpResponse::NoContent().finish()
}

async fn requests<S: ControlTarget>(sim: web::Data<S>) -> HttpResponse {
    HttpResponse::Ok().json(sim.gate().requests())
}

async fn root_pem<S: ControlTarget>(sim: web::Data<S>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(sim.root_pem())
}

async fn revoke<S: ControlTarget>(
    path: web::Path<String>,
    body: web::Bytes,
    sim: web::Data<S>,
) -> Result<HttpResponse, ControlError> {
    let revoke: Revoke = if body.iter().all(u8::is_ascii_whitespace) {
        Revoke::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ControlError::BadRequest(e.to_string()))?
    };
    let revoked = sim.revoke_citizen(&path, &revoke)?;
    Ok(HttpResponse::Ok().json(json!({ "user_id": path.into_inner(), "revoked": revoked })))
}

/// `None` if the endpoint answers (after waiting out a hang), else its 503.
async fn outage(outage: Outage) -> Option<HttpResponse> {
    match outage {
        Outage::None => None,
        Outage::Unavailable => Some(
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "60"))
                .finish(),
        ),
        Outage::Hang { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            None
        }
    }
}

async fn crl<S: ControlTarget>(
    path: web::Path<String>,
    sim: web::Data<S>,
) -> Result<HttpResponse, ControlError> {
    if let Some(down) = outage(sim.revocation().switches().crl_outage).await {
        return Ok(down);
    }
    let id = path
        .strip_suffix(".crl")
        .ok_or_else(|| ControlError::NotFound(format!("no CRL {path:?}: ask for <ca>.crl")))?;
    let der = sim.revocation().crl(id)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pkix-crl")
        .body(der))
}

async fn ca_pem<S: ControlTarget>(
    path: web::Path<String>,
    sim: web::Data<S>,
) -> Result<HttpResponse, ControlError> {
    let certificate = path
        .strip_suffix(".pem")
        .and_then(|id| sim.revocation().authority_certificate(id))
        .ok_or_else(|| ControlError::NotFound(format!("no CA certificate {path:?}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(certificate.pem.clone()))
}

async fn ocsp<S: ControlTarget>(
    body: web::Bytes,
    sim: web::Data<S>,
) -> Result<HttpResponse, ControlError> {
    if let Some(down) = outage(sim.revocation().switches().ocsp_outage).await {
        return Ok(down);
    }
    let der = sim.revocation().respond(&body)?;
    Ok(HttpResponse::Ok()
        .content_type("application/ocsp-response")
        .body(der))
}

async fn switches<S: ControlTarget>(sim: web::Data<S>) -> HttpResponse {
    HttpResponse::Ok().json(sim.revocation().switches())
}

async fn set_switches<S: ControlTarget>(
    body: web::Json<RevocationSwitches>,
    sim: web::Data<S>,
) -> HttpResponse {
    sim.revocation().set_switches(body.into_inner());
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use serde_json::Value;

    use super::*;
    use crate::server::SimServer;

    /// A toy simulator: transactions `t1` (waiting) and `t2` (approved), citizen `c1`.
    struct Toy {
        gate: CallGate,
        transactions: Mutex<BTreeMap<String, &'static str>>,
        behaviours: Mutex<BTreeMap<String, Behaviour>>,
        pki: crate::TestPki,
    }

    impl ControlTarget for Toy {
        type Record = crate::faults::RecordedRequest;
        const TRANSACTIONS: &'static str = "authorizations";

        fn gate(&self) -> &CallGate {
            &self.gate
        }

        fn root_pem(&self) -> String {
            "-----BEGIN CERTIFICATE-----\n".to_owned()
        }

        fn citizens(&self) -> impl Serialize {
            self.behaviours.lock().unwrap().clone()
        }

        fn transactions(&self) -> impl Serialize {
            self.transactions.lock().unwrap().clone()
        }

        fn decide(&self, transaction: &str, decision: Decision) -> Result<(), ControlError> {
            let mut transactions = self.transactions.lock().unwrap();
            let state = transactions
                .get_mut(transaction)
                .ok_or_else(|| ControlError::NotFound(format!("unknown {transaction}")))?;
            if *state != "waiting" {
                return Err(ControlError::Conflict(format!("{transaction} is {state}")));
            }
            *state = match decision {
                Decision::Approve => "approved",
                Decision::Reject => "rejected",
                Decision::Expire => "expired",
            };
            Ok(())
        }

        fn set_behaviour(&self, citizen: &str, behaviour: Behaviour) -> Result<(), ControlError> {
            let mut behaviours = self.behaviours.lock().unwrap();
            let slot = behaviours
                .get_mut(citizen)
                .ok_or_else(|| ControlError::NotFound(format!("no citizen {citizen}")))?;
            *slot = behaviour;
            Ok(())
        }

        fn revocation(&self) -> &Revocation {
            &self.pki.revocation
        }
    }

    #[tokio::test]
    async fn routes_drive_the_target() {
        let toy = web::Data::new(Toy {
            gate: CallGate::new(),
            transactions: Mutex::new(BTreeMap::from([
                ("t1".to_owned(), "waiting"),
                ("t2".to_owned(), "approved"),
            ])),
            behaviours: Mutex::new(BTreeMap::from([("c1".to_owned(), Behaviour::Manual)])),
            pki: crate::TestPki::builder("Toy Root").build().unwrap(),
        });
        let data = toy.clone();
        let server = SimServer::start_local("toy", move |cfg| {
            cfg.app_data(data.clone())
                .service(scope::<Toy>().route("/extra", web::get().to(|| async { "extra" })));
        })
        .unwrap();
        let http = reqwest::Client::new();
        let base = server.url("/_sim");
        let post = |path: &str, body: Option<Value>| {
            let request = http.post(format!("{base}{path}"));
            let request = match body {
                Some(body) => request.json(&body),
                None => request,
            };
            async move { request.send().await.unwrap() }
        };
        let get = |path: &str| {
            let request = http.get(format!("{base}{path}"));
            async move { request.send().await.unwrap() }
        };

        assert_eq!(post("/authorizations/t1/approve", None).await.status(), 200);
        let conflict = post("/authorizations/t1/reject", None).await;
        assert_eq!(conflict.status(), 409);
        assert_eq!(
            conflict.json::<Value>().await.unwrap(),
            json!({"error": "t1 is approved"})
        );
        assert_eq!(post("/authorizations/t9/expire", None).await.status(), 404);
        assert_eq!(post("/authorizations/t2/explode", None).await.status(), 404);
        assert_eq!(
            get("/authorizations").await.json::<Value>().await.unwrap(),
            json!({"t1": "approved", "t2": "approved"})
        );

        let behaviour = json!({"kind": "approve_after", "millis": 100});
        assert_eq!(
            post("/citizens/c1/behaviour", Some(behaviour.clone()))
                .await
                .status(),
            204
        );
        assert_eq!(
            post("/citizens/zz/behaviour", Some(behaviour))
                .await
                .status(),
            404
        );
        assert_eq!(
            post("/citizens/c1/behaviour", Some(json!({"kind": "sometime"})))
                .await
                .status(),
            400
        );
        assert_eq!(
            get("/citizens").await.json::<Value>().await.unwrap(),
            json!({"c1": {"kind": "approve_after", "after_millis": 100}})
        );

        for (body, status) in [
            (json!({"kind": "status", "status": 503}), 204),
            (json!({"kind": "status", "status": 7}), 400),
            (json!({"kind": "garbage"}), 204),
            (json!({"kind": "hang", "millis": 5}), 204),
            (json!({"kind": "corrupt_signature"}), 204),
            (json!({"kind": "foreign_key"}), 204),
            (json!({"kind": "nonsense"}), 400),
        ] {
            assert_eq!(
                post("/faults", Some(body.clone())).await.status(),
                status,
                "{body}"
            );
        }
        assert!(toy.gate.take_corrupt() && toy.gate.take_foreign());
        assert_eq!(
            toy.gate.begin_call("/x", b"{}").0,
            Some(Fault::Hang(Duration::from_millis(5)))
        );
        assert_eq!(
            post("/delay", Some(json!({"millis": 9}))).await.status(),
            204
        );
        assert_eq!(toy.gate.delay(), Duration::from_millis(9));
        assert_eq!(
            get("/requests").await.json::<Value>().await.unwrap(),
            json!([{"path": "/x", "body": {}}])
        );
        let root = get("/root.pem").await;
        assert_eq!(root.headers()["content-type"], "application/x-pem-file");
        assert_eq!(root.text().await.unwrap(), "-----BEGIN CERTIFICATE-----\n");
        assert_eq!(get("/extra").await.text().await.unwrap(), "extra");
        server.stop().await;
    }
}
