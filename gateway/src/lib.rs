//! kyso: one signing API for portals, routed to every Vietnamese CA.
//!
//! A portal authenticates (OAuth 2.0 client credentials), finds a citizen's certificates,
//! submits digests to sign and follows the transaction; the gateway routes each call to the
//! citizen's CA through an adapter, follows the CA until the citizen answers, and verifies
//! every signature before a portal sees it.
//!
//! Layout:
//! - [`startup`]: builds the application from [`config::Settings`] and runs both listeners.
//! - [`routes`]: the HTTP surface (one route table, also read by the spec-drift test).
//! - [`api`]: the JSON bodies of the unified protocol (`spec/openapi.yaml`).
//! - [`auth`]: token issuing and checking.
//! - [`signing`]: transactions from request to verified result, and the CA followers.
//! - [`transaction`]: the transaction record and its state machine.
//! - [`store`]: where transactions and idempotency records live.
//! - [`verify`] (the `kyso-verify` crate): certificate and signature verification, the
//!   gateway's invariant.
//! - [`providers`]: the configured CAs.
//! - [`sessions`]: CA login sessions shared by every instance.
//! - [`error`]: the error codes and their HTTP mapping, in one place.
//! - [`metrics`], [`request_context`]: observability.
//! - [`sandbox`]: the zero-setup mode with an in-process CA simulator.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod providers;
pub mod request_context;
pub mod routes;
pub mod sandbox;
pub mod sessions;
pub mod signing;
pub mod startup;
pub mod store;
pub mod transaction;
pub use kyso_verify as verify;
