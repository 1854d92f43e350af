//! Benchmarks of the kyso gateway.
//!
//! * `benches/verify.rs` (criterion): the gateway's verification beside the bare primitives.
//! * `src/bin/load.rs` (`kyso-load`): gateway vs CA direct on loopback, with the simulator.
//!
//! This library holds what they share: [`pki`], a test PKI shaped like a Vietnamese CA's.
//! See `README.md` for how to run them and what was measured.

pub mod pki;
