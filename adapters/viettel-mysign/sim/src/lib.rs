//! A stateful simulator of Viettel-CA MySign's remote-signing gateway API, with a real test PKI.
//!
//! The gateway's tests and its sandbox run it in-process: [`spawn`] generates a root CA, an
//! issuing CA and one RSA-2048 certificate per configured subscriber, and serves MySign's
//! gateway endpoints under `/vtss/service` on a local port. It issues and checks real access
//! tokens, keeps transactions, and signs for real (RSASSA-PKCS1-v1_5 over the submitted SHA-256
//! digest, returned raw and base64-encoded as MySign does), so the gateway's verification is
//! exercised for real. Each subscriber confirms, refuses or ignores requests as configured
//! ([`Behaviour`]); tests steer the rest through [`SimControl`] (or the `/_sim` HTTP API).
//!
//! The wire format is declared here independently of `kyso-adapter-viettel`, from the CA
//! reference (`ca-apis.md` §5), so that a translation bug in the adapter shows up in tests.
//!
//! # Wire protocol (all `POST`, under `/vtss/service`)
//!
//! * `/ras/v1/login` JSON `{client_id, client_secret, profile_id, user_id}` → `{access_token,
//!   refresh_token: "", token_type: "Bearer", expires_in: "3600"}`: a token for that one
//!   subscriber.
//! * `/ras/v1/authenticate` form `client_id, client_secret, grant_type=client_credentials` → the
//!   same shape: a client-level token.
//! * `/certificates/info` (Bearer) `{client_id, client_secret, profile_id, user_id,
//!   certificates: "chain", certInfo, authInfo}` → an array of `{credential_id, description,
//!   key {status, algo[], len, curve}, cert {status, certificates[user, issuing CA, root],
//!   issuerDN, serialNumber (decimal), subjectDN, validFrom, validTo (yyyyMMddHHmmss+0000)},
//!   authMode, multisign, scal}`.
//! * `/signHash` (Bearer) `{client_id, client_secret, credentialID, numSignatures, description,
//!   documents[{document_id, document_name}], hash[], hashAlgo, signAlgo, async}`. `hash[]` are
//!   base64 SHA-256 digests (`hashAlgo` `2.16.840.1.101.3.4.2.1`, `signAlgo`
//!   `1.2.840.113549.1.1.1`); `description` and `document_name` are base64 (under 100
//!   characters) of text in `[a-zA-Z0-9_\- ]`; `numSignatures` = `hash.len()` =
//!   `documents.len()`. `async` 1 or 2 → `{transactionId}` at once; 0 → blocks until the
//!   subscriber answers, then `{signatures[]}`; 3 (webhook) is refused because no callback
//!   endpoints can be registered with the simulator.
//! * `/requests/status` (Bearer) `{transactionId}` → `{signatures, status}`: `"4000"` waiting,
//!   `"6000"` confirmed and signing (reported once, on the first look after the confirmation),
//!   `"1"` with `signatures[]` in request order, `"4001"` timed out, `"4002"` rejected.
//!
//! Errors use Viettel's shape `{error, error_description}`. Documented codes: `58007` unknown
//! client id and `86024` wrong client secret (HTTP 401), `58008` unknown user id (400), `13004`
//! certificate revoked (400, on signHash), `50000` internal (500). Where Viettel documents
//! nothing the simulator chooses, OAuth-style: a missing, unknown, expired or revoked Bearer
//! token is **401 `invalid_token`** with `WWW-Authenticate: Bearer error="invalid_token"`; a
//! per-user token used for another subscriber is 403 `access_denied`; an unknown `transactionId`
//! is 404 `transaction_not_found`; any other malformed request is 400 `invalid_request`.
//! Which token may be used where is not documented either: here a client-level token serves any
//! of the client's subscribers, a per-user token only its own.
//!
//! # Layout
//!
//! * `config`: [`SimConfig`], [`CitizenSpec`], [`Behaviour`], [`CertificateStatus`].
//! * `pki`: the test PKI (rcgen) and the subscribers' signing keys (`rsa`).
//! * `wire`: Viettel's request and response bodies.
//! * `sim`: state and logic of the operations; [`SimControl`].
//! * `ca_routes`, `control_routes`: the HTTP faces of `sim` (`/vtss/service`, `/_sim`).
//! * `server`: [`spawn`], [`spawn_on`], [`SimHandle`].
#![warn(missing_docs)]

mod ca_routes;
mod config;
mod control_routes;
mod pki;
mod server;
mod sim;
mod wire;

pub use config::{
    Behaviour, CertificateStatus, CitizenSpec, DEFAULT_TOKEN_LIFETIME, DEFAULT_TRANSACTION_TTL,
    SimConfig,
};
pub use server::{SimHandle, spawn, spawn_on};
pub use sim::{
    CitizenInfo, Fault, IssuedToken, MAX_RECORDED_REQUESTS, RecordedRequest, SimControl,
    SimDocument, SimTransaction, TransactionState,
};

/// Everything that can go wrong starting or controlling a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is unusable (for example a duplicate `user_id`).
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// rcgen failed to build a certificate.
    #[error("generating the test PKI failed")]
    Pki(#[from] rcgen::Error),
    /// A generated key could not be encoded for rcgen.
    #[error("encoding a generated private key failed")]
    KeyEncode(#[from] rsa::pkcs8::Error),
    /// A generated certificate could not be read back.
    #[error("reading a generated certificate failed: {0}")]
    Certificate(String),
    /// RSA key generation or signing failed.
    #[error("RSA operation failed")]
    Rsa(#[from] rsa::Error),
    /// Binding or serving the socket failed.
    #[error("simulator socket error")]
    Io(#[from] std::io::Error),
    /// The start-up task failed.
    #[error("simulator start-up failed: {0}")]
    Startup(String),
    /// No transaction has this id.
    #[error("unknown transaction {0}")]
    UnknownTransaction(String),
    /// The transaction was already decided.
    #[error("transaction {transaction_id} is {state:?}, not waiting")]
    NotWaiting {
        /// The transaction.
        transaction_id: String,
        /// Its current state.
        state: TransactionState,
    },
}
