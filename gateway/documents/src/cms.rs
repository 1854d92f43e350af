//! CMS (RFC 5652) around a signature the citizen's CA made remotely: the signed attributes
//! whose digest the CA signs, the SignedData assembled once the signature is back, detached
//! CAdES, and the validation of a SignedData.
//!
//! The gateway never holds a private key, so nothing here signs. The flow is:
//! 1. [`SignedAttributes::new`] over the content's SHA-256 (the PDF ByteRange, or the file
//!    for a `.p7s`) and the signer's certificate, in an [`AttributeProfile`] (PAdES: no
//!    signing-time; CAdES: with it). Its [`SignedAttributes::digest_to_sign`] is what the CA
//!    signs; [`SignedAttributes::to_der`] / [`SignedAttributes::from_der`] carry it across
//!    the wait for the citizen's approval.
//! 2. [`assemble`] wraps the CA's raw signature into a detached SignedData ([`SignedCms`]),
//!    after checking it with the certificate's key.
//! 3. For the B-T level, a time-stamp over the signature ([`crate::timestamp`]) is added
//!    with [`SignedCms::with_signature_time_stamp`].
//!
//! [`validate`] reads any SignedData back (a `.p7s`, a PDF's `/Contents`) and reports what
//! holds. The structures are `cms`'s and `x509-cert`'s (the der 0.7 generation), encoded by
//! `der`; only the ESS signingCertificateV2 types (RFC 5035), which `cms` 0.2 lacks, are
//! declared here (module `ess`).

mod algorithm;
pub(crate) mod attributes;
pub mod cades;
pub(crate) mod ess;
pub(crate) mod raw;
mod signed_data;
pub(crate) mod signer;
mod validation;

pub use algorithm::SignatureAlgorithm;
pub use attributes::{AttributeProfile, SignedAttributes};
pub use signed_data::{SignedCms, assemble};
pub use validation::{CmsValidation, SigningCertificateCheck, TimeStampCheck, validate};

use der::oid::ObjectIdentifier;

/// id-aa-signatureTimeStampToken (RFC 3161 Appendix A): the unsigned attribute holding a
/// time-stamp token over a SignerInfo's signature.
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// id-ct-TSTInfo (RFC 3161): the eContentType of a time-stamp token.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Why signed attributes, a SignedData or its validation could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The input is not the DER structure expected (BER, truncated, trailing bytes, wrong
    /// type). Third-party BER is not read: der 0.7 decodes DER only.
    #[error("malformed CMS: {0}")]
    Malformed(String),
    /// Something the gateway could not encode (should not happen with valid inputs).
    #[error("encoding the CMS failed: {0}")]
    Encoding(String),
    /// A certificate given (signer or chain) is not DER X.509.
    #[error("a certificate cannot be parsed: {0}")]
    MalformedCertificate(String),
    /// The structure is well formed but lacks what this profile needs (content-type,
    /// message-digest, signingCertificateV2, one SignerInfo, a signer certificate...).
    #[error("incomplete CMS: {0}")]
    Incomplete(&'static str),
    /// An algorithm other than those the gateway supports (SHA-256 digests; RSA PKCS#1 v1.5,
    /// RSA-PSS with SHA-256/MGF1-SHA-256/salt 32, ECDSA P-256).
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The signed attributes name another certificate than the one given as the signer's.
    #[error("the signed attributes were made for another signer certificate")]
    SignerCertificateMismatch,
    /// The signature does not verify with the signer certificate's key over the signed
    /// attributes, in the declared algorithm.
    #[error("the signature does not verify over the signed attributes: {0}")]
    BadSignature(String),
    /// The time-stamp token handed over is not over this signature.
    #[error("the time-stamp token is not over this signature")]
    TimeStampMismatch,
}

impl From<der::Error> for CmsError {
    fn from(error: der::Error) -> Self {
        Self::Encoding(error.to_string())
    }
}

/// Decodes `der` as a `T`, every failure a [`CmsError::Malformed`] naming `what`.
pub(crate) fn decode<'a, T: der::Decode<'a>>(der: &'a [u8], what: &str) -> Result<T, CmsError> {
    T::from_der(der).map_err(|error| CmsError::Malformed(format!("{what}: {error}")))
}
