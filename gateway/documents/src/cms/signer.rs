//! What a SignedData's validation and a time-stamp token's share: reading a SignedData out of
//! its ContentInfo, its one SignerInfo, the certificates it carries and the signer's among
//! them.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::Encode as _;
use der::asn1::OctetString;
use der::oid::db::rfc5911::ID_SIGNED_DATA;
use der::oid::db::rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER;
use x509_cert::Certificate;

use super::{CmsError, decode};

/// A SignedData read from the DER of its ContentInfo.
#[derive(Debug, Clone)]
pub(crate) struct ReadSignedData {
    pub(crate) signed_data: SignedData,
    /// The certificates it carries, DER, in its order.
    pub(crate) certificates: Vec<(Certificate, Vec<u8>)>,
}

impl ReadSignedData {
    /// Decodes `content_info` (DER) as a ContentInfo holding a SignedData.
    pub(crate) fn decode(content_info: &[u8]) -> Result<Self, CmsError> {
        let content_info: ContentInfo = decode(content_info, "ContentInfo")?;
        if content_info.content_type != ID_SIGNED_DATA {
            return Err(CmsError::Malformed(format!(
                "content type {} is not id-signedData",
                content_info.content_type
            )));
        }
        let signed_data: SignedData = content_info
            .content
            .decode_as()
            .map_err(|error| CmsError::Malformed(format!("SignedData: {error}")))?;
        let certificates = signed_data
            .certificates
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|choice| match choice {
                CertificateChoices::Certificate(certificate) => Some(certificate),
                CertificateChoices::Other(_) => None,
            })
            .map(|certificate| Ok((certificate.clone(), certificate.to_der()?)))
            .collect::<Result<_, CmsError>>()?;
        Ok(Self {
            signed_data,
            certificates,
        })
    }

    /// Its SignerInfo, which must be the only one (a document signature, a time-stamp token).
    pub(crate) fn sole_signer_info(&self) -> Result<&SignerInfo, CmsError> {
        let mut signer_infos = self.signed_data.signer_infos.0.iter();
        match (signer_infos.next(), signer_infos.next()) {
            (Some(signer_info), None) => Ok(signer_info),
            (None, _) => Err(CmsError::Incomplete("a SignerInfo")),
            (Some(_), Some(_)) => Err(CmsError::Malformed("more than one SignerInfo".to_owned())),
        }
    }

    /// The certificate `signer_info` identifies (by issuer and serial number, or subject key
    /// identifier) among those carried.
    pub(crate) fn signer_certificate(
        &self,
        signer_info: &SignerInfo,
    ) -> Result<&(Certificate, Vec<u8>), CmsError> {
        self.certificates
            .iter()
            .find(|(certificate, _)| identifies(&signer_info.sid, certificate))
            .ok_or(CmsError::Incomplete("the signer's certificate"))
    }

    /// The DER of every certificate carried but `signer`.
    pub(crate) fn other_certificates(&self, signer: &[u8]) -> Vec<Vec<u8>> {
        self.certificates
            .iter()
            .map(|(_, der)| der)
            .filter(|der| der.as_slice() != signer)
            .cloned()
            .collect()
    }
}

/// Whether `sid` names `certificate`.
fn identifies(sid: &SignerIdentifier, certificate: &Certificate) -> bool {
    let tbs = &certificate.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == tbs.issuer && id.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(wanted) => tbs
            .extensions
            .iter()
            .flatten()
            .filter(|extension| extension.extn_id == ID_CE_SUBJECT_KEY_IDENTIFIER)
            .filter_map(|extension| der::Decode::from_der(extension.extn_value.as_bytes()).ok())
            .any(|key_id: OctetString| key_id == wanted.0),
    }
}
