//! End-to-end tests of the unified protocol over real sockets: the gateway in front of the
//! VNPT SmartCA simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

mod audit;
mod auth;
mod cancellation;
mod crash_windows;
mod deploy;
mod document_verifications;
mod documents;
mod errors;
mod input;
mod isolation;
mod limits;
mod observability;
mod redis;
mod revocation;
mod sandbox;
mod secrets_in_logs;
mod sessions;
mod signing;
mod spec_drift;
mod store;
mod timestamping;
mod verifications;
