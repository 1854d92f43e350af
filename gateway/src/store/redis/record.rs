//! How [`super::RedisStore`] lays a transaction record out in Redis, and the issuer chains it
//! keeps apart from the records.
//!
//! A record is one binary-safe string:
//!
//! ```text
//! <version>\n<format>\n<issuer chain digest, or nothing when the chain is empty>\n<payload>
//! ```
//!
//! - `version` is the transaction's version in decimal, first, so the compare-and-set script
//!   reads it without decoding the record;
//! - `format` says how the payload is made; `1` is the only one: a raw deflate stream
//!   (RFC 1951, a 32 KiB window) of the transaction's JSON, a newline, then its signer's
//!   certificate (DER), deflated with a preset dictionary: the issuer chain's certificates
//!   (DER, in order) then [`JSON_DICTIONARY_1`]. The JSON is the [`Transaction`] with its
//!   certificate's DER left out (`certificate_der` and `chain_der` empty); serde_json writes
//!   no newline, so the first newline ends it. The dictionary is what makes a record small:
//!   the JSON's names are in it, and most of a certificate other than its key repeats its
//!   issuer's (names, extensions), so a record deflates to about half its size;
//! - the issuer chain, the same for every citizen of an issuing CA, is stored once under its
//!   digest ([`IssuerChain`]) and named here.
//!
//! The previous layout, a hash whose `doc` field held the whole JSON (chain included), is still
//! read: a record starting with `{` is that JSON.

use std::cell::Cell;
use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use sha2::{Digest as _, Sha256};

use crate::domain::transaction::Transaction;
use crate::store::StoreError;

/// The format [`encode`] writes (see the module's documentation).
const FORMAT_1: &[u8] = b"1";

/// The end of the preset dictionary of format 1: a transaction's JSON names and its usual
/// values, so that a record's JSON deflates to little more than what is its own. Never change
/// it: records are read with the dictionary they were written with. A better one is a new
/// format, and this one is read as long as records of it may live.
const JSON_DICTIONARY_1: &[u8] = br#"{"id":"","client_id":"","provider":"","user_id":"","status":"pending","status":"signed","status":"failed","hash_algorithm":"sha256","hash_algorithm":"sha384","hash_algorithm":"sha512","description":"","created_at":"20","updated_at":"20","expires_at":"20","certificate":{"certificate_id":"","certificate_der":"","chain_der":[]},"documents":[{"id":"","name":"","digest":"","signature":null}],"submission":{"state":"intended","caller_reference":null},"submission":{"state":"accepted","ca_reference":""},"error":null,"version":"#;

/// The largest payload inflated: a damaged record is corrupt, not a reason to run out of
/// memory.
const MAX_INFLATED: usize = 16 * 1024 * 1024;

/// The issuers of a signer's certificate as the CA sent them, as stored once for every record
/// that refers to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerChain {
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
    pub fn read(digest: &str, stored: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
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
    /// How the payload is made.
    pub format: &'a [u8],
    /// The issuer chain's digest, hex; empty when the chain is empty.
    pub chain_digest: &'a [u8],
    /// The transaction's JSON and certificate, deflated.
    pub payload: &'a [u8],
}

impl<'a> RecordParts<'a> {
    /// The parts of `value`; `None` when it has fewer than four (a record of the previous
    /// layout, or no record).
    pub fn of(value: &'a [u8]) -> Option<Self> {
        let mut parts = value.splitn(4, |byte| *byte == b'\n');
        Some(Self {
            version: parts.next()?,
            format: parts.next()?,
            chain_digest: parts.next()?,
            payload: parts.next()?,
        })
    }

    /// The issuer chain's digest; `None` when the chain is empty.
    pub fn chain_digest(&self) -> Result<Option<&'a str>, StoreError> {
        if self.chain_digest.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(self.chain_digest)
            .ok()
            .filter(|digest| digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(Some)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "a transaction record names an issuer chain {:?}",
                    String::from_utf8_lossy(self.chain_digest)
                ))
            })
    }

    /// The transaction's JSON (without its certificate's DER) and its signer's certificate
    /// (DER), inflated with `chain`, the certificates of the chain the record names.
    pub fn contents(&self, chain: &[Vec<u8>]) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        if self.format != FORMAT_1 {
            return Err(StoreError::Corrupt(format!(
                "transaction record of unknown format {:?}",
                String::from_utf8_lossy(self.format)
            )));
        }
        let mut json = inflate(self.payload, &dictionary(chain))?;
        let newline = json.iter().position(|byte| *byte == b'\n').ok_or_else(|| {
            StoreError::Corrupt("transaction record without its certificate".into())
        })?;
        let leaf = json.split_off(newline + 1);
        json.truncate(newline);
        Ok((json, leaf))
    }
}

/// A record as read.
#[derive(Debug, PartialEq)]
pub(super) enum DecodedRecord<'a> {
    /// The whole transaction: the record is of the previous layout.
    Whole(Box<Transaction>),
    /// A record of this layout, whose payload needs its issuer chain (see [`unpack`]).
    Packed(RecordParts<'a>),
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
    let mut contents = serde_json::to_vec(&without_der).map_err(corrupt)?;
    contents.push(b'\n');
    contents.extend_from_slice(&leaf);
    let payload = deflate(
        &contents,
        &dictionary(chain.as_ref().map_or(&[], |chain| &chain.certificates)),
    )?;
    let digest = chain.as_ref().map_or("", |chain| chain.digest.as_str());
    let mut value = Vec::with_capacity(payload.len() + digest.len() + 24);
    // Writing to a Vec cannot fail.
    let _ = writeln!(value, "{}", transaction.version);
    value.extend_from_slice(FORMAT_1);
    let _ = write!(value, "\n{digest}\n");
    value.extend_from_slice(&payload);
    Ok(EncodedRecord { value, chain })
}

/// A stored record, of this layout or the previous one.
pub(super) fn decode(value: &[u8]) -> Result<DecodedRecord<'_>, StoreError> {
    if value.starts_with(b"{") {
        return serde_json::from_slice(value)
            .map(|whole| DecodedRecord::Whole(Box::new(whole)))
            .map_err(corrupt);
    }
    RecordParts::of(value)
        .map(DecodedRecord::Packed)
        .ok_or_else(|| StoreError::Corrupt("transaction record has fewer than four parts".into()))
}

/// The whole transaction in `parts`, with `chain`, the certificates of the chain it names.
pub(super) fn unpack(
    parts: &RecordParts<'_>,
    chain: &[Vec<u8>],
) -> Result<Transaction, StoreError> {
    let (json, leaf) = parts.contents(chain)?;
    let mut transaction: Transaction = serde_json::from_slice(&json).map_err(corrupt)?;
    if parts.version != transaction.version.to_string().as_bytes() {
        return Err(StoreError::Corrupt(format!(
            "transaction {} is stored as version {:?} but is version {}",
            transaction.id,
            String::from_utf8_lossy(parts.version),
            transaction.version
        )));
    }
    transaction.certificate.certificate_der = leaf;
    chain.clone_into(&mut transaction.certificate.chain_der);
    Ok(transaction)
}

/// The preset dictionary of format 1 for a record whose issuer chain is `chain`.
fn dictionary(chain: &[Vec<u8>]) -> Vec<u8> {
    let mut dictionary = chain.concat();
    dictionary.extend_from_slice(JSON_DICTIONARY_1);
    dictionary
}

thread_local! {
    /// This thread's compressor, reset between records: making one zeroes some hundred
    /// KiB of tables, and was most of a record's encoding time (14 µs, against 8 reset).
    static DEFLATER: Cell<Option<Compress>> = const { Cell::new(None) };
    /// This thread's decompressor, reset between records.
    static INFLATER: Cell<Option<Decompress>> = const { Cell::new(None) };
}

/// `input` as a raw deflate stream with a preset `dictionary`.
fn deflate(input: &[u8], dictionary: &[u8]) -> Result<Vec<u8>, StoreError> {
    let failed = |error: flate2::CompressError| {
        StoreError::Corrupt(format!("deflating a transaction record: {error}"))
    };
    let mut deflater = DEFLATER
        .take()
        .map(|mut used| {
            used.reset();
            used
        })
        // The fastest level: half the time of the default one (about 15 µs, not 35, for a
        // record), for a payload a few percent larger.
        .unwrap_or_else(|| Compress::new(Compression::fast(), false));
    deflater.set_dictionary(dictionary).map_err(failed)?;
    let mut output = Vec::with_capacity(input.len() / 2 + 64);
    loop {
        let consumed = usize::try_from(deflater.total_in()).unwrap_or(input.len());
        if output.len() == output.capacity() {
            output.reserve(output.capacity());
        }
        let status = deflater
            .compress_vec(
                input.get(consumed..).unwrap_or_default(),
                &mut output,
                FlushCompress::Finish,
            )
            .map_err(failed)?;
        if status == Status::StreamEnd {
            // Kept for this thread's next record only when it ended well.
            DEFLATER.set(Some(deflater));
            return Ok(output);
        }
    }
}

/// What [`deflate`] made of it, given the same `dictionary`.
fn inflate(input: &[u8], dictionary: &[u8]) -> Result<Vec<u8>, StoreError> {
    let damaged = |why: String| StoreError::Corrupt(format!("transaction record: {why}"));
    let mut inflater = INFLATER
        .take()
        .map(|mut used| {
            used.reset(false);
            used
        })
        .unwrap_or_else(|| Decompress::new(false));
    inflater
        .set_dictionary(dictionary)
        .map_err(|error| damaged(error.to_string()))?;
    let mut output = Vec::with_capacity(input.len() * 2 + 64);
    loop {
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(input.len());
        if output.len() == output.capacity() {
            if output.len() >= MAX_INFLATED {
                return Err(damaged(format!("inflates past {MAX_INFLATED} bytes")));
            }
            output.reserve(output.capacity());
        }
        let before = (inflater.total_in(), output.len());
        let status = inflater
            .decompress_vec(
                input.get(consumed..).unwrap_or_default(),
                &mut output,
                FlushDecompress::Finish,
            )
            .map_err(|error| damaged(error.to_string()))?;
        if status == Status::StreamEnd {
            INFLATER.set(Some(inflater));
            return Ok(output);
        }
        if (inflater.total_in(), output.len()) == before && output.len() < output.capacity() {
            return Err(damaged("its payload ends early".into()));
        }
    }
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

    /// The whole transaction in a record of this layout, its chain being `chain`.
    fn unpacked(value: &[u8], chain: &[Vec<u8>]) -> Result<Transaction, StoreError> {
        match decode(value)? {
            DecodedRecord::Packed(parts) => unpack(&parts, chain),
            DecodedRecord::Whole(_) => panic!("a record of this layout"),
        }
    }

    #[test]
    fn a_record_keeps_everything_but_its_chain_and_names_the_chain() {
        let transaction = transaction();
        let encoded = encode(&transaction).unwrap();
        let chain = encoded.chain.clone().unwrap();
        assert!(encoded.value.starts_with(b"12\n1\n"));
        let DecodedRecord::Packed(parts) = decode(&encoded.value).unwrap() else {
            panic!("a record of this layout");
        };
        assert_eq!(parts.chain_digest().unwrap(), Some(chain.digest.as_str()));
        let (json, leaf) = parts.contents(&chain.certificates).unwrap();
        assert_eq!(leaf, transaction.certificate.certificate_der);
        let json = String::from_utf8(json).unwrap();
        assert!(json.contains(r#""chain_der":[]"#), "{json}");
        let read = IssuerChain::read(&chain.digest, chain.stored.as_bytes()).unwrap();
        assert_eq!(unpacked(&encoded.value, &read).unwrap(), transaction);
    }

    #[test]
    fn a_record_is_read_only_with_its_own_chain() {
        let transaction = transaction();
        let encoded = encode(&transaction).unwrap();
        let other = vec![b"another issuing CA".to_vec()];
        assert_ne!(unpacked(&encoded.value, &other).ok(), Some(transaction));
    }

    #[test]
    fn a_record_with_no_chain_names_none() {
        let mut transaction = transaction();
        transaction.certificate.chain_der.clear();
        let encoded = encode(&transaction).unwrap();
        assert_eq!(encoded.chain, None);
        let DecodedRecord::Packed(parts) = decode(&encoded.value).unwrap() else {
            panic!("a record of this layout");
        };
        assert_eq!(parts.chain_digest().unwrap(), None);
        assert_eq!(unpack(&parts, &[]).unwrap(), transaction);
    }

    #[test]
    fn a_record_of_the_previous_layout_is_read_whole() {
        let transaction = transaction();
        let json = serde_json::to_vec(&transaction).unwrap();
        assert_eq!(
            decode(&json).unwrap(),
            DecodedRecord::Whole(Box::new(transaction))
        );
    }

    #[test]
    fn a_record_deflates_with_the_dictionary() {
        let mut transaction = transaction();
        transaction.certificate.certificate_der = vec![7; 800];
        let json = serde_json::to_vec(&transaction).unwrap();
        let encoded = encode(&transaction).unwrap();
        assert!(
            encoded.value.len() * 4 < json.len(),
            "{} bytes stored for {} of JSON",
            encoded.value.len(),
            json.len()
        );
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
        let transaction = transaction();
        let chain = &transaction.certificate.chain_der;
        let encoded = encode(&transaction).unwrap().value;
        let wrong_version = [b"13".as_slice(), &encoded[2..]].concat();
        let unknown_format = [b"12\n2".as_slice(), &encoded[4..]].concat();
        let truncated = encoded[..encoded.len() - 5].to_vec();
        let mut bad_digest = encoded;
        bad_digest[5] = b'z';
        for damaged in [wrong_version, unknown_format, truncated, bad_digest] {
            let result = match decode(&damaged) {
                Ok(DecodedRecord::Packed(parts)) => {
                    parts.chain_digest().and_then(|_| unpack(&parts, chain))
                }
                Ok(DecodedRecord::Whole(whole)) => Ok(*whole),
                Err(error) => Err(error),
            };
            assert!(
                matches!(result, Err(StoreError::Corrupt(_))),
                "{}",
                String::from_utf8_lossy(&damaged)
            );
        }
        assert!(matches!(decode(b"12\nabc"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn the_threads_reused_compressors_start_each_record_afresh() {
        let first = transaction();
        let mut second = transaction();
        second.description = "a different record, deflated in between".into();
        second.certificate.chain_der = vec![b"another issuer".to_vec()];
        let encoded = encode(&first).unwrap().value;
        let _ = encode(&second).unwrap();
        // A damaged record leaves the decompressor in the middle of a stream.
        let truncated = &encoded[..encoded.len() - 5];
        let Ok(DecodedRecord::Packed(parts)) = decode(truncated) else {
            panic!("a truncated payload still has its header")
        };
        assert!(unpack(&parts, &first.certificate.chain_der).is_err());
        assert_eq!(encode(&first).unwrap().value, encoded);
        assert_eq!(
            unpacked(&encoded, &first.certificate.chain_der).unwrap(),
            first
        );
        let second_encoded = encode(&second).unwrap().value;
        assert_eq!(
            unpacked(&second_encoded, &second.certificate.chain_der).unwrap(),
            second
        );
    }
}
