//! How [`super::RedisStore`] lays a transaction record out in Redis, and the issuer chains it
//! keeps apart from the records.
//!
//! A record is one binary-safe string:
//!
//! ```text
//! <version>\n<issuer chain digest, or nothing when the chain is empty>\n<JSON>\n<leaf DER>
//! ```
//!
//! - `version` is the transaction's version in decimal, first, so the compare-and-set script
//!   reads it without decoding the record;
//! - the JSON is the [`Transaction`] with its certificate's DER left out (`certificate_der`
//!   empty, `chain_der` empty): serde_json writes no newline, so the first three newlines
//!   delimit the parts;
//! - the leaf certificate follows raw (a third smaller than its base64);
//! - the issuer chain, the same for every citizen of an issuing CA, is stored once under its
//!   digest ([`IssuerChain`]) and named here.
//!
//! The previous layout, a hash whose `doc` field held the whole JSON (chain included), is still
//! read: a record starting with `{` is that JSON.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use crate::domain::transaction::Transaction;
use crate::store::StoreError;

/// The issuers of a signer's certificate as the CA sent them, as stored once for every record
/// that refers to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IssuerChain {
    /// What names the chain in the store: SHA-256, lowercase hex, over each certificate's DER
    /// preceded by its length (8 bytes, big-endian), in order. Two chains have one digest
    /// only if they are the same certificates in the same order.
    pub(super) digest: String,
    /// The chain as stored: a JSON list of the certificates' DER in base64, in order.
    pub(super) stored: String,
    /// The certificates' DER, in order.
    pub(super) certificates: Vec<Vec<u8>>,
}

impl IssuerChain {
    /// The chain of these certificates (DER, in order), ready to be stored.
    pub(super) fn of(certificates: Vec<Vec<u8>>) -> Result<Self, StoreError> {
        let encoded: Vec<String> = certificates
            .iter()
            .map(|der| STANDARD.encode(der))
            .collect();
        Ok(Self {
            digest: chain_digest(&certificates),
            stored: serde_json::to_string(&encoded).map_err(corrupt)?,
            certificates,
        })
    }

    /// The certificates of a chain read back from the store under `digest`; a value that is
    /// not a chain, or not the one `digest` names, is corrupt.
    pub(super) fn read(digest: &str, stored: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        let corrupt = |why: String| StoreError::Corrupt(format!("issuer chain {digest}: {why}"));
        let encoded: Vec<String> =
            serde_json::from_slice(stored).map_err(|error| corrupt(error.to_string()))?;
        let chain = encoded
            .iter()
            .map(|text| STANDARD.decode(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| corrupt(error.to_string()))?;
        if chain_digest(&chain) != digest {
            return Err(corrupt("its certificates do not have this digest".into()));
        }
        Ok(chain)
    }
}

/// See [`IssuerChain::digest`].
fn chain_digest(chain: &[Vec<u8>]) -> String {
    let mut hasher = Sha256::new();
    for der in chain {
        hasher.update((der.len() as u64).to_be_bytes());
        hasher.update(der);
    }
    hex::encode(hasher.finalize())
}

/// A transaction as it is written.
#[derive(Debug)]
pub(super) struct EncodedRecord {
    /// The record's value.
    pub(super) value: Vec<u8>,
    /// Its issuer chain, to be kept under its own key; `None` when the chain is empty.
    pub(super) chain: Option<IssuerChain>,
}

/// The four parts of a record of this layout (see the module's documentation), as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordParts<'a> {
    /// The version, decimal.
    pub version: &'a [u8],
    /// The issuer chain's digest, hex; empty when the chain is empty.
    pub chain_digest: &'a [u8],
    /// The transaction's JSON, without its certificate's DER.
    pub json: &'a [u8],
    /// The signer's certificate, DER.
    pub leaf: &'a [u8],
}

impl<'a> RecordParts<'a> {
    /// The parts of `value`; `None` when it has fewer than four (a record of the previous
    /// layout, or no record).
    pub fn of(value: &'a [u8]) -> Option<Self> {
        let mut parts = value.splitn(4, |byte| *byte == b'\n');
        Some(Self {
            version: parts.next()?,
            chain_digest: parts.next()?,
            json: parts.next()?,
            leaf: parts.next()?,
        })
    }
}

/// A record as read.
#[derive(Debug, PartialEq)]
pub(super) enum DecodedRecord {
    /// The whole transaction (its chain is empty, or the record is of the previous layout).
    Complete(Transaction),
    /// The transaction without its issuer chain, which is stored under `chain_digest`.
    WithoutChain {
        /// Everything but `certificate.chain_der`.
        transaction: Transaction,
        /// The chain's [`IssuerChain::digest`].
        chain_digest: String,
    },
}

/// The record of `transaction`, and its issuer chain to keep beside it.
pub(super) fn encode(transaction: &Transaction) -> Result<EncodedRecord, StoreError> {
    let mut without_der = transaction.clone();
    let leaf = std::mem::take(&mut without_der.certificate.certificate_der);
    let chain = std::mem::take(&mut without_der.certificate.chain_der);
    let chain = if chain.is_empty() {
        None
    } else {
        Some(IssuerChain::of(chain)?)
    };
    let json = serde_json::to_vec(&without_der).map_err(corrupt)?;
    let digest = chain.as_ref().map_or("", |chain| chain.digest.as_str());
    let mut value = Vec::with_capacity(json.len() + leaf.len() + digest.len() + 24);
    // Writing to a Vec cannot fail.
    let _ = write!(value, "{}\n{digest}\n", transaction.version);
    value.extend_from_slice(&json);
    value.push(b'\n');
    value.extend_from_slice(&leaf);
    Ok(EncodedRecord { value, chain })
}

/// A stored record, of this layout or the previous one.
pub(super) fn decode(value: &[u8]) -> Result<DecodedRecord, StoreError> {
    if value.starts_with(b"{") {
        return serde_json::from_slice(value)
            .map(DecodedRecord::Complete)
            .map_err(corrupt);
    }
    let Some(RecordParts {
        version,
        chain_digest,
        json,
        leaf,
    }) = RecordParts::of(value)
    else {
        return Err(StoreError::Corrupt(
            "transaction record has fewer than four parts".into(),
        ));
    };
    let mut transaction: Transaction = serde_json::from_slice(json).map_err(corrupt)?;
    if version != transaction.version.to_string().as_bytes() {
        return Err(StoreError::Corrupt(format!(
            "transaction {} is stored as version {:?} but is version {}",
            transaction.id,
            String::from_utf8_lossy(version),
            transaction.version
        )));
    }
    leaf.clone_into(&mut transaction.certificate.certificate_der);
    if chain_digest.is_empty() {
        return Ok(DecodedRecord::Complete(transaction));
    }
    let chain_digest = std::str::from_utf8(chain_digest)
        .ok()
        .filter(|digest| digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "transaction {} names an issuer chain {:?}",
                transaction.id,
                String::from_utf8_lossy(chain_digest)
            ))
        })?
        .to_owned();
    Ok(DecodedRecord::WithoutChain {
        transaction,
        chain_digest,
    })
}

fn corrupt(error: serde_json::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::transaction::tests::sample;

    fn transaction() -> Transaction {
        let mut transaction = sample(OffsetDateTime::now_utc().replace_nanosecond(0).unwrap());
        transaction.version = 12;
        transaction.certificate.certificate_der = b"leaf\n\0\xff with newlines\n".to_vec();
        transaction.certificate.chain_der = vec![b"issuing".to_vec(), b"root".to_vec()];
        transaction
    }

    #[test]
    fn a_record_keeps_everything_but_its_chain_and_names_the_chain() {
        let transaction = transaction();
        let encoded = encode(&transaction).unwrap();
        let chain = encoded.chain.clone().unwrap();
        assert!(encoded.value.starts_with(b"12\n"));
        let text = String::from_utf8_lossy(&encoded.value);
        assert!(text.contains(&chain.digest));
        assert!(!text.contains(&STANDARD.encode(b"issuing")), "{text}");
        let DecodedRecord::WithoutChain {
            transaction: mut read,
            chain_digest,
        } = decode(&encoded.value).unwrap()
        else {
            panic!("the chain is stored apart");
        };
        assert_eq!(chain_digest, chain.digest);
        assert!(read.certificate.chain_der.is_empty());
        read.certificate.chain_der =
            IssuerChain::read(&chain.digest, chain.stored.as_bytes()).unwrap();
        assert_eq!(read, transaction);
    }

    #[test]
    fn a_record_with_no_chain_is_complete() {
        let mut transaction = transaction();
        transaction.certificate.chain_der.clear();
        let encoded = encode(&transaction).unwrap();
        assert_eq!(encoded.chain, None);
        assert_eq!(
            decode(&encoded.value).unwrap(),
            DecodedRecord::Complete(transaction)
        );
    }

    #[test]
    fn a_record_of_the_previous_layout_is_read_whole() {
        let transaction = transaction();
        let json = serde_json::to_vec(&transaction).unwrap();
        assert_eq!(decode(&json).unwrap(), DecodedRecord::Complete(transaction));
    }

    #[test]
    fn chain_digests_tell_every_split_of_the_bytes_apart() {
        let digest = |chain: &[&[u8]]| {
            IssuerChain::of(chain.iter().map(|der| der.to_vec()).collect())
                .unwrap()
                .digest
        };
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        assert_ne!(digest(&[b"abc"]), digest(&[b"abc", b""]));
        assert_eq!(digest(&[b"ab", b"c"]), digest(&[b"ab", b"c"]));
        assert_eq!(digest(&[b"x"]).len(), 64);
    }

    #[test]
    fn a_chain_that_is_not_the_one_named_is_corrupt() {
        let chain = IssuerChain::of(vec![b"issuing".to_vec()]).unwrap();
        let other = IssuerChain::of(vec![b"another".to_vec()]).unwrap();
        assert!(matches!(
            IssuerChain::read(&chain.digest, other.stored.as_bytes()),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            IssuerChain::read(&chain.digest, b"not json"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn damaged_records_are_corrupt() {
        let encoded = encode(&transaction()).unwrap().value;
        let wrong_version = [b"13".as_slice(), &encoded[2..]].concat();
        let mut bad_digest = encoded;
        bad_digest[3] = b'z';
        for damaged in [
            b"12\nabc".to_vec(),
            wrong_version,
            bad_digest,
            b"12\n\nnot json\n".to_vec(),
        ] {
            assert!(
                matches!(decode(&damaged), Err(StoreError::Corrupt(_))),
                "{}",
                String::from_utf8_lossy(&damaged)
            );
        }
    }
}
