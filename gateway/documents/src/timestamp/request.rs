//! The RFC 3161 request for a time-stamp over a signature, and the checks of the TSA's
//! answer against it.

use cmpv2::status::{PkiFailureInfoValues, PkiStatus};
use der::asn1::{Int, OctetString};
use der::oid::db::rfc5912::ID_SHA_256;
use der::{Decode as _, Encode as _};
use kyso_verify::TrustAnchors;
use sha2::{Digest as _, Sha256};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

use super::{TimeStampError, TimeStampToken};

/// A time-stamp request: version 1, a SHA-256 imprint, a random 64-bit nonce, certReq true
/// (the TSA's certificate must come in the token, for the check and for later validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampRequest {
    der: Vec<u8>,
    imprint: [u8; 32],
    nonce: Int,
}

impl TimeStampRequest {
    /// A request for a signature time-stamp: the imprint is the SHA-256 of the SignerInfo's
    /// `signature` value ([`crate::cms::SignedCms::signature_value`], RFC 3161 Appendix A).
    ///
    /// # Errors
    /// [`TimeStampError::Encoding`] (should not happen).
    pub fn for_signature(signature_value: &[u8]) -> Result<Self, TimeStampError> {
        Self::for_imprint(Sha256::digest(signature_value).into())
    }

    /// A request over `imprint`, a SHA-256 digest (a document time-stamp's, say).
    ///
    /// # Errors
    /// [`TimeStampError::Encoding`] (should not happen).
    pub fn for_imprint(imprint: [u8; 32]) -> Result<Self, TimeStampError> {
        // A positive INTEGER of at most 64 bits, through the DER of a u64.
        let nonce = Int::from_der(&rand::random::<u64>().to_der()?)?;
        let request = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: ID_SHA_256,
                    parameters: None,
                },
                hashed_message: OctetString::new(imprint.to_vec())?,
            },
            req_policy: None,
            nonce: Some(nonce.clone()),
            cert_req: true,
            extensions: None,
        };
        Ok(Self {
            der: request.to_der()?,
            imprint,
            nonce,
        })
    }

    /// The DER TimeStampReq, to POST as [`super::QUERY_CONTENT_TYPE`].
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The SHA-256 imprint asked for.
    pub fn imprint(&self) -> &[u8; 32] {
        &self.imprint
    }

    /// The nonce, as the bytes of its INTEGER.
    pub fn nonce(&self) -> &[u8] {
        self.nonce.as_bytes()
    }

    /// Checks the TSA's answer `reply` (DER TimeStampResp) to this request and returns its
    /// token: granted, a well-formed token over this imprint with this nonce, signed by the
    /// TSA certificate it carries, which chains to `anchors` as a TSA's at genTime.
    ///
    /// # Errors
    /// In the order checked: [`TimeStampError::Garbage`], [`TimeStampError::Rejected`],
    /// [`TimeStampError::MalformedToken`], [`TimeStampError::WrongImprint`],
    /// [`TimeStampError::WrongNonce`], [`TimeStampError::BadSignature`] /
    /// [`TimeStampError::SignerMismatch`], [`TimeStampError::UntrustedTsa`].
    pub fn check_response(
        &self,
        reply: &[u8],
        anchors: &TrustAnchors,
    ) -> Result<TimeStampToken, TimeStampError> {
        let response = TimeStampResp::from_der(reply)
            .map_err(|error| TimeStampError::Garbage(error.to_string()))?;
        if !matches!(
            response.status.status,
            PkiStatus::Accepted | PkiStatus::GrantedWithMods
        ) {
            return Err(TimeStampError::Rejected {
                status: format!("{:?}", response.status.status),
                fail_info: response.status.fail_info.map(|bits| {
                    bits.into_iter()
                        .map(|bit: PkiFailureInfoValues| format!("{bit:?}"))
                        .collect::<Vec<_>>()
                        .join(",")
                }),
            });
        }
        let token = response
            .time_stamp_token
            .ok_or_else(|| TimeStampError::MalformedToken("granted without a token".to_owned()))?;
        let token = TimeStampToken::from_der(&token.to_der()?)?;
        token.check_imprint(&self.imprint)?;
        if token.nonce() != Some(self.nonce()) {
            return Err(TimeStampError::WrongNonce);
        }
        token.verify_signature()?;
        token.check_trust(anchors)?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_rfc3161_version_1_with_a_fresh_nonce_and_cert_req() {
        let request = TimeStampRequest::for_signature(b"signature").expect("a request");
        let decoded = TimeStampReq::from_der(request.to_der()).expect("DER");
        assert_eq!(decoded.version, TspVersion::V1);
        assert!(decoded.cert_req);
        assert_eq!(decoded.message_imprint.hash_algorithm.oid, ID_SHA_256);
        assert_eq!(
            decoded.message_imprint.hashed_message.as_bytes(),
            Sha256::digest(b"signature").as_slice()
        );
        let nonce = decoded.nonce.expect("a nonce");
        assert!(nonce.as_bytes().len() <= 9, "at most 64 bits");
        assert_eq!(nonce.as_bytes(), request.nonce());
        let other = TimeStampRequest::for_signature(b"signature").expect("a request");
        assert_ne!(other.nonce(), request.nonce());
        assert_eq!(other.imprint(), request.imprint());
    }
}
