//! The `ca_reference` of a transaction waiting for the citizen's consent.
//!
//! CSC splits signing in two: `credentials/authorize` (the consent, which yields a SAD) and
//! `signatures/signHash` (which needs the credential, the SAD, the hashes and the algorithms
//! again). The adapter keeps no state, and the gateway may poll from another instance, so
//! everything `signHash` needs besides the SAD travels in the reference: `csc1.` followed by
//! unpadded base64url of a small JSON object. It holds no secret (the SAD is fetched and used
//! within one poll and never stored); hashes and document ids are no more sensitive than the
//! gateway's own transaction record.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kyso_adapter_core::AdapterError;
use serde::{Deserialize, Serialize};

/// The version prefix; a future layout takes another.
const PREFIX: &str = "csc1.";

/// What a poll needs to finish a transaction once the citizen consented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingConsent {
    /// The `handle` of `credentials/authorize`'s 202 answer.
    #[serde(rename = "h")]
    pub(crate) handle: String,
    /// The credential (the certificate id).
    #[serde(rename = "c")]
    pub(crate) credential_id: String,
    /// `hashAlgorithmOID`.
    #[serde(rename = "a")]
    pub(crate) hash_oid: String,
    /// `signAlgo`.
    #[serde(rename = "s")]
    pub(crate) sign_algo: String,
    /// `(document id, base64 digest)`, in the request's order.
    #[serde(rename = "d")]
    pub(crate) documents: Vec<(String, String)>,
}

impl PendingConsent {
    /// The reference string.
    pub(crate) fn encode(&self) -> Result<String, AdapterError> {
        let json = serde_json::to_vec(self)
            .map_err(|error| AdapterError::Internal(format!("encoding the reference: {error}")))?;
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json)))
    }

    /// Reads a reference made by [`PendingConsent::encode`].
    pub(crate) fn decode(reference: &str) -> Result<Self, AdapterError> {
        let malformed = || AdapterError::InvalidRequest("not a CSC adapter reference".to_owned());
        let encoded = reference.strip_prefix(PREFIX).ok_or_else(malformed)?;
        let json = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| malformed())?;
        let pending: Self = serde_json::from_slice(&json).map_err(|_| malformed())?;
        if pending.handle.is_empty() || pending.documents.is_empty() {
            return Err(malformed());
        }
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_round_trips() {
        let pending = PendingConsent {
            handle: "8a2f".to_owned(),
            credential_id: "cred/1".to_owned(),
            hash_oid: "2.16.840.1.101.3.4.2.1".to_owned(),
            sign_algo: "1.2.840.113549.1.1.11".to_owned(),
            documents: vec![("hợp-đồng 1".to_owned(), "AAEC".to_owned())],
        };
        let reference = pending.encode().unwrap();
        assert!(reference.starts_with("csc1."));
        assert!(
            reference[5..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(PendingConsent::decode(&reference).unwrap(), pending);
    }

    #[test]
    fn foreign_references_are_refused() {
        for reference in ["", "csc1.", "csc1.!!!", "vnpt-123", "csc1.e30"] {
            assert!(
                matches!(
                    PendingConsent::decode(reference),
                    Err(AdapterError::InvalidRequest(_))
                ),
                "{reference:?}"
            );
        }
    }
}
