//! What every kyso CA simulator shares: test PKI, server, fault injection, request log, control
//! routes.
//!
//! Each simulator (`adapters/*/sim`) declares its CA's wire format, paths, authentication and
//! error envelopes itself; this crate holds only the protocol-independent machinery around them:
//!
//! * [`pki`]: a [`TestPki`] (one root, one or more issuing CAs, citizens' certificates with
//!   `UID=CCCD:<id>`) and [`CitizenKey`], which signs prehashed digests in every
//!   [`SignatureScheme`].
//! * [`faults`]: the [`CallGate`] every CA-endpoint call passes first: it records the call (secrets
//!   redacted) in a capped log and hands out the armed [`Fault`], the configured delay and the
//!   one-shot "corrupt the next signature" / "sign the next with a foreign key" switches.
//! * [`behaviour`]: what a simulated citizen does with a request ([`Behaviour`]) and how that
//!   resolves lazily against the clock ([`Behaviour::due`]).
//! * [`revocation`]: the [`Revocation`] every [`TestPki`] carries: its CAs' CRLs and OCSP
//!   responder, revoking certificates, and the [`RevocationSwitches`] (unauthorised responder,
//!   stale answers, outages).
//! * [`tsa`]: a [`TimeStampAuthority`] (RFC 3161) whose certificate the PKI's root issues, its
//!   HTTP routes ([`tsa::scope`], [`tsa::configure`]) and its [`TsaFault`]s.
//! * [`judge`]: the `openssl` binary as the independent judge of that data, for tests.
//! * [`server`]: [`SimServer`], an actix-web server on a local listener that stops on drop.
//! * [`control`]: the common `/_sim` HTTP control API, mounted for any simulator implementing
//!   [`ControlTarget`].
//!
//! # A simulator on the kit
//!
//! ```ignore
//! struct Sim { gate: CallGate, pki: TestPki, /* CA state */ }
//! impl ControlTarget for Sim { /* gate, root_pem, citizens, transactions, decide, set_behaviour */ }
//!
//! let sim = web::Data::new(Sim::new(config)?);
//! let server = SimServer::start("VNPT", listener, move |cfg| {
//!     cfg.app_data(sim.clone())
//!         .configure(ca_routes::configure)
//!         .service(kyso_sim_kit::control::scope::<Sim>());
//! })?;
//! // In every CA handler: record the call, wait out delay/hang, answer an armed fault.
//! if let Some(fault) = sim.gate.enter(req.path(), &body).await { /* CA's own error envelope */ }
//! ```

pub mod behaviour;
pub mod control;
pub mod faults;
pub mod judge;
pub mod pki;
pub mod revocation;
pub mod server;
pub mod tsa;

pub use behaviour::{Behaviour, Decision};
pub use control::{ControlError, ControlTarget};
pub use faults::{CallGate, Fault, MAX_RECORDED_REQUESTS, RecordedRequest, wait_out};
pub use pki::{
    Certificate, CitizenCertSpec, CitizenKey, DigestAlgorithm, DnAttribute, IssuedCitizen, KeyKind,
    PkiError, SignatureScheme, Subject, TestPki, TestPkiBuilder, base_url,
};
pub use revocation::{
    OcspSigner, Outage, Revocation, RevocationError, RevocationReason, RevocationSwitches, Revoke,
    Revoked, RevokedCertificate,
};
pub use server::SimServer;
pub use tsa::{TimeStampAuthority, TsaError, TsaFault};
