//! A stateful simulator of a QĐ 769 CA and of the NEAC eSign gateway, with a real test PKI.
//!
//! The gateway's tests and sandbox run it in-process: [`spawn`] generates a root CA, one issuing
//! CA per simulated CA and one RSA-2048 certificate per citizen (subject `UID=CCCD:<user_id>`),
//! and serves the 769 endpoints on a local port. Signatures are real RSA PKCS#1 v1.5 over the
//! submitted digest, so the gateway's verification runs for real. Each citizen approves, rejects
//! or ignores requests as configured ([`Behaviour`]); tests steer the rest through
//! [`SimControl`] or the `/_sim` HTTP API.
//!
//! It plays one of two roles ([`SimMode`]):
//!
//! - **A direct 769 CA** (BKAV-CA, CA2, ...): one CA; `ca_name` in a body is ignored.
//! - **The NEAC gateway**: several CAs behind `/sign_v2/...`, each with its own citizens and
//!   issuing CA; every body must carry the `ca_name` of one of them. NEAC accepts `sp_password`
//!   or, if configured, a `token` instead.
//!
//! and renders the protocol as configured, strictly, so that an adapter sending another
//! rendering fails: digests in hex or base64 (per CA, [`HashEncoding`]), `file_type`/`sign_type`
//! flat or in `file_options` ([`FileOptionsLayout`]), `chain_data` as an array or VNPT's object
//! ([`ChainLayout`]), `sign` answering at once or only when the citizen has decided
//! ([`SignMode`]), and the three paths ([`SimPaths`]).
//!
//! The wire format is declared here independently of `kyso-adapter-qd769`, so that a
//! translation bug in the adapter shows up in tests.
//!
//! # Wire protocol (all `POST`, JSON; default paths of a direct CA, NEAC's under `/sign_v2`)
//!
//! * `/get_certificate` `{sp_id, sp_password | token, ca_name?, user_id, serial_number?,
//!   transaction_id?}` → `data.user_certificates[] {cert_id, cert_data, chain_data,
//!   serial_number, cert_status, cert_subject, cert_valid_from, cert_valid_to}`, empty for an
//!   unknown user.
//! * `/sign` `{sp_id, sp_password | token, ca_name?, user_id, transaction_id, serial_number?,
//!   transaction_desc?, time_stamp?, sign_files[{data_to_be_signed, doc_id, file_type,
//!   sign_type} or {data_to_be_signed, doc_id, file_options {file_type, sign_type}}]}`. Only
//!   `sign_type: "hash"`; the digest's length (32, 48, 64 bytes) selects SHA-256/384/512.
//!   Asynchronous: `message: "sig_wait_for_user_confirm"`, `data {transaction_id, tran_code,
//!   signed_files: null}`. Synchronous: the answer waits for the citizen, then is the status
//!   answer below.
//! * `/sign/{transaction_id}/status` `{sp_id, sp_password | token, ca_name?, transaction_id?}`
//!   (the simulator's choice: neither 769 nor NEAC publishes a status call) → `message`
//!   `WAITING_FOR_USER_CONFIRM` / `SUCCESS` (with `data.signed_files[] {doc_id,
//!   signature_value, timestamp_signature: null}`) / `SIGNER_REJECTED` / `EXPIRED`, `data
//!   {transaction_id, signed_files}`. Behind NEAC, another CA's transaction is not found.
//!
//! Errors use the envelope `{"status_code", "message", "data": null}` with the HTTP status equal
//! to `status_code`: 400 `BAD_REQUEST: <detail>` (malformed body, wrong rendering, missing or
//! unknown `ca_name` at NEAC, unknown user on sign, bad digest, duplicate `transaction_id`), 401
//! `SP_CREDENTIAL_INVALID`, 403 `CREDENTIAL_STATUS_INVALID` (suspended certificate), 404
//! `TRANSACTION_NOT_FOUND`, 500 `INTERNAL_ERROR`.
//!
//! # Layout
//!
//! * `config`: [`SimConfig`] and its parts, the sandbox configurations.
//! * `pki`: the test PKI (rcgen) and the citizens' RSA keys (`rsa`).
//! * `wire`: the request and response bodies.
//! * `sim`: state and logic of the three operations; [`SimControl`].
//! * `ca_routes`, `control_routes`: the HTTP faces of `sim` (CA paths, `/_sim`).
//! * `server`: [`spawn`], [`spawn_on`], [`SimHandle`].

mod ca_routes;
mod config;
mod control_routes;
mod pki;
mod server;
mod sim;
mod wire;

pub use config::{
    Behaviour, CaSpec, CertificateStatus, ChainLayout, CitizenSpec, DEFAULT_TRANSACTION_TTL,
    FileOptionsLayout, HashEncoding, SANDBOX_BKAV_SP_ID, SANDBOX_BKAV_SP_PASSWORD,
    SANDBOX_NEAC_SP_ID, SANDBOX_NEAC_SP_PASSWORD, SANDBOX_NEAC_TOKEN, SignMode, SimConfig, SimMode,
    SimPaths,
};
pub use server::{SimHandle, spawn, spawn_on};
pub use sim::{
    CitizenInfo, Fault, MAX_RECORDED_REQUESTS, RecordedRequest, SimControl, SimTransaction,
    TransactionState,
};

/// Everything that can go wrong starting or controlling a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is unusable (duplicate `user_id` at a CA, bad path, ...).
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// rcgen failed to generate a key or certificate.
    #[error("generating the test PKI failed")]
    Pki(#[from] rcgen::Error),
    /// A generated private key could not be loaded into the `rsa` crate.
    #[error("loading a generated private key failed")]
    KeyDecode(#[from] rsa::pkcs8::Error),
    /// A generated certificate could not be read back.
    #[error("reading a generated certificate failed: {0}")]
    Certificate(String),
    /// RSA signing failed.
    #[error("RSA signing failed")]
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
    /// No CA knows this citizen.
    #[error("unknown citizen {0}")]
    UnknownCitizen(String),
    /// The transaction was already decided.
    #[error("transaction {transaction_id} is {state:?}, not waiting")]
    NotWaiting {
        /// The transaction.
        transaction_id: String,
        /// Its current state.
        state: TransactionState,
    },
}
