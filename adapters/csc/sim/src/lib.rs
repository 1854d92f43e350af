//! A stateful simulator of a Cloud Signature Consortium (CSC) API v2 remote signing service,
//! with a real test PKI.
//!
//! Tests and the gateway's sandbox run it in-process: [`spawn`] generates a root CA, an issuing
//! CA and one credential (key pair and certificate) per configured citizen, and serves the CSC
//! methods under `/csc/v2` on a local port. Signatures are real (RSA PKCS#1 v1.5 or ECDSA P-256
//! over the submitted digests), so the gateway's verification runs for real. Each citizen
//! answers consent requests as configured ([`Behaviour`], [`ConsentMode`]); tests steer the rest
//! through [`SimControl`] or the `/_sim` HTTP API.
//!
//! The wire format is declared here from the CSC specification, independently of
//! `kyso-adapter-csc`, so that a translation mistake in the adapter shows up in tests.
//!
//! # Wire protocol (JSON, under `/csc/v2`)
//!
//! * `info` (GET or POST, no authentication): `specs` `2.0.0.2`, `authType ["basic"]`,
//!   `methods`, `signAlgorithms.algos`.
//! * `auth/login` (HTTP Basic client id/secret; body `{rememberMe?}`) →
//!   `{access_token, expires_in, refresh_token?}`. Every other method below wants
//!   `Authorization: Bearer <access_token>`.
//! * `auth/revoke {token}` → 204.
//! * `credentials/list {userID, credentialInfo?, certificates?, certInfo?, authInfo?}` →
//!   `{credentialIDs[], credentialInfos[]?}`; an unknown `userID` has no credentials.
//! * `credentials/info {credentialID, certificates? none|single|chain, certInfo?, authInfo?}` →
//!   `key {status, algo[], len, curve?}`, `cert {status, certificates[] (base64 DER, signer
//!   first, then the issuing CA and the root), issuerDN, serialNumber, subjectDN, validFrom,
//!   validTo}`, `auth {mode: "explicit", objects: []}`, `SCAL "2"`, `multisign`.
//! * `credentials/authorize {credentialID, numSignatures, hashes[], hashAlgorithmOID,
//!   description?}`: SCAL 2, so the hashes are required and `numSignatures` must equal their
//!   number; `authData` must be empty (the holder consents in a phone app, out of band).
//!   Asynchronous citizens answer **202 `{handle}`** at once; blocking ones answer when they
//!   decide: **200 `{SAD, expiresIn}`** or the refusal below.
//! * `credentials/authorizeCheck {handle}` → 202 `{handle}` while waiting, 200
//!   `{SAD, expiresIn}` once approved (the same SAD on every call while it is valid), 400
//!   `access_denied` when the holder refused, 400 `expired_token` when the request lapsed
//!   unanswered (or its SAD expired), 400 `invalid_request` "Invalid parameter handle" for a
//!   handle the service never issued.
//! * `signatures/signHash {credentialID, SAD, hashes[], hashAlgorithmOID?, signAlgo,
//!   operationMode? "S"}` → `{signatures[]}` in input order. `signAlgo` must be one of the
//!   credential's `key.algo`; `hashAlgorithmOID` may be left out when `signAlgo` names the hash.
//!   The SAD is bound to its credential and to the authorized hashes (403 `invalid_hash`
//!   otherwise) and allows `numSignatures` signatures in all.
//!
//! Errors are CSC error objects `{error, error_description}`: 400 `invalid_request` (with CSC's
//! "Missing (or invalid type) parameter X" / "Invalid parameter X" descriptions), 401
//! `authentication_error` (wrong client credentials at `auth/login`), 401 `invalid_token`
//! (unknown or revoked access token), **401 `expired_token` (access token past its lifetime)**,
//! 403 `invalid_hash`, 500 `server_error`, and injected faults (503 `temporarily_unavailable`).
//!
//! Where CSC leaves the choice to the service, the simulator's choices are: credential ids are
//! random UUIDs; SCAL 2; `expired_token` with 400 for a consent request that lapsed (RFC 8628's
//! meaning) versus 401 for an access token; one client (the configured id/secret); no OAuth2.
//!
//! # Layout
//!
//! * `config`: [`SimConfig`], [`CitizenSpec`], [`KeyKind`], [`Behaviour`], [`ConsentMode`].
//! * `algo`: the hash and signature algorithm OIDs.
//! * `pki`: the test PKI (rcgen) and the credentials' keys (`rsa`, `p256`).
//! * `wire`: CSC request and response bodies.
//! * `sim`: state and logic of the methods; [`SimControl`].
//! * `csc_routes`, `control_routes`: the HTTP faces of `sim` (`/csc/v2`, `/_sim`).
//! * `server`: [`spawn`], [`spawn_on`], [`SimHandle`].

mod algo;
mod config;
mod control_routes;
mod csc_routes;
mod pki;
mod server;
mod sim;
mod wire;

pub use config::{
    Behaviour, CitizenSpec, ConsentMode, DEFAULT_AUTHORIZATION_TTL, DEFAULT_MULTISIGN,
    DEFAULT_SAD_LIFETIME, DEFAULT_TOKEN_LIFETIME, KeyKind, SimConfig,
};
pub use server::{SimHandle, spawn, spawn_on};
pub use sim::{
    AuthorizationState, CitizenInfo, Fault, MAX_RECORDED_REQUESTS, RecordedRequest,
    SimAuthorization, SimControl,
};

/// Everything that can go wrong starting or controlling a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is unusable (a duplicate CCCD, a zero lifetime, ...).
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
    /// Binding or serving the socket failed.
    #[error("simulator socket error")]
    Io(#[from] std::io::Error),
    /// The start-up task failed.
    #[error("simulator start-up failed: {0}")]
    Startup(String),
    /// No consent request has this handle.
    #[error("unknown authorization handle {0}")]
    UnknownAuthorization(String),
    /// No citizen has this CCCD number or `userID`.
    #[error("unknown citizen {0}")]
    UnknownCitizen(String),
    /// The consent request was already decided.
    #[error("authorization {handle} is {state:?}, not waiting")]
    NotWaiting {
        /// The request's handle.
        handle: String,
        /// Its state.
        state: AuthorizationState,
    },
}
