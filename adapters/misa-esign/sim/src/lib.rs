//! A stateful simulator of MISA eSign's RemoteSigning API (MISA-CA), with a real test PKI.
//!
//! The gateway's tests and sandbox mode run it in-process: [`spawn`] generates a root, an
//! issuing CA and one RSA-2048 certificate per configured citizen, and serves MISA's endpoints
//! on a local port. Logins issue real, expiring tokens; signatures are real RSA PKCS#1 v1.5 over
//! the submitted SHA-256 digest, so the gateway's verification runs for real. Citizens approve,
//! reject or ignore requests as configured ([`Behaviour`]); tests steer the rest through
//! [`SimControl`] or the `/_sim` HTTP API.
//!
//! The wire format is declared here independently of `kyso-adapter-misa`, from MISA's guide, so
//! that a translation bug in the adapter shows up in tests.
//!
//! # Wire protocol (paths relative to the host root, MISA's "APIUrl")
//!
//! Every call carries `x-clientId` and `x-clientKey`; the eSign (`/external/esrm/…`) calls also
//! carry `AuthorizationRM: Bearer <remoteSigningAccessToken>`.
//!
//! * `POST /api/auth/api/v1/auth/login-api` `{userName, password}` → `{status{type, code,
//!   message, error, errorCode, devMsg, userMsg}, data{accessToken, remoteSigningAccessToken,
//!   tokenType "Bearer", expiresIn, refreshToken, user{…}, default{…}, verifyUser{…}}}`. A
//!   service account with two-factor authentication gets HTTP 200 with `status.error` true,
//!   `status.errorCode` 122 and no `data`; it then calls
//!   `POST /api/auth/api/v1/auth/two-factor-auth` `{userName, code, otpType, remember}` (same
//!   answer) and may call `POST /webdev/api/auth/api/v1/auth/resend-otp-auth`. Login and 2FA are
//!   also served under `/webdev`, as on MISA's sandbox.
//! * `POST /webdev/api/auth/api/v1/auth/refreshtoken` `{refreshToken}` →
//!   `{remoteSigningAccessToken, accessToken, refreshToken, expiresIn}` (flat, as MISA's guide
//!   shows it). A refresh token works once.
//! * `GET /external/esrm/service/general/api/v1/Certificates/by-userId[?userId=<CCCD>]` → an
//!   array of `Cert {userId, keyAlias, appName, keyStatus, certificate, certiticateChain[signer,
//!   intermediate, root], certStatus, effectiveDate, expirationDate, emailName, isAutoSign}`
//!   (base64 DER; MISA's typo kept). **The `userId` query parameter is the simulator's answer
//!   to a gap**: MISA's guide lists the certificates of the logged-in MISAID only and shows no
//!   look-up by CCCD. Here the integrator's service account may list the certificates of any
//!   citizen who connected their MISA eSign account to this integrator, by CCCD number (a MISA
//!   user id works too); an unknown citizen has `[]`. Without the parameter: the service
//!   account's own certificates (none).
//! * `GET /external/esrm/service/general/api/v1/Certificates/by-certId?certAlias=<keyAlias>` →
//!   one `Cert`, or 404.
//! * `POST /external/esrm/service/signing/api/v1/Signing/hash` `{DataToBeDisplayed, UserId,
//!   CertAlias, Documents[{DocumentId ≤ 36 chars, FileToSign, DocumentName ≤ 100 chars}]}` →
//!   `{transactionId}` (a GUID). `FileToSign` is the base64 of a 32-byte SHA-256 digest: MISA
//!   takes the `digest` of its own hash helper there and does not say how it is encoded; base64
//!   is the simulator's choice, like every other binary field of MISA's API.
//! * `GET /external/esrm/service/signing/api/v1/Signing/status/{transactionId}` →
//!   `{transactionId, status, errorCode, errorDescription, signatures}`: `PENDING`; `SUCCESS`
//!   with `signatures[{documentId, signature}]` in request order (only once every document is
//!   signed); `FAILED` with `errorCode` `UserRejected` (the citizen refused) or
//!   `TransactionExpired` (nobody answered in time). MISA documents the three statuses but not
//!   its failure codes: those two are the simulator's. `signature` is the base64 of the raw
//!   RSASSA-PKCS1-v1_5 signature over the digest's SHA-256 DigestInfo (MISA does not state its
//!   format; this is what VNPT and Viettel return).
//! * The document helpers (`…/documents/hash`, `…/documents/attachment`) answer 501: hashing
//!   and attaching are the portal's business in this gateway. Webhooks are not sent.
//!
//! Errors other than the login family's use MISA's `ResponseError {error, errorCode, devMsg,
//! userMsg}`; the status codes are the simulator's choices where MISA is silent: 400
//! `InvalidRequest` (malformed body, limits, bad digest), 400 `CertificateNotFound` (`CertAlias`
//! is not a key of `UserId`), 400 `CertificateInactive`, 401 `InvalidToken` (missing, malformed
//! or unknown `AuthorizationRM`), 401 `TokenExpired` (MISA's guide: "401 means the JWT
//! expired"), 401 `InvalidRefreshToken`, 403 `InvalidClient` (client headers missing or wrong),
//! 404 `TransactionNotFound` / `CertificateNotFound` / `NotFound`, 501 `NotSimulated`. A wrong
//! password is HTTP 401 in the login envelope with `errorCode` 101.
//!
//! # Layout
//!
//! * `config`: [`SimConfig`], [`CitizenSpec`], [`Behaviour`].
//! * `pki`: the test PKI (rcgen) and the citizens' RSA keys (`rsa`).
//! * `wire`: MISA's request and response bodies.
//! * `sim`: state and logic of every operation; [`SimControl`].
//! * `ca_routes`, `control_routes`: the HTTP faces of `sim` (MISA's paths, `/_sim`).
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
    Behaviour, CitizenSpec, DEFAULT_TOKEN_LIFETIME, DEFAULT_TRANSACTION_TTL, SimConfig,
};
pub use server::{SimHandle, spawn, spawn_on};
pub use sim::{
    CitizenInfo, Fault, MAX_DOCUMENTS, MAX_RECORDED_REQUESTS, RecordedRequest, SimControl,
    SimTransaction, TransactionState,
};

/// Everything that can go wrong starting or controlling a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is unusable (for example a CCCD number listed twice).
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// rcgen failed to generate a key or certificate.
    #[error("generating the test PKI failed")]
    Pki(#[from] rcgen::Error),
    /// A generated public key could not be encoded for its certificate.
    #[error("encoding a generated public key failed")]
    KeyEncode(#[from] rsa::pkcs1::Error),
    /// RSA signing failed.
    #[error("RSA signing failed")]
    Rsa(#[from] rsa::Error),
    /// Binding or serving the socket failed.
    #[error("simulator socket error")]
    Io(#[from] std::io::Error),
    /// The start-up task failed.
    #[error("simulator start-up failed: {0}")]
    Startup(String),
    /// No citizen has this CCCD number.
    #[error("no citizen {0}")]
    UnknownCitizen(String),
    /// No transaction has this id.
    #[error("unknown transaction {0}")]
    UnknownTransaction(String),
    /// The transaction was decided already.
    #[error("transaction {transaction_id} is {state:?}, not pending")]
    NotPending {
        /// The transaction.
        transaction_id: String,
        /// Its state.
        state: TransactionState,
    },
}
