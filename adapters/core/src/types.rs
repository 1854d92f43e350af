//! Domain types that cross the boundary between the gateway and an adapter.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A digest algorithm a portal may have hashed its documents with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// SHA-256 (32-byte digests): what every Vietnamese CA accepts.
    Sha256,
    /// SHA-384 (48-byte digests).
    Sha384,
    /// SHA-512 (64-byte digests).
    Sha512,
}

impl HashAlgorithm {
    /// Every algorithm, strongest last.
    pub const ALL: [Self; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// The length in bytes of a digest of this algorithm.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The algorithm whose digests have `len` bytes, if any.
    pub fn from_digest_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.digest_len() == len)
    }

    /// The wire name (`sha256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HashAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| format!("unknown hash algorithm {s:?}"))
    }
}

/// A kind of signing key a CA may hold for a citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// RSA, 2048 bits or more.
    Rsa,
    /// ECDSA on NIST P-256.
    EcdsaP256,
}

impl KeyAlgorithm {
    /// The wire name (`rsa`, `ecdsa_p256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::EcdsaP256 => "ecdsa_p256",
        }
    }
}

/// What a provider supports; the gateway refuses unsupported requests before calling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Digest algorithms the CA signs.
    pub hash_algorithms: Vec<HashAlgorithm>,
    /// Key algorithms the CA's citizens hold.
    pub key_algorithms: Vec<KeyAlgorithm>,
    /// The most documents one signing request may carry.
    pub max_documents: usize,
    /// How long the CA waits for the citizen to confirm before it gives a transaction up.
    pub confirmation_timeout: std::time::Duration,
    /// Whether the adapter can withdraw a pending request at the CA
    /// ([`crate::CaAdapter::cancel`]); true only where the CA's protocol has a way to.
    pub cancel: bool,
}

/// Who a provider is: its configured id, its kind and what it can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterDescriptor {
    /// The provider id portals use (`vnpt`, `bkav`, ...), unique in one gateway.
    pub id: String,
    /// The adapter kind (`vnpt-smartca`, ...), as written in configuration.
    pub kind: &'static str,
    /// A name to show people.
    pub display_name: String,
    /// What the provider supports.
    pub capabilities: Capabilities,
}

/// One certificate a citizen holds at a CA, as the CA returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificate {
    /// The CA's handle for choosing this certificate when signing (VNPT: the serial number).
    pub certificate_id: String,
    /// The end-entity certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The issuing chain the CA sent, DER, nearest issuer first (may be empty).
    pub chain_der: Vec<Vec<u8>>,
    /// Whether the CA says the certificate can sign now.
    pub active: bool,
}

/// One document to sign: the portal's id and name, and the digest the portal computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentDigest {
    /// The portal's id for the document; shown to the citizen by some CAs.
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// The raw digest bytes.
    pub digest: Vec<u8>,
}

/// A request to sign a batch of digests with one citizen's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// The gateway's transaction id; adapters of CAs that take a caller-chosen id send it.
    pub transaction_id: String,
    /// The citizen (CCCD number).
    pub user_id: String,
    /// The certificate chosen among the citizen's ([`CaCertificate::certificate_id`]).
    pub certificate_id: String,
    /// The algorithm every digest was made with.
    pub hash_algorithm: HashAlgorithm,
    /// The digests, in the portal's order.
    pub documents: Vec<DocumentDigest>,
    /// What the citizen is asked to approve, shown in the CA's app.
    pub description: String,
}

/// A signature the CA returned for one document, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSignature {
    /// The document id it belongs to ([`DocumentDigest::id`]).
    pub document_id: String,
    /// The raw signature bytes (RSA or ECDSA, DER or r||s), exactly as the CA sent them.
    pub signature: Vec<u8>,
}

/// Where a transaction stands at the CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOutcome {
    /// Waiting for the citizen; `ca_reference` is what [`crate::CaAdapter::poll`] takes.
    Pending {
        /// The CA's handle of the transaction.
        ca_reference: String,
    },
    /// The CA returned signatures (still to be verified by the gateway).
    Signed(Vec<RawSignature>),
    /// The citizen refused.
    Rejected,
    /// The CA gave up waiting for the citizen.
    Expired,
    /// The CA says the transaction failed for another reason (message for logs only).
    Failed(String),
}

/// A login session at a CA: the access token its API wants on every call.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaSession {
    /// The token, sent as the CA requires (usually `Authorization: Bearer`).
    pub token: String,
    /// How long the CA said it stays valid, in seconds, from when it was issued.
    pub expires_in_secs: u64,
}

impl fmt::Debug for CaSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens never reach logs.
        f.debug_struct("CaSession")
            .field("token", &"[REDACTED]")
            .field("expires_in_secs", &self.expires_in_secs)
            .finish()
    }
}
