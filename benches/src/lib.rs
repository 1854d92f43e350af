//! Benchmarks of the kyso gateway.
//!
//! * `benches/verify.rs` (criterion): the gateway's verification beside the bare primitives.
//! * `benches/documents.rs` (criterion): preparing and assembling a signed 1 MiB and 20 MiB
//!   PDF, beside hashing the file.
//! * `src/bin/load/` (`kyso-load`): the gateway, nginx and the CA simulator direct, side by side
//!   under load on loopback.
//!
//! This library holds what they share: [`pki`], a test PKI shaped like a Vietnamese CA's, and
//! [`estimates`], criterion's estimates read back for the ratio tables.
//! See `README.md` for how to run them and what was measured.

pub mod estimates;
pub mod pki;
