//! What a SignedData proves about content whose digest is known: the gateway's check before
//! it returns a signed document, and the reading of a `.p7s` (or a PDF's `/Contents`) a
//! portal asks to verify.
//!
//! [`validate`] reports facts, each on its own ([`CmsValidation`]); judging the signer's
//! certificate path and the citizen is `kyso-verify`'s, on the certificates it returns.

use der::Encode as _;
use der::oid::db::rfc5912::ID_SHA_256;
use kyso_verify::TrustAnchors;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::attributes::{content_type, message_digest, signing_certificate, signing_time};
use super::signer::ReadSignedData;
use super::{CmsError, ID_AA_SIGNATURE_TIME_STAMP_TOKEN, SignatureAlgorithm, raw};
use crate::timestamp::{TimeStampError, TimeStampToken};

/// Whether the signingCertificateV2 attribute binds the signature to the signer's
/// certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningCertificateCheck {
    /// It names the certificate the SignerInfo identifies (hash of its DER, issuer, serial).
    Matches,
    /// It names another certificate: a certificate was swapped.
    Mismatch,
    /// There is none (not a PAdES/CAdES baseline signature).
    Absent,
}

/// What a signature time-stamp in the SignerInfo's unsigned attributes proves.
#[derive(Debug, Clone)]
pub struct TimeStampCheck {
    /// When the TSA says it stamped.
    pub gen_time: OffsetDateTime,
    /// The TSA's certificate, DER.
    pub tsa_certificate: Vec<u8>,
    /// Whether its imprint is the SHA-256 of the SignerInfo's signature value.
    pub imprint_matches: bool,
    /// Whether the TSA's signature over it verifies (with the signing-certificate binding).
    pub signature_verifies: bool,
    /// Whether the TSA chains to the trust anchors given as a TSA's at genTime; `None` when
    /// no anchors were given.
    pub trusted: Option<bool>,
    /// The first check that failed, if any.
    pub problem: Option<TimeStampError>,
}

/// What [`validate`] found in a SignedData.
#[derive(Debug, Clone)]
pub struct CmsValidation {
    /// The signer's certificate (the one the SignerInfo identifies), DER.
    pub signer_certificate: Vec<u8>,
    /// The other certificates the CMS carries, DER, in its order.
    pub chain: Vec<Vec<u8>>,
    /// The signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The SHA-256 of the signed attributes as received (their DER SET): the digest the
    /// signer signed, which a verifier checks the signature over.
    pub signed_attributes_digest: [u8; 32],
    /// The SignerInfo's signature value, as received (ECDSA as DER).
    pub signature_value: Vec<u8>,
    /// Whether the content is detached (no eContent).
    pub detached: bool,
    /// Whether the message-digest attribute is the content's digest.
    pub message_digest_matches: bool,
    /// Whether the signature verifies with the signer's key over the signed attributes as
    /// received, in the declared algorithm.
    pub signature_verifies: bool,
    /// The signingCertificateV2 binding.
    pub signing_certificate: SigningCertificateCheck,
    /// The claimed time of signing, if the signed attributes carry one.
    pub signing_time: Option<OffsetDateTime>,
    /// The signature time-stamp (B-T), if there is one; an `Err` if it cannot be read.
    pub time_stamp: Option<Result<TimeStampCheck, TimeStampError>>,
}

impl CmsValidation {
    /// Whether every check passed: digest, signature, signing-certificate binding present
    /// and matching, and the time-stamp, if any, sound (and trusted, if anchors were given).
    pub fn passed(&self) -> bool {
        self.message_digest_matches
            && self.signature_verifies
            && self.signing_certificate == SigningCertificateCheck::Matches
            && self
                .time_stamp
                .as_ref()
                .is_none_or(|check| matches!(check, Ok(check) if check.problem.is_none()))
    }
}

/// Reads the SignedData `der` (a DER ContentInfo; zero padding after it, as in a PDF's
/// `/Contents`, is ignored) and checks it against `content_digest`, the SHA-256 of the
/// signed content. A signature time-stamp is checked too, its TSA against `tsa_anchors` when
/// given.
///
/// # Errors
/// [`CmsError::Malformed`] (not DER, truncated, not a SignedData, more than one SignerInfo),
/// [`CmsError::Incomplete`] (no signed attributes, no signer certificate, no content-type),
/// [`CmsError::UnsupportedAlgorithm`] (a digest other than SHA-256, or an unsupported
/// signature algorithm). Failed checks are not errors: they are in the [`CmsValidation`].
pub fn validate(
    der: &[u8],
    content_digest: &[u8; 32],
    tsa_anchors: Option<&TrustAnchors>,
) -> Result<CmsValidation, CmsError> {
    let der = raw::without_zero_padding(der)?;
    let read = ReadSignedData::decode(der)?;
    let signer_info = read.sole_signer_info()?;
    if signer_info.digest_alg.oid != ID_SHA_256 {
        return Err(CmsError::UnsupportedAlgorithm(format!(
            "digest algorithm {}",
            signer_info.digest_alg.oid
        )));
    }
    let algorithm = SignatureAlgorithm::from_identifier(&signer_info.signature_algorithm)?;
    let (certificate, certificate_der) = read.signer_certificate(signer_info)?;
    let attributes = signer_info
        .signed_attrs
        .as_ref()
        .ok_or(CmsError::Incomplete("signed attributes"))?;
    let encapsulated = &read.signed_data.encap_content_info;
    match content_type(attributes)? {
        Some(content_type) if content_type == encapsulated.econtent_type => {}
        Some(_) => {
            return Err(CmsError::Malformed(
                "content-type attribute differs from eContentType".to_owned(),
            ));
        }
        None => return Err(CmsError::Incomplete("content-type attribute")),
    }
    let signed = raw::signed_attributes(der)?.ok_or(CmsError::Incomplete("signed attributes"))?;
    let signed_attributes_digest: [u8; 32] = Sha256::digest(&signed).into();
    let signature = signer_info.signature.as_bytes();
    let signature_verifies = algorithm
        .verify(certificate_der, &signed_attributes_digest, signature)
        .is_ok();
    let signing_certificate = match signing_certificate(attributes)? {
        None => SigningCertificateCheck::Absent,
        Some(ess) if ess.names(certificate, certificate_der) => SigningCertificateCheck::Matches,
        Some(_) => SigningCertificateCheck::Mismatch,
    };
    let time_stamp = signer_info
        .unsigned_attrs
        .iter()
        .flat_map(|attributes| attributes.iter())
        .find(|attribute| attribute.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .and_then(|attribute| attribute.values.iter().next())
        .map(|token| -> Result<TimeStampCheck, TimeStampError> {
            let token = TimeStampToken::from_der(&token.to_der()?)?;
            Ok(check_time_stamp(
                &token,
                &Sha256::digest(signature).into(),
                tsa_anchors,
            ))
        });
    Ok(CmsValidation {
        chain: read.other_certificates(certificate_der),
        signer_certificate: certificate_der.clone(),
        algorithm,
        signed_attributes_digest,
        signature_value: signature.to_vec(),
        detached: encapsulated.econtent.is_none(),
        message_digest_matches: message_digest(attributes)?
            .is_some_and(|digest| digest == content_digest),
        signature_verifies,
        signing_certificate,
        signing_time: signing_time(attributes)?,
        time_stamp,
    })
}

/// Every check of a signature time-stamp, each reported.
fn check_time_stamp(
    token: &TimeStampToken,
    signature_digest: &[u8; 32],
    anchors: Option<&TrustAnchors>,
) -> TimeStampCheck {
    let imprint = token.check_imprint(signature_digest);
    let signature = token.verify_signature();
    let trust = anchors.map(|anchors| token.check_trust(anchors));
    TimeStampCheck {
        gen_time: token.gen_time(),
        tsa_certificate: token.tsa_certificate().to_vec(),
        imprint_matches: imprint.is_ok(),
        signature_verifies: signature.is_ok(),
        trusted: trust.as_ref().map(Result::is_ok),
        problem: [imprint, signature, trust.unwrap_or(Ok(()))]
            .into_iter()
            .find_map(Result::err),
    }
}
