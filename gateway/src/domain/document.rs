//! Documents signed as files: what a portal asks for (format, level, visible signature,
//! where the file is kept meanwhile) and what a transaction records about each one, from
//! its preparation to the signed file.
//!
//! A document sent as content is prepared as soon as the signer's certificate is chosen:
//! the CMS signed attributes (over the PDF's ByteRange or the whole file) are fixed then,
//! and the digest the CA signs is theirs. The record keeps those attributes, so whichever
//! instance receives the CA's signature can assemble the signed file.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::transaction::serde_bytes_base64;

/// What kind of signed file is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentFormat {
    /// A PDF with a PAdES signature inside (ETSI EN 319 142-1), as an incremental update.
    Pades,
    /// Any file, with a detached CAdES signature beside it (`.p7s`, ETSI EN 319 122-1).
    Cades,
}

impl DocumentFormat {
    /// The signed file's media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Pades => "application/pdf",
            Self::Cades => "application/pkcs7-signature",
        }
    }
}

/// A baseline signature level (ETSI EN 319 142-1 / 319 122-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SignatureLevel {
    /// The signature, the signer's certificate and its chain.
    #[serde(rename = "B-B")]
    Basic,
    /// B-B with an RFC 3161 time-stamp over the signature value: proof it existed then.
    #[serde(rename = "B-T")]
    Timestamped,
    /// B-T with the revocation data of the signer's path in the PDF's DSS, where the gateway
    /// gathered it (PAdES only).
    #[serde(rename = "B-LT")]
    LongTerm,
}

impl SignatureLevel {
    /// The level's name, as ETSI writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "B-B",
            Self::Timestamped => "B-T",
            Self::LongTerm => "B-LT",
        }
    }

    /// Whether the level needs a time-stamp.
    pub fn needs_time_stamp(self) -> bool {
        self >= Self::Timestamped
    }
}

/// Where a document waits between submission and the CA's signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentRetention {
    /// The gateway keeps the prepared file in its store, for as long as the transaction, and
    /// makes the signed file as soon as the signature is verified.
    #[default]
    Gateway,
    /// The gateway keeps only the signed attributes; the portal sends the file again to
    /// `POST /v1/signatures/{id}/documents/{document_id}/assemble` once the transaction is
    /// signed (the two-step mode of EU DSS's getDataToSign / signDocument).
    Portal,
}

/// A visible signature box, as the portal asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisibleSignatureRequest {
    /// The page, counted from 1.
    pub page: u32,
    /// `[x1, y1, x2, y2]` in points from the page's lower-left corner.
    pub rect: [f32; 4],
    /// The lines shown; by default the signer's name and the signing time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
}

/// How one document sent as content is to be signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentOptions {
    /// PAdES or CAdES.
    pub format: DocumentFormat,
    /// The level asked for.
    pub level: SignatureLevel,
    /// Whether a failing time-stamping authority may leave the document at B-B rather than
    /// fail the transaction.
    pub allow_level_fallback: bool,
    /// Where the file waits meanwhile.
    pub retention: DocumentRetention,
    /// A visible signature (PAdES only).
    pub visible_signature: Option<VisibleSignatureRequest>,
}

/// What a transaction records about a document sent as content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentPlan {
    /// How it is to be signed.
    pub options: DocumentOptions,
    /// The CMS signed attributes, DER: the CA signs their SHA-256.
    #[serde(with = "serde_bytes_base64")]
    pub signed_attributes: Vec<u8>,
    /// The claimed signing time (the PDF's `/M`), kept so a file sent again is prepared the
    /// same way.
    #[serde(with = "time::serde::rfc3339")]
    pub signing_time: OffsetDateTime,
    /// The file as the portal sent it: its size and SHA-256.
    pub original_bytes: u64,
    /// SHA-256 of the file as sent.
    #[serde(with = "serde_bytes_base64")]
    pub original_sha256: Vec<u8>,
    /// The signed file, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignedDocument>,
}

/// A signed file the gateway made and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDocument {
    /// The level reached.
    pub level: SignatureLevel,
    /// Why it is lower than asked, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_note: Option<String>,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256.
    #[serde(with = "serde_bytes_base64")]
    pub sha256: Vec<u8>,
    /// The time-stamp's time, at B-T and above.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub time_stamped_at: Option<OffsetDateTime>,
    /// The name the file is stored under (unique to the instance that made it, so that two
    /// instances assembling at once never overwrite the file the record names).
    pub stored_as: String,
}
