//! Detached CAdES (`.p7s`, ETSI EN 319 122-1 baseline): a file signed without embedding it.
//!
//! - **B-B**: [`prepare`] the signed attributes (CAdES profile: with signing-time) over the
//!   file's SHA-256, have the CA sign [`SignedAttributes::digest_to_sign`], then
//!   [`assemble`](super::assemble) the `.p7s`.
//! - **B-T**: then ask a TSA for a time-stamp over the signature
//!   ([`TimeStampRequest::for_signature`](crate::timestamp::TimeStampRequest::for_signature)
//!   on [`SignedCms::signature_value`](super::SignedCms::signature_value)) and add it with
//!   [`SignedCms::with_signature_time_stamp`](super::SignedCms::with_signature_time_stamp).
//!
//! [`validate_detached`] checks a `.p7s` against the file it signs.

use kyso_verify::TrustAnchors;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::{AttributeProfile, CmsError, CmsValidation, SignedAttributes, validate};

/// The SHA-256 of a file: the message-digest of its detached signature.
pub fn content_digest(content: &[u8]) -> [u8; 32] {
    Sha256::digest(content).into()
}

/// The signed attributes of a detached CAdES signature of `content` by the certificate
/// `signer_certificate` (DER), claiming `signing_time`.
///
/// # Errors
/// Those of [`SignedAttributes::new`].
pub fn prepare(
    content: &[u8],
    signer_certificate: &[u8],
    signing_time: OffsetDateTime,
) -> Result<SignedAttributes, CmsError> {
    SignedAttributes::new(
        &content_digest(content),
        signer_certificate,
        AttributeProfile::Cades { signing_time },
    )
}

/// [`validate`] of the `.p7s` `p7s` against the file `content`.
///
/// # Errors
/// Those of [`validate`].
pub fn validate_detached(
    p7s: &[u8],
    content: &[u8],
    tsa_anchors: Option<&TrustAnchors>,
) -> Result<CmsValidation, CmsError> {
    validate(p7s, &content_digest(content), tsa_anchors)
}
