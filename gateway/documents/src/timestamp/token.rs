//! An RFC 3161 time-stamp token read and checked: its TSTInfo, its signature with the TSA's
//! certificate, and that certificate's path.

use der::Decode as _;
use der::asn1::OctetString;
use der::oid::db::rfc5911::{ID_AA_SIGNING_CERTIFICATE, ID_AA_SIGNING_CERTIFICATE_V_2};
use der::oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};
use kyso_adapter_core::HashAlgorithm;
use kyso_verify::{SignerKey, TrustAnchors, Validation, validate_time_stamping_path};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::Attributes;
use x509_tsp::TstInfo;

use super::TimeStampError;
use crate::cms::ID_CT_TST_INFO;
use crate::cms::attributes::{content_type, message_digest, single_value};
use crate::cms::ess::{SigningCertificate, SigningCertificateV2};
use crate::cms::raw;
use crate::cms::signer::ReadSignedData;

/// A time-stamp token (a ContentInfo holding a SignedData over a TSTInfo), read: what it
/// says, and the checks of it.
#[derive(Debug, Clone)]
pub struct TimeStampToken {
    der: Vec<u8>,
    /// The eContent: the DER TSTInfo the TSA signed.
    tst_info_der: Vec<u8>,
    tst_info: TstInfo,
    gen_time: OffsetDateTime,
    read: ReadSignedData,
    tsa_certificate: Vec<u8>,
}

impl TimeStampToken {
    /// Reads a DER token: a SignedData with eContentType id-ct-TSTInfo, its eContent a
    /// TSTInfo, one SignerInfo, and the TSA's certificate among the certificates.
    ///
    /// # Errors
    /// [`TimeStampError::MalformedToken`].
    pub fn from_der(der: &[u8]) -> Result<Self, TimeStampError> {
        let read = ReadSignedData::decode(der)?;
        let encapsulated = &read.signed_data.encap_content_info;
        if encapsulated.econtent_type != ID_CT_TST_INFO {
            return Err(TimeStampError::MalformedToken(format!(
                "eContentType {} is not id-ct-TSTInfo",
                encapsulated.econtent_type
            )));
        }
        let tst_info_der = encapsulated
            .econtent
            .as_ref()
            .ok_or_else(|| TimeStampError::MalformedToken("no eContent".to_owned()))?
            .decode_as::<OctetString>()
            .map_err(|error| TimeStampError::MalformedToken(format!("eContent: {error}")))?
            .as_bytes()
            .to_vec();
        let tst_info = TstInfo::from_der(&tst_info_der)
            .map_err(|error| TimeStampError::MalformedToken(format!("TSTInfo: {error}")))?;
        let seconds = i64::try_from(tst_info.gen_time.to_unix_duration().as_secs())
            .map_err(|_| TimeStampError::MalformedToken("genTime out of range".to_owned()))?;
        let gen_time = OffsetDateTime::from_unix_timestamp(seconds)
            .map_err(|_| TimeStampError::MalformedToken("genTime out of range".to_owned()))?;
        let signer_info = read.sole_signer_info()?;
        let tsa_certificate = read.signer_certificate(signer_info)?.1.clone();
        Ok(Self {
            der: der.to_vec(),
            tst_info_der,
            tst_info,
            gen_time,
            read,
            tsa_certificate,
        })
    }

    /// The token, DER.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// When the TSA says it stamped (TSTInfo genTime, whole seconds).
    pub fn gen_time(&self) -> OffsetDateTime {
        self.gen_time
    }

    /// The TSA's certificate that signed the token, DER.
    pub fn tsa_certificate(&self) -> &[u8] {
        &self.tsa_certificate
    }

    /// The hashed message of the token's imprint.
    pub fn message_imprint(&self) -> &[u8] {
        self.tst_info.message_imprint.hashed_message.as_bytes()
    }

    /// The token's serial number, the bytes of its INTEGER.
    pub fn serial_number(&self) -> &[u8] {
        self.tst_info.serial_number.as_bytes()
    }

    /// The TSA policy the token was issued under (dotted OID).
    pub fn policy(&self) -> String {
        self.tst_info.policy.to_string()
    }

    /// The nonce echoed, the bytes of its INTEGER.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.tst_info.nonce.as_ref().map(|nonce| nonce.as_bytes())
    }

    /// Checks that the imprint is the SHA-256 `expected`.
    ///
    /// # Errors
    /// [`TimeStampError::WrongImprint`].
    pub fn check_imprint(&self, expected: &[u8; 32]) -> Result<(), TimeStampError> {
        let imprint = &self.tst_info.message_imprint;
        if imprint.hash_algorithm.oid == ID_SHA_256
            && imprint.hashed_message.as_bytes() == expected.as_slice()
        {
            Ok(())
        } else {
            Err(TimeStampError::WrongImprint)
        }
    }

    /// Checks the TSA's signature: the content-type and message-digest signed attributes
    /// over the TSTInfo, the signature over the signed attributes as received with the TSA
    /// certificate's key, and the ESS signing-certificate attribute (v2, or v1 with SHA-1)
    /// naming that certificate.
    ///
    /// # Errors
    /// [`TimeStampError::BadSignature`], [`TimeStampError::SignerMismatch`], or
    /// [`TimeStampError::MalformedToken`].
    pub fn verify_signature(&self) -> Result<(), TimeStampError> {
        let signer_info = self.read.sole_signer_info()?;
        let attributes = signer_info
            .signed_attrs
            .as_ref()
            .ok_or_else(|| TimeStampError::MalformedToken("no signed attributes".to_owned()))?;
        if content_type(attributes)? != Some(ID_CT_TST_INFO) {
            return Err(TimeStampError::MalformedToken(
                "content-type attribute is not id-ct-TSTInfo".to_owned(),
            ));
        }
        let algorithm = signer_info.digest_alg.oid;
        let content_digest = digest(algorithm, &self.tst_info_der)?.1;
        if message_digest(attributes)? != Some(content_digest) {
            return Err(TimeStampError::BadSignature(
                "message-digest is not the TSTInfo's".to_owned(),
            ));
        }
        let signed = raw::signed_attributes(&self.der)?
            .ok_or_else(|| TimeStampError::MalformedToken("no signed attributes".to_owned()))?;
        let (hash_algorithm, signed_digest) = digest(algorithm, &signed)?;
        SignerKey::from_certificate(&self.tsa_certificate)
            .and_then(|key| {
                key.verify(
                    hash_algorithm,
                    &signed_digest,
                    signer_info.signature.as_bytes(),
                )
            })
            .map_err(|error| TimeStampError::BadSignature(error.to_string()))?;
        if names_certificate(attributes, &self.tsa_certificate)? {
            Ok(())
        } else {
            Err(TimeStampError::SignerMismatch)
        }
    }

    /// Checks that the TSA's certificate chains to `anchors` (with the other certificates of
    /// the token as intermediates) as a time-stamping authority's, at genTime.
    ///
    /// # Errors
    /// [`TimeStampError::UntrustedTsa`] with the path's verdict.
    pub fn check_trust(&self, anchors: &TrustAnchors) -> Result<(), TimeStampError> {
        let chain = self.read.other_certificates(&self.tsa_certificate);
        let report = validate_time_stamping_path(
            &self.tsa_certificate,
            &chain,
            &Validation::new(anchors, self.gen_time),
        );
        if report.passed() {
            Ok(())
        } else {
            Err(TimeStampError::UntrustedTsa(report.message))
        }
    }
}

/// `data` hashed with the digest algorithm `oid` (SHA-256, SHA-384 or SHA-512).
fn digest(
    oid: der::oid::ObjectIdentifier,
    data: &[u8],
) -> Result<(HashAlgorithm, Vec<u8>), TimeStampError> {
    Ok(match oid {
        ID_SHA_256 => (HashAlgorithm::Sha256, Sha256::digest(data).to_vec()),
        ID_SHA_384 => (HashAlgorithm::Sha384, Sha384::digest(data).to_vec()),
        ID_SHA_512 => (HashAlgorithm::Sha512, Sha512::digest(data).to_vec()),
        other => {
            return Err(TimeStampError::MalformedToken(format!(
                "unsupported digest algorithm {other}"
            )));
        }
    })
}

/// Whether the ESS signing-certificate attribute, v2 or else v1, names `der`.
fn names_certificate(attributes: &Attributes, der: &[u8]) -> Result<bool, TimeStampError> {
    let certificate = Certificate::from_der(der)
        .map_err(|error| TimeStampError::MalformedToken(error.to_string()))?;
    if let Some(value) = single_value(attributes, ID_AA_SIGNING_CERTIFICATE_V_2)? {
        let ess: SigningCertificateV2 = value
            .decode_as()
            .map_err(|error| TimeStampError::MalformedToken(error.to_string()))?;
        return Ok(ess.names(&certificate, der));
    }
    if let Some(value) = single_value(attributes, ID_AA_SIGNING_CERTIFICATE)? {
        let ess: SigningCertificate = value
            .decode_as()
            .map_err(|error| TimeStampError::MalformedToken(error.to_string()))?;
        return Ok(ess.names(&certificate, der));
    }
    Err(TimeStampError::MalformedToken(
        "no ESS signing-certificate attribute".to_owned(),
    ))
}
