//! The signing transaction and its state machine.
//!
//! `pending` moves to exactly one of `signed`, `rejected`, `expired`, `failed` or
//! `cancelled`, and a final status never changes again. Every change produces the next
//! version of the record; the store accepts it only over the version it was made from
//! (compare-and-set), so two writers can never both win.

use kyso_adapter_core::HashAlgorithm;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::document::DocumentPlan;
use crate::domain::error::ErrorCode;

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// Waiting for the citizen (or for the CA to answer).
    Pending,
    /// Every signature was returned and verified.
    Signed,
    /// The citizen refused.
    Rejected,
    /// Nobody confirmed in time.
    Expired,
    /// The CA failed, or what it returned did not verify.
    Failed,
    /// The portal cancelled it.
    Cancelled,
}

impl TransactionStatus {
    /// The status's name in the API and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Signed => "signed",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the status never changes again.
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// A refused status change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction cannot move from {from:?} to {to:?}")]
pub struct TransitionError {
    /// The current status.
    pub from: TransactionStatus,
    /// The status asked for.
    pub to: TransactionStatus,
}

/// The certificate a transaction is signed with, kept as the CA returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerCertificate {
    /// The CA's handle.
    pub certificate_id: String,
    /// The certificate, DER.
    #[serde(with = "serde_bytes_base64")]
    pub certificate_der: Vec<u8>,
    /// Its issuers as the CA sent them, DER.
    #[serde(with = "base64_list")]
    pub chain_der: Vec<Vec<u8>>,
}

/// One document of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// The portal's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The digest to sign.
    #[serde(with = "serde_bytes_base64")]
    pub digest: Vec<u8>,
    /// The verified signature, once signed.
    pub signature: Option<VerifiedSignature>,
    /// For a document sent as content: how it is signed, and the signed file once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<DocumentPlan>,
}

/// A signature that passed every check of [`crate::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedSignature {
    /// The signature bytes as the CA returned them.
    #[serde(with = "serde_bytes_base64")]
    pub signature: Vec<u8>,
    /// The scheme that verified (`rsa_pkcs1v15_sha256`, ...).
    pub algorithm: String,
    /// When it was verified.
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
    /// What the verification found (indication, path, revocation evidence).
    pub report: crate::verify::VerificationReport,
}

/// Where the request to the CA stands. The intent is recorded before the CA is called, so
/// an instance that takes a transaction over knows whether, and under which name, the CA may
/// hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Submission {
    /// The gateway is about to ask the CA, or asked and has not heard back.
    Intended {
        /// The name the CA will know the request by, for protocols where the caller
        /// chooses it; `None` where only the CA's answer names it.
        caller_reference: Option<String>,
    },
    /// The CA accepted the request under this reference.
    Accepted {
        /// The CA's handle, for status polls and cancellation.
        ca_reference: String,
    },
}

impl Submission {
    /// The name to ask the CA about: the CA's own once it answered, else the caller-chosen
    /// one (the CA may hold the request although its answer was never recorded).
    pub fn reference(&self) -> Option<&str> {
        match self {
            Self::Intended { caller_reference } => caller_reference.as_deref(),
            Self::Accepted { ca_reference } => Some(ca_reference),
        }
    }
}

/// Why a transaction failed: a stable code and a message for portals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionError {
    /// The code (`ca_error`, `signature_invalid`, ...).
    pub code: ErrorCode,
    /// What happened, in the portal's terms.
    pub message: String,
}

/// A signing transaction, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// The gateway's id (also sent to CAs that take a caller-chosen id).
    pub id: String,
    /// The portal that created it; no other portal may see it.
    pub client_id: String,
    /// The provider.
    pub provider: String,
    /// The citizen.
    pub user_id: String,
    /// Where it stands.
    pub status: TransactionStatus,
    /// The digests' algorithm.
    pub hash_algorithm: HashAlgorithm,
    /// Shown to the citizen.
    pub description: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the citizen's time to confirm runs out.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The signer's certificate.
    pub certificate: SignerCertificate,
    /// The documents.
    pub documents: Vec<DocumentRecord>,
    /// Where the request to the CA stands.
    pub submission: Submission,
    /// Why it failed.
    pub error: Option<TransactionError>,
    /// Set while the CA's signatures wait for the revocation status a `required` policy
    /// needs (why it is not available yet); if the transaction expires still waiting, it
    /// fails with `revocation_unavailable` rather than `expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_revocation: Option<String>,
    /// Incremented by every change; the store's compare-and-set is on it.
    pub version: u64,
}

impl Transaction {
    /// The next version of this record: same content, `updated_at` now.
    pub fn next_version(&self, now: OffsetDateTime) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next
    }

    /// The next version with a final `status`; refused unless this one is pending.
    pub fn finish(
        &self,
        status: TransactionStatus,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.status.is_final() || !status.is_final() {
            return Err(TransitionError {
                from: self.status,
                to: status,
            });
        }
        let mut next = self.next_version(now);
        next.status = status;
        Ok(next)
    }

    /// The next version, `failed` with `code`.
    pub fn fail(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        let mut next = self.finish(TransactionStatus::Failed, now)?;
        next.error = Some(TransactionError {
            code,
            message: message.into(),
        });
        Ok(next)
    }

    /// Whether the citizen's time is up at `now`.
    pub fn is_overdue(&self, now: OffsetDateTime) -> bool {
        self.status == TransactionStatus::Pending && now >= self.expires_at
    }
}

/// How many shards the pending transactions are spread over. A transaction, its follow
/// lease and the idempotency key that created it live in one shard, so a shared store can
/// change them together (one Redis Cluster slot per shard). Never change it on a running
/// deployment: ids carry their shard.
pub const SHARDS: u16 = 64;

/// The shard of an idempotency key (as scoped to its client).
pub fn shard_of_key(scoped_key: &str) -> u16 {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(scoped_key.as_bytes());
    u16::from_be_bytes([digest[0], digest[1]]) % SHARDS
}

/// A new transaction id in `shard`: two hex digits of shard, then 32 random hex digits.
pub fn new_transaction_id(shard: u16) -> String {
    format!("{:02x}{}", shard % SHARDS, uuid::Uuid::new_v4().simple())
}

/// The shard a transaction id names, or `None` for a string that is no id of ours.
pub fn shard_of_transaction(id: &str) -> Option<u16> {
    let well_formed = id.len() == 34
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !well_formed {
        return None;
    }
    let shard = u16::from_str_radix(id.get(..2)?, 16).ok()?;
    (shard < SHARDS).then_some(shard)
}

/// Serde of bytes as base64, so stored records stay compact JSON.
pub(crate) mod serde_bytes_base64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Serde of a list of byte strings as base64 strings.
mod base64_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        list: &[Vec<u8>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(list.iter().map(|bytes| STANDARD.encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .into_iter()
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(now: OffsetDateTime) -> Transaction {
        Transaction {
            id: "07aaaabbbbccccddddeeeeffff00001111".into(),
            client_id: "portal".into(),
            provider: "vnpt".into(),
            user_id: "001099000001".into(),
            status: TransactionStatus::Pending,
            hash_algorithm: HashAlgorithm::Sha256,
            description: String::new(),
            created_at: now,
            updated_at: now,
            expires_at: now + time::Duration::minutes(5),
            certificate: SignerCertificate {
                certificate_id: "01".into(),
                certificate_der: vec![1, 2],
                chain_der: vec![vec![3]],
            },
            documents: vec![DocumentRecord {
                id: "d".into(),
                name: "n".into(),
                digest: vec![0; 32],
                signature: None,
                plan: None,
            }],
            submission: Submission::Intended {
                caller_reference: None,
            },
            error: None,
            awaiting_revocation: None,
            version: 1,
        }
    }

    #[test]
    fn pending_moves_to_each_final_status_once() {
        let now = OffsetDateTime::now_utc();
        let pending = sample(now);
        for status in [
            TransactionStatus::Signed,
            TransactionStatus::Rejected,
            TransactionStatus::Expired,
            TransactionStatus::Failed,
            TransactionStatus::Cancelled,
        ] {
            let done = pending.finish(status, now).unwrap();
            assert_eq!(done.version, 2);
            assert!(done.finish(TransactionStatus::Signed, now).is_err());
            assert!(done.finish(TransactionStatus::Cancelled, now).is_err());
        }
        assert!(pending.finish(TransactionStatus::Pending, now).is_err());
    }

    #[test]
    fn transaction_ids_carry_their_shard() {
        for key in ["a", "portal\nkey-1", "portal\nkey-2"] {
            let shard = shard_of_key(key);
            let id = new_transaction_id(shard);
            assert_eq!(shard_of_transaction(&id), Some(shard), "{id}");
        }
        for foreign in ["", "t1", "../../etc", &"f".repeat(34), &"0A".repeat(17)] {
            assert_eq!(shard_of_transaction(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn record_round_trips_through_json() {
        let record = sample(OffsetDateTime::now_utc().replace_nanosecond(0).unwrap());
        let json = serde_json::to_string(&record).unwrap();
        let back: Transaction = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }
}
