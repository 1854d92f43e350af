//! The audit trail: every security-relevant event becomes an append-only, hash-chained
//! record that an inspector can check without trusting the gateway's operators.
//!
//! # Events
//!
//! | `event` | when | `outcome` |
//! |---|---|---|
//! | `config.loaded` | an instance starts (a digest of its settings, never a secret) | `loaded` |
//! | `token.issued` / `token.refused` | `POST /v1/oauth/token` | `issued` / `refused` |
//! | `certificates.searched` | `GET /v1/certificates` | `found`, `not_found`, `failed`, `refused` |
//! | `signing.accepted` / `signing.refused` | `POST /v1/signatures` | `accepted` / `refused` |
//! | `signing.outcome` | a transaction ends `signed`, `rejected`, `expired` or `failed` (with the verification indication) | the status |
//! | `cancellation` | `POST /v1/signatures/{id}/cancel` | `cancelled` / `refused` |
//! | `verification` | `POST /v1/verifications` (a signed document: its SHA-256, how many signatures, each indication) | the indication (a document's least favourable one, or `no_signature`), or `refused` |
//!
//! # Records
//!
//! One JSON object per record (one line in a sink), with `schema` ([`SCHEMA_VERSION`]),
//! `chain`, `seq` (from 1), `time` (RFC 3339, UTC), `instance` (the writing instance),
//! `event`, `actor` (the portal's `client_id`), `subject` (`transaction_id`, `provider`,
//! `citizen`), `outcome`, `reason` (an error code), `request_id` (`X-Request-Id`; absent for
//! what a background follower records), `details` (digests and counts), `prev_hash` and
//! `hash`; [`chain`] defines the canonical encoding the hash is taken over. Records never
//! hold a secret, a token, a document or a signature: only their SHA-256 digests. With
//! `audit.pseudonymise_citizens` a citizen is `hmac-sha256:<hex>`, the HMAC-SHA256 of the id
//! under the configured key: whoever holds the key can check a given CCCD
//! (`kyso-gateway audit pseudonym`), the trail alone does not reveal it.
//!
//! # One chain per store, its order decided by the store
//!
//! All instances on a store write **one** chain. Its head (chain name, last sequence number,
//! last hash) is one store key; appending is one atomic store step (in Redis a Lua script
//! over keys sharing the hash tag `{audit}`, so one Redis Cluster slot) that appends only if
//! the head is still the one the record was built on, then moves the head: a compare-and-set.
//! Redis's Lua has no SHA-256, so the writer seals the record (sequence number, `prev_hash`,
//! `hash`) and the store only checks and orders; a writer that lost the race gets the
//! current head back and seals again. Chosen over one chain per instance because the trail
//! then has one total order and **one head** to anchor: an inspector keeps one sequence
//! number and hash, not one per instance ever started, and no whole chain can disappear
//! unnoticed. The cost is one hot key; an instance appends the records that queued meanwhile
//! in one round trip (group commit, see `writer.rs`), so the trail takes as many appends per
//! second as its Redis shard runs scripts, however many records each carries. Records a sink streams are those its instance
//! wrote: with several instances, merge their sinks by `seq` or use the store's export.
//!
//! The store keeps the trail `audit.store_retention_secs` after the last record and its
//! last `audit.store_max_records` records; the sinks are what is archived.
//!
//! # When the trail cannot be written
//!
//! A signing gateway must not act without a trail, so records are written **before** what
//! they let happen, and the request fails with `503 audit_unavailable` when its record
//! cannot be written: no token is handed out, no certificate or report is returned, and a
//! signing request is never sent to the CA (its transaction is failed at once). Refusals are
//! recorded the same way (the portal then gets `audit_unavailable` instead of the refusal).
//! Outcomes are facts that already happened (a CA answered, a portal cancelled): they are
//! recorded when they are stored, and if that fails the transaction stays in the store's
//! pending index until its outcome is recorded: the instance following it retries, and
//! another one adopts it if this one dies, so no outcome is lost to a crash; a `once` key
//! per transaction keeps it from being recorded twice. Every failed write is logged and
//! counted (`kyso_audit_write_failures_total`); nothing is skipped silently.
//!
//! # Anchoring
//!
//! A trail cut off at its end is intact as far as it goes; only a head known from elsewhere
//! shows what is missing. `GET /audit/head` on the admin listener gives the current head;
//! an inspector (or a job of theirs) records it periodically somewhere the gateway's
//! operators cannot rewrite, and later verifies with it (`kyso-gateway audit verify --seq
//! N --head HASH`).

pub mod chain;
pub(crate) mod events;
pub mod verifier;
mod writer;

pub use writer::{Auditor, Pseudonymiser};

use serde_json::{Map, Value};

use crate::domain::error::ErrorCode;
use crate::store::{OnceKey, StoreError};

/// The records' schema version (`schema`).
pub const SCHEMA_VERSION: u64 = 1;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An instance started with its configuration.
    ConfigLoaded,
    /// A portal got an access token.
    TokenIssued,
    /// A portal's token request was refused.
    TokenRefused,
    /// A portal looked up a citizen's certificates.
    CertificatesSearched,
    /// A signing request was accepted and is about to be sent to the CA.
    SigningAccepted,
    /// A signing request was refused before reaching the CA.
    SigningRefused,
    /// A transaction ended `signed`, `rejected`, `expired` or `failed`.
    SigningOutcome,
    /// A portal cancelled a transaction, or was refused.
    Cancellation,
    /// A portal asked for a signature's verification report.
    Verification,
}

impl Event {
    /// The event's name in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigLoaded => "config.loaded",
            Self::TokenIssued => "token.issued",
            Self::TokenRefused => "token.refused",
            Self::CertificatesSearched => "certificates.searched",
            Self::SigningAccepted => "signing.accepted",
            Self::SigningRefused => "signing.refused",
            Self::SigningOutcome => "signing.outcome",
            Self::Cancellation => "cancellation",
            Self::Verification => "verification",
        }
    }
}

/// What a record is about: each part when it applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The transaction.
    pub transaction_id: Option<String>,
    /// The provider.
    pub provider: Option<String>,
    /// The citizen's id, in clear here: the writer pseudonymises it when configured to.
    pub citizen: Option<String>,
}

/// An event to record, before the writer places it in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What happened.
    pub event: Event,
    /// The portal that did it (`client_id`), if known.
    pub actor: Option<String>,
    /// What it concerned.
    pub subject: Subject,
    /// How it ended.
    pub outcome: String,
    /// Why it was refused or failed: an error code.
    pub reason: Option<String>,
    /// Event-specific facts: digests, counts, indications; never a secret.
    pub details: Map<String, Value>,
    /// A key the trail records once only (a transaction's final outcome), and how long the
    /// store remembers it.
    pub once: Option<OnceKey>,
}

impl Entry {
    /// An entry for `event` that ended with `outcome`, about nothing yet.
    pub fn new(event: Event, outcome: impl Into<String>) -> Self {
        Self {
            event,
            actor: None,
            subject: Subject::default(),
            outcome: outcome.into(),
            reason: None,
            details: Map::new(),
            once: None,
        }
    }

    /// The same entry, ended with `outcome`.
    pub fn outcome_of(mut self, outcome: impl Into<String>) -> Self {
        self.outcome = outcome.into();
        self
    }

    /// Done by the portal `client_id`.
    pub fn actor(mut self, client_id: impl Into<String>) -> Self {
        self.actor = Some(client_id.into());
        self
    }

    /// About the transaction `id`.
    pub fn transaction(mut self, id: impl Into<String>) -> Self {
        self.subject.transaction_id = Some(id.into());
        self
    }

    /// About the provider `id`.
    pub fn provider(mut self, id: impl Into<String>) -> Self {
        self.subject.provider = Some(id.into());
        self
    }

    /// About the citizen `user_id` (pseudonymised when written, if configured).
    pub fn citizen(mut self, user_id: impl Into<String>) -> Self {
        self.subject.citizen = Some(user_id.into());
        self
    }

    /// Refused or failed with the error code `code`.
    pub fn reason(mut self, code: ErrorCode) -> Self {
        self.reason = Some(code.as_str().to_owned());
        self
    }

    /// With the fact `name`.
    pub fn detail(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.details.insert(name.to_owned(), value.into());
        self
    }
}

/// The name a value has on the wire (an indication, an algorithm: their serde names), as
/// records show it; empty for a value serde cannot name.
pub fn wire_name(value: impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Why a record could not be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The store did not take it.
    #[error("audit trail: {0}")]
    Store(#[from] StoreError),
    /// Other writers kept moving the head; the record was not appended.
    #[error("audit trail: the head moved {0} times in a row")]
    Contention(u32),
    /// The instance's writer stopped before the record's group was written (its runtime
    /// is shutting down); the record may or may not be in the trail.
    #[error("audit trail: the writer stopped before the record was written")]
    Interrupted,
}

#[cfg(test)]
mod tests;
