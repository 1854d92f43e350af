//! The detached SignedData the gateway assembles around a CA's signature ([`assemble`]), and
//! the unsigned signature time-stamp it adds for the B-T level
//! ([`SignedCms::with_signature_time_stamp`]).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::oid::db::rfc5912::ID_SHA_256;
use der::{Any, Decode as _, Encode as _};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::signer::ReadSignedData;
use super::{
    CmsError, ID_AA_SIGNATURE_TIME_STAMP_TOKEN, SignatureAlgorithm, SignedAttributes, raw,
};
use crate::timestamp::TimeStampToken;

/// A DER ContentInfo holding a SignedData with one SignerInfo: what [`assemble`] makes, or
/// what [`SignedCms::from_der`] accepts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCms {
    der: Vec<u8>,
}

/// Wraps the CA's `signature` over `attributes` into a detached SignedData (CAdES/PAdES
/// baseline B-B): eContentType id-data without eContent, digestAlgorithms {sha256}, the
/// signer identified by issuer and serial number, the certificates `signer_certificate` and
/// `chain` (DER; duplicates dropped), and `attributes` as the signed attributes, unchanged.
///
/// The signature is checked first with the signer certificate's key over the attributes, in
/// `algorithm` (an ECDSA `r || s` is converted to DER): a wrong signature never becomes a CMS.
///
/// # Errors
/// [`CmsError::MalformedCertificate`], [`CmsError::SignerCertificateMismatch`] (the attributes
/// were made for another certificate), [`CmsError::BadSignature`], or an encoding failure.
pub fn assemble(
    attributes: &SignedAttributes,
    algorithm: SignatureAlgorithm,
    signature: &[u8],
    signer_certificate: &[u8],
    chain: &[Vec<u8>],
) -> Result<SignedCms, CmsError> {
    let certificate = parse_certificate(signer_certificate)?;
    if !attributes.names_signer(&certificate, signer_certificate) {
        return Err(CmsError::SignerCertificateMismatch);
    }
    let value = algorithm.signature_value(signature)?;
    algorithm.verify(signer_certificate, &attributes.digest_to_sign(), &value)?;

    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: certificate.tbs_certificate.issuer.clone(),
        serial_number: certificate.tbs_certificate.serial_number.clone(),
    });
    let mut certificates = vec![certificate];
    for der in chain {
        let chained = parse_certificate(der)?;
        if !certificates.contains(&chained) {
            certificates.push(chained);
        }
    }
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid,
        digest_alg: sha256.clone(),
        signed_attrs: Some(attributes.attributes().clone()),
        signature_algorithm: algorithm.identifier()?,
        signature: OctetString::new(value)?,
        unsigned_attrs: None,
    };
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet::try_from(
            certificates
                .into_iter()
                .map(CertificateChoices::Certificate)
                .collect::<Vec<_>>(),
        )?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    SignedCms::encode(&signed_data)
}

impl SignedCms {
    /// Accepts a DER ContentInfo holding a SignedData with exactly one SignerInfo.
    ///
    /// # Errors
    /// [`CmsError::Malformed`] or [`CmsError::Incomplete`].
    pub fn from_der(der: &[u8]) -> Result<Self, CmsError> {
        ReadSignedData::decode(der)?.sole_signer_info()?;
        Ok(Self { der: der.to_vec() })
    }

    /// The DER ContentInfo (a `.p7s`, or what goes in a PDF's `/Contents`).
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The DER ContentInfo, owned.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }

    /// The value of the SignerInfo's `signature` OCTET STRING: what a signature time-stamp's
    /// imprint is the SHA-256 of (RFC 3161 Appendix A).
    ///
    /// # Errors
    /// [`CmsError::Malformed`] (not possible for a [`SignedCms`] that was built or accepted).
    pub fn signature_value(&self) -> Result<Vec<u8>, CmsError> {
        let read = ReadSignedData::decode(&self.der)?;
        Ok(read.sole_signer_info()?.signature.as_bytes().to_vec())
    }

    /// The same SignedData with `token` added to its SignerInfo as the unsigned attribute
    /// id-aa-signatureTimeStampToken (B-T); the signed attributes stay as they were, byte for
    /// byte.
    ///
    /// # Errors
    /// [`CmsError::TimeStampMismatch`] if the token's imprint is not the SHA-256 of this
    /// signature; [`CmsError::Malformed`] if re-encoding would change the signed attributes
    /// (a third party's, out of DER order).
    pub fn with_signature_time_stamp(&self, token: &TimeStampToken) -> Result<Self, CmsError> {
        let read = ReadSignedData::decode(&self.der)?;
        let mut signer_info = read.sole_signer_info()?.clone();
        if token.message_imprint() != Sha256::digest(signer_info.signature.as_bytes()).as_slice() {
            return Err(CmsError::TimeStampMismatch);
        }
        let token_value = Any::from_der(token.to_der())?;
        let mut unsigned: Vec<Attribute> = signer_info
            .unsigned_attrs
            .take()
            .map(|attributes| attributes.into_vec())
            .unwrap_or_default();
        match unsigned
            .iter_mut()
            .find(|attribute| attribute.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        {
            Some(time_stamps) => time_stamps.values.insert(token_value)?,
            None => unsigned.push(Attribute {
                oid: ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
                values: SetOfVec::try_from(vec![token_value])?,
            }),
        }
        signer_info.unsigned_attrs = Some(SetOfVec::try_from(unsigned)?);
        let mut signed_data = read.signed_data;
        signed_data.signer_infos = SignerInfos::try_from(vec![signer_info])?;
        let stamped = Self::encode(&signed_data)?;
        if raw::signed_attributes(&stamped.der)? != raw::signed_attributes(&self.der)? {
            return Err(CmsError::Malformed(
                "the signed attributes are not in DER order: adding a time-stamp would change them"
                    .to_owned(),
            ));
        }
        Ok(stamped)
    }

    fn encode(signed_data: &SignedData) -> Result<Self, CmsError> {
        let content_info = ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(signed_data)?,
        };
        Ok(Self {
            der: content_info.to_der()?,
        })
    }
}

fn parse_certificate(der: &[u8]) -> Result<Certificate, CmsError> {
    Certificate::from_der(der).map_err(|error| CmsError::MalformedCertificate(error.to_string()))
}
