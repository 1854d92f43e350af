//! A stateful simulator of FPT-CA's eSignCloud REST API, with a real test PKI.
//!
//! The gateway's tests and its sandbox run it in-process: [`spawn`] generates a root CA, an
//! issuing CA and one RSA-2048 key and certificate per subscriber agreement, optionally the
//! relying party's (RP) key pair, and serves eSignCloud's functions on a local port. Every RP
//! request is authenticated for real (credentials, the PKCS#1 signature of the credentials and
//! the signature header over the body, both checked with the RP's public key), transactions are
//! kept, and signatures are real RSA PKCS#1 v1.5 signatures over the submitted digests, so the
//! gateway's verification is exercised for real. Subscribers authorise, refuse or ignore app
//! requests as configured ([`Behaviour`]); tests steer the rest through [`SimControl`] or the
//! `/_sim` HTTP API.
//!
//! The wire format is declared here independently of `kyso-adapter-fpt`, from the project's
//! CA reference notes (`ca-apis.md` §7.1), so that a translation bug in the adapter shows in
//! tests.
//!
//! # Wire protocol
//!
//! `POST /eSignCloud/restapi/<function>`, JSON `SignCloudReq` in, JSON `SignCloudResp` out,
//! HTTP 200 for every answer of the service itself.
//!
//! **Authentication (every function).** Header `x-esignservice-name: eSSC`; top-level
//! `relyingParty`; `credentialData {username, password, signature, timestamp, pkcs1Signature}`
//! where `signature` is the static string the CA issued to the RP, `timestamp` epoch
//! milliseconds (a string) and `pkcs1Signature` the base64 RSASSA-PKCS1-v1_5 SHA-256 signature
//! by the RP key over `username + password + signature + timestamp`; header `signature` = the
//! base64 RSASSA-PKCS1-v1_5 SHA-256 signature by the RP key over the exact body bytes. The
//! reference names the fields and headers; the hash (SHA-256), the base64 encoding and the
//! ±[`TIMESTAMP_WINDOW`] check are this simulator's choices.
//!
//! **Functions.**
//! * `getCertificateDetailForSignCloud {agreementUUID}` → `certificate` (base64 DER of the
//!   subscriber's certificate only, no chain), `certificateDN`, `certificateSerialNumber`
//!   (uppercase hex), `issuerDN`, `validFrom`/`validTo` (epoch ms).
//! * `prepareHashSigningForSignCloud {agreementUUID, authorizeMethod, authorizeCode?,
//!   messagingMode, certificateRequired?, notificationTemplate?, notificationSubject?,
//!   multipleSigningFileData[{hash (hex), mimeType (application/sha256-binary, -sha384-,
//!   -sha512-), signingFileName?}]}`:
//!   - `authorizeMethod` 3 (mobile app) with `messagingMode` 1 or 2 → `1007` and a `billCode`;
//!     the subscriber decides in the app as their [`Behaviour`] says. Mode 2 would make the
//!     real service post the result back to the RP; the simulator sends no postback.
//!   - method 3 with `messagingMode` 3 (synchronous) → the call is held until the subscriber
//!     decides, then answered as `getSignatureValueForSignCloud` would.
//!   - methods 1/2 (SMS/email OTP) → `1007`, `billCode`, `remainingCounter`; the OTP "sent" is
//!     visible in [`SimControl::transactions`]; the RP relays it with
//!     `authorizeCounterSigningForSignCloud`.
//!   - method 4 (passcode in `authorizeCode`) → signed at once: `0` with the signatures.
//!   - method 5 (UAF) → `1012`; `application/sha1-binary` → `1012`.
//! * `getSignatureValueForSignCloud {agreementUUID, billCode}` → `1007` while pending, `0` with
//!   the signatures, or `1008`/`1009`/`1010`.
//! * `authorizeCounterSigningForSignCloud {agreementUUID, billCode, authorizeCode}` → `0` with
//!   the signatures; a wrong OTP is `1006` with the attempts left in `remainingCounter`; the
//!   last wrong one fails the transaction (`1010`).
//! * `regenerateAuthorizationCodeForSignCloud {agreementUUID, billCode}` → a new OTP, `1007`.
//!
//! **Signatures.** With one hash, `signatureValue` holds it; with several,
//! `multipleSignedFileData[{signatureValue, signedFileName, mimeType}]` holds them in request
//! order (and `signatureValue` is null). Each value is the base64 of a raw RSASSA-PKCS1-v1_5
//! signature over the DigestInfo of the submitted digest (not CMS). With `certificateRequired`
//! a success answer also carries the certificate fields.
//!
//! **Response codes.** The reference documents only `0` (success) and `1007` (authorisation
//! pending), and says clients also accept `1018`, whose meaning it does not know; the simulator
//! never sends `1018`. Every other code is this simulator's choice:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1001 | RP credentials invalid (unknown `relyingParty`/`username`, wrong password or static signature) |
//! | 1002 | RP signature invalid (`pkcs1Signature` or header missing or not verifying, stale timestamp) |
//! | 1003 | parameter invalid (malformed body, missing field, bad hex, wrong digest length, no `x-esignservice-name: eSSC`) |
//! | 1004 | agreement not found |
//! | 1005 | bill code not found (or not under this agreement) |
//! | 1006 | authorisation code (OTP/passcode) invalid |
//! | 1007 | authorisation pending |
//! | 1008 | refused by the subscriber |
//! | 1009 | authorisation expired |
//! | 1010 | too many wrong OTPs: the transaction failed |
//! | 1012 | not supported (function, `authorizeMethod` 5, SHA-1) |
//! | 9999 | system error; also the body of an injected HTTP 5xx |
//!
//! An unknown function answers HTTP 404 with code `1012`.
//!
//! # Layout
//!
//! * `config`: [`SimConfig`], [`RelyingPartySpec`], [`RpKey`], [`CitizenSpec`].
//! * `pki`: the test PKI (generated by `kyso-sim-kit`) as eSignCloud reports it, and the RP key.
//! * `wire`: eSignCloud's request and response bodies.
//! * `sim`: state, authentication and the functions; [`SimControl`].
//! * `ca_routes`: the HTTP face of `sim` under `/eSignCloud/restapi`.
//! * `server`: [`spawn`], [`spawn_on`], [`SimHandle`].
//!
//! The protocol-independent machinery comes from `kyso-sim-kit`: the PKI and the subscribers'
//! keys, [`Behaviour`], fault injection and the request log ([`Fault`]; the log keeps this
//! simulator's [`RecordedRequest`], the RP's `password`, `signature` and `pkcs1Signature`
//! redacted), the server, and the `/_sim` control API (see `kyso_sim_kit::control` for its
//! routes; control decisions address a transaction by its `billCode`). This simulator adds two
//! routes to it: `GET /_sim/issuing-ca.pem` (the issuing CA certificate) and
//! `GET /_sim/relying-party-key.pem` (the RP private key the simulator issued; 404 if the RP key
//! was configured). The control API is unauthenticated and hands out the sandbox RP key: bind
//! the simulator to loopback.

mod ca_routes;
mod config;
mod pki;
mod server;
mod sim;
mod wire;

pub use config::{
    Behaviour, CitizenSpec, DEFAULT_AUTHORISATION_TTL, DEFAULT_PASSCODE, RelyingPartySpec, RpKey,
    SANDBOX_RELYING_PARTY, SANDBOX_RP_PASSWORD, SANDBOX_RP_SIGNATURE, SANDBOX_RP_USER, SimConfig,
};
pub use kyso_sim_kit::{
    Fault, MAX_RECORDED_REQUESTS, Revocation, RevocationReason, RevocationSwitches, Revoke,
    RevokedCertificate,
};
pub use server::{SimHandle, spawn, spawn_on};
pub use sim::{
    CitizenInfo, OTP_ATTEMPTS, RecordedRequest, SimControl, SimTransaction, TIMESTAMP_WINDOW,
    TransactionState,
};

/// Everything that can go wrong starting or controlling a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is unusable (a duplicate agreement, an unreadable RP key, ...).
    #[error("invalid simulator configuration: {0}")]
    InvalidConfig(String),
    /// Generating the test PKI or a key, or signing with a subscriber's key, failed.
    #[error("test PKI failure")]
    Pki(#[from] kyso_sim_kit::PkiError),
    /// The relying party's key pair could not be issued.
    #[error("issuing the relying party key failed: {0}")]
    RpKey(String),
    /// The generated PKI lacks what the simulator reports.
    #[error("describing the generated PKI failed: {0}")]
    Certificate(String),
    /// Binding or serving the socket failed.
    #[error("simulator socket error")]
    Io(#[from] std::io::Error),
    /// The start-up task failed.
    #[error("simulator start-up failed: {0}")]
    Startup(String),
    /// No transaction has this bill code.
    #[error("unknown transaction {0}")]
    UnknownTransaction(String),
    /// The transaction was already decided.
    #[error("transaction {bill_code} is {state:?}, not waiting")]
    NotWaiting {
        /// The transaction's bill code.
        bill_code: String,
        /// Its current state.
        state: TransactionState,
    },
}
