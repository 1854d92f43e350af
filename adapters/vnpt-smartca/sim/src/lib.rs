//! A stateful simulator of VNPT SmartCA's sp769 remote-signing API, with a real test PKI.
//!
//! The gateway's tests and its sandbox mode run it in-process: [`spawn`] generates a root CA, an
//! issuing CA and one certificate per configured citizen, and serves VNPT's three sp769 v1
//! endpoints under `/sca/sp769` on a local port. Signatures are real (RSA PKCS#1 v1.5, RSA-PSS or
//! ECDSA P-256 over the submitted digest), so the gateway's verification is exercised for real.
//! Each citizen approves, rejects or ignores requests as configured ([`Behaviour`]); tests
//! steer the rest through [`SimControl`] (or the `/_sim` HTTP API).
//!
//! The wire format is declared here independently of `kyso-adapter-vnpt`, from VNPT's
//! documentation, so that a translation bug in the adapter shows up in tests.
//!
//! # Wire protocol (all `POST`, JSON, under `/sca/sp769`)
//!
//! * `/v1/credentials/get_certificate` `{sp_id, sp_password, user_id, serial_number?,
//!   transaction_id}` → `data.user_certificates[]` (empty for an unknown user).
//! * `/v1/signatures/sign` `{sp_id, sp_password, user_id, transaction_id, serial_number?,
//!   transaction_desc?, time_stamp?, sign_files[{data_to_be_signed, doc_id, file_type,
//!   sign_type}]}` → `message: "sig_wait_for_user_confirm"`, `data {transaction_id, tran_code}`.
//!   `data_to_be_signed` is the hex digest; its length (32, 48 or 64 bytes) selects SHA-256/384/512.
//!   Real VNPT only does SHA-256; the longer digests are a simulator extension.
//! * `/v1/signatures/sign/{tranId}/status` `{}` (no credentials, as in VNPT's samples) →
//!   `message` `WAITING_FOR_USER_CONFIRM` / `SUCCESS` (with `data.signatures[]`) /
//!   `SIGNER_REJECTED` / `EXPIRED`. VNPT documents only `SUCCESS`; the other three words are the
//!   simulator's choice.
//!
//! Errors use VNPT's envelope `{"status_code", "message", "data": null}` with the HTTP status
//! equal to `status_code`: 400 `BAD_REQUEST: <detail>` (malformed body, unknown user on sign, bad
//! hex, wrong digest length, duplicate `transaction_id`, serial not the user's), 401
//! `SP_CREDENTIAL_INVALID: <detail>`, 500 `SERVAR_INTERNAL_ERROR` (sic). An unknown `tranId` on the
//! status endpoint answers **404 `TRANSACTION_NOT_FOUND`**: VNPT does not document this case; it
//! is our choice.
//!
//! # Layout
//!
//! * `config`: [`SimConfig`], [`CitizenSpec`], [`SignatureScheme`], [`Behaviour`].
//! * `pki`: the test PKI (rcgen) and the citizens' signing keys (`rsa`, `p256`).
//! * `wire`: VNPT's request and response bodies.
//! * `sim`: state and logic of the three operations; [`SimControl`].
//! * `ca_routes`, `control_routes`: the HTTP faces of `sim` (`/sca/sp769`, `/_sim`).
//! * `server`: [`spawn`], [`spawn_on`], [`SimHandle`].

mod ca_routes;
mod config;
mod control_routes;
mod pki;
mod server;
mod sim;
mod wire;

pub use config::{
    Behaviour, CitizenSpec, DEFAULT_TRANSACTION_TTL, KeyKind, SignatureScheme, SimConfig,
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
    /// The configuration is unusable (for example a duplicate `user_id`).
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// rcgen failed to generate a key or certificate.
    #[error("generating the test PKI failed")]
    Pki(#[from] rcgen::Error),
    /// A generated private key could not be loaded into the RustCrypto types.
    #[error("loading a generated private key failed")]
    KeyDecode(#[from] rsa::pkcs8::Error),
    /// A generated certificate could not be read back.
    #[error("reading a generated certificate failed: {0}")]
    Certificate(String),
    /// RSA signing failed.
    #[error("RSA signing failed")]
    Rsa(#[from] rsa::Error),
    /// ECDSA signing failed.
    #[error("ECDSA signing failed")]
    Ecdsa(#[from] p256::ecdsa::Error),
    /// A citizen's key cannot produce this scheme (cannot happen: the key kind follows from the
    /// scheme).
    #[error("the key does not support signature scheme {0:?}")]
    SchemeMismatch(SignatureScheme),
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
