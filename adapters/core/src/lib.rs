//! The contract between the kyso gateway and one certificate authority (CA).
//!
//! A CA adapter is a pure translator: it takes the unified request types defined here, speaks
//! the CA's own HTTP API, and answers with the unified result types. It holds no state of its
//! own beyond its configuration: transactions, idempotency, caching and, above all, signature
//! verification belong to the gateway, so every CA is held to the same rules.
//!
//! Layout:
//! - [`CaAdapter`]: the trait every adapter implements.
//! - [`types`]: the domain types that cross the boundary (digests, certificates, outcomes).
//! - [`AdapterError`]: what can go wrong, grouped by who is at fault.
//! - [`SettingsError`]: a provider's configuration an adapter refuses, naming the field.
#![warn(missing_docs)]

mod error;
mod settings_error;
pub mod types;

pub use error::{AdapterError, Fault};
pub use settings_error::SettingsError;
pub use types::{
    AdapterDescriptor, CaCertificate, CaSession, Capabilities, DocumentDigest, HashAlgorithm,
    KeyAlgorithm, RawSignature, SignOutcome, SignRequest,
};

use async_trait::async_trait;

/// One CA, reached through its own API.
///
/// Every method takes `&self` and may be called concurrently; an adapter keeps no per-request
/// state between calls. All calls must be bounded in time (the adapter applies its configured
/// timeouts) and must never log credentials.
#[async_trait]
pub trait CaAdapter: Send + Sync + 'static {
    /// What this provider is and what it supports. Cheap; called on every request.
    fn descriptor(&self) -> &AdapterDescriptor;

    /// Whether the CA's API needs a login session (an access token) on every call. The
    /// gateway then obtains one with [`CaAdapter::open_session`], shares it between its
    /// instances until shortly before it expires, and passes it to every call.
    fn needs_session(&self) -> bool {
        false
    }

    /// Logs in at the CA with the gateway's credentials. Called by one gateway instance at
    /// a time, only when no unexpired session is cached.
    async fn open_session(&self) -> Result<CaSession, AdapterError> {
        Err(AdapterError::Unsupported("login sessions"))
    }

    /// The certificates a citizen (`user_id`, a CCCD number) holds at this CA.
    ///
    /// An unknown citizen is an empty list, not an error. `session` is present exactly when
    /// [`CaAdapter::needs_session`] is true.
    async fn certificates(
        &self,
        session: Option<&CaSession>,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError>;

    /// Asks the CA to sign the request's digests.
    ///
    /// Most CAs answer [`SignOutcome::Pending`] (the citizen confirms in the CA's app) and the
    /// gateway then calls [`CaAdapter::poll`]; a CA that signs synchronously answers
    /// [`SignOutcome::Signed`] at once.
    async fn begin_sign(
        &self,
        session: Option<&CaSession>,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError>;

    /// Asks the CA where a transaction begun by [`CaAdapter::begin_sign`] stands.
    ///
    /// `ca_reference` is the value the adapter returned in [`SignOutcome::Pending`].
    async fn poll(
        &self,
        session: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<SignOutcome, AdapterError>;

    /// Withdraws a pending signing request at the CA, so the citizen is no longer asked.
    ///
    /// `ca_reference` is the value from [`SignOutcome::Pending`]. Only adapters whose CA's
    /// protocol has a way to withdraw a request implement it, and set
    /// [`Capabilities::cancel`]; the default is [`AdapterError::Unsupported`], and the
    /// gateway then records the cancellation itself and stops following the transaction.
    async fn cancel(
        &self,
        session: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<(), AdapterError> {
        let _ = (session, ca_reference);
        Err(AdapterError::Unsupported("cancel"))
    }

    /// The reference under which the CA knows a transaction before it has answered
    /// [`CaAdapter::begin_sign`], for CAs that take the caller's transaction id.
    ///
    /// When a submission times out, the gateway cannot know whether the CA received it;
    /// with this reference it keeps the transaction pending and asks the CA, instead of
    /// reporting a failure that may not be true. The default (`None`) means the CA names
    /// its transactions itself, so a timed-out submission is reported as failed.
    fn caller_reference(&self, request: &SignRequest) -> Option<String> {
        let _ = request;
        None
    }

    /// A cheap check that the CA is reachable. The default assumes it is.
    async fn health(&self) -> Result<(), AdapterError> {
        Ok(())
    }
}
