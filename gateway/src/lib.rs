//! kyso: one signing API for portals, routed to every Vietnamese CA.
//!
//! A portal authenticates (OAuth 2.0 client credentials), finds a citizen's certificates,
//! submits digests to sign and follows the transaction; the gateway routes each call to the
//! citizen's CA through an adapter, follows the CA until the citizen answers, and verifies
//! every signature before a portal sees it.
//!
//! Layers, each depending only on those below it:
//! - [`http`]: the HTTP surface: routes, request/response views, the one mapping of errors
//!   to HTTP, the authentication extractor, request ids.
//! - [`services`]: what the gateway does: certificate search, validation, submission,
//!   following, cancellation, token issuing, admission limits.
//! - [`providers`]: the configured CAs (adapters, trust anchors, shared CA sessions).
//! - [`store`]: where transactions, idempotency records, leases and admission counts live
//!   (memory or Redis).
//! - [`domain`]: the transaction and its state machine, requests, certificates, error codes;
//!   no HTTP, no store.
//! - [`documents`]: signed documents around the CA's signature (PAdES, CAdES), with
//!   `kyso-documents`: preparing them, assembling and checking them, time-stamping them.
//! - [`audit`]: the hash-chained audit trail of every security-relevant event, its writer
//!   and its verifier.
//! - [`trust`]: every verification the gateway makes, with its caches (validated paths,
//!   revocation data) and its I/O (OCSP, CRLs) around `kyso-verify`.
//! - [`verify`] (the `kyso-verify` crate): certificate and signature verification, the
//!   gateway's invariant.
//!
//! Around them: [`config`] (settings), `cpu_bound` (CPU-heavy work on as many threads as
//! cores), [`startup`] (building and running the application,
//! graceful shutdown), [`metrics`], `sandbox` (the zero-setup mode with in-process CA
//! simulators; the `sandbox` feature), and [`cli`] (the `kyso-gateway` command line).

pub mod audit;
mod bounded_cache;
mod certificate_cache;
pub mod cli;
pub mod config;
mod cpu_bound;
pub mod documents;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod providers;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod services;
pub mod startup;
pub mod store;
pub mod trust;
pub use kyso_verify as verify;
